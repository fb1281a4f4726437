"""Finding a dataset's files under the data folder, and reading small ones.

Every adapter reads its folder `<data_dir>/<name>/` through `locate`, so a
missing folder or file fails the same way: one `ValueError` naming the path
and the setting that points to the datasets. Tables are read by
`multiobj.data.readers`; whitespace-separated integer files by NumPy.
"""

import os
from collections.abc import Iterable, Sequence

import numpy as np

from multiobj.data import readers
from multiobj.data import spec as spec_lib

# How a user points the library at the folder holding the datasets.
SETTING = "the environment variable MULTIOBJ_DATA (or the flag --data_dir)"


def locate(data_dir: str, name: str, files: Iterable[str]) -> dict[str, str]:
  """Paths of `files` in the dataset folder `<data_dir>/<name>`.

  Args:
    data_dir: The folder holding the datasets, one subfolder each.
    name: The dataset's subfolder.
    files: File names the adapter reads.

  Returns:
    {file name: path}.

  Raises:
    ValueError: naming the first missing folder or file.
  """
  folder = os.path.join(data_dir, name)
  if not os.path.isdir(folder):
    raise ValueError(
      f"Dataset {name!r}: folder {folder} not found. {SETTING} must point "
      f"to the folder holding the datasets (now {data_dir!r}), with "
      f"{name!r} as a subfolder."
    )
  paths = {f: os.path.join(folder, f) for f in files}
  for path in paths.values():
    if not os.path.isfile(path):
      raise ValueError(
        f"Dataset {name!r}: file {path} not found. {SETTING} must point to "
        f"the folder holding the datasets (now {data_dir!r}); the "
        f"{name!r} subfolder there lacks this file."
      )
  return paths


def read_csv(path: str, required: Sequence[str] = ()) -> dict[str, np.ndarray]:
  """A CSV file with a header (`readers.read_table`), checked to hold the
  `required` columns."""
  table = readers.read_table(path, format="csv")
  spec_lib.check_columns(table, required, path)
  return table


def read_ints(path: str, columns: int) -> np.ndarray:
  """A whitespace-separated file of integers as an [N, columns] array."""
  try:
    values = np.loadtxt(path, dtype=np.int64, ndmin=2)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  if values.shape[1] != columns:
    raise ValueError(
      f"{path}: expected {columns} integer columns, found {values.shape[1]}."
    )
  return values


def as_float(column: np.ndarray) -> np.ndarray:
  """Numeric text as float32."""
  return column.astype(np.float64).astype(np.float32)


def as_category(column: np.ndarray) -> np.ndarray:
  """Category codes as str, with "1.0" written as "1" (some files write
  integer codes as floats)."""
  out = np.empty(len(column), dtype=object)
  for i, value in enumerate(column):
    text = str(value)
    out[i] = text[:-2] if text.endswith(".0") else text
  return out
