"""Training end to end: dataset -> lists -> model -> fit -> metrics on disk.

`train(config)` is what `experiments/train.py` and the tests call. It writes
to `config.model_dir`:

  config.json          the config, dataset spec and objectives (rebuilds the
                       model with `load_model`);
  feature_stats.json   vocabularies and moments of the features;
  checkpoints/         the weights after each epoch (the last three kept);
  tensorboard/         losses and weights of every task (each 50 steps and
                       each epoch) and the final test metrics;
  metrics.json         every metric and its baseline, per-epoch history,
                       effective task weights, data summary, timing, machine.
"""

import dataclasses
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

import objectives as objectives_lib
from multiobj import baselines, evaluation, pipeline, schema
from multiobj import features as features_lib
from multiobj import model as model_lib
from multiobj import propensity as propensity_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import load as load_dataset
from multiobj.data import synthetic as synthetic_lib
from multiobj.data import validation

DEFAULT_OBJECTIVES = "retrieval:1,click:1,dwell:0.5,purchase:2"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything one training run depends on.

  Attributes:
    model_dir: Where checkpoints, summaries and metrics go.
    objectives: The objectives to train, with their weights and losses.
    dataset: Name of a registered dataset loader.
    synthetic: Size and behaviour of the synthetic dataset.
    model: Sizes of the model.
    weighting: Name of the registered loss-weighting strategy.
    epochs: Passes over the training lists.
    batch_size: Impression lists per batch (rows = lists x list size).
    learning_rate: Adam's learning rate.
    max_list_size: Longest impression list kept; longer ones are truncated.
    propensity: How to get position-bias propensities for inverse-propensity
      weighting: "none", "randomized", "em" or "file:PATH" (see
      `propensity.py`). Weights clicks of every binary or listwise objective
      whose label is `propensity_label`.
    propensity_label: The click column propensities are estimated from.
    max_ipw_weight: Cap of an inverse-propensity weight.
    seed: Seeds TensorFlow, NumPy, Python and the shuffling (not the
      synthetic data, which has its own seed).
  """

  model_dir: str
  objectives: tuple[objectives_lib.Objective, ...] = ()
  dataset: str = "synthetic"
  synthetic: synthetic_lib.SyntheticConfig = synthetic_lib.SyntheticConfig()
  model: model_lib.ModelConfig = model_lib.ModelConfig()
  weighting: str = "static"
  epochs: int = 3
  batch_size: int = 128
  learning_rate: float = 1e-3
  max_list_size: int | None = None
  propensity: str = "none"
  propensity_label: str = "click"
  max_ipw_weight: float = 10.0
  seed: int = 0

  def __post_init__(self):
    objectives = tuple(self.objectives) or tuple(
      objectives_lib.select(DEFAULT_OBJECTIVES)
    )
    object.__setattr__(self, "objectives", objectives)
    if self.epochs < 1:
      raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
    if self.batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
    if not self.learning_rate > 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
    # Fails early on a typo in the name or parameters.
    objectives_lib.get_weighting(self.weighting, {"task": 1.0})
    propensity_lib.check_method(self.propensity)
    if self.max_ipw_weight < 1:
      raise ValueError(
        f"max_ipw_weight must be >= 1, got {self.max_ipw_weight}."
      )
    if self.propensity != "none":

      def debiased(o):
        return o.label == self.propensity_label and o.kind in (
          "binary",
          "listwise",
        )

      if not any(debiased(o) for o in objectives):
        raise ValueError(
          f"--propensity={self.propensity}: no binary or listwise objective "
          f"learns from {self.propensity_label!r}, so no loss would be weighted."
        )
      object.__setattr__(
        self,
        "objectives",
        tuple(
          dataclasses.replace(o, weight_column=schema.IPW) if debiased(o) else o
          for o in objectives
        ),
      )

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
    data = dict(data)
    data["objectives"] = tuple(
      objectives_lib.Objective(**o) for o in data["objectives"]
    )
    data["synthetic"] = synthetic_lib.SyntheticConfig(**data["synthetic"])
    data["model"] = model_lib.ModelConfig(**data["model"])
    return cls(**data)


def columns_for(
  spec: schema.DatasetSpec,
  objectives: tuple[objectives_lib.Objective, ...],
  with_truth: bool,
) -> list[str]:
  """The columns the model and its objectives read."""
  columns = [f.name for f in spec.features]
  for o in objectives:
    wanted = (o.label, o.mask, o.weight_column, *o.make_loss().required_columns)
    # Columns named "__..." are computed by the pipeline, not read.
    columns += [
      c for c in wanted if c and not c.startswith("__") and c not in columns
    ]
  for c in (spec.position, spec.randomized):
    if c and c not in columns:
      columns.append(c)
  if with_truth and spec.truth and spec.truth not in columns:
    columns.append(spec.truth)
  return columns


def prepare_lists(
  data: dataset_lib.Dataset, config: TrainConfig
) -> dict[str, dataset_lib.Table]:
  """Every split as impression lists; training lists get logQ frequencies."""
  out = {}
  for name, rows in data.splits.items():
    columns = columns_for(
      data.spec, config.objectives, with_truth=name != "train"
    )
    out[name] = pipeline.to_lists(
      rows,
      data.spec,
      columns,
      config.max_list_size,
      where=f"Dataset {data.spec.name!r}, split {name!r}",
    )
  retrieval = [o for o in config.objectives if o.kind == "retrieval"]
  if retrieval:
    out["train"][schema.SAMPLING_PROBABILITY] = pipeline.sampling_probability(
      out["train"], data.spec.item_id, retrieval[0].label
    )
  return out


def add_inverse_propensity_weights(
  lists: dict[str, dataset_lib.Table],
  spec: schema.DatasetSpec,
  config: TrainConfig,
) -> list[float] | None:
  """Estimates propensities on the training lists and adds each split's
  inverse-propensity weights (`schema.IPW`); returns the propensities."""
  if config.propensity == "none":
    return None
  theta = propensity_lib.estimate(
    config.propensity,
    lists["train"],
    spec,
    config.propensity_label,
    config.seed,
  )
  for table in lists.values():
    table[schema.IPW] = propensity_lib.weights(
      theta,
      table[spec.position],
      table[config.propensity_label],
      config.max_ipw_weight,
    )
  return theta.tolist()


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
  tf.keras.utils.set_random_seed(config.seed)
  os.makedirs(config.model_dir, exist_ok=True)

  logging.info("Loading dataset %r.", config.dataset)
  data = load_dataset(config)
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
  lists = prepare_lists(data, config)
  propensities = add_inverse_propensity_weights(lists, data.spec, config)
  model = build_model(data.spec, stats, config)
  _write_json(
    config.model_dir, "config.json", _run_description(config, data.spec)
  )
  with open(os.path.join(config.model_dir, "feature_stats.json"), "w") as f:
    f.write(stats.to_json())

  train_data = pipeline.make_dataset(
    lists["train"], config.batch_size, shuffle=True, seed=config.seed
  )
  valid_data = (
    pipeline.make_dataset(
      lists["valid"], config.batch_size, shuffle=False, seed=0
    )
    if "valid" in lists
    else None
  )
  checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
  manager = tf.train.CheckpointManager(
    checkpoint, os.path.join(config.model_dir, "checkpoints"), max_to_keep=3
  )
  callbacks = [
    # Every 50 steps and every epoch: each task's loss and effective weight.
    tf.keras.callbacks.TensorBoard(
      os.path.join(config.model_dir, "tensorboard"), update_freq=50
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: model.weighting.on_epoch_end(
        {o.name: logs[f"{o.name}_loss"] for o in config.objectives}
      )
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: manager.save(checkpoint_number=epoch + 1)
    ),
  ]
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

  logging.info("Evaluating on the test split.")
  test, train_lists = lists["test"], lists["train"]
  metrics = evaluation.evaluate(model, test, data.catalogue)
  baseline = baselines.evaluate(
    config.objectives, data.spec, train_lists, test, data.catalogue
  )
  last_epoch = {k: v[-1] for k, v in history.history.items()}
  result = {
    "metrics": metrics,
    "baselines": baseline,
    "counts": evaluation.count(config.objectives, test),
    "effective_weights": {
      o.name: last_epoch[f"{o.name}_weight"] for o in config.objectives
    },
    "history": history.history,
    "propensities": propensities,
    "data": summary,
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
    json.dump(_plain(value), f, indent=1, allow_nan=False)
  logging.info("Wrote %s.", path)


def _plain(value):
  if isinstance(value, dict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, list | tuple):
    return [_plain(v) for v in value]
  if isinstance(value, np.ndarray):
    return _plain(value.tolist())
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
