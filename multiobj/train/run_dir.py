"""A training run's directory: what is written where, and reading it back.

  config.json          the resolved config and the dataset spec: they
                       rebuild the model (`load_model`);
  feature_stats.json   vocabularies and moments of the features;
  vocabularies/        each vocabulary, one value per line
                       (`prepare/vocabularies.py`);
  checkpoints/         the weights after each epoch (the last three kept);
  tensorboard/         losses and weights of every task (each 50 steps and
                       each epoch), and the test metrics under test/;
  history.jsonl        one line an epoch while training: every loss and
                       weight, training and validation;
  prepared/            the prepared lists, unless the run names a cache
                       elsewhere (`prepare/cache.py`);
  metrics.json         every metric and its baseline, per-epoch history,
                       effective task weights, data summary, timing, machine
                       (written once the run is evaluated, `experiment.py`);
  .lock                held by the process writing the run (`Lock`): who
                       holds it, for the message a second writer gets;
  backup/              the state to resume from (weights, optimizer, the
                       last epoch done), kept until metrics.json is written.

Other workers of a multi-worker run write to a scratch directory instead
(`distribution.worker_dir`).
"""

import json
import os
import platform
import re
import shutil
import socket
import time
from typing import Any

try:
  import fcntl
except ImportError:  # Not POSIX: runs are not locked.
  fcntl = None

import numpy as np
import tensorflow as tf
from absl import logging

from multiobj import config as config_lib
from multiobj import extensions
from multiobj.data import spec as spec_lib
from multiobj.model import features as features_lib
from multiobj.model import model as model_lib
from multiobj.prepare import stats as stats_lib
from multiobj.prepare import vocabularies

CONFIG = "config.json"
FEATURE_STATS = stats_lib.FILE
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
HISTORY = "history.jsonl"
METRICS = "metrics.json"
LOCK = ".lock"
BACKUP = "backup"


class RunInUseError(RuntimeError):
  """Another process is writing the run directory."""


class Lock:
  """This process's exclusive lock on a run directory (`flock` on its
  `.lock`): held while the process lives, released by the OS when it dies
  however it dies, so a killed run never leaves a stale lock. Taking the
  lock of a directory this process holds already returns the same lock.

  Raises:
    RunInUseError: naming the holder (pid, host, since when) when another
      process holds it.
  """

  _held: dict[str, "Lock"] = {}

  def __new__(cls, directory: str):
    key = os.path.realpath(directory)
    if key in cls._held:
      return cls._held[key]
    lock = super().__new__(cls)
    lock.directory, lock._key, lock._fd = directory, key, None
    if fcntl is not None:
      lock._take()
    cls._held[key] = lock
    return lock

  def _take(self):
    os.makedirs(self.directory, exist_ok=True)
    fd = os.open(os.path.join(self.directory, LOCK), os.O_RDWR | os.O_CREAT)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.read(fd, 500).decode(errors="replace").strip()
      os.close(fd)
      raise RunInUseError(
        f"{self.directory} is in use by another run ("
        f"{holder or 'a process that has not said who it is'}); wait for "
        "it to end, or give another --model_dir."
      ) from None
    os.ftruncate(fd, 0)
    os.write(
      fd,
      f"pid {os.getpid()} on {socket.gethostname()} since "
      f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode(),
    )
    self._fd = fd

  @classmethod
  def release_held(cls, directory: str) -> None:
    """Releases this process's lock of `directory`, if it holds one."""
    held = cls._held.get(os.path.realpath(directory))
    if held is not None:
      held.release()

  def release(self) -> None:
    """Lets another process write the directory."""
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None
    Lock._held.pop(self._key, None)


PREPARED = "prepared"


def write_description(
  directory: str,
  config: config_lib.TrainConfig,
  spec: spec_lib.DatasetSpec,
  stats: features_lib.FeatureStats,
) -> None:
  """Writes config.json and feature_stats.json: what rebuilds the model.
  config.json also names the user modules that registered what the run
  uses (`extensions.modules_of`), which reopening it imports."""
  write_json(
    directory,
    CONFIG,
    {
      "config": config.to_dict(),
      "spec": spec.to_dict(),
      "modules": extensions.modules_of(config),
    },
  )
  stats.save(directory)


