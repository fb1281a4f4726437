"""The README's extension example runs exactly as written."""

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys

from absl import flags
from absl.testing import absltest, flagsaver

from experiments import train

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def blocks_after(heading: str) -> dict[str, str]:
  """The first python and sh code blocks after `heading`."""
  with open(README) as f:
    text = f.read()
  section = text[text.index(heading) :]
  return {
    kind: re.search(rf"```{kind}\n(.*?)```", section, re.S).group(1)
    for kind in ("python", "sh")
  }


class ReadmeTest(absltest.TestCase):
  def test_extension_example(self):
    blocks = blocks_after(
      "### Add your own objective, loss or weighting strategy"
    )
    directory = self.create_tempdir().full_path
    module = blocks["python"].splitlines()[0].lstrip("# ").strip()
    self.assertEqual(module, "my_objectives.py")
    with open(os.path.join(directory, module), "w") as f:
      f.write(blocks["python"])
    # `python -m` puts the working directory on the path; do the same.
    self.addCleanup(os.chdir, os.getcwd())
    os.chdir(directory)
    sys.path.insert(0, directory)
    self.addCleanup(sys.path.remove, directory)

    command = shlex.split(blocks["sh"].replace("\\\n", " "))
    self.assertEqual(command[:3], ["python", "-m", "experiments.train"])
    with flagsaver.flagsaver():
      flags.FLAGS(["train.py", *command[3:]])
      train.main(["train.py"])

    with open(os.path.join(directory, "runs/custom/metrics.json")) as f:
      saved = json.load(f)
    self.assertBetween(saved["metrics"]["cvr_auc"], 0.0, 1.0)
    # The run's objectives, resolved: in the config's prepare slice.
    trained = saved["config"]["prepare"]["objectives"]
    self.assertEqual(
      {o["name"]: o["loss"] for o in trained},
      {"retrieval": "softmax", "click": "capped_bce", "cvr": "capped_bce"},
    )
    self.assertEqual(trained[1]["loss_params"], [["cap", 1.5]])
    # The run names the module, and a new process reopens the run without
    # being told about it (it would not know the loss capped_bce).
    with open(os.path.join(directory, "runs/custom/config.json")) as f:
      self.assertEqual(json.load(f)["modules"], ["my_objectives"])
    reopen = (
      "from multiobj.train import run_dir; import sys; "
      "_, config = run_dir.load_model('runs/custom'); "
      "print(sorted({o.loss for o in config.objectives}), "
      "'my_objectives' in sys.modules)"
    )
    output = subprocess.run(
      [sys.executable, "-c", reopen],
      cwd=directory,
      capture_output=True,
      text=True,
      check=True,
    ).stdout
    self.assertEqual(output.split("\n")[-2], "['capped_bce', 'softmax'] True")


if __name__ == "__main__":
  absltest.main()


class PythonApiTest(absltest.TestCase):
  def test_python_example(self):
    section = open(README).read()
    section = section[section.index("### From Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    self.assertLess(len(code.splitlines()), 25)
    directory = self.create_tempdir().full_path
    self.addCleanup(os.chdir, os.getcwd())
    os.chdir(directory)
    printed = io.StringIO()
    namespace = {}
    with contextlib.redirect_stdout(printed):
      exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    run = namespace["run"]
    lines = printed.getvalue().splitlines()
    auc, head = lines[0].split()
    self.assertEqual(float(auc), run.metrics["click_auc"])
    self.assertEqual(head, "click")
    self.assertEqual(
      lines[1],
      "['embed_query', 'rank', 'rank_lists', 'retrieve', 'serving_default']",
    )
    # The in-memory rows went through a file like any other.
    with open("runs/python/input/description.json") as f:
      rows = json.load(f)["rows"]["path"]
    self.assertTrue(rows.endswith("runs/python/input/rows.parquet"))
    self.assertIn("click_auc", namespace["report"]["metrics"])
    self.assertTrue(os.path.exists("runs/python/export/saved_model.pb"))
