r"""Item vectors from a description's catalogue, for an `embedding` feature.

  python -m experiments.encode_items \
    --dataset_spec=docs/examples/ml100k_item_vectors.json \
    --text_columns=title --flag_columns=action,comedy,drama --dim=32 \
    --output=runs/vectors/ml100k_items.npz

Reads the description's catalogue file (every column of it, described or
not), makes each item's words (the words of `--text_columns`, and the name
of each `--flag_columns` column set to 1), and writes an .npz of the item
ids and their latent semantic analysis vectors (`multiobj/data/encode.py`):
a stand-in, computed here without any download, for the vectors a team's
own text or image encoder would give.
"""

import os

from absl import app, flags

from experiments import common
from multiobj.data import loaders

for _flag in (common.DATASET_SPEC, common.DATA_DIR):
  flags.declare_key_flag(_flag.name)
_TEXT = flags.DEFINE_list(
  "text_columns", [], "Catalogue columns of text whose words encode an item."
)
_FLAGS = flags.DEFINE_list(
  "flag_columns",
  [],
  "Catalogue columns of 0/1 flags (genres); a flag set to 1 adds its name "
  "to the item's words.",
)
_DIM = flags.DEFINE_integer("dim", 32, "The vectors' width.", lower_bound=1)
_OUTPUT = flags.DEFINE_string(
  "output", None, "The .npz to write (arrays ids [n] and vectors [n, dim])."
)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  for flag in (common.DATASET_SPEC, _OUTPUT):
    if not flag.value:
      raise app.UsageError(f"--{flag.name} is required.")
  if not _TEXT.value and not _FLAGS.value:
    raise app.UsageError("Give --text_columns or --flag_columns to encode.")
  data_dir = common.DATA_DIR.value or loaders.default_data_dir()
  from multiobj.data import encode  # noqa: PLC0415  (imports TensorFlow)

  try:
    path = encode.catalogue_vectors(
      common.DATASET_SPEC.value,
      _TEXT.value,
      _FLAGS.value,
      _DIM.value,
      _OUTPUT.value,
      data_dir,
    )
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  print(f"Wrote {os.path.abspath(path)}.")


if __name__ == "__main__":
  app.run(main)
