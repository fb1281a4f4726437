"""Exports a trained run as a SavedModel for serving: `retrieve`, `embed_query`
and `rank`, and the catalogue's embeddings.

Example (after `make train`):

  python -m experiments.export --model_dir=runs/default \
      --export_dir=runs/default/export

A new catalogue, a value model and approximate retrieval:

  python -m experiments.export --model_dir=runs/default \
      --export_dir=runs/default/export_new --catalogue=new_items.csv \
      --blend="click*purchase^0.5*log1p(dwell)" --k=20 --index=scann

The catalogue is by default the one of the dataset the run trained on; a
file (CSV, TSV, JSON lines or Parquet) replaces it and needs a column for
every candidate feature (item_id, category, price and title on synthetic
data), one row per item. Items unseen in training are served too: a new
catalogue needs a new export, not a new training run. See multiobj/serve/export.py
for the signatures; <export_dir>/serving.json lists their inputs and outputs.
"""

import dataclasses
import json
import os
from typing import Any

from absl import app, flags, logging

import experiments
from experiments import output_flags, run_flags
from multiobj import serve
from multiobj.data import loaders, readers
from multiobj.serve import blend as blend_lib

_EXPORT_DIR = flags.DEFINE_string(
  "export_dir", None, "Directory the SavedModel and serving.json go to."
)
_CATALOGUE = flags.DEFINE_string(
  "catalogue",
  "",
  "Table of the items to serve (.csv, .tsv, .jsonl, .parquet) with every "
  "candidate feature; empty for the training dataset's catalogue.",
)
_K = flags.DEFINE_integer(
  "k",
  100,
  "Items `retrieve` returns per query (at most the catalogue's size).",
  lower_bound=1,
)
_INDEX = flags.DEFINE_enum(
  "index",
  "brute_force",
  list(serve.INDEXES),
  "Retrieval index: brute_force (exact) or scann (also an approximate "
  "ScaNN index, as its own SavedModel in <export_dir>/scann, which needs "
  "`import scann` to load; the main SavedModel stays exact and stock).",
)
for _flag in (
  run_flags.MODEL_DIR,
  run_flags.OBJECTIVE_MODULES,
  output_flags.BLEND,
  run_flags.ALLOW_UNFINISHED,
):
  flags.declare_key_flag(_flag.name)


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


def _check_blend(text, heads):
  try:
    blend_lib.Blend.parse(text, heads)
  except ValueError as e:
    raise ValueError(f"--blend: {e}.") from None


def run(config: ExportConfig) -> dict[str, Any]:
  """Exports and returns serving.json's content."""
  # Imported here, with TensorFlow: --help and flag errors need neither.
  from multiobj.serve import export  # noqa: PLC0415
  from multiobj.train import run_dir  # noqa: PLC0415

  if not config.allow_unfinished:
    run_dir.check_finished(config.model_dir)
  if config.blend:  # Its syntax and constants, before the model loads.
    _check_blend(config.blend, None)
  model, train_config = run_dir.load_model(config.model_dir)
  if config.blend:
    _check_blend(config.blend, [o.name for o in model.ranking_objectives])
  if config.catalogue:
    catalogue = export.check_catalogue(
      model, readers.read_table(config.catalogue), config.catalogue
    )
  else:
    logging.info(
      "Loading dataset %r for its catalogue.", train_config.data.dataset
    )
    catalogue = loaders.load(train_config.data, train_config.seed).catalogue
  export.export(
    model,
    catalogue,
    config.export_dir,
    blend=config.blend or None,
    k=config.k,
    index=config.index,
  )
  with open(os.path.join(config.export_dir, export.SERVING_JSON)) as f:
    description = json.load(f)
  signatures = ", ".join(
    n for n in description["signatures"] if n != export.DEFAULT_SIGNATURE
  )
  print(
    f"Exported {signatures} (serving_default: "
    f"{description['default_signature']}) to {config.export_dir}: "
    f"{description['catalogue_items']} items ({config.index}), "
    f"k={description['k']}, score = {description['score']}."
  )
  return description


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  run(
    ExportConfig(
      model_dir=run_flags.MODEL_DIR.value,
      export_dir=_EXPORT_DIR.value,
      catalogue=_CATALOGUE.value,
      blend=output_flags.BLEND.value,
      k=_K.value,
      index=_INDEX.value,
      allow_unfinished=run_flags.ALLOW_UNFINISHED.value,
    )
  )


if __name__ == "__main__":
  flags.mark_flags_as_required(["model_dir", "export_dir"])
  app.run(experiments.end_when_done(main))
