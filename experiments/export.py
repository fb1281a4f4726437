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

from typing import Any

from absl import app, flags, logging

import experiments
from experiments import output_flags, run_flags
from multiobj import serve
from multiobj.serve import from_run

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


# The library's: the script turns flags into it.
ExportConfig = from_run.ExportConfig


def run(config: ExportConfig) -> dict[str, Any]:
  """Exports, prints what it wrote and returns serving.json's content."""
  from multiobj.serve import export  # noqa: PLC0415

  description = from_run.export_run(config, blend_name="--blend")
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
