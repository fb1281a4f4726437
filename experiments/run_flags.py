"""Flags about a run's directory, shared by the scripts that write or read
one: whether to replace what is there, and whether to read an unfinished
run."""

from absl import flags

OVERWRITE = flags.DEFINE_boolean(
  "overwrite",
  False,
  "train: replace a run of another config in --model_dir (its checkpoints, "
  "events and results are deleted); prepare: prepare a matching cache again.",
)
ALLOW_UNFINISHED = flags.DEFINE_boolean(
  "allow_unfinished",
  False,
  "evaluate, export: use the last checkpoint of a run that did not finish.",
)
