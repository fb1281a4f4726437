"""The start-up benchmark's arithmetic and the tutorial script's data.

The benchmark's figures come from whole processes (`python -m
experiments.benchmark --startup`); here, its decisions on made-up reports,
and the tutorial's rows against the GroupLens files read by hand.
"""

import json
import os
from unittest import mock

import numpy as np
from absl.testing import absltest

from experiments import startup_benchmark, tfrs_tutorial
from multiobj.data import loaders

DATA_DIR = loaders.default_data_dir()


def _metrics(recall, rmse, epochs):
  return {
    "metrics": {"retrieval_recall@100": recall, "rating_rmse": rmse},
    "timing": {
      "epoch_seconds": [9.0, *[3.0 + i for i in range(epochs - 1)]],
      "evaluate_seconds": 2.0,
      "first_step_seconds": 7.5,
    },
    "data": {"test": {"rows": 20_000}},
  }


class StartupBenchmarkTest(absltest.TestCase):
  def test_summary(self):
    out = startup_benchmark.summary(_metrics(0.3, 1.0, epochs=3))
    # 9 s against the median of 3 and 4 s; 2 s over 20,000 test rows.
    self.assertAlmostEqual(out["first_over_steady_epoch"], 9 / 3.5)
    self.assertAlmostEqual(out["evaluate_seconds_per_10k_test_rows"], 1.0)
    self.assertEqual(out["first_step_seconds"], 7.5)

  def test_stops_at_the_first_run_reaching_both_targets(self):
    folder = self.create_tempdir().full_path
    # Epoch 1 beats the RMSE only; epoch 2 both; epoch 3 is never run.
    reports = {1: (0.20, 1.00), 2: (0.25, 1.10), 3: (0.40, 0.90)}

    def process(args, log):
      model_dir = args[1].split("=", 1)[1]
      epochs = int(args[4].split("=", 1)[1])
      os.makedirs(model_dir)
      with open(os.path.join(model_dir, "metrics.json"), "w") as f:
        json.dump(_metrics(*reports[epochs], epochs), f)
      return 10.0 * epochs

    target = {"top_100_accuracy": 0.237, "rmse": 1.12}
    with mock.patch.object(startup_benchmark, "process", process):
      rows = startup_benchmark.time_to_quality("unused", folder, target)
    self.assertEqual([r["epochs"] for r in rows], [1, 2])
    self.assertEqual([r["reached"] for r in rows], [False, True])
    self.assertEqual(rows[1]["process_seconds"], 20.0)

  def test_sweep_reads_its_results(self):
    folder = self.create_tempdir().full_path

    def process(args, log):
      output = args[-1].split("=", 1)[1]
      os.makedirs(output)
      with open(os.path.join(output, "results.csv"), "w") as f:
        f.write("number,state,duration_s\n0,COMPLETE,8.5\n1,FAIL,3.0\n")
      return 42.0

    with mock.patch.object(startup_benchmark, "process", process):
      out = startup_benchmark.sweep(folder)
    self.assertEqual(
      out,
      {
        "process_seconds": 42.0,
        "trials": 2,
        "complete": 1,
        "trial_seconds": [8.5, 3.0],
      },
    )


class TutorialDataTest(absltest.TestCase):
  @absltest.skipUnless(
    os.path.exists(os.path.join(DATA_DIR, "ml-100k", "u.data")),
    f"no MovieLens 100K under {DATA_DIR} (set MULTIOBJ_DATA to the folder "
    "holding ml-100k/).",
  )
  def test_ratings_carry_the_titles_of_u_item(self):
    columns = tfrs_tutorial.ratings(DATA_DIR, 3)
    # u.data's first lines: 196 242 3, 186 302 3, 22 377 1; u.item's
    # movies 242, 302 and 377.
    self.assertEqual(list(columns["user_id"]), ["196", "186", "22"])
    self.assertEqual(
      list(columns["movie_title"]),
      ["Kolya (1996)", "L.A. Confidential (1997)", "Heavyweights (1994)"],
    )
    np.testing.assert_array_equal(columns["user_rating"], [3.0, 3.0, 1.0])


if __name__ == "__main__":
  absltest.main()
