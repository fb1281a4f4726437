"""One experiment end to end: fit, evaluate on the test split, metrics.json.

  config -> train.fit (data, model, Model.fit, the run directory)
         -> evaluate.report.evaluate (every metric and its baseline on
            the test split, or on validation when tuning)
         -> metrics.json and the test metrics in TensorBoard.

`run(config)` is what `experiments/train.py`, the studies and the tests call;
it returns a typed `RunResult` whose `to_json()` is metrics.json.
"""

import dataclasses
import os
import time
from collections.abc import Mapping
from typing import Any

from multiobj import config as config_lib
from multiobj.evaluate import report, validation
from multiobj.train import fit as fit_lib
from multiobj.train import resources, run_dir, tensorboard


@dataclasses.dataclass(frozen=True)
class RunResult:
  """What a finished run reports (metrics.json).

  Attributes:
    config: The run's config, its objectives resolved for the dataset.
    metrics: Every metric of every objective on the test split.
    baselines: The same metrics of the data-only baselines, the strongest
      tried for each.
    baseline_names: Which baseline that is, where not the kind's usual one
      (`report.BASELINE_NAMES`): "EASE^R (lambda=500)", "item-KNN (k=50)".
    retrieval_baselines: Every retrieval baseline tried, with its metrics.
    counts: Lists, rows and positives each metric rests on.
    effective_weights: Each objective's mean weight in the last epoch.
    gate_usage: {gate: {expert: mean weight}} in the last epoch.
    replicas: Replicas the model trained on.
    history: Every logged value per epoch.
    best_epoch: The epoch whose weights were evaluated.
    propensities: Position propensities, when weighting by them.
    data: Rows, lists and label means per split; negatives, cold items,
      propensities; the dataset's info.
    flags: The command-line flags, verbatim.
    timing: fit_seconds, train_rows_per_second, total_seconds,
      first_step_seconds (to the end of the first training step from the
      start of the process, or of the run for a later run of the same
      process: reading, preparing, building, tracing),
      epoch_seconds (each epoch this process trained, validation
      included), evaluate_seconds (the test metrics and baselines) and
      peak_rss_mb (the run's peak resident memory, in MB, what the
      process held before it included; the process's peak where the
      kernel cannot reset the mark).
    machine: Platform, processor, CPUs, Python and TensorFlow versions.
  """

  config: config_lib.TrainConfig
  metrics: dict[str, float]
  baselines: dict[str, float]
  baseline_names: dict[str, str]
  retrieval_baselines: dict[str, dict[str, float]]
  counts: dict[str, int]
  effective_weights: dict[str, float]
  gate_usage: dict[str, dict[str, float]]
  replicas: int
  history: dict[str, list[float]]
  best_epoch: int
  propensities: list[float] | None
  data: dict[str, Any]
  flags: dict[str, Any]
  timing: dict[str, float]
  machine: dict[str, Any]

  def to_json(self) -> dict[str, Any]:
    """metrics.json's content."""
    out = {
      f.name: getattr(self, f.name)
      for f in dataclasses.fields(self)
      if f.name != "config"
    }
    out["config"] = self.config.to_dict()
    return run_dir.plain(out)


@dataclasses.dataclass(frozen=True)
class WorkerResult:
  """What a worker that is not the chief reports: the chief writes the run."""

  config: config_lib.TrainConfig
  epochs: int


def run(
  config: config_lib.TrainConfig,
  flags: Mapping[str, Any] | None = None,
  verbose: int | None = None,
) -> RunResult | WorkerResult:
  """Fits, evaluates on `config.evaluate_split` (the test split unless
  tuning) and writes `config.model_dir`.

  Args:
    config: The run.
    flags: The command-line flags the config came from, recorded verbatim in
      metrics.json.
    verbose: Keras verbosity (`train.fit.fit`).
  """
  began = resources.start_run()
  fitted = fit_lib.fit(config, verbose=verbose, monitor=validation.monitor)
  try:
    return _evaluate(config, fitted, flags, began)
  finally:
    run_dir.Lock.release_held(fitted.directory)


def _evaluate(config, fitted, flags, began) -> RunResult | WorkerResult:
  """Scores the fitted run on its evaluation split (test, or valid when
  tuning) and writes metrics.json."""
  if not fitted.chief:
    return WorkerResult(fitted.config, fitted.epochs)
  evaluating = time.time()
  scored = report.evaluate(
    fitted.model, fitted.data, fitted.config.evaluate_split
  )
  evaluate_seconds = time.time() - evaluating
  # The rows an epoch trains on (a run on purchases skips the views).
  train = fitted.summary["train"]
  rows = train.get("rows_learnt_from", train["rows"])
  described = fitted.data.describe()
  result = RunResult(
    config=fitted.config,
    metrics=scored.metrics,
    baselines=scored.baselines,
    baseline_names=scored.baseline_names,
    retrieval_baselines=scored.retrieval_baselines,
    counts=scored.counts,
    effective_weights=fitted.effective_weights(),
    gate_usage=fitted.gate_usage(),
    replicas=fitted.replicas,
    history=fitted.history,
    best_epoch=fitted.best_epoch,
    propensities=described["propensities"],
    data={
      **fitted.summary,
      **described,
      "info": dict(fitted.data.data.info),
      "full_ranking": _protocol(fitted.data.data.full_ranking),
    },
    flags=dict(flags or {}),
    timing={
      "fit_seconds": fitted.fit_seconds,
      **_speed(rows * (config.fit.epochs - fitted.resumed_after), fitted),
      "total_seconds": time.time() - fitted.started,
      **_first_step(fitted, began),
      "epoch_seconds": list(fitted.epoch_seconds),
      "evaluate_seconds": evaluate_seconds,
      "peak_rss_mb": resources.peak_rss_mb(),
    },
    machine=run_dir.machine(),
  )
  tensorboard.write_results(
    os.path.join(config.model_dir, run_dir.TENSORBOARD),
    fitted.config.to_dict(),
    scored.metrics,
    [o.name for o in fitted.config.objectives],
    config.fit.epochs,
    fitted.config.evaluate_split,
  )
  run_dir.write_json(config.model_dir, run_dir.METRICS, result.to_json())
  run_dir.finish(config.model_dir)
  return result


def _protocol(full_ranking) -> dict | None:
  """The full-ranking protocol as metrics.json records it."""
  if full_ranking is None:
    return None
  return {
    k: list(v) if isinstance(v, tuple) else v
    for k, v in dataclasses.asdict(full_ranking).items()
  }


def _speed(rows: int, fitted) -> dict[str, float]:
  """Training rows a second in this process (none if a resumed run had
  no epoch left), and after how many epochs it resumed."""
  out: dict[str, float] = {}
  if rows:
    out["train_rows_per_second"] = rows / fitted.fit_seconds
  if fitted.resumed_after:
    out["resumed_after_epochs"] = fitted.resumed_after
  return out


def _first_step(fitted, began: float) -> dict[str, float]:
  if fitted.first_step is None:
    return {}
  return {"first_step_seconds": fitted.first_step - began}
