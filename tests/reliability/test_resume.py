"""A run interrupted after training, during its evaluation: run again, it
evaluates the trained weights without training again."""

import os
from unittest import mock

import tensorflow as tf

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import synthetic
from multiobj.evaluate import report
from multiobj.model import model as model_lib
from multiobj.train import run_dir

SMALL = synthetic.SyntheticConfig(num_users=150, num_items=80, num_requests=600)


class EvaluationInterruptedTest(tf.test.TestCase):
  def test_the_rerun_evaluates_without_training(self):
    root = self.create_tempdir().full_path
    config = config_lib.TrainConfig(model_dir=os.path.join(root, "whole"))
    config = config.replace(synthetic=SMALL, epochs=2)
    whole = experiment.run(config, verbose=0)
    self.assertFalse(os.path.exists(os.path.join(root, "whole", "backup")))
    interrupted = config.replace(model_dir=os.path.join(root, "interrupted"))
    with (
      mock.patch.object(report, "evaluate", side_effect=RuntimeError("x")),
      self.assertRaisesRegex(RuntimeError, "x"),
    ):
      experiment.run(interrupted, verbose=0)
    with self.assertRaisesRegex(ValueError, "holds an unfinished run"):
      run_dir.check_finished(interrupted.model_dir)
    with mock.patch.object(
      model_lib.MultiObjectiveModel,
      "train_step",
      side_effect=AssertionError("trained again"),
    ):
      again = experiment.run(interrupted, verbose=0)
    self.assertEqual(again.timing["resumed_after_epochs"], 2)
    self.assertNotIn("train_rows_per_second", again.timing)
    # Each epoch's time is this process's: the rerun trained none.
    self.assertLen(whole.timing["epoch_seconds"], 2)
    self.assertEqual(again.timing["epoch_seconds"], [])
    self.assertGreater(whole.timing["evaluate_seconds"], 0)
    self.assertEqual(again.metrics, whole.metrics)
    self.assertEqual(again.history, whole.history)
    run_dir.check_finished(interrupted.model_dir)


if __name__ == "__main__":
  tf.test.main()
