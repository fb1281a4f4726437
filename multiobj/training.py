"""Training end to end: dataset -> lists -> model -> fit -> metrics on disk.

The config is in `config.py`, the data preparation in `preparation.py`.

`train(config)` is what `experiments/train.py` and the tests call. It writes
to `config.model_dir`:

  config.json          the config, dataset spec and objectives (rebuilds the
                       model with `load_model`);
  feature_stats.json   vocabularies and moments of the features;
  checkpoints/         the weights after each epoch (the last three kept);
  tensorboard/         losses and weights of every task (each 50 steps and
                       each epoch) and the final test metrics;
  history.jsonl        one line an epoch while training: every loss and
                       weight, training and validation;
  metrics.json         every metric and its baseline, per-epoch history,
                       effective task weights, data summary, timing, machine.
"""

import json
import os
import platform
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from multiobj import (
  baselines,
  distribution,
  evaluation,
  full_ranking,
  pipeline,
  preparation,
  schema,
)
from multiobj import config as config_lib
from multiobj import features as features_lib
from multiobj import model as model_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import load as load_dataset
from multiobj.data import synthetic as synthetic_lib
from multiobj.data import validation

# The synthetic dataset's objectives, also the default run's.
DEFAULT_OBJECTIVES = synthetic_lib.DEFAULT_OBJECTIVES
TrainConfig = config_lib.TrainConfig


def train(
  config: TrainConfig,
  flags: Mapping[str, Any] | None = None,
  verbose: int | None = None,
) -> dict[str, Any]:
  """Trains, evaluates on the test split and writes `config.model_dir`.

  Args:
    config: The run.
    flags: The command-line flags the config came from, recorded verbatim in
      metrics.json.
    verbose: Keras verbosity; by default a progress bar on a terminal and
      one line per epoch otherwise.

  Returns:
    The content of metrics.json.
  """
  started = time.time()
  # First: splitting the CPU into logical devices must precede any other use.
  strategy = distribution.make_strategy(config.strategy, config.cpu_devices)
  tf.keras.utils.set_random_seed(config.seed)
  chief = distribution.is_chief(strategy)
  # Workers other than the chief write to a scratch directory.
  out_dir = distribution.worker_dir(config.model_dir, strategy)
  os.makedirs(out_dir, exist_ok=True)
  # A run in a directory used before starts its epoch log afresh.
  history_path = os.path.join(out_dir, "history.jsonl")
  if os.path.exists(history_path):
    os.remove(history_path)

  logging.info("Loading dataset %r.", config.dataset)
  data = load_dataset(config)
  prepared = preparation.prepare(data, config)
  config, data = prepared.config, prepared.data
  validation.check(data, config.objectives)
  summary = data.summary()
  logging.info("Dataset: %s", json.dumps(summary))
  if "test" not in data.splits:
    raise ValueError(
      f"Dataset {data.spec.name!r} has no 'test' split to evaluate on."
    )

  stats = features_lib.compute_stats(
    data.spec, data.split("train"), config.model.text_max_tokens
  )
  lists = prepared.lists
  with strategy.scope():
    model = build_model(data.spec, stats, config)
  _write_json(out_dir, "config.json", _run_description(config, data.spec))
  with open(os.path.join(out_dir, "feature_stats.json"), "w") as f:
    f.write(stats.to_json())

  train_data = prepared.train_dataset()
  valid_data = (
    pipeline.make_dataset(
      lists["valid"], config.batch_size, shuffle=False, seed=0
    )
    if "valid" in lists
    else None
  )
  if strategy.num_replicas_in_sync > 1 or not chief:
    train_data = distribution.autoshard_by_data(train_data)
    if valid_data is not None:
      valid_data = distribution.autoshard_by_data(valid_data)
    logging.info(
      "Training on %d replicas (%s strategy); each batch of %d lists is "
      "split between them.",
      strategy.num_replicas_in_sync,
      config.strategy,
      config.batch_size,
    )
  checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
  manager = tf.train.CheckpointManager(
    checkpoint, os.path.join(out_dir, "checkpoints"), max_to_keep=3
  )
  callbacks = [
    # Every 50 steps and every epoch: each task's loss and effective weight.
    tf.keras.callbacks.TensorBoard(
      os.path.join(out_dir, "tensorboard"), update_freq=50
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: model.weighting.on_epoch_end(
        {o.name: logs[f"{o.name}_loss"] for o in config.objectives}
      )
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: manager.save(checkpoint_number=epoch + 1)
    ),
    # One JSON line an epoch (training and validation losses and weights),
    # for whoever watches a run while it trains, e.g. a sweep's pruner.
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: _append_json(
        out_dir, "history.jsonl", {"epoch": epoch + 1, **logs}
      )
    ),
  ]
  if config.early_stopping:
    if valid_data is None:
      raise ValueError(
        f"early_stopping needs a validation split; dataset {data.spec.name!r} has none."
      )
    # Before the checkpoint callback, so the epoch it saves last is the best.
    stopper = _EarlyStopping(
      monitor="val_loss",
      patience=config.early_stopping,
      restore_best_weights=True,
      verbose=1,
    )
    callbacks.insert(0, stopper)
  if verbose is None:
    verbose = 1 if sys.stdout.isatty() else 2
  logging.info(
    "Training %d epochs on %d lists (%d rows).",
    config.epochs,
    dataset_lib.num_rows(lists["train"]),
    summary["train"]["rows"],
  )
  fit_started = time.time()
  history = model.fit(
    train_data,
    validation_data=valid_data,
    epochs=config.epochs,
    callbacks=callbacks,
    verbose=verbose,
  )
  fit_seconds = time.time() - fit_started
  best_epoch = len(history.epoch)
  if config.early_stopping:
    best_epoch = stopper.best_epoch + 1
    # The weights of the best epoch, restored, become the latest checkpoint.
    manager.save(checkpoint_number=len(history.epoch) + 1)
    logging.info(
      "Kept the weights of epoch %d (best validation loss).", best_epoch
    )
  if not chief:
    # The chief evaluates and writes the run; this worker's part is done.
    distribution.cleanup(out_dir, config.model_dir)
    logging.info("Worker done; the chief writes %s.", config.model_dir)
    return {"chief": False, "epochs": len(history.epoch)}

  logging.info("Evaluating on the test split.")
  test, train_lists = lists["test"], lists["train"]
  metrics = evaluation.evaluate(
    model, test, data.catalogue, cold_items=prepared.cold_items
  )
  baseline = baselines.evaluate(
    config.objectives,
    data.spec,
    train_lists,
    test,
    data.catalogue,
    cold_items=prepared.cold_items,
  )
  if data.info.get("evaluation") == "full_ranking":
    logging.info("Full ranking of every item for every test user.")
    full, full_baseline = full_ranking.evaluate(model, data)
    metrics.update(full)
    baseline.update(full_baseline)
  last_epoch = {k: v[-1] for k, v in history.history.items()}
  result = {
    "metrics": metrics,
    "baselines": baseline,
    "counts": evaluation.count(config.objectives, test),
    "effective_weights": {
      o.name: last_epoch[f"{o.name}_weight"] for o in config.objectives
    },
    "gate_usage": gate_usage(model, last_epoch),
    "replicas": strategy.num_replicas_in_sync,
    "history": history.history,
    "best_epoch": best_epoch,
    "propensities": prepared.propensities,
    "data": {
      **summary,
      **preparation.describe(prepared),
      "info": dict(data.info),
    },
    "config": config.to_dict(),
    "flags": dict(flags or {}),
    "timing": {
      "fit_seconds": fit_seconds,
      "train_rows_per_second": summary["train"]["rows"]
      * config.epochs
      / fit_seconds,
      "total_seconds": time.time() - started,
    },
    "machine": machine(),
  }
  _write_summaries(config.model_dir, metrics, config.epochs)
  _write_json(config.model_dir, "metrics.json", result)
  return result


