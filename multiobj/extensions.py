"""The user modules a run depends on: where its objectives, losses, weighting
strategy, trunk and dataset were registered, when outside this package.

A run records them in config.json (`modules`), and reopening it (evaluate,
export, a resumed run) imports them first, so a run trained with
`--objective_modules=my_research` is evaluated without repeating the flag.

  modules = extensions.modules_of(config)   # ["my_research"]
  extensions.import_modules(modules, "runs/a/config.json")
"""

import importlib
from collections.abc import Sequence

from absl import logging

import objectives
from multiobj.data import loaders
from multiobj.model import trunk_names
from objectives import objective as objective_lib
from objectives import registries

# Registrations from these come with the library: nothing to record.
_OWN = ("multiobj", "objectives")


def modules_of(config) -> list[str]:
  """The modules outside the library that registered a name `config` uses
  (a `config.TrainConfig`), in name order. A name registered from `__main__`
  (a script, a notebook) cannot be imported again: it is left out, with a
  warning that reopening the run needs it registered again."""
  used = [(objective_lib.OBJECTIVES, o.name) for o in config.objectives]
  used += [(registries.LOSSES, o.loss) for o in config.objectives]
  used += [
    (registries.WEIGHTINGS, objectives.parse_call(config.fit.weighting)[0]),
    (trunk_names.TRUNKS, objectives.parse_call(config.model.trunk)[0]),
    (loaders.DATASETS, config.data.dataset),
  ]
  modules = set()
  for registry, name in used:
    origin = registry.origin(name)
    if origin is None or origin.split(".")[0] in _OWN:
      continue
    if origin == "__main__":
      logging.warning(
        "%r was registered by the running script or notebook: a process "
        "that reopens this run must register it again before.",
        name,
      )
      continue
    modules.add(origin)
  return sorted(modules)


def import_modules(modules: Sequence[str], where: str) -> None:
  """Imports each of `modules`, recorded in `where`; a ValueError names the
  module that cannot be imported and why."""
  for module in modules:
    try:
      importlib.import_module(module)
    except ImportError as e:
      raise ValueError(
        f"{where}: the run uses objectives, losses or other names "
        f"registered by the module {module!r}, which cannot be imported "
        f"({e}). Make it importable (the working directory or PYTHONPATH)."
      ) from None
