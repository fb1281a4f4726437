"""Fitting a model: config -> data -> model -> `Model.fit` -> a run directory.

`fit(config)` loads the dataset, prepares it (`prepare.train_data`), builds
the model under the config's `tf.distribute` strategy, fits it with the
callbacks of `callbacks.py` and writes the run's directory (`run_dir.py`);
it returns a typed `FitResult`. Evaluating the fitted model on the test
split and writing metrics.json is `experiment.run`'s.
"""

import contextlib
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf
from absl import logging

from multiobj import config as config_lib
from multiobj.data import loaders
from multiobj.model import model as model_lib
from multiobj.model import trunks
from multiobj.prepare import cache
from multiobj.prepare import train_data as train_data_lib
from multiobj.train import callbacks as callbacks_lib
from multiobj.train import distribution, run_dir


@dataclasses.dataclass(frozen=True)
class FitResult:
  """A fitted model and how it was fitted.

  Attributes:
    config: The run's config, its objectives resolved for the dataset.
    data: The prepared data (its lists, catalogue, cold items, ...).
    model: The model, with the weights of the epoch kept (the last, or
      with early stopping the best).
    history: Every logged value per epoch, training and validation.
    best_epoch: The epoch whose weights the model holds (1-based).
    directory: Where this process wrote the run.
    chief: Whether this process writes the run's outputs (always, but on
      the workers of a multi-worker run other than the chief).
    replicas: Replicas the model trained on.
    summary: Rows, lists and label means per split.
    fit_seconds: Time in `Model.fit`.
    started: When `fit` started (seconds since the epoch).
    first_step: When the first training step ended (seconds since the
      epoch).
    epoch_seconds: Each epoch's time in this process, validation included.
    resumed_after: Epochs an interrupted run had done before this process
      resumed it (0 for a run from the start).
  """

  config: config_lib.TrainConfig
  data: train_data_lib.TrainData
  model: model_lib.MultiObjectiveModel
  history: dict[str, list[float]]
  best_epoch: int
  directory: str
  chief: bool
  replicas: int
  summary: dict[str, Any]
  fit_seconds: float
  started: float
  first_step: float | None = None
  epoch_seconds: tuple[float, ...] = ()
  resumed_after: int = 0

  @property
  def epochs(self) -> int:
    """Epochs trained (fewer than configured if stopped early)."""
    return len(next(iter(self.history.values()), []))

  def last_epoch(self) -> dict[str, float]:
    return {k: v[-1] for k, v in self.history.items()}

  def effective_weights(self) -> dict[str, float]:
    """Each objective's mean weight over the last training epoch."""
    last = self.last_epoch()
    return {o.name: last[f"{o.name}_weight"] for o in self.config.objectives}

  def gate_usage(self) -> dict[str, dict[str, float]]:
    """{gate: {expert: mean weight}} of the trunk's gates over the last
    training epoch; empty for a trunk without gates."""
    if self.model.trunk is None:
      return {}
    last = self.last_epoch()
    return {
      gate: {e: float(last[f"gate_{gate}_{e}"]) for e in experts}
      for gate, experts in self.model.trunk.gate_experts.items()
    }


def check(config: config_lib.TrainConfig) -> None:
  """Checks the names `config` gives against their registries, before any
  data is read. Raises ValueError naming the unknown one."""
  loaders.DATASETS.get(config.data.dataset)
  trunks.check(config.model.trunk)


def check_trainable(config: config_lib.TrainConfig, summary: dict) -> None:
  """Refuses a run that would train on nothing while its losses look fine:
  every weight 0, a label without a positive in the training split, or
  in-batch retrieval with one list a batch.

  Args:
    config: The run, its objectives resolved.
    summary: The prepared data's summary (each label's training mean).
  """
  objectives = [o for o in config.objectives if o.weight > 0]
  if not objectives:
    raise ValueError(
      "Every objective's weight is 0: the loss is 0 whatever the model, and "
      "nothing is learnt; give at least one a weight above 0 "
      "(--objectives=name:weight,...)."
    )
  train = summary["train"]
  for o in objectives:
    if o.kind != "regression" and train.get(f"mean_{o.label}") == 0:
      raise ValueError(
        f"Objective {o.name!r} learns from label {o.label!r}, which has no "
        f"positive in the training split ({train['rows']} rows): there is "
        "nothing to learn. Leave it out of --objectives (or give it weight "
        "0), or check the column."
      )
  retrieval = config.retrieval
  if (
    config.fit.batch_size == 1
    and any(o.kind == "retrieval" for o in objectives)
    and not (retrieval.uniform_negatives or retrieval.hard_negatives)
  ):
    raise ValueError(
      "--batch_size=1 with in-batch retrieval: a batch of one list holds no "
      "other list's items to serve as negatives, so the retrieval loss is 0 "
      "every step. Use --batch_size of 2 or more, or add "
      "--uniform_negatives."
    )


