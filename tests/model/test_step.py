"""The train and test steps: what `compute_loss` returns and how one update
combines it."""

import numpy as np
import tensorflow as tf

from multiobj.model import step
from tests import tiny

_LEARNING_RATE = 0.1


def _model_and_batch(weighting="static"):
  tf.keras.utils.set_random_seed(0)
  prepared = tiny.prepared(
    objective_weights="retrieval:1,click:1,dwell:0.5,purchase:2",
    weighting=weighting,
  )
  model = tiny.model(prepared)
  model.compile(optimizer=tf.keras.optimizers.SGD(_LEARNING_RATE))
  batch = tiny.batch(prepared, lists=32)
  model(batch)  # Creates the variables.
  return model, batch


class StepTest(tf.test.TestCase):
  def test_compute_loss_gives_each_task_its_loss_and_denominator(self):
    model, batch = _model_and_batch()
    losses = model.compute_loss(batch, training=False)
    self.assertEqual(list(losses), ["retrieval", "click", "dwell", "purchase"])
    for name, loss in losses.items():
      self.assertIsInstance(loss, step.TaskLoss)
      self.assertTrue(np.isfinite(loss.value.numpy()), name)
    mask = batch["__mask"].numpy()
    clicks = (batch["click"].numpy() > 0) & (mask > 0)
    # Pointwise heads average over the rows they apply to; retrieval over
    # the clicked pairs.
    self.assertEqual(losses["click"].denominator.numpy(), mask.sum())
    self.assertEqual(losses["dwell"].denominator.numpy(), clicks.sum())
    self.assertEqual(losses["retrieval"].denominator.numpy(), clicks.sum())

  def test_one_train_step_descends_the_weighted_sum_of_the_task_losses(self):
    model, batch = _model_and_batch()
    variables = model.trainable_variables
    before = [v.numpy() for v in variables]
    with tf.GradientTape() as tape:
      losses = model.compute_loss(batch, training=True)
      total = tf.add_n(
        [o.weight * losses[o.name].value for o in model.objective_list]
      )
    gradients = tape.gradient(total, variables)
    expected = [
      b if g is None else b - _LEARNING_RATE * tf.convert_to_tensor(g).numpy()
      for b, g in zip(before, gradients, strict=True)
    ]
    logs = model.train_step(batch)
    for v, e in zip(variables, expected, strict=True):
      self.assertAllClose(v.numpy(), e, atol=1e-5, msg=v.name)
    self.assertAllClose(logs["loss"], total.numpy(), rtol=1e-6)
    self.assertEqual(float(logs["purchase_weight"]), 2.0)

  def test_the_test_step_weighs_tasks_by_their_configured_weights(self):
    # Uncertainty weighting learns its weights in training; validation
    # reports the losses with the objectives' own.
    model, batch = _model_and_batch(weighting="uncertainty")
    logs = model.test_step(batch)
    losses = model.compute_loss(batch, training=False)
    self.assertEqual(float(logs["dwell_weight"]), 0.5)
    self.assertAllClose(
      logs["loss"],
      sum(o.weight * losses[o.name].value for o in model.objective_list),
      rtol=1e-6,
    )

  def test_one_replica_leaves_the_losses_as_they_are(self):
    losses = {
      "a": step.TaskLoss(tf.constant(2.0), tf.constant(5.0)),
      "b": step.TaskLoss(tf.constant(3.0), None),
    }
    self.assertEqual(step.replicas(), 1)
    self.assertEqual(
      {k: float(v) for k, v in step.global_losses(losses).items()},
      {"a": 2.0, "b": 3.0},
    )


if __name__ == "__main__":
  tf.test.main()
