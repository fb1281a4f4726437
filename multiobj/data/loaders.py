"""Which dataset a run reads: `DataConfig`, and the registry of loaders.

A loader is `load(config: DataConfig, seed: int) -> Dataset`, registered by
name in `DATASETS`; training calls `load(config, seed)` and never branches
on the dataset's name. Built in: the synthetic log, any dataset described
by a JSON file ("json", docs/dataset_spec.md) and the adapters of the real
datasets. User code registers its own from a module named in
`--objective_modules`:

  from multiobj.data import loaders

  @loaders.DATASETS.register("my_log")
  def load_my_log(config, seed):
    ...
    return dataset.Dataset(spec=..., splits=..., catalogue=...)
"""

import dataclasses
import os
from collections.abc import Callable

from multiobj import registry
from multiobj.data import dataset as dataset_lib
from multiobj.data import synthetic as synthetic_lib
from multiobj.data.adapters import (
  ali_ccp,
  deca,
  kuairand,
  mind,
  movielens,
  otto,
  taobao,
)
from multiobj.data.description import loader as description

DATA_DIR_VARIABLE = "MULTIOBJ_DATA"


def default_data_dir() -> str:
  """Where real datasets live: $MULTIOBJ_DATA, else ../shared/data."""
  return os.environ.get(DATA_DIR_VARIABLE, os.path.join("..", "shared", "data"))


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """The data slice of a run's config: which dataset, from where.

  Attributes:
    dataset: Name of a registered loader.
    data_dir: Folder holding the real datasets, one subfolder each.
    dataset_spec: Path of a JSON dataset description, for dataset "json".
    synthetic: Size and behaviour of the synthetic dataset.
  """

  dataset: str = "synthetic"
  data_dir: str = dataclasses.field(default_factory=default_data_dir)
  dataset_spec: str = ""
  synthetic: synthetic_lib.SyntheticConfig = synthetic_lib.SyntheticConfig()


Loader = Callable[[DataConfig, int], dataset_lib.Dataset]
DATASETS: registry.Registry[Loader] = registry.Registry("dataset")


@DATASETS.register("synthetic")
def _synthetic(config: DataConfig, seed: int) -> dataset_lib.Dataset:
  del seed  # The synthetic log has a seed of its own.
  return synthetic_lib.generate(config.synthetic)


@DATASETS.register("json")
def _json(config: DataConfig, seed: int) -> dataset_lib.Dataset:
  if not config.dataset_spec:
    raise ValueError(
      "Dataset 'json' needs a JSON description: pass --dataset_spec=PATH "
      "(DataConfig.dataset_spec); see docs/dataset_spec.md."
    )
  return description.load(config.dataset_spec, config.data_dir, seed)


def _adapter(module) -> Loader:
  def load(config: DataConfig, seed: int) -> dataset_lib.Dataset:
    return module.load(config.data_dir, seed)

  load.__module__, load.__qualname__ = module.__name__, "load"
  return load


for _module in (movielens, deca, taobao, kuairand, ali_ccp, otto, mind):
  DATASETS.add(_module.NAME, _adapter(_module))


def load(config: DataConfig, seed: int = 0) -> dataset_lib.Dataset:
  """Loads the dataset `config.dataset` names; `seed` seeds random splits."""
  return DATASETS.get(config.dataset)(config, seed)
