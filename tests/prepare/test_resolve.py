"""Funnels as the run resolves them: an objective that follows another needs
both in the run, and training positives outside the funnel are reported."""

import types

import numpy as np
import tensorflow as tf

from multiobj import config as config_lib
from multiobj.prepare import resolve
from tests import tiny


class NothingToTrainTest(tf.test.TestCase):
  def test_a_dataset_without_a_label_is_named(self):
    data = tiny.prepared().data
    # A dataset whose description has no label (all resolve reads of it).
    unlabelled = types.SimpleNamespace(
      objectives=(), spec=types.SimpleNamespace(name="my_log")
    )
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "Dataset 'my_log' has no objective to train: no column of its "
      'description is a label with an objective ("role": "label", '
      '"objective": ...), and --objectives names none.',
    ):
      resolve.resolve(config_lib.PrepareConfig(), unlabelled)
    self.assertNotEmpty(data.objectives)


class FunnelsTest(tf.test.TestCase):
  def test_a_funnel_needs_its_objectives(self):
    with self.assertRaisesRegex(
      ValueError,
      r"--funnels=purchase:click:entire needs the objectives click and "
      r"purchase; this run has no click",
    ):
      tiny.prepared(
        funnels="purchase:click:entire", objective_weights="retrieval,purchase"
      )
    with self.assertRaisesRegex(
      ValueError,
      r"--funnels: purchase:click:esmm has space 'esmm'; expected one of "
      "given, entire",
    ):
      config_lib.TrainConfig(model_dir="x").replace(
        funnels="purchase:click:esmm"
      )

  def test_purchases_outside_the_funnel_are_reported(self):
    # Synthetic purchases all follow a click: nothing to report...
    prepared = tiny.prepared(funnels="purchase:click:entire")
    objectives = prepared.config.objectives
    rows = dict(prepared.data.split("train"))
    with self.assertNoLogs("absl", level="WARNING"):
      resolve.warn_outside_funnels(objectives, rows)
    # ...until half the clicks are erased.
    keep = np.arange(len(rows["click"])) % 2 == 0
    rows["click"] = np.where(keep, rows["click"], 0).astype(np.float32)
    with self.assertLogs("absl", level="WARNING") as logs:
      resolve.warn_outside_funnels(objectives, rows)
    self.assertTrue(
      any(
        "training positives of 'purchase'" in m and "have no 'click'" in m
        for m in logs.output
      ),
      logs.output,
    )


if __name__ == "__main__":
  tf.test.main()
