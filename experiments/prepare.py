"""Prepares a dataset once, for many runs: `train` and `sweep` reuse it.

  python -m experiments.prepare --cache_dir=cache/big --synthetic_requests=1000000
  python -m experiments.train --cache_dir=cache/big --model_dir=runs/big \
      --synthetic_requests=1000000
  python -m experiments.sweep --cache_dir=cache/big ...

It reads the raw log (in memory, or in pieces beyond --prepare_memory_mb),
groups it into impression lists, splits it, computes the feature statistics
and writes the lists as sharded TFRecord files with a manifest
(`multiobj/prepare/cache.py`). Every flag that shapes the lists (dataset,
data files, objectives' columns, --propensity, negatives, cold start,
--seed) is part of the cache's fingerprint: a run with other values prepares
again, and its log says which value changed. Flags of the model and of
training do not matter here.
"""

import json
import time

from absl import app, flags, logging

import experiments
from experiments import common, data_path_flags, run_flags

flags.adopt_module_key_flags(common)
flags.declare_key_flag(run_flags.OVERWRITE.name)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  if not data_path_flags.CACHE_DIR.value:
    raise app.UsageError("--cache_dir is required: where to write the cache.")
  # Imported here, with TensorFlow: --help and flag errors need neither.
  from multiobj.prepare import cache  # noqa: PLC0415

  config = common.config_from_flags()
  directory = config.prepare.cache_dir
  began = time.time()
  found, why = cache.load(directory, config)
  if found is None or run_flags.OVERWRITE.value:
    logging.info("Preparing: %s.", why or "--overwrite")
    cache.write(config, directory)
  else:
    logging.info("The cache in %s matches; nothing to do.", directory)
  manifest = cache.read_manifest(directory)
  size = sum(
    shard["bytes"]
    for split in manifest["splits"].values()
    for shard in split["shards"]
  )
  print(json.dumps(manifest["summary"], indent=1))
  print(
    f"\nPrepared data in {directory}: "
    + ", ".join(
      f"{name} {split['lists']:,} lists in {len(split['shards'])} shards"
      for name, split in manifest["splits"].items()
    )
    + f"; {size / 2**20:,.1f} MB ({time.time() - began:.0f} s)."
  )


if __name__ == "__main__":
  flags.FLAGS.set_default("model_dir", "unused")
  app.run(experiments.end_when_done(main))
