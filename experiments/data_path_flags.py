"""Flags of the data path at scale: the cache of prepared lists, the
memory budget of preparation, shard size and shuffle buffer.

`experiments/common.py` adopts them as its own, like the synthetic log's.
"""

from absl import flags

from multiobj import config as config_lib

CACHE_DIR = flags.DEFINE_string(
  "cache_dir",
  "",
  "Where the prepared lists are cached (python -m experiments.prepare writes "
  "it); a run whose data and preparation flags match reuses it and never "
  "reads the raw log. Empty: the run directory's prepared/.",
)
PREPARE_MEMORY_MB = flags.DEFINE_integer(
  "prepare_memory_mb",
  config_lib.PrepareConfig.memory_mb,
  "Memory budget of data preparation, in MB: a log expected to take more is "
  "prepared in pieces, out of core, spilling to disk.",
  lower_bound=1,
)
SHARD_MB = flags.DEFINE_float(
  "shard_mb",
  config_lib.PrepareConfig.shard_mb,
  "Size of a shard of prepared lists, in MB (workers of --strategy="
  "multi_worker each read their own shards).",
  lower_bound=0.001,
)
SHUFFLE_BUFFER = flags.DEFINE_integer(
  "shuffle_buffer",
  config_lib.FitConfig.shuffle_buffer,
  "Training lists shuffled together; a log with fewer lists is shuffled "
  "whole each epoch. Memory grows with it, not with the log.",
  lower_bound=1,
)
