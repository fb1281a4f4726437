"""Pass 1 of preparing a log in pieces: the rows into partitions by list.

The rows are read piece by piece (`data.pieces`), each piece typed, joined
and checked as the description says (a message names the file and the row
in it, whichever piece it is in), and appended to one of P partition files
(Arrow IPC) by a hash of its list id, so every impression list is whole in
one partition. Each list's id, length and first time are kept (24 bytes a
list): the split is made from them (`stream.py`).

`--prepare_memory_mb` bounds the whole process: what it holds before the
first row is read (TensorFlow, pyarrow, the catalogue: measured), the index
of the lists (estimated from the first piece), and the partitions, each
sized so that grouping it (about four times its rows' memory) fits in
what remains.
"""

import dataclasses
import math
import os
import resource
import sys
import time
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from absl import logging

from multiobj.data import dataset as dataset_lib
from multiobj.data import pieces, readers, validation
from multiobj.data.description import loader
from multiobj.data.description import tables as tables_lib
from multiobj.prepare import lists as lists_lib

# Megabytes of file read at a time.
PIECE_MB = 32
# A log without list ids: each row is a list, its id its row number.
ROW = "__row"
# Bytes in memory per byte of file, by format: a rough bound, to choose P.
_EXPANSION = {"parquet": 8.0, "csv": 3.0, "jsonl": 2.0}
# Bytes a list of the index takes in pass 2: its id, rows and first time,
# and its split (`stream.py`).
_INDEX_BYTES = 32
# The least a partition may be given, in MB.
_LEAST_PARTITION_MB = 16


def estimated_mb(path: str, data_dir: str | None) -> float:
  """About how much memory the rows of the description at `path` take
  once read (from the size of their files)."""
  _, d = loader.parse(path, data_dir)
  files = [
    file
    for key in loader.row_tables(d)
    for file in readers.expand(d["tables"][key]["path"])
  ]
  total = 0.0
  for file in files:
    kind = os.path.splitext(file)[1].lower().lstrip(".")
    factor = _EXPANSION.get(
      "parquet" if kind in ("parquet", "pq") else kind, 3.0
    )
    total += os.path.getsize(file) * factor
  return total / 2**20


class Piece(tables_lib.Where):
  """Names file and row of a piece's rows in messages."""

  def __init__(self, check, table, file, start):
    super().__init__(check, table)
    self.file, self.start = file, start

  def __str__(self) -> str:
    return f"{self.prefix}: {self.file}"

  def row(self, index: int) -> tuple[str, int]:
    return str(self), self.start + index + 1


@dataclasses.dataclass
class Index:
  """Every list of the log: sorted ids, rows, time of its first row."""

  keys: np.ndarray
  rows: np.ndarray
  first_time: np.ndarray


def partition(config, check, d, users, catalogue, work):
  """Pass 1: the rows into partition files by list; the lists' index."""
  spec, table = d["spec"], d["tables"]["rows"]
  objectives = config.objectives
  keep = _kept(spec, objectives)
  built = {f.name for f in spec.built}
  writers, schema, count = None, None, 1
  keys, rows, times = [], [], []
  seen, last = 0, time.time()
  before_mb = resident_mb()
  read = dict(table["read"], block_mb=PIECE_MB)
  for file, start, raw in pieces.batches(table["path"], **read):
    where = Piece(check, table, file, start)
    part = tables_lib.rows_from(d, "rows", raw, where, users)
    at = tables_lib.join(
      where, part[spec.item_id], catalogue[spec.item_id], "item",
      d["tables"]["catalogue"],
    )  # fmt: skip
    for f in spec.features_of("candidate"):
      part[f.name] = catalogue[f.name][at]
    validation.check_rows(
      part,
      [c for c in spec.columns() if c not in built],
      objectives,
      str(where),
      lambda i, start=start: f"row {start + i + 1}",
    )
    n = dataset_lib.num_rows(part)
    part[ROW] = np.arange(seen, seen + n)
    key = part[spec.list_id] if spec.list_id else part[ROW]
    moment = (
      part[spec.timestamp] if spec.timestamp else np.arange(seen, seen + n)
    )
    unique, first, counts = np.unique(
      key, return_index=True, return_counts=True
    )
    keys.append(unique), rows.append(counts), times.append(moment[first])
    batch = pa.table({c: part[c] for c in keep})
    if schema is None:
      schema = batch.schema
      total = _total_rows(table["path"], n)
      partition_mb = _partition_mb(
        config.prepare.memory_mb, before_mb, total * len(unique) / n
      )
      count = max(
        1, math.ceil(total * _memory(batch) / n / 2**20 / partition_mb)
      )
      logging.info(
        "Prepared data: %d partitions of at most about %d MB each (of "
        "--prepare_memory_mb=%d, %d MB held before reading).",
        count,
        partition_mb,
        config.prepare.memory_mb,
        before_mb,
      )
      paths = [os.path.join(work, f"part-{p:05d}.arrow") for p in range(count)]
      writers = [
        pa.ipc.new_file(
          p, schema, options=pa.ipc.IpcWriteOptions(compression="lz4")
        )
        for p in paths
      ]
    batch = _conform(batch, schema, where)
    bucket = _bucket(part[spec.user_id] if built else key, count)
    for p, writer in enumerate(writers):
      chosen = np.flatnonzero(bucket == p)
      if len(chosen):
        writer.write_table(batch.take(chosen))
    seen += n
    if time.time() - last > 10:
      logging.info("Prepared data: pass 1, %d rows read.", seen)
      last = time.time()
  if writers is None:
    raise ValueError(f"{check.file}: rows: {table['path']}: no rows.")
  for writer in writers:
    writer.close()
  return _merge_index(keys, rows, times), paths


