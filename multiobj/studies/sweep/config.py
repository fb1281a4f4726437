"""`SweepConfig`: a whole sweep as plain values (it travels as JSON to the
helper worker processes of `--parallel`)."""

import dataclasses
import json
import math
import os

import matplotlib

from multiobj.studies.sweep.space import (
  RANGES,
  Objective,
  Parameter,
  SweepError,
)

matplotlib.use("Agg")


SAMPLERS = ("grid", "random", "tpe", "nsga2")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """A sweep.

  Attributes:
    output_dir: The sweep folder: trials/<number>/ (each trial's model_dir
      and logs), results.csv, pareto.png, report.md, and study.db for the
      default storage.
    space: The parameters searched.
    objectives: The metrics of metrics.json optimised, with directions.
    train_module: The training script each trial runs with `python -m`
      (its flags are the trial's parameters).
    trials: Trials the study should have in the end, counting those of
      earlier runs; by default (grid only) the grid's size.
    trial_flags: Flags of the training script given to every trial.
    sampler: grid, random, tpe or nsga2.
    sampler_seed: Seed of the sampler; each random, tpe or nsga2 worker
      mixes in its host name and worker index so that they differ.
    parallel: Worker processes on this machine.
    storage: An SQLAlchemy URL or `journal:PATH`; empty for SQLite in
      output_dir.
    study_name: Name in the storage; by default output_dir's base name.
    prune: The per-epoch metric of history.jsonl that prunes hopeless
      trials (single objective only), or None.
    prune_startup_trials: Trials that finish before any pruning.
    prune_warmup_epochs: Epochs of each trial before it can be pruned.
    command: The command line, for report.md.
    workdir: The working directory of the trials; by default the current
      one, so relative paths in trial flags mean what they mean here.
    poll_seconds: How often a worker reads a running trial's history.
  """

  output_dir: str
  space: tuple[Parameter, ...]
  objectives: tuple[Objective, ...]
  train_module: str
  trials: int | None = None
  trial_flags: tuple[str, ...] = ()
  sampler: str = "tpe"
  sampler_seed: int = 0
  parallel: int = 1
  storage: str = ""
  study_name: str = ""
  prune: Objective | None = None
  prune_startup_trials: int = 3
  prune_warmup_epochs: int = 0
  command: str = ""
  workdir: str = ""
  poll_seconds: float = 1.0

  def __post_init__(self):
    output_dir = os.path.abspath(self.output_dir)
    object.__setattr__(self, "output_dir", output_dir)
    object.__setattr__(self, "workdir", self.workdir or os.getcwd())
    object.__setattr__(
      self, "study_name", self.study_name or os.path.basename(output_dir)
    )
    if not self.space:
      raise SweepError(
        "The search space is empty: give --space or --space_file."
      )
    names = [p.name for p in self.space]
    if len(set(names)) < len(names):
      raise SweepError("search space: a parameter is given twice.")
    if self.sampler not in SAMPLERS:
      raise SweepError(
        f"Unknown sampler {self.sampler!r}; one of: {', '.join(SAMPLERS)}."
      )
    if self.sampler == "grid":
      ranges = [p.describe() for p in self.space if p.kind in RANGES]
      if ranges:
        raise SweepError(
          f"--sampler=grid takes lists of values, not ranges: {ranges[0]}; "
          "give it as grid(...) or use another sampler."
        )
      if self.trials is None:
        object.__setattr__(self, "trials", self.grid_size)
      elif self.trials > self.grid_size:
        raise SweepError(
          f"--trials={self.trials} is more than the {self.grid_size} points "
          "of the grid."
        )
    elif self.trials is None:
      raise SweepError(f"--trials is required with --sampler={self.sampler}.")
    if self.trials < 1 or self.parallel < 1:
      raise SweepError("--trials and --parallel must be at least 1.")
    if self.prune and len(self.objectives) > 1:
      raise SweepError(
        "--prune needs a single objective: Optuna prunes single-objective "
        "studies only (Trial.should_prune raises NotImplementedError for "
        "several). Drop --prune, or keep one metric in --directions."
      )

  @property
  def grid_size(self) -> int:
    return math.prod(len(p.values) for p in self.space if p.kind not in RANGES)

  @property
  def storage_url(self) -> str:
    return self.storage or f"sqlite:///{self.output_dir}/study.db"

  def definition(self) -> dict[str, list[str]]:
    """What every run of a study must share (the sampler and the trial
    budget may change between runs)."""
    return {
      "space": [p.describe() for p in self.space],
      "directions": [str(o) for o in self.objectives],
      "trial_flags": list(self.trial_flags),
    }

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, text: str) -> "SweepConfig":
    values = json.loads(text)
    values["space"] = tuple(
      Parameter(**{**p, "values": tuple(p["values"])}) for p in values["space"]
    )
    values["objectives"] = tuple(Objective(**o) for o in values["objectives"])
    values["prune"] = values["prune"] and Objective(**values["prune"])
    values["trial_flags"] = tuple(values["trial_flags"])
    return cls(**values)
