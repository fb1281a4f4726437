"""A diverging run stops with `DivergenceError`, naming the task and the step, and
writes no result."""

import os

import tensorflow as tf

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import synthetic
from multiobj.train import callbacks

SMALL = synthetic.SyntheticConfig(num_users=100, num_items=60, num_requests=200)


class FiniteLossTest(tf.test.TestCase):
  def _check(self, logs, epoch=0, batch=0):
    check = callbacks.FiniteLoss(["retrieval", "click"], 0.05)
    check.on_epoch_begin(epoch)
    check.on_train_batch_end(batch, logs)

  def test_finite_losses_pass(self):
    self._check({"loss": 1.5, "retrieval_loss": 1.0, "click_loss": 0.5})
    self._check({})  # No loss logged: nothing to check.

  def test_names_the_tasks_the_epoch_and_the_step(self):
    with self.assertRaisesWithLiteralMatch(
      callbacks.DivergenceError,
      "Training diverged at epoch 3, step 41: the loss of click (nan) is not "
      "finite. No result was written. Lower --learning_rate (it is 0.05), or "
      "look for extreme values in the labels, weights or numeric features.",
    ):
      self._check(
        {
          "loss": float("nan"),
          "retrieval_loss": 1.0,
          "click_loss": float("nan"),
        },
        epoch=2,
        batch=40,
      )

  def test_a_weight_that_is_not_finite(self):
    with self.assertRaisesRegex(
      callbacks.DivergenceError,
      r"step 1: the weighted sum of the losses \(inf\), every task's own "
      r"loss finite \(a weight is not\) is not finite",
    ):
      self._check({"loss": float("inf"), "retrieval_loss": 1.0})


class DivergingRunTest(tf.test.TestCase):
  def test_stops_with_an_error_and_writes_no_metrics(self):
    model_dir = os.path.join(self.get_temp_dir(), "diverging")
    config = config_lib.TrainConfig(model_dir=model_dir).replace(
      synthetic=SMALL, epochs=2, learning_rate=1e30
    )
    with self.assertRaisesRegex(
      callbacks.DivergenceError,
      r"^Training diverged at epoch 1, step \d+: the loss",
    ):
      experiment.run(config, verbose=0)
    self.assertFalse(os.path.exists(os.path.join(model_dir, "metrics.json")))


if __name__ == "__main__":
  tf.test.main()