def load_model(
  model_dir: str,
) -> tuple[model_lib.MultiObjectiveModel, config_lib.TrainConfig]:
  """Rebuilds the model of a finished run and restores its last checkpoint.

  Variables are restored as the model creates them, on its first call.
  The user modules config.json names are imported first.
  """
  path = os.path.join(model_dir, CONFIG)
  with open(path) as f:
    description = json.load(f)
  extensions.import_modules(description.get("modules", []), f"{path} modules")
  stats = features_lib.FeatureStats.load(model_dir)
  config = config_lib.TrainConfig.from_dict(description["config"])
  spec = spec_lib.DatasetSpec.from_dict(description["spec"])
  model = model_lib.build(spec, stats, config)
  path = tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINTS))
  if path is None:
    raise ValueError(f"{model_dir}: no checkpoint under {CHECKPOINTS}/.")
  check_checkpoint(path)
  tf.train.Checkpoint(model=model).restore(path).expect_partial()
  return model, config


def check_checkpoint(path: str) -> None:
  """Refuses a checkpoint whose feature variables are named by position
  (`encoder/encoders/0/...`, before they were named by column): restoring
  it would match none of them and leave the embeddings as initialised."""
  for name, _ in tf.train.list_variables(path):
    if re.search(r"/encoders/[0-9]+/", name):
      raise ValueError(
        f"{path}: this checkpoint comes from an older multiobj, which named "
        f"feature variables by position ({name.split('/.ATTRIBUTES')[0]}); "
        "this version names them by column and cannot restore it. Train "
        "the run again, or use the version that wrote it."
      )


# What a run writes, deleted before another run writes the directory.
_OUTPUTS = (
  CHECKPOINTS,
  TENSORBOARD,
  HISTORY,
  METRICS,
  "eval",
  FEATURE_STATS,
  vocabularies.FOLDER,
)
# Config fields that do not make another run.
_SAME_RUN = {
  "model_dir",
  "fit.overwrite",
  "fit.checkpoint_every_steps",
  "prepare.cache_dir",
}


def begin(directory: str, config: config_lib.TrainConfig) -> None:
  """Readies `directory` for the run of `config` (its objectives resolved):
  a directory holding a run of another config is refused, unless
  `config.fit.overwrite`; an interrupted run of the same config (its
  `backup/` still there) is kept, to resume; otherwise the previous run's
  outputs are deleted (a finished run, rerun, starts afresh). Until
  metrics.json is written the directory holds an unfinished run
  (`check_finished`).

  Raises:
    ValueError: naming the settings that differ from the run already there.
  """
  path, changed = os.path.join(directory, CONFIG), []
  if os.path.exists(path):
    with open(path) as f:
      before = _flat(json.load(f)["config"])
    now = _flat(json.loads(json.dumps(plain(config.to_dict()))))
    changed = [
      f"{k} was {before.get(k)!r}, now {now.get(k)!r}"
      for k in sorted(set(before) | set(now))
      if k not in _SAME_RUN and before.get(k) != now.get(k)
    ]
    if changed and not config.fit.overwrite:
      shown = "; ".join(changed[:5]) + ("; ..." if len(changed) > 5 else "")
      raise ValueError(
        f"{directory} holds a run of another config ({shown}). Pass "
        "--overwrite to replace it (its checkpoints, events and results are "
        "deleted), or give another --model_dir."
      )
  # A result a killed process was writing (`write_json`'s NAME.PID.tmp):
  # never whole. Other files of the directory are left alone.
  for name in os.listdir(directory) if os.path.isdir(directory) else ():
    if re.fullmatch(r".+\.json\.\d+\.tmp", name):
      os.remove(os.path.join(directory, name))
  if not changed and interrupted(directory):
    # The same run, interrupted: it resumes (`callbacks.Resume`).
    logging.info("%s: resuming the interrupted run.", directory)
    if os.path.exists(os.path.join(directory, METRICS)):
      os.remove(os.path.join(directory, METRICS))
    return
  for name in (*_OUTPUTS, BACKUP, CONFIG):
    target = os.path.join(directory, name)
    if os.path.isdir(target):
      shutil.rmtree(target)
    elif os.path.exists(target):
      os.remove(target)


