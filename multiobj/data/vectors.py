"""Precomputed vectors as a feature: an `embedding` feature's file.

Teams encode their items' text or images (or their users) with a model of
their choice; an `embedding` feature (docs/dataset_spec.md) brings those
vectors in, one per id of its `vectors_key` feature (the item_id, say):

  Parquet   a column named as the key, and a column `vector` of lists of
            floats (or fixed-size lists), all of one width;
  .npz      NumPy arrays `ids` [n] and `vectors` [n, width].

The rows never hold the vectors: the feature's column is a copy of its
key's (`add_columns`), and the model looks each value up in the table
`read` returns (`model/features.py`), which it keeps as a variable, so the
exported model serves by id. An id without a vector takes a learnt default;
so does every id at serving that the file did not hold.
"""

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from multiobj.data import spec as spec_lib


def add_columns(table: dict[str, np.ndarray], spec: spec_lib.DatasetSpec):
  """`table` with each embedding feature's column: its key's values."""
  table = dict(table)
  for f in spec.looked_up:
    if f.vectors_key in table:
      table[f.name] = table[f.vectors_key]
  return table


def read(
  feature: spec_lib.Feature, integers: bool
) -> tuple[np.ndarray, np.ndarray]:
  """The ids and vectors of `feature`'s file, checked.

  Args:
    feature: An embedding feature.
    integers: Whether its key's values are integers (the file's ids are
      then read as integers, else as text).

  Returns:
    ([n] ids, sorted, int64 or object; [n, width] float32 vectors, each
    L2-normalised if the feature asks).

  Raises:
    ValueError: naming the file (and the id, where there is one) for a
      file that cannot be read, has no vector, misses a column, holds
      vectors of different widths, NaN or infinity, or an id twice.
  """
  path = feature.vectors
  if not os.path.exists(path):
    raise ValueError(
      f"Embedding feature {feature.name!r}: vectors file {path} does not exist."
    )
  if path.endswith(".npz"):
    ids, vectors = _npz(path)
  else:
    ids, vectors = _parquet(path, feature.vectors_key)
  if not len(ids):
    raise ValueError(f"{path}: no vectors.")
  ids = _typed(path, ids, integers)
  bad = ~np.isfinite(vectors).all(axis=1)
  if bad.any():
    raise ValueError(
      f"{path}: the vector of id {ids[np.argmax(bad)]!r} holds NaN or "
      f"infinity ({int(bad.sum())} such vectors)."
    )
  order = np.argsort(ids, kind="stable")
  ids, vectors = ids[order], vectors[order]
  twice = ids[1:] == ids[:-1]
  if twice.any():
    raise ValueError(f"{path}: id {ids[1:][twice][0]!r} has two vectors.")
  if feature.normalize:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(
      vectors, norms, out=np.zeros_like(vectors), where=norms > 0
    )
  return ids, vectors.astype(np.float32)


def write_npz(path: str, ids: np.ndarray, vectors: np.ndarray) -> str:
  """Writes `ids` [n] (integers or text) and `vectors` [n, width] as the
  .npz `read` takes, whole (a reader never sees half a file); returns
  `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  ids = np.asarray(ids)
  if ids.dtype.kind == "O":
    ids = ids.astype(str)  # .npz files are read without pickles.
  partial = f"{path}.{os.getpid()}.npz"
  np.savez(partial, ids=ids, vectors=np.asarray(vectors))
  os.replace(partial, path)
  return path


def _npz(path):
  try:
    with np.load(path, allow_pickle=False) as found:
      missing = [k for k in ("ids", "vectors") if k not in found]
      if missing:
        raise ValueError(
          f"{path}: no array {missing[0]!r}; an .npz of vectors holds 'ids' "
          "[n] and 'vectors' [n, width]."
        )
      ids, vectors = found["ids"], found["vectors"]
  except (OSError, ValueError) as e:
    if str(e).startswith(path):
      raise
    raise ValueError(f"{path}: cannot read it as NumPy .npz: {e}") from None
  if vectors.ndim != 2 or len(vectors) != len(ids):
    raise ValueError(
      f"{path}: 'vectors' has shape {vectors.shape}; expected "
      f"[{len(ids)}, width], a row per id."
    )
  return ids, vectors.astype(np.float64)


def _parquet(path, key):
  try:
    table = pq.read_table(path)
  except (OSError, pa.ArrowException) as e:
    raise ValueError(f"{path}: cannot read it as Parquet: {e}") from None
  for column in (key, "vector"):
    if column not in table.column_names:
      raise ValueError(
        f"{path}: no column {column!r}; a Parquet file of vectors holds the "
        f"key column ({key!r}) and 'vector' (lists of floats); it has "
        f"{', '.join(table.column_names)}."
      )
  ids = table[key].to_numpy()
  column = table["vector"].combine_chunks()
  if (
    not pa.types.is_list(column.type)
    and not pa.types.is_fixed_size_list(column.type)
    and not pa.types.is_large_list(column.type)
  ):
    raise ValueError(
      f"{path}: column 'vector' holds {column.type}, not lists of floats."
    )
  if column.null_count:
    row = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
    raise ValueError(f"{path}: id {ids[row]!r} has no vector (null).")
  widths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
  if len(widths) and (widths != widths[0]).any():
    row = int(np.argmax(widths != widths[0]))
    raise ValueError(
      f"{path}: the vector of id {ids[row]!r} has width {widths[row]}; the "
      f"first has {widths[0]} (every vector needs one width)."
    )
  flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
  width = int(widths[0]) if len(widths) else 0
  return ids, np.asarray(flat, np.float64).reshape(len(ids), width)


def _typed(path, ids, integers):
  """The file's ids as the key column holds its values."""
  if not integers:
    return np.asarray(ids).astype(str).astype(object)
  try:
    as_int = np.asarray(ids).astype(np.int64)
  except (TypeError, ValueError):
    raise ValueError(
      f"{path}: the ids are not integers (e.g. {ids[0]!r}), and the key "
      "column's values are."
    ) from None
  if np.asarray(ids).dtype.kind == "f" and (as_int != ids).any():
    raise ValueError(
      f"{path}: id {ids[np.argmax(as_int != ids)]!r} is not an integer."
    )
  return as_int
