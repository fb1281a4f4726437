"""Impression lists on disk: sharded TFRecord files that tf.data streams.

A shard is a TFRecord file. Each record holds a block of up to `BLOCK`
lists as one `tf.train.Example` with a bytes feature per column: that
column's serialized `TensorProto`, [block] for a query column and
[block, list_size] for the others. Blocks keep writing and parsing
vectorised (one proto per column per block, not per list); the reader parses
a block in graph and unbatches it into lists, so any batch size reads any
shard. TFRecord's checksums catch a corrupt record; the manifest's byte
counts catch a truncated file (`prepare/cache.py`).

`write` cuts a table of lists into shards of about `shard_mb` megabytes;
`dataset` streams shards as tf.data: files shuffled each epoch and
interleaved, lists through a bounded shuffle buffer, batched, prefetched;
with several workers each reads its own files. `read` loads shards back into
a table, for small consumers.
"""

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from multiobj.data import dataset as dataset_lib

# Lists per record.
BLOCK = 256
# Blocks parsed at once, and batches read ahead: fixed, not tf.data's
# autotuning, whose buffers grow over a long epoch (with the RAM of the
# machine, not of the data), so reading holds the same memory at any size.
_PARALLEL = 2
# Lists a chunk of `chunks` holds (at 10 slots, a few MB a column).
CHUNK_LISTS = 65_536
_PREFETCH = 2

# {column: (dtype name, shape of one list's value)}
Columns = dict[str, tuple[str, tuple[int, ...]]]


def columns_of(lists: dataset_lib.Table) -> Columns:
  """Each column's dtype name and its shape for one list."""
  return {
    name: (_dtype_name(column), tuple(int(d) for d in column.shape[1:]))
    for name, column in lists.items()
  }


def _dtype_name(column: np.ndarray) -> str:
  return "string" if column.dtype.kind in "OUS" else column.dtype.name


class Writer:
  """Writes tables of lists into numbered shards of about `shard_mb` MB.

  Args:
    directory: Where the shards go.
    prefix: Shard names are `{prefix}-00000.tfrecord`, ...
    columns: The columns every table added must have, with these dtypes and
      shapes.
    shard_mb: A shard is closed once it holds at least this many megabytes.
  """

  def __init__(
    self, directory: str, prefix: str, columns: Columns, shard_mb: float = 64
  ):
    self.directory, self.prefix, self.columns = directory, prefix, columns
    self.limit = int(shard_mb * 2**20)
    self.shards: list[dict[str, Any]] = []
    self._file = None
    self._lists = self._bytes = 0

  def add(self, lists: dataset_lib.Table) -> None:
    """Appends `lists` (a table with exactly `columns`)."""
    if set(lists) != set(self.columns):
      raise ValueError(
        f"Shards {self.prefix!r}: columns {sorted(lists)} differ from "
        f"{sorted(self.columns)}."
      )
    n = dataset_lib.num_rows(lists)
    for start in range(0, n, BLOCK):
      block = {k: v[start : start + BLOCK] for k, v in lists.items()}
      record = _serialize(block, self.columns)
      if self._file is None:
        self._open()
      self._file.write(record)
      self._lists += dataset_lib.num_rows(block)
      self._bytes += len(record) + 16  # TFRecord framing.
      if self._bytes >= self.limit:
        self._close()

  def close(self) -> list[dict[str, Any]]:
    """Closes the last shard; [{"file", "lists", "bytes"}] of every shard."""
    self._close()
    return self.shards

  def split(self) -> "Split":
    """Closes the last shard; the `Split` of every shard written."""
    self._close()
    return Split(
      files=tuple(paths(self.directory, self.shards)),
      columns=self.columns,
      lists=sum(s["lists"] for s in self.shards),
      file_lists=tuple(s["lists"] for s in self.shards),
    )

  def _open(self):
    name = f"{self.prefix}-{len(self.shards):05d}.tfrecord"
    self._name = name
    self._file = tf.io.TFRecordWriter(os.path.join(self.directory, name))

  def _close(self):
    if self._file is None:
      return
    self._file.close()
    size = os.path.getsize(os.path.join(self.directory, self._name))
    self.shards.append(
      {"file": self._name, "lists": self._lists, "bytes": size}
    )
    self._file, self._lists, self._bytes = None, 0, 0


