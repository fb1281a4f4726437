"""Checks a dataset against its spec and the objectives before training.

Each check raises one `ValueError` that names the dataset, split, column and,
where it applies, the first bad row, so bad data fails here with a readable
message instead of deep inside TensorFlow, or worse, trains on garbage.
"""

from collections.abc import Callable, Sequence

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib


def check(
  dataset: dataset_lib.Dataset, objectives: Sequence[objectives_lib.Objective]
) -> None:
  """Raises ValueError on the first problem found."""
  spec = dataset.spec
  if "train" not in dataset.splits:
    raise ValueError(f"Dataset {spec.name!r} has no 'train' split.")
  required = spec.columns()
  for objective in objectives:
    for column, what in ((objective.label, "label"), (objective.mask, "mask")):
      if column and column not in required:
        raise ValueError(
          f"Objective {objective.name!r} needs {what} column {column!r}, which "
          f"dataset {spec.name!r} does not have; its labels: "
          f"{', '.join(spec.labels) or '(none)'}."
        )
  for name, table in dataset.splits.items():
    where = f"Dataset {spec.name!r}, split {name!r}"
    _check_table(table, required, where)
    for objective in objectives:
      _check_label(table, objective, where)
  check_catalogue(dataset)


def check_rows(
  table: dataset_lib.Table,
  required: Sequence[str],
  objectives: Sequence[objectives_lib.Objective],
  where: str,
  row: Callable[[int], str] = lambda index: f"row {index}",
) -> None:
  """`check`'s tests of one table of rows (a split, or a piece of a log
  read in pieces); `row` names row `index` of the table in messages."""
  _check_table(table, required, where, row)
  for objective in objectives:
    _check_label(table, objective, where, row)


def _check_table(table, required, where, row=lambda index: f"row {index}"):
  spec_lib.check_columns(table, required, where)
  lengths = {name: len(table[name]) for name in required}
  if len(set(lengths.values())) > 1:
    raise ValueError(f"{where}: columns differ in length: {lengths}.")
  if not next(iter(lengths.values()), 0):
    raise ValueError(f"{where}: the split is empty (0 rows).")
  for name in required:
    _check_values(table[name], name, where, row)


def _check_values(column, name, where, row):
  if column.dtype.kind == "f":
    bad = ~np.isfinite(column)
    if bad.any():
      index = int(np.argmax(bad))
      raise ValueError(
        f"{where}: column {name!r} has a non-finite value ({column[index]}) "
        f"at {row(index)} ({int(bad.sum())} such rows)."
      )
  elif column.dtype.kind == "O":
    # None, or a float NaN (the one value unequal to itself).
    bad = np.equal(column, None) | (column != column)
    if bad.any():
      raise ValueError(
        f"{where}: column {name!r} has a missing value at "
        f"{row(int(np.argmax(bad)))} ({int(bad.sum())} such rows)."
      )


def _check_label(table, objective, where, row=lambda index: f"row {index}"):
  label = table[objective.label]
  if label.dtype.kind not in "biuf":
    raise ValueError(
      f"{where}: label column {objective.label!r} of objective "
      f"{objective.name!r} must be numeric, got {label.dtype}."
    )
  applies = (
    table[objective.mask] > 0 if objective.mask else np.ones(len(label), bool)
  )
  if objective.kind in ("binary", "retrieval"):
    bad = applies & (label != 0) & (label != 1)
    expected = "0 or 1"
  elif objective.label_transform == "log1p":
    bad = applies & (label < 0)
    expected = ">= 0 (it is learned as log1p)"
  else:
    bad = np.zeros(len(label), bool)
    expected = ""
  if bad.any():
    index = int(np.argmax(bad))
    raise ValueError(
      f"{where}: label {objective.label!r} of objective {objective.name!r} "
      f"must be {expected}; {row(index)} has {label[index]} "
      f"({int(bad.sum())} such rows)."
    )


def check_catalogue(dataset: dataset_lib.Dataset) -> None:
  """Raises ValueError for a catalogue with missing values or a repeated
  id."""
  spec = dataset.spec
  where = f"Dataset {spec.name!r}, catalogue"
  columns = [f.name for f in spec.features_of("candidate")]
  _check_table(dataset.catalogue, columns, where)
  ids = dataset.catalogue[spec.item_id]
  unique, counts = np.unique(ids, return_counts=True)
  if (counts > 1).any():
    duplicate = unique[counts > 1][0]
    row = int(np.flatnonzero(ids == duplicate)[1])
    raise ValueError(
      f"{where}: item id {duplicate!r} appears more than once (again at row "
      f"{row}); catalogue ids must be unique."
    )
