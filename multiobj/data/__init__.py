"""Datasets: a registry of loaders, the built-in synthetic log, checks.

A loader takes the training config and returns a `dataset.Dataset`; the
training loop calls `load(config)` and never branches on the dataset's name.
"""

from multiobj.data import dataset, synthetic
from objectives import registry

DATASETS = registry.Registry("dataset")


@DATASETS.register("synthetic")
def _synthetic(config) -> dataset.Dataset:
  return synthetic.generate(config.synthetic)


def load(config) -> dataset.Dataset:
  """Loads the dataset `config.dataset` names."""
  return DATASETS.get(config.dataset)(config)