def _serialize(block: dataset_lib.Table, columns: Columns) -> bytes:
  feature = {}
  for name, (dtype, shape) in columns.items():
    value = block[name]
    if value.shape[1:] != shape:
      raise ValueError(
        f"Column {name!r}: lists of shape {value.shape[1:]}, expected {shape}."
      )
    if dtype == "string":
      proto = _string_proto(value)
    else:
      proto = tf.make_tensor_proto(value)
    feature[name] = tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[proto.SerializeToString()])
    )
  example = tf.train.Example(features=tf.train.Features(feature=feature))
  return example.SerializeToString()


def _string_proto(value: np.ndarray) -> tensor_pb2.TensorProto:
  """The TensorProto of a text array, ten times faster than
  `tf.make_tensor_proto` (which converts value by value in Python)."""
  shape = tensor_shape_pb2.TensorShapeProto(
    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in value.shape]
  )
  proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape)
  flat = value.ravel().tolist()
  try:
    proto.string_val.extend([v.encode() for v in flat])
  except AttributeError:  # Bytes, or numbers in a text column.
    proto.string_val.extend(
      [v if isinstance(v, bytes) else str(v).encode() for v in flat]
    )
  return proto


def write(
  lists: dataset_lib.Table, directory: str, prefix: str, shard_mb: float = 64
) -> list[dict[str, Any]]:
  """Writes `lists` as shards; [{"file", "lists", "bytes"}] of each."""
  writer = Writer(directory, prefix, columns_of(lists), shard_mb)
  writer.add(lists)
  return writer.close()


def _parser(columns: Columns):
  spec = {name: tf.io.FixedLenFeature([], tf.string) for name in columns}

  # Plain graph code: AutoGraph would convert it (and what it calls) for
  # each dataset built, about 0.3 s of Python per run.
  @tf.autograph.experimental.do_not_convert
  def parse(record):
    raw = tf.io.parse_single_example(record, spec)
    out = {}
    for name, (dtype, shape) in columns.items():
      value = tf.io.parse_tensor(raw[name], out_type=tf.as_dtype(dtype))
      out[name] = tf.ensure_shape(value, (None, *shape))
    return out

  return parse


def blocks(files: Sequence[str], columns: Columns) -> tf.data.Dataset:
  """The blocks of `files`, in order."""
  return tf.data.TFRecordDataset(list(files)).map(
    _parser(columns), num_parallel_calls=_PARALLEL, deterministic=True
  )


