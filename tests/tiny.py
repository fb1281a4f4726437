"""A tiny synthetic run, shared by the model, retrieval and preparation tests:
its prepared data, a small model on it and a batch of its training lists."""

import tensorflow as tf

from multiobj import config as config_lib
from multiobj.data import synthetic
from multiobj.model import features as features_lib
from multiobj.model import model as model_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import train_data

TINY = synthetic.SyntheticConfig(
  num_users=200, num_items=120, num_requests=300, seed=5
)
SMALL_MODEL = config_lib.ModelConfig(
  embedding_dim=8, tower_layers=(16,), trunk_layers=(16, 8), head_layers=(8,)
)


def prepared(**changes) -> train_data.TrainData:
  """The tiny data prepared for a small model; `changes` as in
  `TrainConfig.replace`, e.g. `funnels="purchase:click"`, `trunk="ple"`."""
  changes.setdefault("model", SMALL_MODEL)
  config = config_lib.TrainConfig(model_dir="/tmp/unused").replace(
    synthetic=TINY, **changes
  )
  return train_data.prepare(synthetic.generate(TINY), config)


def model(data: train_data.TrainData) -> model_lib.MultiObjectiveModel:
  """The model of the prepared run's config (compiled with Adam)."""
  spec = data.data.spec
  stats = features_lib.compute_stats(spec, data.data.split("train"), 100)
  return model_lib.build(spec, stats, data.config)


def batch(data: train_data.TrainData, lists: int = 16) -> dict[str, tf.Tensor]:
  """The first `lists` training lists as one batch, with the columns the
  input pipeline derives (`prepare/derived.py`)."""
  table = {k: v[:lists] for k, v in data.lists["train"].items()}
  dataset = lists_lib.make_dataset(table, lists, shuffle=False, seed=0)
  return next(iter(data.with_derived(dataset, "train")))