def interrupted(directory: str) -> bool:
  """Whether `directory` holds a run that stopped before it finished and
  can resume (its backup is there)."""
  return os.path.isdir(os.path.join(directory, BACKUP))


def backup_position(directory: str) -> tuple[int, int]:
  """(epoch, batch), both from 0, of the last backup of an interrupted run:
  the epoch it was in and the last batch done; (-1, -1) without one."""
  path = tf.train.latest_checkpoint(os.path.join(directory, BACKUP, "chief"))
  if path is None:
    return -1, -1
  check_checkpoint(path)
  reader = tf.train.load_checkpoint(path)
  return tuple(
    int(reader.get_tensor(f"ckpt_saved_{name}/.ATTRIBUTES/VARIABLE_VALUE"))
    for name in ("epoch", "batch")
  )


def finish(directory: str) -> None:
  """Marks the run in `directory` finished once metrics.json is written:
  nothing is left to resume."""
  shutil.rmtree(os.path.join(directory, BACKUP), ignore_errors=True)


def read_history(directory: str) -> dict[str, list]:
  """history.jsonl as {key: [value of each epoch]}."""
  out: dict[str, list] = {}
  path = os.path.join(directory, HISTORY)
  if not os.path.exists(path):
    return out
  with open(path) as f:
    for line in f:
      if line.strip():
        for k, v in json.loads(line).items():
          if k != "epoch":
            out.setdefault(k, []).append(float("nan") if v is None else v)
  return out


def keep_history(directory: str, epochs: int) -> None:
  """Keeps the first `epochs` lines of history.jsonl (a resumed run
  writes the epochs after them again)."""
  path = os.path.join(directory, HISTORY)
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f.read().splitlines() if line.strip()]
  with open(path, "w") as f:
    f.writelines(line + "\n" for line in lines[:epochs])


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
  if not isinstance(value, dict):
    return {prefix: value}
  out = {}
  for k, v in value.items():
    out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
  return out


def check_finished(model_dir: str) -> None:
  """Refuses a directory without a finished run (no metrics.json: training
  stopped before its end, or is running).

  Raises:
    ValueError: saying so, and how to use the last checkpoint anyway.
  """
  if not os.path.exists(os.path.join(model_dir, CONFIG)):
    raise ValueError(f"{model_dir}: no run here (no {CONFIG}).")
  if not os.path.exists(os.path.join(model_dir, METRICS)):
    raise ValueError(
      f"{model_dir} holds an unfinished run (no {METRICS}: its training "
      "stopped before the end, or is still running); pass "
      "--allow_unfinished to use its last checkpoint anyway."
    )


def write_json(directory: str, name: str, value: Any) -> None:
  """Writes `value` as `directory/name` atomically: a process killed while
  writing leaves the old file (or none), never a truncated one."""
  path = os.path.join(directory, name)
  # NaN (a metric undefined on this data) is written as null: strict JSON.
  text = json.dumps(plain(value), indent=1, allow_nan=False)
  scratch = f"{path}.{os.getpid()}.tmp"
  try:
    with open(scratch, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(scratch, path)
  finally:
    if os.path.exists(scratch):
      os.remove(scratch)
  logging.info("Wrote %s.", path)


def append_json(directory: str, name: str, value: Any) -> None:
  with open(os.path.join(directory, name), "a") as f:
    f.write(json.dumps(plain(value), allow_nan=False) + "\n")


def plain(value: Any) -> Any:
  """`value` with NumPy values as Python ones and NaN as None."""
  if isinstance(value, dict):
    return {k: plain(v) for k, v in value.items()}
  if isinstance(value, list | tuple):
    return [plain(v) for v in value]
  if isinstance(value, np.ndarray):
    return plain(value.tolist())
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def machine() -> dict[str, Any]:
  return {
    "platform": platform.platform(),
    "processor": platform.processor() or platform.machine(),
    "cpus": os.cpu_count(),
    "python": platform.python_version(),
    "tensorflow": tf.__version__,
  }
