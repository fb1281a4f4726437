"""Noise-robust losses against bce on truth, and the denoising script."""

import os
import shlex

import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

import objectives
from experiments import denoising
from multiobj import training
from multiobj.data import synthetic

FLAGS = flags.FLAGS


class NoiseRobustLossTest(tf.test.TestCase):
  def test_a_noise_robust_loss_beats_bce_at_30_percent_noise(self):
    # 30% of clicks false positives (the default mix of accidents and
    # click-bait), one fixed seed; NDCG@10 against the true relevance.
    data = synthetic.SyntheticConfig(
      num_users=1500, num_items=500, num_requests=6000, click_noise=0.3, seed=0
    )
    truth_ndcg = {}
    for loss in ("bce", "tce", "rce", "gce", "dwell_weighted"):
      config = training.TrainConfig(
        model_dir=os.path.join(self.create_tempdir().full_path, loss),
        objectives=tuple(
          objectives.select(training.DEFAULT_OBJECTIVES, f"click:{loss}")
        ),
        synthetic=data,
        epochs=4,
        batch_size=64,
      )
      truth_ndcg[loss] = training.train(config, verbose=0)["metrics"][
        "click_truth_ndcg@10"
      ]
      tf.keras.backend.clear_session()
    best = max(
      truth_ndcg[name] for name in ("tce", "rce", "gce", "dwell_weighted")
    )
    self.assertGreater(best, truth_ndcg["bce"] + 0.003, truth_ndcg)


class DenoisingScriptTest(tf.test.TestCase):
  def test_docstring_example_runs_and_resumes(self):
    command = next(
      line
      for line in denoising.__doc__.replace("\\\n", " ").splitlines()
      if "--settings" in line
    )
    output_dir = self.create_tempdir().full_path
    args = [
      a
      for a in shlex.split(command)
      if a.startswith("--") and "output_dir" not in a
    ]
    with flagsaver.flagsaver():
      FLAGS(["denoising.py", f"--output_dir={output_dir}", *args])
      denoising.main(["denoising.py"])
      with open(os.path.join(output_dir, "results.jsonl")) as f:
        first = f.read()
      # A second run finds every result and trains nothing.
      denoising.main(["denoising.py"])
    with open(os.path.join(output_dir, "results.jsonl")) as f:
      self.assertEqual(f.read(), first)
    self.assertLen(first.splitlines(), 2)
    with open(os.path.join(output_dir, "table.md")) as f:
      table = f.read()
    self.assertIn("### bait30: click_noise=0.3, clickbait=1.0", table)
    self.assertRegex(
      table, r"\| dwell_weighted \| 0\.\d{4} \| [+-]0\.\d{4} \(\d/1\) \|"
    )

  def test_rejects_unknown_names(self):
    with self.assertRaisesRegex(ValueError, "Unknown method 'l2'; known: bce"):
      denoising.DenoisingConfig(output_dir="x", methods=("bce", "l2"))
    with self.assertRaisesRegex(ValueError, "must include 'bce'"):
      denoising.DenoisingConfig(output_dir="x", methods=("tce",))


if __name__ == "__main__":
  tf.test.main()