def fit(
  config: config_lib.TrainConfig,
  verbose: int | None = None,
  monitor: Callable | None = None,
) -> FitResult:
  """Fits the model `config` describes and writes its run directory.

  The directory stays locked (`run_dir.Lock`) until the caller releases it
  once the run is written (`experiment.run`), or this process ends.

  Args:
    config: The run.
    verbose: Keras verbosity; by default a progress bar on a terminal and
      one line per epoch otherwise.
    monitor: (prepared data, `config.fit.monitor`) -> the validation metric
      the best epoch is judged by, an `evaluate.validation.Monitor`, or None
      for the validation loss (`evaluate.validation.monitor`, which
      `experiment.run` passes: scoring is above this layer); None watches
      the validation loss.

  Raises:
    run_dir.RunInUseError: if another process is writing the directory.
    callbacks.DivergenceError: if a loss is not finite.
  """
  check(config)
  started = time.time()
  # First: splitting the CPU into logical devices must precede any other use.
  strategy = distribution.make_strategy(
    config.fit.strategy, config.fit.cpu_devices
  )
  tf.keras.utils.set_random_seed(config.seed)
  chief = distribution.is_chief(strategy)
  directory = distribution.worker_dir(config.model_dir, strategy)
  lock = run_dir.Lock(directory)
  try:
    return _fit_locked(
      config, strategy, chief, directory, started, verbose, monitor
    )
  except BaseException:
    lock.release()
    raise