def _kept(spec, objectives) -> list[str]:
  """The columns pass 1 keeps. A built history is added in pass 2 from
  its user's events: every row of a user goes to one partition (lists stay
  whole: a list is one user's), with the columns building it reads."""
  keep = sorted(
    set(lists_lib.columns_for(spec, objectives, with_truth=False))
    | set(lists_lib.columns_for(spec, objectives, with_truth=True))
  )
  keep += [spec.list_id] if spec.list_id else [ROW]
  if spec.built:
    needed = {spec.user_id, *(b for f in spec.built for b in f.built_from)}
    needed |= {spec.timestamp} if spec.timestamp else set()
    keep = sorted((set(keep) - {f.name for f in spec.built}) | needed)
  return keep


def _memory(batch: pa.Table) -> int:
  """Bytes the rows of `batch` take in NumPy: Arrow's, and a Python string
  object (about 60 bytes, and a pointer) for each text value."""
  text = sum(
    batch.num_rows
    for field in batch.schema
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
  )
  return batch.nbytes + 64 * text


def resident_mb() -> float:
  """This process's resident memory now, in MB (its peak so far where
  /proc is missing)."""
  try:
    with open("/proc/self/statm") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
  except (OSError, ValueError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _partition_mb(budget_mb: int, before_mb: float, lists: float) -> float:
  """The megabytes of rows a partition may hold: a quarter of what the
  budget leaves once the process (`before_mb`) and the index of `lists`
  lists are counted (grouping a partition into lists, and writing them,
  needs about four times its rows' memory).

  Raises:
    ValueError: if that leaves less than the least a partition needs.
  """
  index_mb = lists * _INDEX_BYTES / 2**20
  partition_mb = (budget_mb - before_mb - index_mb) / 4
  if partition_mb < _LEAST_PARTITION_MB:
    least = before_mb + index_mb + 4 * _LEAST_PARTITION_MB
    raise ValueError(
      f"--prepare_memory_mb={budget_mb} is too small for this log: the "
      f"process holds {before_mb:.0f} MB before reading it (TensorFlow, "
      f"pyarrow, the catalogue) and the index of its about {lists:,.0f} "
      f"lists takes {index_mb:.0f} MB; give at least {math.ceil(least)}."
    )
  return partition_mb


def _total_rows(path: str, rows: int) -> float:
  """The rows of the log at `path` (from Parquet's metadata), or an
  estimate from its first piece's `rows` (rows per byte of that piece, over
  every file's bytes)."""
  files = readers.expand(path)
  parquet = [f for f in files if f.lower().endswith((".parquet", ".pq"))]
  if len(parquet) == len(files):
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
  first = min(os.path.getsize(files[0]), PIECE_MB * 2**20)
  return rows / max(first, 1) * sum(os.path.getsize(f) for f in files)


def _conform(batch, schema, where):
  """The piece with the first piece's column types, or an error naming the
  column whose values changed kind (numbers, then text)."""
  if batch.schema.equals(schema):
    return batch
  columns = []
  for field in schema:
    column = batch[field.name]
    if column.type != field.type:
      try:
        column = column.cast(field.type)
      except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ValueError(
          f"{where}: column {field.name!r} holds {column.type} values from "
          f"row {where.start + 1}, but {field.type} before; give the column "
          "one kind of value throughout the log."
        ) from None
    columns.append(column)
  return pa.table(columns, schema=schema)


def _bucket(key: np.ndarray, count: int) -> np.ndarray:
  """The partition of each list id: a hash stable across processes (so the
  same log gives the same shards every time)."""
  if count == 1:
    return np.zeros(len(key), np.int64)
  if key.dtype.kind in "iu":
    mixed = key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(33)) % np.uint64(count)).astype(np.int64)
  unique, inverse = np.unique(key, return_inverse=True)
  hashes = np.array([zlib.crc32(str(k).encode()) for k in unique], np.int64)
  return (hashes % count)[inverse]


def _merge_index(keys, rows, times):
  key = np.concatenate(keys)
  unique, first, inverse = np.unique(
    key, return_index=True, return_inverse=True
  )
  counts = np.bincount(inverse, weights=np.concatenate(rows)).astype(np.int64)
  return Index(unique, counts, np.concatenate(times)[first])
