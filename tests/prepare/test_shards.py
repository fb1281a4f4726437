"""Lists on disk (prepare/shards.py): exact round trips, sharding, and the
streamed dataset's order, workers and size."""

import os

import numpy as np
import tensorflow as tf

from multiobj.prepare import shards

# 1,000 lists of 4 slots: four blocks of 256 (the last one of 232).
N, L = 1000, 4
WORDS = np.array(["", "héllo", "日本語", "a b", 'ü,"q"', "x"], dtype=object)


def _table(n=N, seed=0):
  """A table of lists with every column kind: float32 and int64 slots, an
  int64 and a text query column, text slots (non-ASCII and empty)."""
  rng = np.random.default_rng(seed)
  score = rng.standard_normal((n, L)).astype(np.float32)
  score[0, 0] = np.nan
  score[1, 1] = -0.0
  return {
    "id": np.arange(n, dtype=np.int64),
    "score": score,
    "item": rng.integers(-(2**40), 2**40, (n, L)),
    "user": WORDS[rng.integers(0, len(WORDS), n)],
    "title": WORDS[rng.integers(0, len(WORDS), (n, L))],
  }


def _ids(dataset):
  """The `id` of every list of one pass over `dataset`, batch by batch."""
  return [batch["id"].numpy() for batch in dataset]


class ShardsTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.directory = self.create_tempdir().full_path
    self.table = _table()
    self.columns = shards.columns_of(self.table)

  def _write(self, shard_mb=64.0):
    written = shards.write(self.table, self.directory, "train", shard_mb)
    return written, shards.paths(self.directory, written)

  def assertTablesEqual(self, got, expected):
    self.assertEqual(list(got), list(expected))
    for name, column in expected.items():
      self.assertEqual(got[name].dtype, column.dtype, name)
      self.assertEqual(got[name].shape, column.shape, name)
      if column.dtype == object:
        self.assertTrue(all(type(v) is str for v in got[name].flat), name)
        np.testing.assert_array_equal(got[name], column, err_msg=name)
      else:
        # Bit for bit: NaN and -0.0 survive too.
        np.testing.assert_array_equal(
          got[name].view(np.uint8), column.view(np.uint8), err_msg=name
        )

  def test_columns_of(self):
    self.assertEqual(
      self.columns,
      {
        "id": ("int64", ()),
        "score": ("float32", (L,)),
        "item": ("int64", (L,)),
        "user": ("string", ()),
        "title": ("string", (L,)),
      },
    )

  def test_round_trip_is_exact(self):
    written, files = self._write()
    self.assertEqual(
      written,
      [
        {
          "file": "train-00000.tfrecord",
          "lists": N,
          "bytes": written[0]["bytes"],
        }
      ],
    )
    self.assertEqual(written[0]["bytes"], os.path.getsize(files[0]))
    self.assertTablesEqual(shards.read(files, self.columns), self.table)

  def test_small_shards_split_the_lists(self):
    # A limit below one block closes a shard after each block of 256 lists.
    written, files = self._write(shard_mb=1e-6)
    self.assertEqual([s["lists"] for s in written], [256, 256, 256, 232])
    self.assertEqual(
      [s["file"] for s in written],
      [f"train-0000{i}.tfrecord" for i in range(4)],
    )
    for shard, file in zip(written, files, strict=True):
      self.assertEqual(shard["bytes"], os.path.getsize(file))
    # Read back in file order, the shards are the table.
    self.assertTablesEqual(shards.read(files, self.columns), self.table)
    # And each shard holds its own run of lists.
    second = shards.read(files[1:2], self.columns)
    np.testing.assert_array_equal(second["id"], np.arange(256, 512))

  def test_writer_split_counts_lists_per_file(self):
    writer = shards.Writer(self.directory, "valid", self.columns, 1e-6)
    # Two tables, each of two blocks (256 + 44 and 256 + 144).
    writer.add({k: v[:300] for k, v in self.table.items()})
    writer.add({k: v[300:700] for k, v in self.table.items()})
    split = writer.split()
    self.assertEqual(split.file_lists, (256, 44, 256, 144))
    self.assertEqual(split.lists, 700)
    self.assertLen(split.files, 4)
    self.assertEqual(split.columns, self.columns)
    got = shards.read(split.files, split.columns)
    np.testing.assert_array_equal(got["id"], np.arange(700))

  def test_writer_refuses_other_columns_and_shapes(self):
    writer = shards.Writer(self.directory, "train", self.columns)
    with self.assertRaisesRegex(
      ValueError,
      r"Shards 'train': columns \['id', 'item', 'score', 'title'\] differ "
      r"from \['id', 'item', 'score', 'title', 'user'\]",
    ):
      writer.add({k: v for k, v in self.table.items() if k != "user"})
    wide = dict(self.table, item=np.zeros((N, L + 1), np.int64))
    with self.assertRaisesRegex(
      ValueError, r"Column 'item': lists of shape \(5,\), expected \(4,\)"
    ):
      writer.add(wide)

  def test_read_limit_gives_the_first_lists(self):
    _, files = self._write(shard_mb=1e-6)
    for limit in (0, 1, 300, N):
      got = shards.read(files, self.columns, limit=limit)
      self.assertTablesEqual(got, {k: v[:limit] for k, v in self.table.items()})

  def test_chunks_cover_the_lists_in_order_a_chunk_at_a_time(self):
    _, files = self._write(shard_mb=1e-6)  # Blocks of 256 lists.
    for stride, size in ((1, 300), (1, N), (3, 100), (7, 1)):
      got = list(shards.chunks(files, self.columns, stride, size))
      # Whole blocks are read until a chunk holds `size` lists or more.
      sizes = [len(c["id"]) for c in got]
      self.assertTrue(all(s >= size for s in sizes[:-1]), (stride, sizes))
      self.assertLess(max(sizes), size + 256, (stride, sizes))
      joined = {k: np.concatenate([c[k] for c in got]) for k in self.columns}
      self.assertTablesEqual(
        joined,
        {k: np.ascontiguousarray(v[::stride]) for k, v in self.table.items()},
      )

  def test_one_shard_streams_the_in_memory_shuffle(self):
    # What keeps the numbers of runs on lists in memory: one shard and a
    # buffer of at least every list shuffle exactly as from_tensor_slices.
    _, files = self._write()
    reference = (
      tf.data.Dataset.from_tensor_slices(self.table)
      .shuffle(N, seed=7, reshuffle_each_iteration=True)
      .batch(64)
    )
    expected = [list(reference), list(reference)]  # Two epochs.
    self.assertNotAllEqual(
      np.concatenate([b["id"] for b in expected[0]]),
      np.concatenate([b["id"] for b in expected[1]]),
    )
    for buffer in (N, 100_000):
      dataset = shards.dataset(
        files, self.columns, 64, shuffle_buffer=buffer, seed=7, lists=N
      )
      for epoch in range(2):
        got = list(dataset)
        self.assertLen(got, len(expected[epoch]))
        for a, b in zip(got, expected[epoch], strict=True):
          for name in self.columns:
            self.assertAllEqual(a[name], b[name], msg=(buffer, epoch, name))

  def test_several_shards_give_every_list_once_per_epoch(self):
    _, files = self._write(shard_mb=1e-6)
    dataset = shards.dataset(
      files, self.columns, 100, shuffle_buffer=300, seed=1, lists=N
    )
    epochs = [np.concatenate(_ids(dataset)) for _ in range(2)]
    for ids in epochs:
      np.testing.assert_array_equal(np.sort(ids), np.arange(N))
    self.assertNotAllEqual(epochs[0], epochs[1])
    self.assertNotAllEqual(epochs[0], np.arange(N))
    # Every list keeps its own values through the shuffle.
    for batch in dataset:
      ids = batch["id"].numpy()
      self.assertAllEqual(batch["item"], self.table["item"][ids])
      self.assertEqual(
        [v.decode() for v in batch["user"].numpy()],
        self.table["user"][ids].tolist(),
      )

  def test_unshuffled_reads_in_order(self):
    _, files = self._write(shard_mb=1e-6)
    dataset = shards.dataset(files, self.columns, 64, lists=N)
    ids = _ids(dataset)
    self.assertEqual([len(b) for b in ids], [64] * 15 + [40])
    np.testing.assert_array_equal(np.concatenate(ids), np.arange(N))

  def test_workers_read_disjoint_files(self):
    _, files = self._write(shard_mb=1e-6)  # 4 files
    read = []
    for worker in range(2):
      dataset = shards.dataset(
        files, self.columns, 64, shuffle_buffer=50, workers=2, worker=worker
      )
      # With several workers a dataset's size is unknown.
      self.assertEqual(
        dataset.cardinality().numpy(), tf.data.UNKNOWN_CARDINALITY
      )
      read.append(np.concatenate(_ids(dataset)))
    # Worker 0 reads files 0 and 2, worker 1 files 1 and 3.
    np.testing.assert_array_equal(
      np.sort(read[0]), np.r_[np.arange(0, 256), np.arange(512, 768)]
    )
    np.testing.assert_array_equal(
      np.sort(read[1]), np.r_[np.arange(256, 512), np.arange(768, N)]
    )

  def test_a_worker_without_a_file_is_refused(self):
    _, files = self._write(shard_mb=1e-6)  # 4 files
    with self.assertRaisesRegex(
      ValueError,
      r"Worker 4 of 5 has no shard to read; prepare the data in at least 5 "
      r"shards",
    ):
      shards.dataset(files, self.columns, 64, workers=5, worker=4)

  def test_lists_give_the_cardinality(self):
    _, files = self._write(shard_mb=1e-6)
    for batch_size in (64, 100, 1000, 1500):
      dataset = shards.dataset(
        files, self.columns, batch_size, shuffle_buffer=100, lists=N
      )
      expected = -(-N // batch_size)  # 16, 10, 1, 1
      self.assertEqual(dataset.cardinality().numpy(), expected)
      self.assertLen(list(dataset), expected)
    unknown = shards.dataset(files, self.columns, 64)
    self.assertEqual(unknown.cardinality().numpy(), tf.data.UNKNOWN_CARDINALITY)

  def test_repeat_streams_lists_without_end(self):
    _, files = self._write(shard_mb=1e-6)
    dataset = shards.dataset(
      files, self.columns, 100, shuffle_buffer=300, seed=1, repeat=True
    )
    self.assertEqual(
      dataset.cardinality().numpy(), tf.data.INFINITE_CARDINALITY
    )
    # 25 batches of 100 lists: two and a half passes, the first ten batches
    # one whole pass, the next ten another.
    ids = np.concatenate(_ids(dataset.take(25)))
    self.assertLen(ids, 2500)
    np.testing.assert_array_equal(np.sort(ids[:N]), np.arange(N))
    np.testing.assert_array_equal(np.sort(ids[N : 2 * N]), np.arange(N))

  def test_find_corrupt_names_the_damaged_shard(self):
    _, files = self._write(shard_mb=1e-6)
    self.assertIsNone(shards.find_corrupt(files))
    with open(files[2], "r+b") as f:
      f.seek(100)
      byte = f.read(1)
      f.seek(100)
      f.write(bytes([byte[0] ^ 0xFF]))
    found = shards.find_corrupt(files)
    self.assertIsInstance(found, shards.CorruptShard)
    self.assertStartsWith(str(found), f"{files[2]}: corrupt (")
    self.assertIn("prepare the data again", str(found))

  def test_lists_mapping_reads_once_on_demand(self):
    _, files = self._write(shard_mb=1e-6)
    split = shards.Split(tuple(files), self.columns, N)
    lists = shards.Lists({"train": split})
    self.assertEqual(list(lists), ["train"])
    self.assertLen(lists, 1)
    self.assertIn("train", lists)
    self.assertNotIn("test", lists)
    self.assertEqual(lists._read, {})  # `in` reads nothing.
    first = lists["train"]
    self.assertIs(lists["train"], first)
    self.assertTablesEqual(first, self.table)


if __name__ == "__main__":
  tf.test.main()