def _fit_locked(config, strategy, chief, directory, started, verbose, monitor):
  data = cache.prepared(
    config,
    config.prepare.cache_dir or os.path.join(directory, run_dir.PREPARED),
  )
  config, summary, stats = data.config, data.summary, data.stats
  logging.info("Dataset: %s", json.dumps(summary))
  check_trainable(config, summary)
  run_dir.begin(directory, config)
  if config.evaluate_split not in data.lists:
    raise ValueError(
      f"Dataset {data.data.spec.name!r} has no {config.evaluate_split!r} "
      "split to evaluate on (evaluate_split)."
    )
  spec = data.data.spec
  steps = -(-data.num_lists("train") // config.fit.batch_size)
  with strategy.scope():
    model = model_lib.build(
      spec, stats, config, data.retrieval_catalogue(), steps_per_epoch=steps
    )
  run_dir.write_description(directory, config, spec, stats)
  logging.info(
    "Training %d epochs on %d rows.",
    config.fit.epochs,
    summary["train"]["rows"],
  )
  history, best_epoch, fit_seconds, clock, resumed = _fit(
    model, data, directory, strategy, chief, verbose, monitor
  )
  if not chief:
    # The chief evaluates and writes the run; this worker's part is done.
    distribution.cleanup(directory, config.model_dir)
    logging.info("Worker done; the chief writes %s.", config.model_dir)
  return FitResult(
    config=config,
    data=data,
    model=model,
    history=history,
    best_epoch=best_epoch,
    directory=directory,
    chief=chief,
    replicas=strategy.num_replicas_in_sync,
    summary=summary,
    fit_seconds=fit_seconds,
    started=started,
    first_step=clock.first_step,
    epoch_seconds=tuple(clock.epochs),
    resumed_after=resumed,
  )


def _datasets(data, strategy, chief):
  """(training batches, validation batches or None, steps an epoch or
  None) for this process."""
  config = data.config
  workers = distribution.num_workers(strategy)
  # With enough shards, each worker reads its own; otherwise each reads all
  # and keeps its share of the batches.
  by_files = data.by_files(workers)
  train = data.train_dataset(workers, distribution.worker_index(strategy))
  valid = None
  steps = data.steps_per_epoch(workers) if by_files else None
  if "valid" in data.lists:
    valid = data.eval_dataset("valid")
  if strategy.num_replicas_in_sync > 1 or not chief:
    train = distribution.autoshard(train, by_files)
    if valid is not None:
      valid = distribution.autoshard(valid, False)
    logging.info(
      "Training on %d replicas (%s strategy); each batch of %d lists is "
      "split between them%s.",
      strategy.num_replicas_in_sync,
      config.fit.strategy,
      config.fit.batch_size,
      f"; each worker reads its own shards, {steps} steps an epoch"
      if by_files
      else "",
    )
  return train, valid, steps


def _fit(model, data, directory, strategy, chief, verbose, monitor):
  """`Model.fit` with the run's callbacks; (history, best epoch, seconds,
  its `Clock`, epochs done before a resumption)."""
  config = data.config
  train, valid, steps = _datasets(data, strategy, chief)
  scored = data.data.scored(config.objectives, "valid")
  model.unscored_in_validation = frozenset(
    o.name for o in config.objectives if o not in scored
  )
  checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
  # With early stopping, the best epoch's checkpoint is always kept (it is
  # at most `early_stopping` epochs old): a resumed run reads its weights.
  manager = tf.train.CheckpointManager(
    checkpoint,
    os.path.join(directory, run_dir.CHECKPOINTS),
    max_to_keep=max(3, config.fit.early_stopping + 2),
  )
  keep_best, watched = _kept_epoch(data, valid, strategy, monitor)
  # Steps an epoch: the dataset's batches (unknown, -2, only where several
  # workers share batches; such a run resumes at an epoch's start).
  epoch_steps = steps or int(train.cardinality().numpy())
  resume = callbacks_lib.Resume(directory, train, epoch_steps)
  callbacks, stopper = callbacks_lib.build(
    model,
    config.objectives,
    directory,
    manager,
    config.fit.early_stopping,
    config.fit.learning_rate,
    resume,
    config.fit.checkpoint_every_steps if epoch_steps > 0 else None,
    watched,
    keep_best,
  )
  if verbose is None:
    verbose = 1 if sys.stdout.isatty() else 2
  # Every variable exists before the first step, the optimizer's for
  # every trainable one: a step that creates variables is traced twice
  # (once to create them, once without), and a resumed run needs them to
  # restore into (one with no epoch left would never create them). A test
  # batch creates them, in the strategy's scope; the training data is not
  # touched.
  with strategy.scope():
    model(next(iter(data.eval_dataset("test"))), training=False)
    model.optimizer.build(model.trainable_variables)
  clock = callbacks_lib.Clock()
  began = time.time()
  with _said_in_the_run_terms(data):
    history = model.fit(
      resume.resumed_data(),
      validation_data=valid,
      # An interrupted run its early stopper had stopped trains no more.
      epochs=resume.done if resume.stopped_early() else config.fit.epochs,
      steps_per_epoch=epoch_steps if resume.into else steps,
      callbacks=[*callbacks, clock],
      verbose=verbose,
    )
  seconds = time.time() - began
  # Every epoch's values, those before a resumption too.
  logged = run_dir.read_history(directory) or history.history
  epochs = len(next(iter(logged.values()), []))
  best_epoch = epochs
  if stopper is not None:
    best_epoch = stopper.best_epoch + 1
    if best_epoch != epochs:
      # The best epoch's weights, restored, become the latest checkpoint.
      manager.save(checkpoint_number=epochs + 1)
    logging.info(
      "Kept the weights of epoch %d (best validation %s).",
      best_epoch,
      stopper.monitor[len("val_") :],
    )
  resumed = next(
    (c.done for c in callbacks if isinstance(c, callbacks_lib.Resume)), 0
  )
  return logged, best_epoch, seconds, clock, resumed


def _kept_epoch(data, valid, strategy, monitor):
  """(whether the best epoch is kept, the validation metric it is judged
  by or None for the loss)."""
  config = data.config
  if config.fit.early_stopping and valid is None:
    raise ValueError(
      "early_stopping needs a validation split; dataset "
      f"{data.data.spec.name!r} has none."
    )
  keep_best = config.fit.keep == "best" and valid is not None
  if config.fit.keep == "best" and valid is None:
    logging.info("No validation split: the run keeps the last epoch's weights.")
  watched = None
  # Several workers stop together only on what each computes: the loss.
  alone = distribution.num_workers(strategy) == 1
  if valid is not None and alone and monitor is not None:
    watched = monitor(data, config.fit.monitor)
  return keep_best, watched


@contextlib.contextmanager
def _said_in_the_run_terms(data):
  """`Model.fit`'s errors that have a cause in the run, named."""
  try:
    yield
  except tf.errors.DataLossError:
    # A shard fails its checksums: name it (no corrupt record is used).
    raise data.corrupt_shard() from None
  except KeyError as e:
    made = re.search(r"cannot recognize variable (\S+?)\.", str(e))
    if made is None:
      raise
    # The optimizer is built before the first step (one trace a step).
    raise ValueError(
      f"The trainable variable {made.group(1)} was made during the first "
      "training step, after the optimizer was built for the model's "
      "variables: a loss or weighting strategy must make its variables in "
      "__init__ (a layer: in build, which the model's first call runs)."
    ) from None
