"""Every experiment script imports beside every other: a flag is defined once."""

import importlib
import subprocess
import sys

from absl.testing import absltest

SCRIPTS = (
  "train",
  "evaluate",
  "export",
  "sweep",
  "denoising",
  "reproduce",
  "benchmark",
  "prepare",
  "write_synthetic",
  "tfrs_tutorial",
)


class ScriptsTest(absltest.TestCase):
  def test_all_scripts_import_together(self):
    # In a fresh interpreter: a DuplicateFlagError would surface here.
    code = "; ".join(f"import experiments.{name}" for name in SCRIPTS)
    subprocess.run(
      [sys.executable, "-c", code], check=True, capture_output=True
    )

  def test_every_script_has_a_runnable_example(self):
    for name in SCRIPTS:
      module = importlib.import_module(f"experiments.{name}")
      self.assertIn(f"python -m experiments.{name}", module.__doc__, name)


if __name__ == "__main__":
  absltest.main()
