"""Multi-objective hyperparameter sweep of experiments/train.py, on Optuna.

Example (the sweep behind docs/sweeps.md: 12 trials on synthetic data, two
at a time, trading click AUC, purchase AUC and dwell RMSE):

  python -m experiments.sweep --output_dir=runs/sweep \
      --space="learning_rate=loguniform(1e-3,1e-1);weighting=choice(static,uncertainty,dwa)" \
      --directions=click_auc:max,purchase_auc:max,dwell_rmse:min \
      --trial_flags="--synthetic_requests=5000 --epochs=2" --trials=12 --parallel=2

A four-trial grid on tiny data (a minute or so):

  python -m experiments.sweep --output_dir=/tmp/sweep --sampler=grid \
      --space="learning_rate=grid(0.001,0.01);embedding_dim=grid(8,16)" \
      --directions=click_auc:max,dwell_rmse:min \
      --trial_flags="--synthetic_requests=300 --synthetic_users=100 --synthetic_items=60 --epochs=1"

Each trial runs `python -m experiments.train` in a process of its own with
--model_dir=<output_dir>/trials/<number>, the --trial_flags and its sampled
parameters, so a crash, NaN or out-of-memory fails that trial only. Trials
share the prepared data in <output_dir>/prepared (unless --trial_flags gives
another --cache_dir): the raw log is read and grouped once. After
each trial, <output_dir> gets results.csv (a row a trial), pareto.png and
report.md. Run the same command again to resume a stopped sweep, or with a
larger --trials to extend it; give several machines the same --storage (a
PostgreSQL URL or journal:PATH on a shared disk) and --study_name to share a
sweep between them (docs/sweeps.md).
"""

import dataclasses
import os
import shlex

from absl import app, flags

from experiments import common, output_flags
from multiobj.studies import sweep

_SPACE = flags.DEFINE_string(
  "space",
  "",
  "Search space: name=kind(args) entries separated by ';', each name a flag "
  "of experiments/train.py and kind one of grid(v1,v2,...), choice(v1,...), "
  "uniform(low,high), loguniform(low,high), int(low,high), logint(low,high), "
  "bounds included; e.g. learning_rate=loguniform(1e-4,1e-2);"
  "weighting=choice(static,dwa).",
)
_SPACE_FILE = flags.DEFINE_string(
  "space_file",
  "",
  "JSON file of more parameters: {name: 'kind(args)' or [grid values]}.",
)
_TRIAL_FLAGS = flags.DEFINE_string(
  "trial_flags",
  "",
  "Flags of experiments/train.py given to every trial, as on a command "
  "line, e.g. '--synthetic_requests=5000 --epochs=2'.",
)
_DIRECTIONS = flags.DEFINE_string(
  "directions",
  None,
  "Metrics of metrics.json to optimise, each :max or :min, e.g. "
  "click_auc:max,purchase_auc:max,dwell_rmse:min.",
)
_SAMPLER = flags.DEFINE_enum(
  "sampler",
  "tpe",
  list(sweep.SAMPLERS),
  "Optuna sampler: grid (every combination of grid/choice values), random, "
  "tpe or nsga2.",
)
_SAMPLER_SEED = flags.DEFINE_integer(
  "sampler_seed", 0, "Seed of the sampler (--seed is the trials' own)."
)
_TRIALS = flags.DEFINE_integer(
  "trials",
  None,
  "Trials the study should have, counting those of earlier runs; by "
  "default (grid only) every point of the grid.",
  lower_bound=1,
)
_PARALLEL = flags.DEFINE_integer(
  "parallel", 1, "Worker processes on this machine.", lower_bound=1
)
_STORAGE = flags.DEFINE_string(
  "storage",
  "",
  "Optuna storage: an SQLAlchemy URL (e.g. postgresql://user:pw@host/db) or "
  "journal:PATH (a journal file on a shared disk); empty for SQLite in "
  "--output_dir.",
)
_STUDY_NAME = flags.DEFINE_string(
  "study_name",
  "",
  "Study name in the storage; empty for --output_dir's base name.",
)
_PRUNE = flags.DEFINE_string(
  "prune",
  "",
  "Prune hopeless trials on a per-epoch metric of history.jsonl with "
  "Optuna's MedianPruner, e.g. val_click_loss:min; single objective only.",
)
_PRUNE_STARTUP_TRIALS = flags.DEFINE_integer(
  "prune_startup_trials",
  3,
  "Trials that finish before any is pruned.",
  lower_bound=0,
)
_PRUNE_WARMUP_EPOCHS = flags.DEFINE_integer(
  "prune_warmup_epochs",
  0,
  "Epochs of each trial before it can be pruned.",
  lower_bound=0,
)


