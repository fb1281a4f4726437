"""Losses over impression lists, registered by name.

Every loss takes the same three tensors, named as in Keras:

  y_true:        [batch_size, list_size] labels.
  y_pred:        [batch_size, list_size] logits (binary, listwise) or
                 predictions (regression).
  sample_weight: [batch_size, list_size] (or [batch_size], broadcast over
                 the list) non-negative weights. A weight of 0 marks an entry
                 that does not count: list padding, or a row where the
                 objective does not apply (dwell time without a click).

Pointwise losses reduce to the weighted mean over the entries that count,
`sum(w * l) / sum(w)`, so a loss does not shrink when the objective applies to
few rows in a batch. Ranking losses wrap `tensorflow_ranking.keras.losses`:
entries with weight 0 become TF-Ranking padding (label -1), and the per-list
losses are summed and divided by the number of lists holding at least one
positive label, the lists that carry gradient.

A loss class declares the objective kinds it serves in `kinds`; registering a
subclass of `Loss` with `@register_loss("name")` makes it available to every
objective by name.
"""

from typing import Any, ClassVar

import tensorflow as tf
import tensorflow_ranking as tfr

from objectives import registry

LOSSES: registry.Registry[type["Loss"]] = registry.Registry("loss", "losses")
register_loss = LOSSES.register


def get_loss(name: str, **kwargs: Any) -> "Loss":
  """Returns a new instance of the loss registered as `name`."""
  return LOSSES.get(name)(**kwargs)


class Loss(tf.keras.losses.Loss):
  """Base class: masked, weighted loss over [batch_size, list_size] tensors."""

  # Objective kinds this loss can train: "binary", "regression", "listwise",
  # "retrieval".
  kinds: ClassVar[tuple[str, ...]] = ()

  def __init__(self, name: str | None = None, **kwargs: Any):
    super().__init__(
      reduction=tf.keras.losses.Reduction.NONE, name=name, **kwargs
    )

  def __call__(self, y_true, y_pred, sample_weight=None) -> tf.Tensor:
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
      return self.reduce(y_true, y_pred, sample_weight)

  def reduce(
    self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor
  ) -> tf.Tensor:
    raise NotImplementedError

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
    return tf.math.divide_no_nan(
      tf.reduce_sum(losses * sample_weight), tf.reduce_sum(sample_weight)
    )


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
    return tf.math.divide_no_nan(
      tf.reduce_sum(per_list), tf.reduce_sum(tf.cast(has_positive, tf.float32))
    )


@register_loss("bce")
class BinaryCrossEntropy(PointwiseLoss):
  """Sigmoid cross entropy on logits: -y log p - (1 - y) log(1 - p).

  >>> float(BinaryCrossEntropy()([[1.0, 0.0]], [[0.0, 0.0]]))  # log 2
  0.693147...
  """

  kinds = ("binary",)

  def elementwise(self, y_true, y_pred):
    return tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.cast(y_true > 0, tf.float32), logits=y_pred
    )


@register_loss("mse")
class MeanSquaredError(PointwiseLoss):
  """Squared error (y - y_pred)^2, for regression heads.

  >>> float(MeanSquaredError()([[1.0, 3.0]], [[0.0, 1.0]]))  # (1 + 4) / 2
  2.5
  """

  kinds = ("regression",)

  def elementwise(self, y_true, y_pred):
    return tf.math.squared_difference(y_true, y_pred)


@register_loss("huber")
class Huber(PointwiseLoss):
  """Huber loss: squared error within `delta`, linear beyond it.

  l = 0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta), d = y - y_pred.

  >>> float(Huber(delta=1.0)([[0.0, 3.0]], [[0.5, 0.0]]))  # (0.125 + 2.5) / 2
  1.3125
  """

  kinds = ("regression",)

  def __init__(self, delta: float = 1.0, name: str | None = None):
    super().__init__(name=name)
    self.delta = float(delta)

  def elementwise(self, y_true, y_pred):
    error = tf.abs(y_true - y_pred)
    quadratic = tf.minimum(error, self.delta)
    return 0.5 * quadratic**2 + self.delta * (error - quadratic)

  def get_config(self):
    return {**super().get_config(), "delta": self.delta}


@register_loss("softmax")
class Softmax(RankingLoss):
  """Listwise softmax cross entropy (TF-Ranking `SoftmaxLoss`).

  Per list, with weighted labels y'_i = w_i y_i:
  sum(y') * -sum_i (y'_i / sum(y')) log softmax(s)_i. On a retrieval objective the "list" is
  one query against all in-batch candidates, which makes this the sampled
  softmax of two-tower retrieval.

  >>> float(Softmax()([[1.0, 0.0]], [[0.0, 0.0]]))  # log 2
  0.693147...
  """

  kinds = ("binary", "listwise", "retrieval")

  def make_ranking_loss(self):
    return tfr.keras.losses.SoftmaxLoss(
      reduction=tf.keras.losses.Reduction.NONE
    )


@register_loss("approx_ndcg")
class ApproxNDCG(RankingLoss):
  """Negative ApproxNDCG (TF-Ranking `ApproxNDCGLoss`, Qin et al. 2010).

  Ranks are smoothed as 1 + sum_j sigmoid((s_j - s_i) / temperature) and the
  loss is -NDCG computed with them, gains 2^y - 1.
  """

  kinds = ("binary", "listwise")

  def __init__(self, temperature: float = 0.1, name: str | None = None):
    super().__init__(name=name)
    self.temperature = float(temperature)

  def make_ranking_loss(self):
    return tfr.keras.losses.ApproxNDCGLoss(
      reduction=tf.keras.losses.Reduction.NONE, temperature=self.temperature
    )

  def get_config(self):
    return {**super().get_config(), "temperature": self.temperature}


@register_loss("pairwise_logistic")
class PairwiseLogistic(RankingLoss):
  """Pairwise logistic loss (TF-Ranking `PairwiseLogisticLoss`, RankNet).

  Per list: sum over pairs with y_i > y_j of log(1 + exp(-(s_i - s_j))).
  """

  kinds = ("binary", "listwise")

  def make_ranking_loss(self):
    return tfr.keras.losses.PairwiseLogisticLoss(
      reduction=tf.keras.losses.Reduction.NONE
    )
