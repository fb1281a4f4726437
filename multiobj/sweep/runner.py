"""Running a sweep: workers ask Optuna for a trial, train it in a process of
its own (`python -m experiments.train`) and tell Optuna the outcome; a
resumed sweep retries the trials a dead worker left running."""

import contextlib
import fcntl
import json
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from multiobj.sweep.config import SweepConfig
from multiobj.sweep.results import hide_password, short, write_results
from multiobj.sweep.space import SweepError, format_value

HEARTBEAT_SECONDS = 60


STALE_SECONDS = 600


# Sets PR_SET_PDEATHSIG, so that a trial (or helper worker) dies with the
# process that started it even when that one is killed with SIGKILL, then
# runs a module as `python -m` would. argv: parent pid, module, its args.
_BOOTSTRAP = """\
import ctypes, os, runpy, signal, sys
try:
  ctypes.CDLL(None).prctl(1, signal.SIGKILL)
except (AttributeError, OSError):
  pass
if os.getppid() != int(sys.argv[1]):
  sys.exit("sweep: the worker that started this process is gone.")
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def run(config: SweepConfig) -> list[dict[str, Any]]:
  """Runs the sweep with `config.parallel` workers (this process and
  helpers); returns the rows of results.csv."""
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  study = open_study(config, create=True)
  retry_interrupted(study, config)
  print(
    f"Sweep {config.study_name!r}: {_finished(study)} of {config.trials} "
    f"trials done; {config.parallel} worker(s); storage "
    f"{hide_password(config.storage_url)}.",
    flush=True,
  )
  helpers = [
    subprocess.Popen(
      [
        sys.executable,
        *("-c", _BOOTSTRAP, str(os.getpid()), "multiobj.sweep"),
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
  study = open_study(config, worker=worker)
  lock = os.path.join(config.output_dir, ".ask.lock")
  ran = 0
  with _stop_on_sigterm():
    while True:
      with _locked(lock):
        retry_interrupted(study, config)
        trials = study.get_trials(deepcopy=False)
        if sum(_counts(t) for t in trials) >= config.trials:
          return ran
        trial = study.ask()
        for key, value in _owner().items():
          trial.set_user_attr(key, value)
        params = {p.name: p.suggest(trial) for p in config.space}
      _run_trial(study, trial, params, config)
      ran += 1


def open_study(
  config: SweepConfig, create: bool = False, worker: int = 0
) -> optuna.Study:
  """The sweep's study; `create` makes it when missing and checks that an
  existing one was made with the same space, directions and trial flags."""
  # Optuna calls the TPE's constant liar and metric names experimental:
  # they are wanted here, and a warning from every worker is noise.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    arguments = {
      "study_name": config.study_name,
      "storage": _storage(config),
      "sampler": _sampler(config, worker),
      "pruner": _pruner(config),
    }
    if not create:
      return optuna.load_study(**arguments)
    study = optuna.create_study(
      directions=[
        "maximize" if o.maximize else "minimize" for o in config.objectives
      ],
      load_if_exists=True,
      **arguments,
    )
    stored, wanted = study.user_attrs.get("sweep"), config.definition()
    if stored is None:
      study.set_user_attr("sweep", wanted)
      study.set_metric_names([o.metric for o in config.objectives])
  if stored not in (None, wanted):
    changes = "; ".join(
      f"{key} {stored.get(key)} (now {value})"
      for key, value in wanted.items()
      if stored.get(key) != value
    )
    raise SweepError(
      f"Study {config.study_name!r} in {hide_password(config.storage_url)} "
      f"was made with another sweep: {changes}. Resume it with the same "
      "flags, or give another --study_name."
    )
  return study


def retry_interrupted(study: optuna.Study, config: SweepConfig) -> None:
  """Fails each RUNNING trial whose worker is gone and enqueues its
  parameters again; see the module docstring for when a worker is gone."""
  host = socket.gethostname()
  for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
    owner, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
    beat = trial.user_attrs.get("heartbeat", trial.datetime_start.timestamp())
    if owner == host and pid and not _alive(pid):
      why = f"its worker {owner}:{pid} stopped"
    elif time.time() - beat > STALE_SECONDS:
      why = f"no heartbeat from {owner}:{pid} for {time.time() - beat:.0f} s"
    else:
      continue
    _interrupt(study, trial, why, config)


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
    state, values, error = _train(trial, args, model_dir, config)
  except KeyboardInterrupt:
    [frozen] = [
      t for t in study.get_trials(deepcopy=False) if t.number == trial.number
    ]
    _interrupt(study, frozen, "the sweep was stopped", config)
    raise
  try:
    if error:
      trial.set_user_attr("error", error)
    study.tell(trial, values, state=state)
  except (ValueError, RuntimeError) as e:  # Failed meanwhile as stale.
    print(f"trial {trial.number}: not recorded ({e}).", flush=True)
    return
  finished = _finished(study)
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


def _train(trial, args, model_dir, config):
  """Runs the training; returns (state, objective values, error)."""
  stderr = os.path.join(model_dir, "stderr.log")
  with (
    open(os.path.join(model_dir, "stdout.log"), "w") as out,
    open(stderr, "w") as err,
  ):
    process = subprocess.Popen(
      [
        sys.executable,
        "-c",
        _BOOTSTRAP,
        str(os.getpid()),
        config.train_module,
        *args,
      ],
      cwd=config.workdir,
      stdout=out,
      stderr=err,
      env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    trial.set_user_attr("train_pid", process.pid)
    try:
      stopped = _watch(process, trial, model_dir, config)
    finally:
      if process.poll() is None:
        _stop(process)
  if stopped:
    state, why = stopped
    return state, None, why
  if process.returncode:
    code = process.returncode
    reason = (
      f"killed by {signal.Signals(-code).name}"
      + (" (out of memory?)" if code == -signal.SIGKILL else "")
      if code < 0
      else f"exit code {code}"
    )
    with open(stderr, errors="replace") as f:
      tail = f.read()[-20000:].splitlines()
    trial.set_user_attr("stderr_tail", "\n".join(tail[-20:]))
    return TrialState.FAIL, None, f"{reason}: {_last_error(tail)}"
  try:
    with open(os.path.join(model_dir, "metrics.json")) as f:
      metrics = json.load(f)["metrics"]
  except (OSError, ValueError, KeyError) as e:
    return TrialState.FAIL, None, f"no metrics in metrics.json ({e})"
  trial.set_user_attr("metrics", metrics)
  values = []
  for o in config.objectives:
    if o.metric not in metrics:
      known = ", ".join(sorted(metrics))
      return (
        TrialState.FAIL,
        None,
        f"metric {o.metric} is not in metrics.json (it has: {known})",
      )
    value = metrics[o.metric]
    if value is None or not math.isfinite(value):
      return TrialState.FAIL, None, f"metric {o.metric} is NaN"
    values.append(value)
  return TrialState.COMPLETE, values, None


def _watch(process, trial, model_dir, config):
  """Waits for the training, refreshing the heartbeat and, with pruning,
  reporting each epoch of history.jsonl; returns (state, why) when it
  stopped the training, else None."""
  path = os.path.join(model_dir, "history.jsonl")
  offset, beat = 0, time.time()
  while True:
    exited = process.poll() is not None
    if time.time() - beat >= HEARTBEAT_SECONDS:
      beat = time.time()
      trial.set_user_attr("heartbeat", beat)
    if config.prune and os.path.exists(path):
      with open(path, "rb") as f:
        f.seek(offset)
        text = f.read()
      complete = text[: text.rfind(b"\n") + 1]  # A line may be half-written.
      offset += len(complete)
      for line in complete.splitlines():
        stopped = _report(trial, json.loads(line), config)
        if stopped and not exited:
          _stop(process)
          return stopped
    if exited:
      return None
    time.sleep(config.poll_seconds)


def _report(trial, record, config):
  metric, epoch = config.prune.metric, int(record.get("epoch", 0))
  if metric not in record:
    known = ", ".join(k for k in record if k != "epoch")
    return (
      TrialState.FAIL,
      f"--prune metric {metric} is not in history.jsonl (it has: {known})",
    )
  value = record[metric]
  if value is None or not math.isfinite(value):
    return TrialState.FAIL, f"{metric} is NaN at epoch {epoch}"
  # The pruner compares values in the study's direction.
  same = config.prune.maximize == config.objectives[0].maximize
  trial.report(value if same else -value, step=epoch)
  if trial.should_prune():
    return (
      TrialState.PRUNED,
      f"pruned after epoch {epoch}: {metric}={value:.4g}",
    )
  return None


def _interrupt(study, frozen, why, config):
  """Fails a RUNNING trial as interrupted and enqueues its parameters."""
  # The Study API sets attributes only through a live Trial; this one's
  # worker is gone, so set them in the storage directly.
  storage = study._storage
  try:
    storage.set_trial_user_attr(frozen._trial_id, "interrupted", True)
    storage.set_trial_user_attr(
      frozen._trial_id, "error", f"interrupted: {why}; retried"
    )
    study.tell(frozen.number, state=TrialState.FAIL)
  except (ValueError, RuntimeError):  # Another worker got there first.
    return
  if {p.name for p in config.space} <= set(frozen.params):
    study.enqueue_trial(frozen.params, user_attrs={"retry_of": frozen.number})


def _storage(config):
  url = config.storage_url
  if url.startswith("journal:"):
    path = os.path.abspath(url[len("journal:") :])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return optuna.storages.JournalStorage(
      optuna.storages.journal.JournalFileBackend(path)
    )
  os.makedirs(config.output_dir, exist_ok=True)
  # Several processes share one SQLite file: wait for its lock.
  kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
  return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def _sampler(config, worker):
  if config.sampler == "grid":
    # The same seed everywhere: each worker must shuffle the grid alike.
    return _GridSampler(
      {p.name: list(p.values) for p in config.space}, seed=config.sampler_seed
    )
  seed = zlib.crc32(
    f"{config.sampler_seed}:{socket.gethostname()}:{worker}".encode()
  )
  if config.sampler == "random":
    return optuna.samplers.RandomSampler(seed=seed)
  if config.sampler == "tpe":
    # Running trials count as bad guesses so parallel workers spread out.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
  # Generations of a quarter of the trials (4 to 50), so that a small sweep
  # evolves at all.
  size = min(50, max(4, config.trials // 4))
  return optuna.samplers.NSGAIISampler(seed=seed, population_size=size)


def _pruner(config):
  if not config.prune:
    return optuna.pruners.NopPruner()
  return optuna.pruners.MedianPruner(
    n_startup_trials=config.prune_startup_trials,
    n_warmup_steps=config.prune_warmup_epochs,
  )


class _GridSampler(optuna.samplers.GridSampler):
  """GridSampler for ask-and-tell: its after_trial calls study.stop(), which
  raises outside study.optimize. The sweep stops on its trial budget."""

  def after_trial(self, study, trial, state, values):
    del study, trial, state, values  # Unused.


def _counts(trial):
  """Whether a trial counts towards the budget: finished or running, unless
  interrupted (its retry counts instead)."""
  if trial.state == TrialState.RUNNING:
    return True
  return trial.state.is_finished() and not trial.user_attrs.get("interrupted")


def _finished(study):
  return sum(
    _counts(t) and t.state != TrialState.RUNNING
    for t in study.get_trials(deepcopy=False)
  )


def _owner():
  return {
    "host": socket.gethostname(),
    "pid": os.getpid(),
    "heartbeat": time.time(),
  }


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  try:  # A zombie (killed, not yet reaped) is gone too.
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rpartition(")")[2].split()[0] != "Z"
  except OSError:
    return True


def _stop(process):
  process.terminate()
  try:
    process.wait(timeout=20)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()


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


def _last_error(lines):
  """The line of a training's stderr that says why it failed."""
  lines = [line.strip() for line in lines if line.strip()]
  for line in reversed(lines):
    if (
      re.match(r"([\w.]+)?(Error|Exception|Interrupt)\b", line)
      or "Flags parsing error" in line
    ):
      return line[:400]
  return lines[-1][:400] if lines else "nothing on stderr"
