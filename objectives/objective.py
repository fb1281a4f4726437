"""What an objective is: a label, a head, a loss, where it applies, a weight.

The model is assembled from a list of `Objective`s and knows nothing about
clicks, dwell time or purchases; those are entries in the registry
(`objectives/builtin.py`), and user code adds its own the same way:

  objectives.register(objectives.Objective(
      name="share", kind="binary", label="shared", loss="bce", weight=0.5))
"""

import dataclasses
import math
from typing import Any

from multiobj import registry
from objectives import registries

KINDS = ("retrieval", "binary", "regression", "listwise")
LABEL_TRANSFORMS = ("none", "log1p")

# Metrics each kind of objective can report. "@K" metrics take any cutoff.
METRICS = {
  "retrieval": ("recall@K",),
  "binary": (
    "auc",
    "gauc",
    "logloss",
    "ece",
    "ndcg@K",
    "mrr@K",
    "map@K",
    "truth_ndcg@K",
  ),
  "listwise": ("auc", "gauc", "ndcg@K", "mrr@K", "map@K", "truth_ndcg@K"),
  "regression": ("rmse", "mae"),
}
DEFAULT_METRICS = {
  "retrieval": ("recall@10", "recall@50", "recall@100"),
  "binary": ("auc", "logloss"),
  "listwise": ("ndcg@10",),
  "regression": ("rmse", "mae"),
}


@dataclasses.dataclass(frozen=True)
class Objective:
  """One training objective of the multi-objective model.

  Attributes:
    name: Unique name; also the name of the head and the prefix of its metrics
      (`click_auc`).
    kind: "retrieval" (two-tower, in-batch negatives), "binary" (a sigmoid
      head), "regression" (a linear head) or "listwise" (a scoring head
      trained with a ranking loss over each impression list).
    label: The label column it learns from. For retrieval, rows whose label
      is positive are the (query, candidate) pairs.
    loss: Name of a registered loss that serves this kind.
    loss_params: The loss's constructor arguments, as (name, value) pairs.
    weight: Default weight of its loss in the total.
    mask: Optional label column; the objective applies only to rows where it
      is positive (dwell time is learned on clicked rows only).
    weight_column: Optional column of per-row weights multiplying the loss
      (inverse-propensity weights, importance weights).
    label_transform: "none" or "log1p", applied to the label before the loss
      and the metrics (dwell seconds are learned as log1p(seconds)).
    metrics: Metrics to report, from `METRICS[kind]` with K filled in;
      `DEFAULT_METRICS[kind]` when empty.
    description: One line for help texts and reports.
    given: For a binary objective that can only follow another (a purchase
      follows a click): the name of that binary objective. Its head then
      learns p(this | given) and the model predicts, and is evaluated on,
      p(this) = p(given) * p(this | given) over every impression.
    entire_space: With `given`: False trains the conditional head on the
      rows where the given objective's label is positive (the classic
      post-click conversion model); True trains the product p(given) *
      p(this | given) on every row (ESMM, Ma et al. SIGIR 2018), so the
      conditional head never sees only the biased clicked sample.
  """

  name: str
  kind: str
  label: str
  loss: str
  loss_params: tuple[tuple[str, Any], ...] = ()
  weight: float = 1.0
  mask: str | None = None
  weight_column: str | None = None
  label_transform: str = "none"
  metrics: tuple[str, ...] = ()
  description: str = ""
  given: str | None = None
  entire_space: bool = False

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(
        f"Objective {self.name!r}: unknown kind {self.kind!r}; "
        f"expected one of {', '.join(KINDS)}."
      )
    if self.label_transform not in LABEL_TRANSFORMS:
      raise ValueError(
        f"Objective {self.name!r}: unknown label_transform "
        f"{self.label_transform!r}; expected one of "
        f"{', '.join(LABEL_TRANSFORMS)}."
      )
    params = self.loss_params
    if isinstance(params, dict):
      params = params.items()
    object.__setattr__(
      self, "loss_params", tuple((str(k), v) for k, v in params)
    )
    registries.LOSSES.check(self.loss)
    if registries.LOSSES.loaded(self.loss):
      self.validate_loss()
    # Else the loss's module (and TensorFlow) is not imported yet: `select`
    # validates every objective a run trains.
    if not (
      isinstance(self.weight, int | float) and math.isfinite(self.weight)
    ):
      raise ValueError(
        f"Objective {self.name!r}: weight must be a finite number, "
        f"got {self.weight!r}."
      )
    if self.weight < 0:
      raise ValueError(
        f"Objective {self.name!r}: weight must be >= 0, got {self.weight}."
      )
    object.__setattr__(
      self, "metrics", tuple(self.metrics) or DEFAULT_METRICS[self.kind]
    )
    for metric in self.metrics:
      check_metric(self.name, self.kind, metric)
    if self.given is not None and self.kind != "binary":
      raise ValueError(
        f"Objective {self.name!r}: only a binary objective can follow "
        f"another (given={self.given!r}); it is {self.kind}."
      )
    if self.given == self.name:
      raise ValueError(f"Objective {self.name!r} cannot follow itself.")
    if self.entire_space and self.given is None:
      raise ValueError(
        f"Objective {self.name!r}: entire_space needs `given`, the objective "
        "it follows."
      )

  def validate_loss(self) -> None:
    """Raises ValueError unless the loss serves this objective's kind and
    takes its parameters (this imports the loss)."""
    check_loss(self.name, self.kind, self.loss)
    try:
      self.make_loss()
    except ValueError as e:
      raise ValueError(f"Objective {self.name!r}: {e}") from None

  def make_loss(self):
    """A new instance of this objective's loss (an `objectives.Loss`) with
    its parameters."""
    return registries.get_loss(self.loss, **dict(self.loss_params))


