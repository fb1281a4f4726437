"""A dataset in memory: a spec, split tables of rows, and the item catalogue.

A table is a dict of equally long NumPy columns, one row per impression. The
catalogue holds one row per item (its id and candidate features): retrieval
ranks the whole catalogue, not only the items that happen to be in a split.
A dataset also names the objectives its labels feed, and, when its rows are
positives only, how to sample negatives for them.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

import objectives as objectives_lib
from multiobj import schema

NEGATIVE_DISTRIBUTIONS = ("uniform", "popularity")


@dataclasses.dataclass(frozen=True)
class NegativeSampling:
  """Negatives for logs of positives only (no impressions).

  Each logged row gets `per_positive` items the user never interacted with
  in training, drawn uniformly or in proportion to popularity^alpha (item
  counts in training), drawn anew each epoch; their labels are all 0.

  Attributes:
    per_positive: Negatives per logged row.
    distribution: "uniform" or "popularity".
    alpha: Exponent of popularity (0.75 as in word2vec; 0 is uniform).
  """

  per_positive: int = 4
  distribution: str = "popularity"
  alpha: float = 0.75

  def __post_init__(self):
    if self.per_positive < 1:
      raise ValueError(
        f"negatives per positive must be >= 1, got {self.per_positive}."
      )
    if self.distribution not in NEGATIVE_DISTRIBUTIONS:
      raise ValueError(
        f"Unknown negative sampling {self.distribution!r}; expected one of "
        f"{', '.join(NEGATIVE_DISTRIBUTIONS)}."
      )
    if self.alpha < 0:
      raise ValueError(
        f"negative sampling alpha must be >= 0, got {self.alpha}."
      )


Table = dict[str, np.ndarray]
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass
class Dataset:
  """Attributes:
  spec: Which column is what.
  splits: "train", "valid" (optional) and "test" tables of rows.
  catalogue: One row per item: its id and candidate features.
  objectives: The objectives the labels feed by default, with their
    columns; `--objectives` selects and weighs among them.
  negatives: How to sample negatives, for logs of positives only.
  info: Free-form facts about the data (source, protocol), for reports.
  """

  spec: schema.DatasetSpec
  splits: dict[str, Table]
  catalogue: Table
  objectives: tuple[objectives_lib.Objective, ...] = ()
  negatives: NegativeSampling | None = None
  info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def split(self, name: str) -> Table:
    if name not in self.splits:
      raise ValueError(
        f"Dataset {self.spec.name!r} has no split {name!r}; splits: "
        f"{', '.join(self.splits)}."
      )
    return self.splits[name]

  def summary(self) -> dict[str, dict[str, float]]:
    """Rows, lists and the mean of each label, per split."""
    out = {}
    for name, table in self.splits.items():
      info = {"rows": num_rows(table)}
      if self.spec.list_id:
        info["lists"] = len(np.unique(table[self.spec.list_id]))
      for label in self.spec.labels:
        info[f"mean_{label}"] = float(np.mean(table[label]))
      out[name] = info
    out["catalogue"] = {"items": num_rows(self.catalogue)}
    return out


def num_rows(table: Table) -> int:
  return len(next(iter(table.values()))) if table else 0


def take(table: Table, index: np.ndarray) -> Table:
  return {name: column[index] for name, column in table.items()}


def split_by_time(
  rows: Table, spec: schema.DatasetSpec, valid_share: float, test_share: float
) -> dict[str, Table]:
  """Splits rows by time: the latest `test_share` of lists is the test
  split, the `valid_share` before it the validation split, the rest train.

  Whole impression lists stay together. Lists are ordered by their timestamp
  (the spec's `timestamp` column, else row order) and cut by count.
  """
  n = num_rows(rows)
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
    name: take(rows, np.flatnonzero(m)) for name, m in splits.items() if m.any()
  }


def split_at_random(
  rows: Table,
  spec: schema.DatasetSpec,
  valid_share: float,
  test_share: float,
  seed: int,
) -> dict[str, Table]:
  """Splits rows at random by list (whole impression lists stay together;
  without a `list_id` each row is a list), reproducibly per seed. Rows keep
  their order within each split."""
  n = num_rows(rows)
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
    name: take(rows, np.flatnonzero(m)) for name, m in parts.items() if m.any()
  }


def catalogue_from_rows(
  spec: schema.DatasetSpec,
  tables: list[Table],
  where: str,
  conflicts: str = "error",
) -> Table:
  """One row per item id of `tables`: the id and candidate features.

  Args:
    spec: Names the item id and candidate features.
    tables: Rows holding them.
    where: Names the rows in error messages.
    conflicts: When a candidate feature varies for one item: "error", or
      "first" to keep the item's first row (in the order of `tables`).
  """
  names = [f.name for f in spec.features_of("candidate")]
  rows = {n: np.concatenate([t[n] for t in tables]) for n in names}
  ids = rows[spec.item_id]
  _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
  if conflicts == "error":
    for name in names:
      value, once = rows[name], rows[name][first][inverse]
      if (value != once).any():
        r = int(np.argmax(value != once))
        raise ValueError(
          f"{where}: candidate feature {name!r} varies for item {ids[r]!r} "
          f"({once[r]!r}, {value[r]!r}); give a catalogue of items or make it "
          "a context feature."
        )
  return take(rows, first)
