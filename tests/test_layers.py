"""The library's shape: layers that import only downwards, no import cycle,
no file over 600 lines (the house style: past that a file usually holds
two concepts; a concept is never cut into fragments to stay under it) and
no function over 80.

The layers follow the data flow, lowest first; a module may import modules
of its own layer or of lower ones. Imports are read from the source (every
`import` statement, inside functions too), so the check runs without
importing anything.
"""

import ast
import pathlib

from absl.testing import absltest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("multiobj", "objectives", "experiments")

# Lowest first. A module belongs to the first prefix it starts with.
LAYERS = (
  ("multiobj.registry", "multiobj.progress", "multiobj.quiet"),
  ("objectives",),
  ("multiobj.data",),
  ("multiobj.config",),
  ("multiobj.retrieval",),
  ("multiobj.prepare",),
  ("multiobj.model", "multiobj.extensions"),
  ("multiobj.train",),
  ("multiobj.serve",),
  ("multiobj.evaluate",),
  ("multiobj.experiment", "multiobj.api"),
  ("multiobj.studies",),
  ("experiments",),
)
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, pathlib.Path]:
  modules = {}
  for package in PACKAGES:
    for path in (ROOT / package).rglob("*.py"):
      parts = path.relative_to(ROOT).with_suffix("").parts
      if parts[-1] == "__init__":
        parts = parts[:-1]
      modules[".".join(parts)] = path
  return modules


def _imports(path: pathlib.Path, modules: dict[str, pathlib.Path]) -> set[str]:
  """The project's modules `path` imports (a name imported from a package
  counts as its submodule when there is one)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names = [
        f"{node.module}.{a.name}"
        if f"{node.module}.{a.name}" in modules
        else node.module
        for a in node.names
      ]
    else:
      continue
    found.update(n for n in names if n.split(".")[0] in PACKAGES)
  return found


def _layer(module: str) -> int:
  if module == "multiobj":
    return 0  # The package itself holds its version only.
  for i, prefixes in enumerate(LAYERS):
    if any(module == p or module.startswith(p + ".") for p in prefixes):
      return i
  raise AssertionError(f"{module} is in no layer; add it to LAYERS.")


def _graph() -> dict[str, set[str]]:
  modules = _modules()
  return {
    name: {m for m in _imports(path, modules) if m in modules and m != name}
    for name, path in modules.items()
  }


class LayersTest(absltest.TestCase):
  def test_every_import_points_down(self):
    upward = [
      f"{module} (layer {_layer(module)}) imports {target} "
      f"(layer {_layer(target)})"
      for module, targets in _graph().items()
      for target in targets
      if _layer(target) > _layer(module)
    ]
    self.assertEqual(upward, [])

  def test_no_import_cycle(self):
    graph = _graph()
    # A package's __init__ may hand on its submodules' names; a cycle
    # through it is still a cycle.
    state, cycles = {}, []

    def visit(node, path):
      state[node] = "open"
      for target in sorted(graph[node]):
        if state.get(target) == "open":
          cycles.append(" -> ".join(path[path.index(target) :] + [target]))
        elif target not in state:
          visit(target, path + [target])
      state[node] = "done"

    for node in sorted(graph):
      if node not in state:
        visit(node, [node])
    self.assertEqual(cycles, [])

  def test_the_check_sees_imports(self):
    # The checks above must not pass because nothing was read.
    graph = _graph()
    self.assertIn("multiobj.prepare.lists", graph["multiobj.model.model"])
    self.assertIn("objectives.registries", graph["objectives.losses"])
    self.assertEqual(_layer("multiobj.data.synthetic.log"), 2)

  def test_files_and_functions_stay_short(self):
    too_long = []
    for package in ("multiobj", "objectives"):
      for path in sorted((ROOT / package).rglob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        name = path.relative_to(ROOT)
        if lines > MAX_FILE_LINES:
          too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
          if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
              too_long.append(f"{name}: {node.name}() {length} lines")
    self.assertEqual(too_long, [])


if __name__ == "__main__":
  absltest.main()
