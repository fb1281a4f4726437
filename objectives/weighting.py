"""How per-task losses become one update: loss-weighting strategies.

A strategy runs inside the model's train step. It receives the tape and the
per-task losses and returns the gradients to apply plus the effective weight
of each task for this step, which the model logs. Strategies are Keras
layers held by the model, so the ones that learn (uncertainty, GradNorm) have
their variables trained and checkpointed with it.

Built in: static weights; loss reweighting, inside the tape (uncertainty,
dwa, gradnorm); gradient combination on the variables several tasks share
(pcgrad, mgda, in `gradient_weighting.py`). Parameters are set by flag as
`--weighting=dwa(temperature=1.0)`.

Register a new strategy with `@register_weighting("name")` on a subclass of
`Weighting`; it makes its variables in `__init__` (the optimizer is built
before the first training step).
"""

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import tensorflow as tf

from objectives import registries, selection

# The registry lives in `registries` (names known without TensorFlow), and
# `get_weighting` in `selection`.
WEIGHTINGS = registries.WEIGHTINGS
register_weighting = registries.register_weighting
get_weighting = selection.get_weighting


class Weighting(tf.keras.layers.Layer):
  """Base class of loss-weighting strategies.

  A strategy acts at one or both of two points of the train step:
  `combine` runs inside the gradient tape and turns task losses into the
  total loss (strategies that reweight losses override it); `gradients` runs
  after it and turns the tape into gradients (strategies that operate on
  gradients, such as PCGrad or MGDA, override it).

  Args:
    weights: The configured weight of each task, by task name, in the order
      the model lists its tasks.
  """

  # True when `gradients` calls `tape.gradient` more than once.
  needs_persistent_tape: ClassVar[bool] = False

  def __init__(self, weights: Mapping[str, float], **kwargs):
    super().__init__(**kwargs)
    self.task_names = tuple(weights)
    self.configured_weights = {k: float(v) for k, v in weights.items()}

  def combine(
    self, task_losses: Mapping[str, tf.Tensor]
  ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Returns (total loss, effective weight per task); inside the tape.

    The default is the configured static weighting, sum_i w_i L_i.
    """
    weights = {
      name: tf.constant(self.configured_weights[name])
      for name in self.task_names
    }
    total = tf.add_n(
      [weights[name] * task_losses[name] for name in self.task_names]
    )
    return total, weights

  def gradients(
    self,
    tape: tf.GradientTape,
    total_loss: tf.Tensor,
    task_losses: Mapping[str, tf.Tensor],
    weights: Mapping[str, tf.Tensor],
    variables: Sequence[tf.Variable],
    shared_variables: Sequence[tf.Variable],
    regularization: tf.Tensor,
  ) -> tuple[list[tf.Tensor | None], Mapping[str, tf.Tensor]]:
    """Returns (gradients for `variables`, effective weight per task).

    Args:
      tape: The tape that recorded the forward pass and `combine`.
      total_loss: What `combine` returned, plus `regularization`.
      task_losses: Scalar loss of each task.
      weights: The weights `combine` returned.
      variables: All trainable variables of the model, strategy included.
      shared_variables: The variables of the last layer every ranking task
        shares, for strategies that balance gradients there.
      regularization: The model's regularisation loss (added unweighted),
        for strategies that differentiate the tasks one by one.
    """
    del task_losses, shared_variables, regularization  # Unused here.
    return tape.gradient(total_loss, variables), weights

  def on_epoch_end(self, epoch_losses: Mapping[str, float]) -> None:
    """Called after each training epoch with each task's mean training loss
    over it (strategies that adapt per epoch, such as DWA, override this)."""
    del epoch_losses  # Unused by most strategies.


@register_weighting("static")
class Static(Weighting):
  """Fixed weights from the objectives: total = sum_i w_i L_i."""


@register_weighting("uncertainty")
class Uncertainty(Weighting):
  """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla 2018).

  Each task has a learned log-variance s_i, initialised to 0 and trained with
  the model: total = sum_i w_i (exp(-s_i) L_i + s_i), so task i's effective
  weight is w_i exp(-s_i). For a fixed L_i the optimum is exp(-s_i) = 1/L_i:
  noisy (high-loss) tasks are down-weighted, and the s_i term stops every
  weight from collapsing to 0. The paper's 1/2 factor on regression tasks is
  dropped (one form for every task; the optimum in s_i is the same up to a
  constant), and losses are assumed positive, as negative log-likelihoods.
  """

  def __init__(self, weights: Mapping[str, float], **kwargs):
    super().__init__(weights, **kwargs)
    self.log_variances = [
      self.add_weight(
        name=f"log_variance_{name}", shape=(), initializer="zeros"
      )
      for name in self.task_names
    ]

  def combine(self, task_losses):
    weights, terms = {}, []
    for name, s in zip(self.task_names, self.log_variances, strict=True):
      configured = self.configured_weights[name]
      weights[name] = configured * tf.exp(-s)
      terms.append(weights[name] * task_losses[name] + configured * s)
    return tf.add_n(terms), weights


@register_weighting("dwa")
class DynamicWeightAverage(Weighting):
  """Dynamic Weight Average (Liu, Johns & Davison 2019).

  Weights change once per epoch, from the rate at which each task's mean
  training loss fell over the last two epochs:
  lambda_i(t) = K exp(r_i / T) / sum_j exp(r_j / T), with
  r_i = L_i(t-1) / L_i(t-2), K tasks and temperature T; lambda_i = 1 for the
  first two epochs. Task i's weight is w_i lambda_i: a task whose loss falls
  slowly gets more weight. Needs positive losses (the ratio of two negative
  losses would read an improvement as a slow-down).

  Args:
    weights: See `Weighting`.
    temperature: T; larger values make the weights more even.
  """

  def __init__(
    self, weights: Mapping[str, float], temperature: float = 2.0, **kwargs
  ):
    super().__init__(weights, **kwargs)
    if not temperature > 0:
      raise ValueError(f"DWA temperature must be > 0, got {temperature}.")
    self.temperature = float(temperature)
    k = len(self.task_names)
    # Non-trainable variables: checkpointed, and the traced train step reads
    # their current value after on_epoch_end has assigned them eagerly.
    self.lambdas = _state(self, "lambdas", (k,), "ones")
    self.last_epoch_losses = _state(self, "last_epoch_losses", (2, k))
    self.epochs_seen = _state(self, "epochs_seen", (), dtype=tf.int64)

  def combine(self, task_losses):
    weights = {
      name: self.configured_weights[name] * self.lambdas[i]
      for i, name in enumerate(self.task_names)
    }
    total = tf.add_n([weights[n] * task_losses[n] for n in self.task_names])
    return total, weights

  def on_epoch_end(self, epoch_losses):
    losses = [float(epoch_losses[name]) for name in self.task_names]
    bad = [
      f"{name}={value}"
      for name, value in zip(self.task_names, losses, strict=True)
      if not (math.isfinite(value) and value > 0)
    ]
    if bad:
      raise ValueError(
        "DWA needs positive, finite mean task losses; got " + ", ".join(bad)
      )
    self.last_epoch_losses.assign(
      tf.stack([self.last_epoch_losses[1], tf.constant(losses)])
    )
    self.epochs_seen.assign_add(1)
    if self.epochs_seen >= 2:
      ratio = self.last_epoch_losses[1] / self.last_epoch_losses[0]
      k = len(self.task_names)
      self.lambdas.assign(k * tf.nn.softmax(ratio / self.temperature))


@register_weighting("gradnorm")
class GradNorm(Weighting):
  """GradNorm (Chen et al. 2018) on the shared trunk's last layer W.

  The task weights w_i are trainable, start at the configured weights and
  are renormalised after every step to their initial sum. The model's
  parameters get the gradient of sum_i w_i L_i; the weights get that of
  L_grad = sum_i |G_i - stop_gradient(mean_j(G_j) r_i^alpha)|, where
  G_i = ||d(w_i L_i)/dW|| and r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0))
  with L_i(0) the losses of the first step. Tasks whose loss does not reach
  W (retrieval) are left out and keep their configured weight.

  Deviations: the renormalisation happens at the start of the next step (so
  the weights a step uses and logs are the renormalised ones); weights are
  floored at 1e-6 before it (the paper does not say how to keep them
  positive); the weights share the model's optimizer and learning rate; a
  negative loss ratio counts as 0 (losses are assumed positive).

  Args:
    weights: See `Weighting`.
    alpha: Strength of the pull towards equal training rates.
  """

  needs_persistent_tape = True

  def __init__(
    self, weights: Mapping[str, float], alpha: float = 1.5, **kwargs
  ):
    super().__init__(weights, **kwargs)
    self.alpha = float(alpha)
    k = len(self.task_names)
    self.task_weights = [
      self.add_weight(
        name=f"weight_{name}",
        shape=(),
        initializer=tf.keras.initializers.Constant(
          self.configured_weights[name]
        ),
      )
      for name in self.task_names
    ]
    self.initial_losses = _state(self, "initial_losses", (k,))
    self.has_initial_losses = _state(self, "has_initial_losses", ())
    # 1 for the tasks GradNorm balances: known once `gradients` is traced,
    # read by the renormalisation at the start of the next step.
    self.balanced = _state(self, "balanced", (k,), "ones")

  def combine(self, task_losses):
    current = tf.stack(self.task_weights)
    positive = tf.maximum(current, 1e-6)
    configured = tf.constant(
      [self.configured_weights[n] for n in self.task_names]
    )
    scale = tf.reduce_sum(self.balanced * configured) / tf.reduce_sum(
      self.balanced * positive
    )
    renormalised = tf.where(self.balanced > 0, positive * scale, current)
    weights = {}
    for name, variable, value in zip(
      self.task_names, self.task_weights, tf.unstack(renormalised), strict=True
    ):
      variable.assign(value)
      weights[name] = tf.convert_to_tensor(variable)  # Read after the assign.
    total = tf.add_n([weights[n] * task_losses[n] for n in self.task_names])
    return total, weights

  def gradients(
    self,
    tape,
    total_loss,
    task_losses,
    weights,
    variables,
    shared_variables,
    regularization,
  ):
    del regularization  # Part of total_loss.
    gradients = tape.gradient(total_loss, variables)
    balanced, norms = [], []
    for i, name in enumerate(self.task_names):
      task = tape.gradient(task_losses[name], shared_variables)
      if any(g is not None for g in task):
        balanced.append(i)
        norms.append(tf.linalg.global_norm(task))
    self.balanced.assign(
      [float(i in balanced) for i in range(len(self.task_names))]
    )
    losses = tf.stack([task_losses[n] for n in self.task_names])
    initial = tf.where(self.has_initial_losses > 0, self.initial_losses, losses)
    self.initial_losses.assign(initial)
    self.has_initial_losses.assign(1.0)
    weight_gradients = {w.ref(): None for w in self.task_weights}
    if balanced:
      task_weights = [self.task_weights[i] for i in balanced]
      ratios = tf.math.divide_no_nan(
        tf.gather(losses, balanced), tf.gather(initial, balanced)
      )
      rates = tf.maximum(ratios / tf.reduce_mean(ratios), 0.0)
      with tf.GradientTape() as weight_tape:
        norm = tf.stack(
          [tf.abs(w) * n for w, n in zip(task_weights, norms, strict=True)]
        )
        target = tf.stop_gradient(tf.reduce_mean(norm) * rates**self.alpha)
        gradnorm_loss = tf.reduce_sum(tf.abs(norm - target))
      for w, g in zip(
        task_weights,
        weight_tape.gradient(gradnorm_loss, task_weights),
        strict=True,
      ):
        weight_gradients[w.ref()] = g
    gradients = [
      weight_gradients[v.ref()] if v.ref() in weight_gradients else g
      for g, v in zip(gradients, variables, strict=True)
    ]
    return gradients, weights


def _state(layer, name, shape, initializer="zeros", dtype=tf.float32):
  """A non-trainable variable of `layer`: checkpointed, not optimised."""
  return layer.add_weight(
    name=name,
    shape=shape,
    initializer=initializer,
    dtype=dtype,
    trainable=False,
  )
