"""experiments/train.py runs the example its docstring gives."""

import contextlib
import io
import json
import os
import shlex

from absl import flags
from absl.testing import absltest, flagsaver

from experiments import train

FLAGS = flags.FLAGS


def docstring_examples(module) -> list[list[str]]:
  """The flags of each `python -m ...` command in a module's docstring."""
  text = module.__doc__.replace("\\\n", " ")
  commands = [line for line in text.splitlines() if "python -m" in line]
  return [[t for t in shlex.split(c) if t.startswith("--")] for c in commands]


class TrainScriptTest(absltest.TestCase):
  def test_docstring_example_runs(self):
    examples = docstring_examples(train)
    self.assertLen(examples, 2)
    small = examples[1]  # The default experiment is `make train`'s.
    model_dir = self.create_tempdir().full_path
    args = [a for a in small if not a.startswith("--model_dir")] + [
      f"--model_dir={model_dir}"
    ]
    with (
      flagsaver.flagsaver(),
      contextlib.redirect_stdout(io.StringIO()) as out,
    ):
      FLAGS(["train.py", *args])
      train.main(["train.py"])
    # The table has a row per metric of the objectives the run resolved.
    self.assertRegex(
      out.getvalue(), r"\nclick +auc +0\.\d{4} +0\.\d{4}  item rate\n"
    )
    self.assertRegex(out.getvalue(), r"\nretrieval +recall@50 +0\.\d{4}")
    with open(os.path.join(model_dir, "metrics.json")) as f:
      saved = json.load(f)
    self.assertIn("click_auc", saved["metrics"])
    self.assertEqual(saved["flags"]["synthetic_requests"], 2000)
    self.assertEqual(saved["flags"]["model_dir"], model_dir)

  def test_rejects_stray_arguments(self):
    with self.assertRaisesRegex(Exception, "Unexpected arguments: extra"):
      train.main(["train.py", "extra"])


if __name__ == "__main__":
  absltest.main()
