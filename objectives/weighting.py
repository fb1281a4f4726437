"""How per-task losses become one update: loss-weighting strategies.

A strategy runs inside the model's train step. It receives the tape and the
per-task losses and returns the gradients to apply plus the effective weight
of each task for this step, which the model logs. Strategies are Keras
layers held by the model, so the ones that learn (uncertainty weighting) have
their variables trained and checkpointed with it.

Register a new strategy with `@register_weighting("name")` on a subclass of
`Weighting`.
"""

from collections.abc import Mapping, Sequence
from typing import ClassVar

import tensorflow as tf

from objectives import registry

WEIGHTINGS: registry.Registry[type["Weighting"]] = registry.Registry(
  "weighting strategy", "weighting strategies"
)
register_weighting = WEIGHTINGS.register


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
  ) -> tuple[list[tf.Tensor | None], Mapping[str, tf.Tensor]]:
    """Returns (gradients for `variables`, effective weight per task).

    Args:
      tape: The tape that recorded the forward pass and `combine`.
      total_loss: What `combine` returned, plus regularisation.
      task_losses: Scalar loss of each task.
      weights: The weights `combine` returned.
      variables: All trainable variables of the model, strategy included.
      shared_variables: The variables of the last layer every ranking task
        shares, for strategies that balance gradients there.
    """
    del task_losses, shared_variables  # Unused by loss-level strategies.
    return tape.gradient(total_loss, variables), weights

  def on_epoch_end(self, epoch_losses: Mapping[str, float]) -> None:
    """Called after each training epoch with each task's mean training loss
    over it (strategies that adapt per epoch, such as DWA, override this)."""
    del epoch_losses  # Unused by most strategies.


@register_weighting("static")
class Static(Weighting):
  """Fixed weights from the objectives: total = sum_i w_i L_i."""


def get_weighting(name: str, weights: Mapping[str, float]) -> Weighting:
  """Returns a new strategy `name` for tasks with the configured `weights`."""
  return WEIGHTINGS.get(name)(weights)
