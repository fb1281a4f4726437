"""The examples in docstrings run as written (`>>>` lines and their output).

Every module of `multiobj` and `objectives` whose docstrings hold an example
is found by reading the source, so a new example is tested without anyone
listing it here.
"""

import doctest
import importlib
import pathlib

from absl.testing import absltest, parameterized

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _modules_with_examples() -> list[str]:
  names = []
  for package in ("multiobj", "objectives"):
    for path in sorted((ROOT / package).rglob("*.py")):
      if ">>>" in path.read_text():
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(p for p in parts if p != "__init__"))
  return names


MODULES = _modules_with_examples()


class DoctestTest(parameterized.TestCase):
  def test_examples_are_found(self):
    self.assertContainsSubset(
      ["objectives.pointwise", "multiobj.registry", "multiobj.serve.blend"],
      MODULES,
    )

  @parameterized.parameters(*MODULES)
  def test_examples_run(self, name):
    module = importlib.import_module(name)
    result = doctest.testmod(
      module,
      optionflags=doctest.NORMALIZE_WHITESPACE,
      report=False,
    )
    self.assertGreater(result.attempted, 0, name)
    self.assertEqual(result.failed, 0, f"{name}: see the doctest output above")


if __name__ == "__main__":
  absltest.main()
