"""Pointwise losses: each entry scored on its own, averaged where they count.

Subclasses of `losses.PointwiseLoss` override `elementwise`; see `losses.py`
for shapes, masking and reduction.
"""

import tensorflow as tf

from objectives.losses import PointwiseLoss, register_loss


@register_loss("bce")
class BinaryCrossEntropy(PointwiseLoss):
  """Sigmoid cross entropy on logits: -y log p - (1 - y) log(1 - p).

  >>> round(float(BinaryCrossEntropy()([[1.0, 0.0]], [[0.0, 0.0]])), 6)  # log 2
  0.693147
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


def _binary(y_true):
  return tf.cast(y_true > 0, tf.float32)


def _cross_entropy(y_true, y_pred):
  return tf.nn.sigmoid_cross_entropy_with_logits(
    labels=_binary(y_true), logits=y_pred
  )


@register_loss("focal")
class Focal(PointwiseLoss):
  """Focal loss (Lin et al. 2017): -a_t (1 - p_t)^gamma log p_t.

  p_t is the probability of the true class; easy, confident entries are
  down-weighted. `alpha` in [0, 1] weighs positives against negatives
  (a_t = alpha for positives, 1 - alpha for negatives); a negative `alpha`
  leaves classes unweighted, which keeps probabilities closer to calibrated.
  """

  kinds = ("binary",)

  def __init__(
    self, gamma: float = 2.0, alpha: float = -1.0, name: str | None = None
  ):
    super().__init__(name=name)
    if gamma < 0 or alpha > 1:
      raise ValueError(
        f"focal needs gamma >= 0 and alpha <= 1, got {gamma}, {alpha}."
      )
    self.gamma, self.alpha = float(gamma), float(alpha)

  def elementwise(self, y_true, y_pred):
    y = _binary(y_true)
    ce = _cross_entropy(y_true, y_pred)
    p_t = tf.exp(-ce)
    loss = (1.0 - p_t) ** self.gamma * ce
    if self.alpha >= 0:
      loss *= self.alpha * y + (1.0 - self.alpha) * (1.0 - y)
    return loss

  def get_config(self):
    return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}


@register_loss("gce")
class GeneralizedCrossEntropy(PointwiseLoss):
  """Generalized cross entropy (Zhang & Sabuncu 2018): (1 - p_t^q) / q.

  Interpolates between cross entropy (q -> 0) and the noise-robust mean
  absolute error (q = 1); a wrong label with a confident prediction costs at
  most 1/q instead of growing without bound.
  """

  kinds = ("binary",)

  def __init__(self, q: float = 0.7, name: str | None = None):
    super().__init__(name=name)
    if not 0 < q <= 1:
      raise ValueError(f"gce needs 0 < q <= 1, got {q}.")
    self.q = float(q)

  def elementwise(self, y_true, y_pred):
    # p_t^q = exp(-q CE), stable for confident predictions.
    return (1.0 - tf.exp(-self.q * _cross_entropy(y_true, y_pred))) / self.q

  def get_config(self):
    return {**super().get_config(), "q": self.q}


@register_loss("sce")
class SymmetricCrossEntropy(PointwiseLoss):
  """Symmetric cross entropy (Wang et al. 2019): alpha CE + beta RCE.

  The reverse cross entropy swaps prediction and label,
  RCE = -sum_k p_k log y_k with log 0 clipped to `log_zero` (A = -4), which
  for two classes is -A (1 - p_t).
  """

  kinds = ("binary",)

  def __init__(
    self,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    name: str | None = None,
  ):
    super().__init__(name=name)
    if alpha < 0 or beta < 0 or log_zero >= 0:
      raise ValueError(
        f"sce needs alpha, beta >= 0 and log_zero < 0, got {alpha}, {beta}, {log_zero}."
      )
    self.alpha, self.beta, self.log_zero = (
      float(alpha),
      float(beta),
      float(log_zero),
    )

  def elementwise(self, y_true, y_pred):
    ce = _cross_entropy(y_true, y_pred)
    reverse = -self.log_zero * (1.0 - tf.exp(-ce))
    return self.alpha * ce + self.beta * reverse

  def get_config(self):
    return {
      **super().get_config(),
      "alpha": self.alpha,
      "beta": self.beta,
      "log_zero": self.log_zero,
    }


@register_loss("bootstrap")
class Bootstrap(PointwiseLoss):
  """Bootstrapping (Reed et al. 2015): cross entropy to a target mixed with the
  model's own belief, t = beta y + (1 - beta) z.

  mode="soft": z = p, the predicted probability, with its gradient (the
  paper's soft bootstrap, which acts as entropy regularisation); beta 0.95 by
  default. mode="hard": z = 1[p > 0.5]; beta 0.8 by default.
  """

  kinds = ("binary",)

  def __init__(
    self, mode: str = "soft", beta: float | None = None, name: str | None = None
  ):
    super().__init__(name=name)
    if mode not in ("soft", "hard"):
      raise ValueError(
        f"bootstrap mode must be 'soft' or 'hard', got {mode!r}."
      )
    beta = {"soft": 0.95, "hard": 0.8}[mode] if beta is None else float(beta)
    if not 0 <= beta <= 1:
      raise ValueError(f"bootstrap needs 0 <= beta <= 1, got {beta}.")
    self.mode, self.beta = mode, beta

  def elementwise(self, y_true, y_pred):
    p = tf.sigmoid(y_pred)
    belief = p if self.mode == "soft" else tf.cast(p > 0.5, tf.float32)
    target = self.beta * _binary(y_true) + (1.0 - self.beta) * belief
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=y_pred)

  def get_config(self):
    return {**super().get_config(), "mode": self.mode, "beta": self.beta}


@register_loss("tce")
class TruncatedCrossEntropy(PointwiseLoss):
  """Truncated cross entropy, T-CE (Wang et al., WSDM 2021).

  At training step t, drops the floor(rate(t) * P) positives with the largest
  loss among the P positives of the batch, rate(t) = max_drop * min(1, t /
  warmup_steps): noisy clicks are hard to fit, so they carry the largest
  losses once the model has learnt the easy patterns. Negatives are kept.
  (The paper's code counts the drop against the whole batch; with a click
  rate of a few percent that would drop every positive, so the share here is
  of positives.) The paper ramps up over 30,000 steps of far longer training;
  300 steps reach the full rate within the second epoch of the default run.
  """

  kinds = ("binary",)

  def __init__(
    self,
    max_drop: float = 0.2,
    warmup_steps: int = 300,
    name: str | None = None,
  ):
    super().__init__(name=name)
    if not 0 <= max_drop < 1 or warmup_steps < 1:
      raise ValueError(
        f"tce needs 0 <= max_drop < 1 and warmup_steps >= 1, got {max_drop}, {warmup_steps}."
      )
    self.max_drop, self.warmup_steps = float(max_drop), int(warmup_steps)

  def drop_rate(self) -> tf.Tensor:
    if self.step is None:
      return tf.constant(self.max_drop)
    progress = tf.cast(self.step, tf.float32) / float(self.warmup_steps)
    return self.max_drop * tf.minimum(1.0, progress)

  def elementwise(self, y_true, y_pred):
    return _cross_entropy(y_true, y_pred)

  def reduce(self, y_true, y_pred, sample_weight):
    losses = self.elementwise(y_true, y_pred)
    positive = tf.reshape((y_true > 0) & (sample_weight > 0), [-1])
    flat = tf.reshape(losses, [-1])
    num_drop = tf.cast(
      tf.floor(self.drop_rate() * tf.reduce_sum(tf.cast(positive, tf.float32))),
      tf.int32,
    )
    # The num_drop largest losses among positives.
    candidates = tf.where(positive, flat, tf.fill(tf.shape(flat), -1.0))
    _, dropped = tf.math.top_k(candidates, k=num_drop)
    keep = tf.tensor_scatter_nd_update(
      tf.ones_like(flat),
      dropped[:, tf.newaxis],
      tf.zeros_like(dropped, tf.float32),
    )
    weights = sample_weight * tf.reshape(keep, tf.shape(sample_weight))
    return super().reduce(y_true, y_pred, weights)

  def get_config(self):
    return {
      **super().get_config(),
      "max_drop": self.max_drop,
      "warmup_steps": self.warmup_steps,
    }


@register_loss("rce")
class ReweightedCrossEntropy(PointwiseLoss):
  """Reweighted cross entropy, R-CE (Wang et al., WSDM 2021).

  Each positive's cross entropy is weighted by the model's own predicted
  probability to the power beta (held constant in the gradient), so positives
  the model finds implausible, likely noise, count less. Negatives weigh 1.
  """

  kinds = ("binary",)

  def __init__(self, beta: float = 0.25, name: str | None = None):
    super().__init__(name=name)
    if beta < 0:
      raise ValueError(f"rce needs beta >= 0, got {beta}.")
    self.beta = float(beta)

  def elementwise(self, y_true, y_pred):
    weight = tf.where(
      y_true > 0,
      tf.stop_gradient(tf.sigmoid(y_pred)) ** self.beta,
      tf.ones_like(y_pred),
    )
    return weight * _cross_entropy(y_true, y_pred)

  def get_config(self):
    return {**super().get_config(), "beta": self.beta}


@register_loss("dwell_weighted")
class DwellWeighted(PointwiseLoss):
  """Cross entropy where a click's weight follows its dwell time.

  A click with dwell below `threshold` seconds is treated as a negative
  (short_clicks="negative") or kept with weight `weak_weight`
  (short_clicks="weak"). A longer click weighs log1p(dwell) /
  log1p(threshold), growing with dwell up to `max_weight`. Reads the dwell
  time from the batch column `dwell_column`.
  """

  kinds = ("binary",)

  def __init__(
    self,
    threshold: float = 10.0,
    short_clicks: str = "negative",
    weak_weight: float = 0.2,
    max_weight: float = 3.0,
    dwell_column: str = "dwell",
    name: str | None = None,
  ):
    super().__init__(name=name)
    if short_clicks not in ("negative", "weak"):
      raise ValueError(
        f"dwell_weighted short_clicks must be 'negative' or 'weak', got {short_clicks!r}."
      )
    if threshold <= 0 or weak_weight < 0 or max_weight < 1:
      raise ValueError(
        "dwell_weighted needs threshold > 0, weak_weight >= 0 and max_weight >= 1, "
        f"got {threshold}, {weak_weight}, {max_weight}."
      )
    self.threshold, self.short_clicks = float(threshold), short_clicks
    self.weak_weight, self.max_weight = float(weak_weight), float(max_weight)
    self.dwell_column = dwell_column

  @property
  def required_columns(self) -> tuple[str, ...]:
    return (self.dwell_column,)

  def prepare(self, y_true, sample_weight, batch):
    if self.dwell_column not in batch:
      raise ValueError(
        f"Loss 'dwell_weighted' reads column {self.dwell_column!r}, which the batch "
        f"does not have; set dwell_column=... to one of: {', '.join(sorted(batch))}."
      )
    dwell = tf.cast(batch[self.dwell_column], tf.float32)
    positive = y_true > 0
    short = positive & (dwell < self.threshold)
    growth = tf.minimum(
      self.max_weight,
      tf.math.log1p(tf.maximum(dwell, 0.0)) / tf.math.log1p(self.threshold),
    )
    weight = tf.where(positive & ~short, growth, tf.ones_like(dwell))
    if self.short_clicks == "negative":
      y_true = tf.where(short, tf.zeros_like(y_true), y_true)
    else:
      weight = tf.where(short, self.weak_weight * tf.ones_like(dwell), weight)
    return y_true, sample_weight * weight

  def elementwise(self, y_true, y_pred):
    return _cross_entropy(y_true, y_pred)

  def get_config(self):
    return {
      **super().get_config(),
      "threshold": self.threshold,
      "short_clicks": self.short_clicks,
      "weak_weight": self.weak_weight,
      "max_weight": self.max_weight,
      "dwell_column": self.dwell_column,
    }
