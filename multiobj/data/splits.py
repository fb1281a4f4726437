"""Splitting a table of rows into train, valid and test, whole lists together.

split_by_time     the latest lists are the test split, the ones before
                  them the validation split (the protocol of a production
                  model, trained on the past and served on the future);
split_at_random   lists assigned at random, reproducibly per seed;
split_last_n      each user's last lists are the test split, the ones
                  before them the validation split (leave-one-out with
                  one each: the protocol of most published tables).
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


def split_last_n(
  rows: Table, spec: spec_lib.DatasetSpec, valid_n: int, test_n: int
) -> dict[str, Table]:
  """Splits each user's lists by time: the user's last `test_n` lists are
  test, the `valid_n` before them valid, the rest train.

  A user's lists are ordered by their first row's timestamp (the spec's
  `timestamp` column; without one, or on a tie, by row order). Every user
  keeps at least one list in train: a user with k lists gives min(test_n,
  k - 1) to test, then what is left of valid_n, up to k - 1 in all. Without
  a `list_id` each row is a list (leave-one-out is valid_n = test_n = 1).
  """
  if not spec.user_id:
    raise ValueError(
      f"Dataset {spec.name!r}: a per-user split needs a user_id column."
    )
  n = dataset_lib.num_rows(rows)
  lists = rows[spec.list_id] if spec.list_id else np.arange(n)
  unique, first, inverse = np.unique(
    lists, return_index=True, return_inverse=True
  )
  users = rows[spec.user_id][first]
  time = rows[spec.timestamp][first] if spec.timestamp else first
  _, user = np.unique(users, return_inverse=True)
  order = np.lexsort((first, time, user))  # By user, then time, then row.
  counts = np.bincount(user)
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  from_end = np.empty(len(unique), np.int64)
  from_end[order] = (
    starts[user[order]] + counts[user[order]] - 1 - np.arange(len(unique))
  )
  k = counts[user]
  test = np.minimum(test_n, k - 1)
  valid = np.minimum(valid_n, k - 1 - test)
  where = np.where(from_end < test, 2, np.where(from_end < test + valid, 1, 0))
  split_of_row = where[inverse]
  parts = {name: split_of_row == i for i, name in enumerate(_NAMES)}
  if not parts["test"].any():
    raise ValueError(
      f"Dataset {spec.name!r}: no user has two lists or more, so no test "
      "split is left once each keeps one in train."
    )
  return {
    name: dataset_lib.take(rows, np.flatnonzero(m))
    for name, m in parts.items()
    if m.any()
  }


def hold_out(
  rows: Table,
  spec: spec_lib.DatasetSpec,
  label: str,
  per_user: int = 1,
  seed: int = 0,
) -> tuple[Table, Table]:
  """(train, valid): `per_user` rows of each user whose `label` is
  positive, drawn at random with `seed`, held out of `rows` as a
  validation split; a user keeps at least one such row in train. For a
  log split as files without a validation file (a test file of one
  purchase a user, say), so that a model can be tuned without the test.
  """
  positive = np.flatnonzero(np.asarray(rows[label]) > 0)
  if not len(positive):
    raise ValueError(
      f"Dataset {spec.name!r}: no training row has {label!r} positive, so "
      "none can be held out for validation."
    )
  _, user = np.unique(rows[spec.user_id][positive], return_inverse=True)
  rank = np.random.default_rng(seed).permutation(len(positive))
  order = np.lexsort((rank, user))  # Each user's rows, in a random order.
  counts = np.bincount(user)
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  within = np.empty(len(positive), np.int64)
  within[order] = np.arange(len(positive)) - starts[user[order]]
  held = within < np.minimum(per_user, counts - 1)[user]
  valid = np.zeros(dataset_lib.num_rows(rows), bool)
  valid[positive[held]] = True
  return (
    dataset_lib.take(rows, np.flatnonzero(~valid)),
    dataset_lib.take(rows, np.flatnonzero(valid)),
  )


_NAMES = ("train", "valid", "test")
