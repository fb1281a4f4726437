"""The train and test steps: task losses -> one update, and what is logged.

  train step   the model's `compute_loss` gives each task's loss on this
               replica's share of the batch; `global_losses` makes each the
               replica's estimate of the global batch's loss (the one place
               replicas are accounted for); the weighting strategy combines
               them inside the tape and turns the tape into gradients; the
               optimizer applies them.
  test step    the same losses with the configured static weights.

Both report every task's loss and effective weight, the total and the
trunk's gate usage through the model's trackers, so they show in the
progress bar, TensorBoard and metrics.json.
"""

from typing import NamedTuple

import tensorflow as tf


class TaskLoss(NamedTuple):
  """One task's loss on this replica's part of a batch.

  Attributes:
    value: The mean loss over what the task averages (rows, lists, pairs).
    denominator: What it averages over (the sum of the row weights, the
      lists with a positive, the positive pairs); None for a loss that
      reports its mean alone (replicas then count equally).
  """

  value: tf.Tensor
  denominator: tf.Tensor | None


def replicas() -> int:
  """Replicas that run this step in sync (1 without a strategy)."""
  context = tf.distribute.get_replica_context()
  return context.num_replicas_in_sync if context is not None else 1


def global_losses(task_losses: dict[str, TaskLoss]) -> dict[str, tf.Tensor]:
  """Each task's loss as this replica's estimate of the global batch's.

  A replica's mean over its rows, times R times its share of the global
  denominator: averaged over the R replicas, this is the global batch's
  mean, whatever each replica's share. Unchanged with one replica.
  """
  count = replicas()
  if count == 1:
    return {name: t.value for name, t in task_losses.items()}
  context = tf.distribute.get_replica_context()
  out = {}
  for name, t in task_losses.items():
    share = tf.constant(1.0)
    if t.denominator is not None:
      total = context.all_reduce(tf.distribute.ReduceOp.SUM, t.denominator)
      share = tf.math.divide_no_nan(t.denominator * count, total)
    out[name] = t.value * share
  return out


def train_step(model, inputs) -> dict[str, tf.Tensor]:
  """One update of `model` (a `MultiObjectiveModel`) on a batch."""
  model.bind_steps()
  weighting = model.weighting
  with tf.GradientTape(persistent=weighting.needs_persistent_tape) as tape:
    losses = global_losses(model.compute_loss(inputs, training=True))
    total, weights = weighting.combine(losses)
    regularization = (
      tf.add_n(model.losses) if model.losses else tf.constant(0.0)
    )
    total += regularization
    # The optimizer sums the replicas' gradients: each replica minimizes
    # its share, 1 / R, of the global loss.
    count = replicas()
    minimized, task_terms, penalty = total, losses, regularization
    if count > 1:
      minimized = total / count
      task_terms = {k: v / count for k, v in losses.items()}
      penalty = regularization / count
  variables = model.trainable_variables
  gradients, weights = weighting.gradients(
    tape,
    minimized,
    task_terms,
    weights,
    variables,
    model.shared_variables,
    penalty,
  )
  del tape
  model.optimizer.apply_gradients(
    (g, v) for g, v in zip(gradients, variables, strict=False) if g is not None
  )
  return track(model, losses, weights, regularization)


def test_step(model, inputs) -> dict[str, tf.Tensor]:
  """The losses of `model` on a batch, with its static weights; without
  the objectives whose labels the validation split lacks
  (`model.unscored_in_validation`): neither their losses nor the total
  read them, and their values are not logged."""
  model.bind_steps()
  skipped = model.unscored_in_validation
  losses = global_losses(model.compute_loss(inputs, training=False))
  losses = {name: loss for name, loss in losses.items() if name not in skipped}
  weights = {o.name: tf.constant(o.weight) for o in model.objective_list}
  values = track(model, losses, weights, tf.constant(0.0))
  hidden = {f"{name}_{what}" for name in skipped for what in ("loss", "weight")}
  return {k: v for k, v in values.items() if k not in hidden}


def track(model, losses, weights, regularization) -> dict[str, tf.Tensor]:
  """Updates the total, each task's loss and weight; returns every tracked
  value (the gates' were updated by `compute_loss`)."""
  total = regularization + tf.add_n(
    [tf.cast(weights[name], tf.float32) * loss for name, loss in losses.items()]
  )
  model.total_loss_tracker.update_state(total)
  for name, loss in losses.items():
    model.task_loss_trackers[name].update_state(loss)
    model.task_weight_trackers[name].update_state(weights[name])
  return {m.name: m.result() for m in model.metrics}
