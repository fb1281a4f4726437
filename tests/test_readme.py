"""The README's extension example runs exactly as written."""

import os
import re

from absl.testing import absltest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def python_block_after(heading: str) -> str:
  with open(README) as f:
    text = f.read()
  section = text[text.index(heading) :]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


class ReadmeTest(absltest.TestCase):
  def test_extension_example(self):
    code = python_block_after("### Add your own objective")
    self.addCleanup(os.chdir, os.getcwd())
    os.chdir(self.create_tempdir().full_path)  # It writes to runs/cvr.
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    self.assertBetween(namespace["metrics"]["cvr_auc"], 0.0, 1.0)
    self.assertTrue(os.path.exists("runs/cvr/metrics.json"))


if __name__ == "__main__":
  absltest.main()
