"""One trial of a sweep: the training script in a process of its own.

The trial runs `python -m <train_module>` with its flags and its own
model_dir, so a crash, a NaN or an out-of-memory kill fails that trial only,
and TensorFlow state never leaks from one trial into the next. On Linux the
process is forked from the worker, which imported TensorFlow once
(`fork.py`). While it
runs, the worker refreshes the trial's heartbeat and, with pruning, reports
each epoch of its history.jsonl to Optuna, stopping it when pruned.
"""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import matplotlib

matplotlib.use("Agg")

from optuna.trial import TrialState  # noqa: E402

from multiobj.studies.sweep import fork  # noqa: E402

HEARTBEAT_SECONDS = 60


# Sets PR_SET_PDEATHSIG, so that a trial (or helper worker) dies with the
# process that started it even when that one is killed with SIGKILL, then
# runs a module as `python -m` would. argv: parent pid, module, its args.
BOOTSTRAP = """\
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


def train(trial, args, model_dir, config):
  """Runs the training; returns (state, objective values, error)."""
  stderr = os.path.join(model_dir, "stderr.log")
  with (
    open(os.path.join(model_dir, "stdout.log"), "w") as out,
    open(stderr, "w") as err,
  ):
    process = _start(config, args, out, err)
    trial.set_user_attr("train_pid", process.pid)
    try:
      stopped = _watch(process, trial, model_dir, config)
    finally:
      if process.poll() is None:
        stop(process)
  if stopped:
    state, why = stopped
    return state, None, why
  if process.returncode:
    code = process.returncode
    reason = (
      f"killed by {signal.Signals(-code).name}"
      + (
        " (by the kernel's out-of-memory killer or by kill -9; dmesg says "
        "which)"
        if code == -signal.SIGKILL
        else ""
      )
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
  # And each number as an attribute of its own: a column Optuna's dashboard
  # and `study.trials_dataframe()` sort by.
  for name, value in metrics.items():
    if isinstance(value, int | float) and math.isfinite(value):
      trial.set_user_attr(name, value)
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


def _start(config, args, out, err):
  """The training's process: forked from this worker where it can be
  (TensorFlow imported once, `fork.py`), else a new one."""
  if fork.available():
    return fork.start(config.train_module, args, config.workdir, out, err)
  return subprocess.Popen(
    [sys.executable, "-c", BOOTSTRAP, str(os.getpid()), config.train_module]
    + args,
    cwd=config.workdir,
    stdout=out,
    stderr=err,
    env={**os.environ, "PYTHONUNBUFFERED": "1"},
  )


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
          stop(process)
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


def stop(process):
  process.terminate()
  try:
    process.wait(timeout=20)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()


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
