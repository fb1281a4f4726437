"""The registries of losses and weighting strategies, without TensorFlow.

The built-ins are declared here by name and module (`Registry.declare`):
every name is known as soon as `objectives` is imported, and a module of
built-ins (and TensorFlow with it) is imported the first time one of its
entries is fetched. So a script's `--help` and the check of a flag's names
take a fraction of a second. `tests/objectives/test_registry.py` checks that
each module registers exactly what is declared for it.
"""

from typing import Any

from multiobj import registry

LOSSES: registry.Registry[type] = registry.Registry("loss", "losses")
LOSSES.declare(
  "objectives.pointwise",
  (
    "bce",
    "mse",
    "huber",
    "focal",
    "gce",
    "sce",
    "bootstrap",
    "tce",
    "rce",
    "dwell_weighted",
  ),
)
LOSSES.declare(
  "objectives.ranking",
  ("softmax", "approx_ndcg", "pairwise_logistic", "lambda", "listmle"),
)
register_loss = LOSSES.register

WEIGHTINGS: registry.Registry[type] = registry.Registry(
  "weighting strategy", "weighting strategies"
)
WEIGHTINGS.declare(
  "objectives.weighting", ("static", "uncertainty", "dwa", "gradnorm")
)
WEIGHTINGS.declare("objectives.gradient_weighting", ("pcgrad", "mgda"))
register_weighting = WEIGHTINGS.register


def get_loss(name: str, **params: Any):
  """Returns a new instance of the loss registered as `name`.

  Raises:
    ValueError: for an unknown name, or a parameter the loss does not take or
      rejects, naming the loss and its parameters.
  """
  loss_class = LOSSES.get(name)
  try:
    return loss_class(**params)
  except TypeError:
    known = registry.parameters(loss_class, "name")
    raise ValueError(
      f"Loss {name!r} does not take parameters {sorted(params)}; its "
      f"parameters: {', '.join(known) or '(none)'}."
    ) from None
