"""Multi-objective hyperparameter sweeps of the training script, on Optuna.

What `experiments/sweep.py` puts together; nothing here reads flags:

  * the search space: `parse_space` reads `name=kind(args)` entries and
    `check_space` checks them against the training script's flags, so a bad
    space fails before any trial starts;
  * `SweepConfig`, the whole sweep as plain values (it travels as JSON to the
    helper worker processes of `--parallel`);
  * `run` and `work` (runner.py): workers ask Optuna for a trial
    (study.py), train it in a process of its own (trial.py) and tell Optuna
    the outcome;
  * `pareto_mask` and `write_results` (results.py, plots.py): results.csv,
    pareto.png and report.md, rebuilt from the storage after every trial.

Each trial is the training script (the config's `train_module`, e.g.
`experiments.train`) in a subprocess, with its own model_dir: a crash, a NaN or an out-of-memory kill fails that trial only,
TensorFlow state never leaks from one trial into the next, and a worker needs
no TensorFlow at all. This module imports none, so helper workers start in a
second, and none of them forks a process that has TensorFlow loaded.

Resuming. Trials live in an Optuna storage (SQLite in the sweep folder by
default, any SQLAlchemy URL, or a journal file), so a sweep run again with
the same storage and study name goes on where it stopped: finished trials
stay, and a trial left RUNNING by a worker that is gone is failed (marked
`interrupted`, which keeps it out of the trial budget) and its parameters are
enqueued again. A worker is gone when it ran on this host and its process no
longer exists, or when its heartbeat (a trial attribute refreshed every
minute) is older than ten minutes, which covers machines that died.
"""

from multiobj.studies.sweep.config import SAMPLERS, SweepConfig
from multiobj.studies.sweep.results import pareto_mask, report, write_results
from multiobj.studies.sweep.runner import run, work
from multiobj.studies.sweep.space import (
  KINDS,
  RANGES,
  Objective,
  Parameter,
  SweepError,
  check_space,
  load_space_file,
  parse_objectives,
  parse_space,
)
from multiobj.studies.sweep.study import open_study, retry_interrupted

__all__ = [
  "KINDS",
  "RANGES",
  "SAMPLERS",
  "Objective",
  "Parameter",
  "SweepConfig",
  "SweepError",
  "check_space",
  "load_space_file",
  "open_study",
  "parse_objectives",
  "parse_space",
  "pareto_mask",
  "report",
  "retry_interrupted",
  "run",
  "work",
  "write_results",
]
