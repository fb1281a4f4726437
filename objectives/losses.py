"""Losses over impression lists: the registry and the base classes.

Every loss takes the same three tensors, named as in Keras, and optionally the
whole batch:

  y_true:        [batch_size, list_size] labels.
  y_pred:        [batch_size, list_size] logits (binary, listwise) or
                 predictions (regression).
  sample_weight: [batch_size, list_size] (or [batch_size], broadcast over
                 the list) non-negative weights. A weight of 0 marks an entry
                 that does not count: list padding, or a row where the
                 objective does not apply (dwell time without a click).
  batch:         {column: tensor}, the batch the labels came from, for
                 losses that read another column (dwell-weighted clicks).

Pointwise losses reduce to the weighted mean over the entries that count,
`sum(w * l) / sum(w)`, so a loss does not shrink when the objective applies to
few rows in a batch. Ranking losses wrap `tensorflow_ranking.keras.losses`:
entries with weight 0 become TF-Ranking padding (label -1), and the per-list
losses are summed and divided by the number of lists holding at least one
positive label, the lists that carry gradient.

A loss class declares the objective kinds it serves in `kinds`; registering a
subclass of `Loss` with `@register_loss("name")` makes it available to every
objective by name. Constructor arguments are the loss's parameters, set from
a flag as `--losses=click:gce(q=0.5)`. The built-ins live in `pointwise.py`
and `ranking.py`.
"""

from typing import Any, ClassVar

import tensorflow as tf

from objectives import registries

# The registry lives in `registries` (names known without TensorFlow).
LOSSES = registries.LOSSES
register_loss = registries.register_loss
get_loss = registries.get_loss


class Loss(tf.keras.losses.Loss):
  """Base class: masked, weighted loss over [batch_size, list_size] tensors."""

  # Objective kinds this loss can train: "binary", "regression", "listwise",
  # "retrieval".
  kinds: ClassVar[tuple[str, ...]] = ()

  def __init__(self, name: str | None = None):
    super().__init__(reduction=tf.keras.losses.Reduction.NONE, name=name)
    # The training step (the optimizer's iteration count), for losses whose
    # behaviour follows a schedule; bound by the model with `bind_step`.
    self.step = None

  def bind_step(self, step: tf.Variable) -> None:
    self.step = step

  @property
  def required_columns(self) -> tuple[str, ...]:
    """Batch columns `prepare` reads besides the label."""
    return ()

  def __call__(
    self, y_true, y_pred, sample_weight=None, batch=None
  ) -> tf.Tensor:
    return self.parts(y_true, y_pred, sample_weight, batch)[0]

  def parts(
    self, y_true, y_pred, sample_weight=None, batch=None
  ) -> tuple[tf.Tensor, tf.Tensor | None]:
    """(the loss, what it averages over): the sum of the weights for a
    pointwise loss, the number of lists with a positive for a ranking loss;
    None for a loss whose `reduce` returns the mean alone. The model scales
    losses across replicas by the denominator, so that they are the global
    batch's."""
    y_pred = tf.convert_to_tensor(y_pred)
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(tf.convert_to_tensor(y_true), tf.float32)
    if sample_weight is None:
      sample_weight = tf.ones_like(y_pred)
    else:
      sample_weight = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
      if sample_weight.shape.rank == 1:
        sample_weight = sample_weight[:, tf.newaxis]
      sample_weight = tf.broadcast_to(sample_weight, tf.shape(y_pred))
    with tf.name_scope(self.name or type(self).__name__):
      y_true, sample_weight = self.prepare(y_true, sample_weight, batch or {})
      reduced = self.reduce(y_true, y_pred, sample_weight)
      if isinstance(reduced, tuple):
        total, denominator = reduced
        return tf.math.divide_no_nan(total, denominator), denominator
      return reduced, None

  def prepare(
    self,
    y_true: tf.Tensor,
    sample_weight: tf.Tensor,
    batch: dict[str, tf.Tensor],
  ) -> tuple[tf.Tensor, tf.Tensor]:
    """Hook: labels and weights from other columns of the batch."""
    del batch  # Unused by most losses.
    return y_true, sample_weight

  def reduce(
    self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor
  ) -> tuple[tf.Tensor, tf.Tensor] | tf.Tensor:
    """(summed loss, denominator), the loss being their ratio; or the mean
    alone (then replicas are weighted equally, see `parts`)."""
    raise NotImplementedError

  def of_one_positive(
    self, logits: tf.Tensor, positive: tf.Tensor
  ) -> tuple[tf.Tensor, tf.Tensor | None]:
    """`parts` of lists that hold one positive each: [P, C] `logits`, the
    positive at column `positive` [P] (a retrieval query against its
    candidates). A loss with a cheaper form for this case overrides it."""
    labels = tf.one_hot(positive, tf.shape(logits)[1], dtype=tf.float32)
    return self.parts(labels, logits)

  def call(self, y_true, y_pred):
    # Keras' abstract hook; `__call__` above does the work.
    return self(y_true, y_pred)

  def get_config(self) -> dict[str, Any]:
    # The constructor's arguments; the reduction is always our own.
    return {"name": self.name}


class PointwiseLoss(Loss):
  """A loss that scores each entry on its own: override `elementwise`."""

  def elementwise(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Returns the [batch_size, list_size] unreduced loss."""
    raise NotImplementedError

  def reduce(self, y_true, y_pred, sample_weight):
    losses = self.elementwise(y_true, y_pred)
    # Masked entries may hold any label (dwell 0 without a click); keep their
    # loss out of the sum even if it is not finite.
    losses = tf.where(sample_weight > 0, losses, tf.zeros_like(losses))
    return tf.reduce_sum(losses * sample_weight), tf.reduce_sum(sample_weight)


class RankingLoss(Loss):
  """A TF-Ranking loss over each list: override `make_ranking_loss`."""

  def make_ranking_loss(self) -> tf.keras.losses.Loss:
    """Returns the TF-Ranking loss with reduction NONE."""
    raise NotImplementedError

  def reduce(self, y_true, y_pred, sample_weight):
    valid = sample_weight > 0
    # TF-Ranking marks padding with negative labels.
    labels = tf.where(valid, y_true, -tf.ones_like(y_true))
    losses = self.make_ranking_loss()(labels, y_pred, sample_weight)
    # Listwise losses give [batch_size] (or [batch_size, 1]), pairwise ones
    # [batch_size, list_size]: sum each list.
    losses = tf.reshape(losses, [tf.shape(y_pred)[0], -1])
    per_list = tf.reduce_sum(losses, axis=1)
    has_positive = tf.reduce_any(tf.logical_and(valid, y_true > 0), axis=1)
    return tf.reduce_sum(per_list), tf.reduce_sum(
      tf.cast(has_positive, tf.float32)
    )
