"""A sweep's Optuna study: its storage, sampler and pruner, the trial
budget, and the trials a dead worker left running.

A worker is gone when it ran on this host and its process no longer exists,
or when its heartbeat (a trial attribute `trial.py` refreshes every minute)
is older than ten minutes, which covers machines that died. Its trial is
failed as interrupted (which keeps it out of the budget) and its parameters
are enqueued again.
"""

import os
import socket
import time
import warnings
import zlib

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from multiobj.studies.sweep.config import SweepConfig
from multiobj.studies.sweep.results import hide_password
from multiobj.studies.sweep.space import SweepError

STALE_SECONDS = 600


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
      "storage": storage(config),
      "sampler": sampler(config, worker),
      "pruner": pruner(config),
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
    interrupt(study, trial, why, config)


def interrupt(study, frozen, why, config):
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


def storage(config):
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


def sampler(config, worker):
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


def pruner(config):
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


def counts(trial):
  """Whether a trial counts towards the budget: finished or running, unless
  interrupted (its retry counts instead)."""
  if trial.state == TrialState.RUNNING:
    return True
  return trial.state.is_finished() and not trial.user_attrs.get("interrupted")


def finished(study):
  return sum(
    counts(t) and t.state != TrialState.RUNNING
    for t in study.get_trials(deepcopy=False)
  )


def owner():
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
