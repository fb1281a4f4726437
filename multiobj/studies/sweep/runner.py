"""Running a sweep: workers ask Optuna for a trial, train it in a process of
its own (`trial.py`) and tell Optuna the outcome; a resumed sweep retries
the trials a dead worker left running (`study.py`)."""

import contextlib
import fcntl
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from multiobj.studies.sweep import study as study_lib
from multiobj.studies.sweep import trial as trial_lib
from multiobj.studies.sweep.config import SweepConfig
from multiobj.studies.sweep.results import hide_password, short, write_results
from multiobj.studies.sweep.space import format_value


def run(config: SweepConfig) -> list[dict[str, Any]]:
  """Runs the sweep with `config.parallel` workers (this process and
  helpers); returns the rows of results.csv."""
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  study = study_lib.open_study(config, create=True)
  study_lib.retry_interrupted(study, config)
  print(
    f"Sweep {config.study_name!r}: {study_lib.finished(study)} of {config.trials} "
    f"trials done; {config.parallel} worker(s); storage "
    f"{hide_password(config.storage_url)}.",
    flush=True,
  )
  helpers = [
    subprocess.Popen(
      [
        sys.executable,
        *(
          "-c",
          trial_lib.BOOTSTRAP,
          str(os.getpid()),
          "multiobj.studies.sweep",
        ),
        *(config.to_json(), str(worker)),
      ],
      cwd=config.workdir,
    )
    for worker in range(1, config.parallel)
  ]
  try:
    work(config, worker=0)
  except BaseException:
    for helper in helpers:
      helper.terminate()  # Each marks its running trial interrupted.
      helper.wait()
    raise
  for helper in helpers:
    if helper.wait():
      print(f"A helper worker exited with code {helper.returncode}.")
  rows = write_results(study, config)
  front = [r["number"] for r in rows if r["pareto"]]
  print(
    f"{len(rows)} trials; Pareto front: trials {', '.join(map(str, front))}. "
    f"Results in {config.output_dir}: results.csv, pareto.png, report.md.",
    flush=True,
  )
  return rows


def work(config: SweepConfig, worker: int = 0) -> int:
  """One worker's loop: trials until the study has `config.trials`.

  Workers on this machine take turns (a file lock) to count the trials and
  ask for the next, so they do not overshoot the budget; workers of other
  machines may, by one trial each. Returns the trials this worker ran.
  """
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  study = study_lib.open_study(config, worker=worker)
  lock = os.path.join(config.output_dir, ".ask.lock")
  ran = 0
  with _stop_on_sigterm():
    while True:
      with _locked(lock):
        study_lib.retry_interrupted(study, config)
        trials = study.get_trials(deepcopy=False)
        if sum(study_lib.counts(t) for t in trials) >= config.trials:
          return ran
        trial = study.ask()
        for key, value in study_lib.owner().items():
          trial.set_user_attr(key, value)
        params = {p.name: p.suggest(trial) for p in config.space}
      _run_trial(study, trial, params, config)
      ran += 1


def _run_trial(study, trial, params, config):
  started = time.time()
  model_dir = os.path.join(config.output_dir, "trials", str(trial.number))
  os.makedirs(model_dir, exist_ok=True)
  # A study made again over an old folder numbers its trials from 0 again;
  # training appends to history.jsonl, which the pruner reads.
  for name in ("history.jsonl", "metrics.json"):
    with contextlib.suppress(FileNotFoundError):
      os.remove(os.path.join(model_dir, name))
  args = [
    f"--model_dir={model_dir}",
    *config.trial_flags,
    *(f"--{name}={format_value(value)}" for name, value in params.items()),
  ]
  trial.set_user_attr("model_dir", model_dir)
  trial.set_user_attr(
    "command", shlex.join(["python", "-m", config.train_module, *args])
  )
  try:
    state, values, error = trial_lib.train(trial, args, model_dir, config)
  except KeyboardInterrupt:
    [frozen] = [
      t for t in study.get_trials(deepcopy=False) if t.number == trial.number
    ]
    study_lib.interrupt(study, frozen, "the sweep was stopped", config)
    raise
  try:
    if error:
      trial.set_user_attr("error", error)
    study.tell(trial, values, state=state)
  except (ValueError, RuntimeError) as e:  # Failed meanwhile as stale.
    print(f"trial {trial.number}: not recorded ({e}).", flush=True)
    return
  finished = study_lib.finished(study)
  if state == TrialState.COMPLETE:
    outcome = " ".join(
      f"{o.metric}={v:.4f}"
      for o, v in zip(config.objectives, values, strict=True)
    )
  else:
    outcome = error
  shown = ", ".join(f"{k}={short(v)}" for k, v in params.items())
  print(
    f"[{finished}/{config.trials}] trial {trial.number} {state.name} in "
    f"{time.time() - started:.0f} s: {outcome} (params: {shown})",
    flush=True,
  )
  write_results(study, config)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
  """SIGTERM raises KeyboardInterrupt, so the running trial is marked
  interrupted and its training stopped, as with Ctrl-C."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def interrupt(signum, frame):
    del signum, frame  # Unused.
    raise KeyboardInterrupt

  previous = signal.signal(signal.SIGTERM, interrupt)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