# What each trial runs.
TRAIN_MODULE = "experiments.train"


def train_flag_parsers() -> dict:
  """Each flag of experiments/train.py (the shared flags of common.py), to
  its parser."""
  return {
    f.name: f.parser.parse
    for f in flags.FLAGS.get_key_flags_for_module(common.__name__)
  }


def config_from_flags(values: dict | None = None) -> sweep.SweepConfig:
  """The sweep that flag values describe, checked against train.py's flags.

  Args:
    values: The value of each flag of this script and of --output_dir, as a
      validator gets them; None to read FLAGS.

  Raises:
    sweep.SweepError: The space, directions or pruning are wrong.
  """
  if values is None:
    values = {name: flags.FLAGS[name].value for name in _FLAGS}
  space = sweep.parse_space(values["space"])
  if values["space_file"]:
    space += sweep.load_space_file(values["space_file"])
  trial_flags = tuple(shlex.split(values["trial_flags"]))
  given = {f.split("=")[0].lstrip("-") for f in trial_flags}
  if "cache_dir" not in given | {p.name for p in space}:
    # Trials share one cache of prepared lists: the raw log is read once
    # (again only for trials whose sampled flags change the lists).
    output = values["output_dir"] or "."
    trial_flags += (f"--cache_dir={os.path.join(output, 'prepared')}",)
  sweep.check_space(space, train_flag_parsers(), trial_flags)
  prune = values["prune"]
  return sweep.SweepConfig(
    output_dir=values["output_dir"] or ".",
    space=space,
    objectives=sweep.parse_objectives(values["directions"]),
    train_module=TRAIN_MODULE,
    trials=values["trials"],
    trial_flags=trial_flags,
    sampler=values["sampler"],
    sampler_seed=values["sampler_seed"],
    parallel=values["parallel"],
    storage=values["storage"],
    study_name=values["study_name"],
    prune=sweep.parse_objectives(prune, "--prune")[0] if prune else None,
    prune_startup_trials=values["prune_startup_trials"],
    prune_warmup_epochs=values["prune_warmup_epochs"],
  )


def run(config: sweep.SweepConfig) -> list[dict]:
  """Runs the sweep; returns the rows of results.csv."""
  sweep.check_space(config.space, train_flag_parsers(), config.trial_flags)
  return sweep.run(config)


# This script's flags and --output_dir: what a sweep is made of.
_FLAGS = [
  *(
    holder.name
    for holder in (
      _SPACE,
      _SPACE_FILE,
      _TRIAL_FLAGS,
      _DIRECTIONS,
      _SAMPLER,
      _SAMPLER_SEED,
      _TRIALS,
      _PARALLEL,
      _STORAGE,
      _STUDY_NAME,
      _PRUNE,
      _PRUNE_STARTUP_TRIALS,
      _PRUNE_WARMUP_EPOCHS,
    )
  ),
  output_flags.OUTPUT_DIR.name,
]
flags.declare_key_flag(output_flags.OUTPUT_DIR.name)


def _check(values):
  # Flags at their defaults describe no sweep (yet); main requires them.
  # Other scripts' tests parse these flags too, at their defaults.
  if not (values["space"] or values["space_file"]) or not values["directions"]:
    return True
  try:
    config_from_flags(values)
  except sweep.SweepError as e:
    raise flags.ValidationError(str(e)) from None
  return True


flags.register_multi_flags_validator(_FLAGS, _check)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not output_flags.OUTPUT_DIR.value:
    raise app.UsageError("--output_dir is required.")
  if not _DIRECTIONS.value:
    raise app.UsageError("--directions is required.")
  # The training flags are defined here (their parsers check --trial_flags)
  # but are the trials': given to the sweep itself, they would do nothing.
  stray = [n for n in train_flag_parsers() if flags.FLAGS[n].present]
  if stray:
    raise app.UsageError(
      f"--{stray[0]} is a flag of the trials: put it in --trial_flags "
      f"(e.g. --trial_flags='--{stray[0]}=...') or in --space."
    )
  try:
    config = config_from_flags()
  except sweep.SweepError as e:
    raise app.UsageError(str(e)) from None
  given = [
    flags.FLAGS[n] for n in _FLAGS if not flags.FLAGS[n].using_default_value
  ]
  command = [
    "python",
    "-m",
    "experiments.sweep",
    *(f.serialize() for f in given),
  ]
  run(dataclasses.replace(config, command=shlex.join(command)))


if __name__ == "__main__":
  flags.mark_flag_as_required("directions")
  app.run(main)
