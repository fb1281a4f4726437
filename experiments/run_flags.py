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
CHECKPOINT_EVERY_STEPS = flags.DEFINE_integer(
  "checkpoint_every_steps",
  0,
  "train: besides each epoch's end, back the run up (in <model_dir>/backup) "
  "every this many steps, so that a run killed mid-epoch resumes there (0: "
  "at epochs' ends only).",
  lower_bound=0,
)