def check_loss(objective: str, kind: str, loss: str) -> None:
  """Raises ValueError unless `loss` is registered and serves `kind`."""
  loss_class = registries.LOSSES.get(loss)
  if kind not in loss_class.kinds:
    serving = [
      name
      for name in registries.LOSSES
      if kind in registries.LOSSES.get(name).kinds
    ]
    raise ValueError(
      f"Objective {objective!r} is a {kind} objective; loss {loss!r} serves "
      f"{', '.join(loss_class.kinds) or 'no kind'}. Losses for {kind} "
      f"objectives: {', '.join(serving)}."
    )


def check_metric(objective: str, kind: str, metric: str) -> None:
  """Raises ValueError unless `metric` is one `kind` can report."""
  base, _, cutoff = metric.partition("@")
  pattern = f"{base}@K" if cutoff else base
  if pattern not in METRICS[kind] or (cutoff and not cutoff.isdigit()):
    raise ValueError(
      f"Objective {objective!r}: unknown metric {metric!r} for a {kind} "
      f"objective; known: {', '.join(METRICS[kind])} (K a positive integer)."
    )


OBJECTIVES: registry.Registry[Objective] = registry.Registry("objective")


def register(objective: Objective, validate_loss: bool = True) -> Objective:
  """Adds `objective` to the registry under its name and returns it.

  Its loss is checked first (kind and parameters; this imports the loss's
  module). The built-ins skip the check, so that `import objectives` needs
  no TensorFlow; tests/objectives/test_registry.py checks theirs."""
  if not isinstance(objective, Objective):
    raise TypeError(
      f"objectives.register expects an Objective, got {type(objective).__name__}."
    )
  if validate_loss:
    objective.validate_loss()
  return OBJECTIVES.add(objective.name, objective)


def get(name: str) -> Objective:
  """Returns the registered objective `name`; the error lists known names."""
  return OBJECTIVES.get(name)


def names() -> list[str]:
  return OBJECTIVES.names()