def dataset(
  files: Sequence[str],
  columns: Columns,
  batch_size: int,
  shuffle_buffer: int = 0,
  seed: int = 0,
  workers: int = 1,
  worker: int = 0,
  lists: int | None = None,
  repeat: bool = False,
  stride: int = 1,
) -> tf.data.Dataset:
  """Batches of lists streamed from shards.

  Args:
    files: The shards.
    columns: Their columns (`columns_of`).
    batch_size: Lists per batch.
    shuffle_buffer: 0 reads in order; otherwise files are shuffled each
      epoch, read two at a time, and lists pass a shuffle buffer of this
      many lists (every list of a log smaller than the buffer: a full
      shuffle).
    seed: Seeds both shuffles.
    workers: Readers of these shards (training workers); each reads...
    worker: ...every `workers`-th file from this one.
    lists: How many lists the files hold, if known: the dataset then knows
      its batches (progress bars count them, and Keras iterates it as it
      does data in memory).
    repeat: Repeat the lists without end (epochs then count steps).
    stride: Unshuffled, every `stride`-th list only (an even sample).
  """
  files = list(files)[worker::workers]
  if not files:
    raise ValueError(
      f"Worker {worker} of {workers} has no shard to read; prepare the data "
      f"in at least {workers} shards (a smaller shard size)."
    )
  count = lists if workers == 1 else None
  if not shuffle_buffer:
    lists = blocks(files, columns).unbatch()
    if stride > 1:
      lists = lists.shard(stride, 0)
      count = None if count is None else -(-count // stride)
  else:
    names = tf.data.Dataset.from_tensor_slices(files)
    if len(files) > 1:
      names = names.shuffle(
        len(files), seed=seed, reshuffle_each_iteration=True
      )
    lists = names.interleave(
      tf.autograph.experimental.do_not_convert(
        lambda f: _file_blocks(f, columns)
      ),
      cycle_length=min(_PARALLEL, len(files)),
      block_length=1,
      num_parallel_calls=min(_PARALLEL, len(files)),
      deterministic=True,
    ).unbatch()
    lists = lists.shuffle(
      shuffle_buffer, seed=seed, reshuffle_each_iteration=True
    )
  if repeat:
    lists, count = lists.repeat(), None
  batches = lists.batch(batch_size)
  if count is not None:
    batches = batches.apply(
      tf.data.experimental.assert_cardinality(-(-count // batch_size))
    )
  return batches.prefetch(_PREFETCH)


def _file_blocks(name, columns):
  return tf.data.TFRecordDataset(name).map(_parser(columns))


class CorruptShard(ValueError):
  """A shard whose records fail their checksums."""


def find_corrupt(files: Sequence[str]) -> CorruptShard | None:
  """The error naming the first of `files` with a corrupt record (each
  record's checksums are read), or None."""
  for file in files:
    try:
      for _ in tf.data.TFRecordDataset(file):
        pass
    except tf.errors.DataLossError as e:
      return CorruptShard(
        f"{file}: corrupt ({e.message.split(' [Op:')[0].split('}} ')[-1]}); "
        "the cache cannot be used: prepare the data again "
        "(python -m experiments.prepare --overwrite, or delete the cache)."
      )
  return None


def read(
  files: Sequence[str],
  columns: Columns,
  limit: int | None = None,
  stride: int = 1,
) -> dataset_lib.Table:
  """The lists of `files` in order as NumPy columns: every `stride`-th one
  (the first, the 1 + stride-th, ...), at most `limit` of them."""
  parts, count = [], 0
  size = CHUNK_LISTS if limit is None else max(1, limit)  # No more read.
  for part in chunks(files, columns, stride, size):
    parts.append(part)
    count += dataset_lib.num_rows(part)
    if limit is not None and count >= limit:
      break
  if not parts:
    return {
      name: np.zeros((0, *shape), dtype=_numpy_dtype(dtype))
      for name, (dtype, shape) in columns.items()
    }
  return {
    name: np.concatenate([p[name] for p in parts])[:limit] for name in columns
  }


def chunks(
  files: Sequence[str],
  columns: Columns,
  stride: int = 1,
  size: int = CHUNK_LISTS,
) -> Iterator[dataset_lib.Table]:
  """The lists of `files` in order (every `stride`-th one, as `read`), as
  NumPy tables of about `size` lists each, text decoded: a split of any
  size, a chunk in memory at a time."""
  parts, count, seen = [], 0, 0
  try:
    for block in blocks(files, columns):
      rows = int(block[next(iter(columns))].shape[0])
      keep = np.arange(-seen % stride, rows, stride)
      seen += rows
      if len(keep):
        parts.append({k: v.numpy()[keep] for k, v in block.items()})
        count += len(keep)
      if count >= size:
        yield _joined(parts, columns)
        parts, count = [], 0
  except tf.errors.DataLossError:
    raise find_corrupt(files) from None
  if parts:
    yield _joined(parts, columns)


def _joined(parts, columns):
  out = {}
  for name, (dtype, _) in columns.items():
    value = np.concatenate([p[name] for p in parts])
    if dtype == "string":
      flat = [v.decode("utf-8") for v in value.reshape(-1)]
      value = np.array(flat, dtype=object).reshape(value.shape)
    out[name] = value
  return out


def _numpy_dtype(dtype: str):
  return object if dtype == "string" else np.dtype(dtype)


def paths(directory: str, shards: Sequence[Mapping[str, Any]]) -> list[str]:
  """The shard files of `shards` (as `Writer.close` lists them)."""
  return [os.path.join(directory, s["file"]) for s in shards]


@dataclasses.dataclass(frozen=True)
class Split:
  """The shards of one split: files, columns and how many lists."""

  files: tuple[str, ...]
  columns: Columns
  lists: int
  file_lists: tuple[int, ...] = ()


class Lists(Mapping):
  """{split: lists} read from shards on first use (`read`), then kept."""

  def __init__(self, splits: Mapping[str, Split]):
    self.splits = splits
    self._read: dict[str, dataset_lib.Table] = {}

  def __getitem__(self, split: str) -> dataset_lib.Table:
    if split not in self._read:
      found = self.splits[split]
      self._read[split] = read(found.files, found.columns)
    return self._read[split]

  def __contains__(self, split: object) -> bool:
    # Mapping's own `in` would read the split: a test split of millions of
    # lists loaded only to say that it exists.
    return split in self.splits

  def __iter__(self):
    return iter(self.splits)

  def __len__(self):
    return len(self.splits)
