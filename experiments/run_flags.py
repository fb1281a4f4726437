"""Flags about a run's directory, shared by the scripts that write or read
one: where it is, the user modules it needs, whether to replace what is
there, and whether to read an unfinished run. A script declares the ones it
reads as its key flags, so its `--help` lists them."""

import importlib

from absl import flags


class _ModuleImporter(flags.ListParser):
  """Parses a comma-separated list of modules and imports each at once.

  Importing while the flag is parsed (absl runs validators only after every
  flag is parsed) registers the modules' objectives, losses, weighting
  strategies and datasets before --objectives and the others are checked,
  whatever the order of flags on the command line.
  """

  def parse(self, argument):
    modules = super().parse(argument)
    for name in modules:
      try:
        importlib.import_module(name)
      except ImportError as e:
        raise ValueError(f"cannot import {name!r}: {e}.") from None
    return modules

  def flag_type(self):
    return "comma-separated list of modules"


OBJECTIVE_MODULES = flags.DEFINE(
  _ModuleImporter(),
  "objective_modules",
  [],
  "Python modules to import before the other flags are read, so the "
  "objectives, losses, weighting strategies and datasets they register can be "
  "named, e.g. my_pkg.my_objectives (importable from the working directory or "
  "PYTHONPATH).",
  serializer=flags.CsvListSerializer(","),
)
MODEL_DIR = flags.DEFINE_string(
  "model_dir",
  None,
  "Directory of a training run: checkpoints, TensorBoard logs, metrics.json.",
)

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
