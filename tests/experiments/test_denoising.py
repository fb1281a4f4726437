"""The denoising script: its docstring example runs and resumes, and it
names what it does not know. (Which loss wins is a result, not a test: see
docs/results/denoising.md and the command there.)"""

import os
import shlex

import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from experiments import denoising

FLAGS = flags.FLAGS


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