def gate_usage(model, logs) -> dict[str, dict[str, float]]:
  """{gate: {expert: mean weight}} of the trunk's gates over the last
  training epoch; empty for a trunk without gates."""
  if model.trunk is None:
    return {}
  return {
    gate: {e: float(logs[f"gate_{gate}_{e}"]) for e in experts}
    for gate, experts in model.trunk.gate_experts.items()
  }


class _EarlyStopping(tf.keras.callbacks.EarlyStopping):
  """Keras' early stopping, which also keeps the best epoch's weights when
  training runs every epoch without stopping (Keras 2.15 restores them only
  when it stops early)."""

  def on_train_end(self, logs=None):
    stopped = self.model.stop_training  # Keras restored them already.
    if (
      self.best_weights is not None
      and not stopped
      and self.best_epoch != self._last_epoch
    ):
      self.model.set_weights(self.best_weights)
    super().on_train_end(logs)

  def on_epoch_end(self, epoch, logs=None):
    self._last_epoch = epoch
    super().on_epoch_end(epoch, logs)


def build_model(
  spec: schema.DatasetSpec,
  stats: features_lib.FeatureStats,
  config: TrainConfig,
) -> model_lib.MultiObjectiveModel:
  model = model_lib.MultiObjectiveModel(
    spec, stats, config.objectives, config.model, config.weighting
  )
  model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
  return model


def load_model(
  model_dir: str,
) -> tuple[model_lib.MultiObjectiveModel, TrainConfig]:
  """Rebuilds the model of a finished run and restores its last checkpoint.

  Variables are restored as the model creates them, on its first call.
  """
  with open(os.path.join(model_dir, "config.json")) as f:
    description = json.load(f)
  with open(os.path.join(model_dir, "feature_stats.json")) as f:
    stats = features_lib.FeatureStats.from_json(f.read())
  config = TrainConfig.from_dict(description["config"])
  spec = schema.DatasetSpec.from_dict(description["spec"])
  model = build_model(spec, stats, config)
  path = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
  if path is None:
    raise ValueError(f"{model_dir}: no checkpoint under checkpoints/.")
  tf.train.Checkpoint(model=model).restore(path).expect_partial()
  return model, config


def machine() -> dict[str, Any]:
  return {
    "platform": platform.platform(),
    "processor": platform.processor() or platform.machine(),
    "cpus": os.cpu_count(),
    "python": platform.python_version(),
    "tensorflow": tf.__version__,
  }


def _run_description(config, spec):
  return {"config": config.to_dict(), "spec": spec.to_dict()}


def _write_json(model_dir, name, value):
  path = os.path.join(model_dir, name)
  with open(path, "w") as f:
    # NaN (a metric undefined on this data) is written as null: strict JSON.
    json.dump(plain(value), f, indent=1, allow_nan=False)
  logging.info("Wrote %s.", path)


def _append_json(model_dir, name, value):
  with open(os.path.join(model_dir, name), "a") as f:
    f.write(json.dumps(plain(value), allow_nan=False) + "\n")


def plain(value):
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


def _write_summaries(model_dir, metrics, step):
  writer = tf.summary.create_file_writer(
    os.path.join(model_dir, "tensorboard", "test")
  )
  with writer.as_default():
    for name, value in metrics.items():
      tf.summary.scalar(name, value, step=step)
  writer.flush()
