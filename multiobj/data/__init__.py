"""Datasets: a registry of loaders, the built-in synthetic log, checks.

A loader takes the training config and returns a `dataset.Dataset`; the
training loop calls `load(config)` and never branches on the dataset's name.
"""

from multiobj.data import dataset, description, synthetic
from objectives import registry

DATASETS = registry.Registry("dataset")


@DATASETS.register("synthetic")
def _synthetic(config) -> dataset.Dataset:
  return synthetic.generate(config.synthetic)


@DATASETS.register("json")
def _json(config) -> dataset.Dataset:
  if not config.dataset_spec:
    raise ValueError(
      "Dataset 'json' needs a JSON description: pass --dataset_spec=PATH "
      "(TrainConfig.dataset_spec); see docs/dataset_spec.md."
    )
  return description.load(config.dataset_spec, config.data_dir, config.seed)


def load(config) -> dataset.Dataset:
  """Loads the dataset `config.dataset` names."""
  return DATASETS.get(config.dataset)(config)


from multiobj.data import adapters  # noqa: E402, F401
