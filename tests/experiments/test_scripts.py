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
  "drift",
  "encode_items",
  "vocabulary_benchmark",
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


def _help(script: str) -> str:
  """`python -m experiments.<script> --help` (absl exits with 1)."""
  return subprocess.run(
    [sys.executable, "-m", f"experiments.{script}", "--help"],
    capture_output=True,
    text=True,
    check=False,
  ).stdout


class HelpTest(absltest.TestCase):
  def test_help_lists_the_flags_each_script_reads(self):
    expected = {
      "train": (["--learning_rate", "--dataset", "--synthetic_requests"], []),
      "evaluate": (["--model_dir", "--blend", "--output_dir", "--split"], []),
      "export": (["--model_dir", "--blend", "--export_dir"], ["--split"]),
      "reproduce": (["--study", "--seeds", "--output_dir"], ["--epochs"]),
    }
    for script, (listed, absent) in expected.items():
      text = _help(script)
      for flag in listed:
        with self.subTest(script=script, flag=flag):
          self.assertIn(f"\n  {flag}:", text)
      for flag in [*absent, "--learning_rate", "--blend"]:
        if flag not in listed:
          with self.subTest(script=script, absent=flag):
            self.assertNotIn(f"\n  {flag}:", text)
