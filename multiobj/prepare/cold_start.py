"""Cold start: a share of the catalogue held out of training entirely.

The held-out items keep their catalogue rows (retrieval ranks them, from
their content features) but lose their rows in the train and valid splits,
so the model never sees them; evaluation reports retrieval on their test
rows separately (`*_cold`, `*_among_cold`).
"""

import dataclasses

import numpy as np
from absl import logging

from multiobj.data import dataset as dataset_lib


def held_out_items(
  data: dataset_lib.Dataset, share: float, seed: int
) -> np.ndarray:
  """Sorted ids of `share` of the catalogue's items, drawn with `seed`."""
  if not share:
    return np.empty(0, dtype=data.catalogue[data.spec.item_id].dtype)
  ids = np.sort(data.catalogue[data.spec.item_id])
  count = int(round(share * len(ids)))
  cold = np.random.default_rng(seed).choice(ids, count, replace=False)
  logging.info(
    "Cold start: %d of %d items held out of training.", count, len(ids)
  )
  return np.sort(cold)


def without_items(
  data: dataset_lib.Dataset, items: np.ndarray
) -> dataset_lib.Dataset:
  """`data` without the rows of `items` in its train and valid splits."""
  splits = {}
  for name, rows in data.splits.items():
    if name in ("train", "valid"):
      keep = ~np.isin(rows[data.spec.item_id], items)
      if not keep.any():
        raise ValueError(f"Cold start removed every row of split {name!r}.")
      rows = dataset_lib.take(rows, np.flatnonzero(keep))
    splits[name] = rows
  return dataclasses.replace(data, splits=splits)
