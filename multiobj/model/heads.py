"""Ranking heads: one per objective on the trunk, and the loss of each.

A head is an MLP with one output unit on its task's trunk output: a logit
for a binary objective, the (transformed) label for a regression, a score
for a listwise one. An objective that follows another (a funnel, e.g.
purchase given click) has its head predict p(objective | given); the model
outputs p(given) * p(objective | given) as its logit (`product_logit`),
trained either on the given objective's positive rows (the conditional
model) or on every row (the entire space, ESMM, Ma et al. SIGIR 2018).

Each head's loss is its registered loss over the batch's lists, weighted by
where the objective applies (valid slots, its mask, its weight column,
logged rather than sampled rows for a regression).
"""

from collections.abc import Sequence

import tensorflow as tf

import objectives as objectives_lib
from multiobj.model import towers
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import negatives

Objective = objectives_lib.Objective

# Suffix of the output holding p(objective | given) logits.
CONDITIONAL = "/conditional"


def check_funnels(objectives: Sequence[Objective]) -> None:
  """Raises ValueError unless each objective follows a binary objective of
  `objectives` that itself follows none."""
  names = {o.name: o for o in objectives}
  for o in objectives:
    if o.given is None:
      continue
    given = names.get(o.given)
    if given is None or given.kind != "binary":
      raise ValueError(
        f"Objective {o.name!r} follows {o.given!r}, which is not a binary "
        f"objective of this model ({', '.join(names)})."
      )
    if given.given is not None:
      raise ValueError(
        f"Objective {o.name!r} follows {o.given!r}, which itself follows "
        f"{given.given!r}; chains are not supported."
      )


def build(
  objectives: Sequence[Objective], layers: Sequence[int]
) -> dict[str, tf.keras.Sequential]:
  """One MLP of hidden widths `layers` and one linear output a objective."""
  return {
    o.name: towers.mlp([*layers, 1], f"{o.name}_head", False)
    for o in objectives
  }


def apply(
  heads: dict[str, tf.keras.Sequential],
  hidden: dict[str, tf.Tensor],
  objectives: Sequence[Objective],
) -> dict[str, tf.Tensor]:
  """{name: [B, L] logits} of every head on its trunk output; for an
  objective that follows another, the product's logit, and its own
  conditional logits under name + CONDITIONAL."""
  outputs = {}
  for name, head in heads.items():
    outputs[name] = tf.squeeze(head(hidden[name]), axis=-1)
  for o in objectives:
    if o.given is not None:
      conditional = outputs[o.name]
      outputs[o.name + CONDITIONAL] = conditional
      outputs[o.name] = product_logit(outputs[o.given], conditional)
  return outputs


def predictions(
  outputs: dict[str, tf.Tensor], objectives: Sequence[Objective]
) -> dict[str, tf.Tensor]:
  """Head outputs on the label's scale: probabilities for binary heads,
  transformed labels (log1p seconds) for regression, scores otherwise."""
  out = {}
  for o in objectives:
    if o.given is not None:
      # The product itself, so it never exceeds p(given) by rounding.
      out[o.name] = tf.sigmoid(outputs[o.given]) * tf.sigmoid(
        outputs[o.name + CONDITIONAL]
      )
    elif o.kind == "binary":
      out[o.name] = tf.sigmoid(outputs[o.name])
    else:
      out[o.name] = outputs[o.name]
  return out


def loss(
  objective: Objective,
  loss_fn: objectives_lib.Loss,
  batch: dict[str, tf.Tensor],
  outputs: dict[str, tf.Tensor],
  given: Objective | None = None,
) -> tuple[tf.Tensor, tf.Tensor | None]:
  """(the head's mean loss on the batch, what it averages over).

  Args:
    objective: The head's objective.
    loss_fn: Its loss.
    batch: The batch of lists.
    outputs: The model's outputs on it.
    given: The objective it follows, if any.
  """
  weights = tf.cast(batch[lists_lib.MASK], tf.float32)
  if objective.mask:
    weights = weights * tf.cast(batch[objective.mask] > 0, tf.float32)
  if objective.weight_column:
    weights = weights * tf.cast(batch[objective.weight_column], tf.float32)
  if objective.kind == "regression" and negatives.OBSERVED in batch:
    # A sampled negative has no value to regress on.
    weights = weights * tf.cast(batch[negatives.OBSERVED], tf.float32)
  labels = tf.cast(batch[objective.label], tf.float32)
  if objective.label_transform == "log1p":
    labels = tf.math.log1p(tf.maximum(labels, 0.0))
  logits = outputs[objective.name]
  if given is not None and not objective.entire_space:
    # The conditional model: p(o | given) on the given's positive rows.
    weights = weights * tf.cast(batch[given.label] > 0, tf.float32)
    logits = outputs[objective.name + CONDITIONAL]
  return loss_fn.parts(labels, logits, weights, batch=batch)


def product_logit(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """The logit of sigmoid(a) * sigmoid(b), computed in log space.

  log p = log sigmoid(a) + log sigmoid(b); logit = log p - log(1 - p), with
  log(1 - p) = log1mexp(log p) taken on the stable branch (Maechler 2012).
  """
  log_p = tf.minimum(-tf.nn.softplus(-a) - tf.nn.softplus(-b), -1e-7)
  near_zero = log_p > -0.6931472
  # Each branch gets an argument where it is finite, so no NaN gradient
  # leaks from the branch tf.where does not pick.
  log_1mp = tf.where(
    near_zero,
    tf.math.log(-tf.math.expm1(tf.where(near_zero, log_p, -1.0))),
    tf.math.log1p(-tf.exp(tf.where(near_zero, -1.0, log_p))),
  )
  return log_p - log_1mp
