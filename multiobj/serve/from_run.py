"""Exporting a finished training run: its model, its dataset's catalogue or
a table file of items, to a SavedModel (`export.py`). Importing this module
imports no TensorFlow; `export_run` does.

  description = from_run.export_run(from_run.ExportConfig(
      model_dir="runs/default", export_dir="runs/default/export"))
"""

import dataclasses
from typing import Any

from absl import logging

from multiobj.serve import blend as blend_lib


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """What to export, from where, to where.

  Attributes:
    model_dir: The training run.
    export_dir: The SavedModel directory.
    catalogue: A table file of the items to serve; "" for the dataset's.
    blend: Value model over the ranking heads; "" for the first binary head.
    k: Items retrieved per query.
    index: One of `serve.INDEXES`.
    allow_unfinished: Export the last checkpoint of a run that did not
      finish; otherwise such a run is refused.
  """

  model_dir: str
  export_dir: str
  catalogue: str = ""
  blend: str = ""
  k: int = 100
  index: str = "brute_force"
  allow_unfinished: bool = False


def _check_blend(text, heads, name):
  try:
    blend_lib.Blend.parse(text, heads)
  except ValueError as e:
    raise ValueError(f"{name}: {e}.") from None


def export_run(
  config: ExportConfig, blend_name: str = "blend"
) -> dict[str, Any]:
  """Exports the run and returns serving.json's content. A bad blend's
  error starts with `blend_name` (a script passes its flag's name)."""
  # Imported here, with TensorFlow: a script's --help needs only the config.
  from multiobj.data import loaders, readers  # noqa: PLC0415
  from multiobj.serve import export  # noqa: PLC0415
  from multiobj.train import run_dir  # noqa: PLC0415

  if not config.allow_unfinished:
    run_dir.check_finished(config.model_dir)
  if config.blend:  # Its syntax and constants, before the model loads.
    _check_blend(config.blend, None, blend_name)
  model, train_config = run_dir.load_model(config.model_dir)
  if config.blend:
    heads = [o.name for o in model.ranking_objectives]
    _check_blend(config.blend, heads, blend_name)
  if config.catalogue:
    catalogue = export.check_catalogue(
      model, readers.read_table(config.catalogue), config.catalogue
    )
  else:
    logging.info(
      "Loading dataset %r for its catalogue.", train_config.data.dataset
    )
    catalogue = loaders.load(train_config.data, train_config.seed).catalogue
  return export.export(
    model,
    catalogue,
    config.export_dir,
    blend=config.blend or None,
    k=config.k,
    index=config.index,
  )
