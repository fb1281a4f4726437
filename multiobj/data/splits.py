"""Splitting a table of rows into train, valid and test, whole lists together.

split_by_time     the latest lists are the test split, the ones before
                  them the validation split (the protocol of a production
                  model, trained on the past and served on the future);
split_at_random   lists assigned at random, reproducibly per seed.
"""

import numpy as np

from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib

Table = dataset_lib.Table


def split_by_time(
  rows: Table, spec: spec_lib.DatasetSpec, valid_share: float, test_share: float
) -> dict[str, Table]:
  """Splits rows by time: the latest `test_share` of lists is the test
  split, the `valid_share` before it the validation split, the rest train.

  Whole impression lists stay together. Lists are ordered by their timestamp
  (the spec's `timestamp` column, else row order) and cut by count.
  """
  n = dataset_lib.num_rows(rows)
  lists = rows[spec.list_id] if spec.list_id else np.arange(n)
  time = rows[spec.timestamp] if spec.timestamp else np.arange(n)
  unique, first = np.unique(lists, return_index=True)
  order = unique[np.lexsort((unique, time[first]))]
  num_test = max(1, int(round(len(order) * test_share)))
  num_valid = int(round(len(order) * valid_share))
  cut_valid = len(order) - num_test - num_valid
  if cut_valid < 1:
    raise ValueError(
      f"Dataset {spec.name!r}: {len(order)} lists are too few to split into "
      f"train, valid ({valid_share}) and test ({test_share})."
    )
  rank = np.empty(len(order), dtype=np.int64)
  rank[np.searchsorted(unique, order)] = np.arange(len(order))
  list_rank = rank[np.searchsorted(unique, lists)]
  splits = {
    "train": list_rank < cut_valid,
    "valid": (list_rank >= cut_valid) & (list_rank < cut_valid + num_valid),
    "test": list_rank >= cut_valid + num_valid,
  }
  return {
    name: dataset_lib.take(rows, np.flatnonzero(m))
    for name, m in splits.items()
    if m.any()
  }


def split_at_random(
  rows: Table,
  spec: spec_lib.DatasetSpec,
  valid_share: float,
  test_share: float,
  seed: int,
) -> dict[str, Table]:
  """Splits rows at random by list (whole impression lists stay together;
  without a `list_id` each row is a list), reproducibly per seed. Rows keep
  their order within each split."""
  n = dataset_lib.num_rows(rows)
  lists = rows[spec.list_id] if spec.list_id else np.arange(n)
  unique, inverse = np.unique(lists, return_inverse=True)
  rank = np.random.default_rng(seed).permutation(len(unique))[inverse]
  num_test = max(1, int(round(len(unique) * test_share)))
  cut = num_test + int(round(len(unique) * valid_share))
  if cut >= len(unique):
    raise ValueError(
      f"Dataset {spec.name!r}: {len(unique)} lists are too few to split into "
      f"train, valid ({valid_share}) and test ({test_share})."
    )
  parts = {
    "train": rank >= cut,
    "valid": (rank >= num_test) & (rank < cut),
    "test": rank < num_test,
  }
  return {
    name: dataset_lib.take(rows, np.flatnonzero(m))
    for name, m in parts.items()
    if m.any()
  }
