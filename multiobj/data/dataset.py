"""A dataset in memory: a spec, split tables of rows, and the item catalogue.

A table is a dict of equally long NumPy columns, one row per impression. The
catalogue holds one row per item (its id and candidate features): retrieval
ranks the whole catalogue, not only the items that happen to be in a split.
"""

import dataclasses

import numpy as np

from multiobj import schema

Table = dict[str, np.ndarray]
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass
class Dataset:
  spec: schema.DatasetSpec
  splits: dict[str, Table]
  catalogue: Table

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
  """Splits rows by time: the latest lists go to valid, then test.

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
