"""A described log prepared in pieces (prepare/stream.py): the lists,
statistics and logQ of preparation in memory, and messages that name the
file and row wherever a piece is."""

import contextlib
import dataclasses
import glob
import os
import re
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
from absl import logging
from absl.testing import parameterized

from multiobj import config as config_lib
from multiobj.data import loaders, synthetic
from multiobj.prepare import cache, partition, shards, stream, train_data
from tests.data.test_description import COLUMNS, write_shop

LOG = synthetic.SyntheticConfig(
  num_users=300, num_items=200, num_requests=3000, seed=5
)
# About 10 KB of file a piece: Parquet pieces of 1,024 rows (30 of the
# synthetic log's 30,000), CSV pieces of about 330 rows.
PIECE_MB = 0.01
ITEM_VECTORS = {
  "name": "item_vector",
  "role": "candidate",
  "type": "embedding",
  "vectors": {"path": "v.parquet"},
}
BUILT_HISTORY = {
  "name": "recent_clicks",
  "role": "query",
  "type": "history",
  "built_from": "click",
  "max_length": 5,
}
SPLITS = ("train", "valid", "test")


@contextlib.contextmanager
def small_pieces():
  """Pieces of PIECE_MB, and a budget that counts the rows alone (not the
  process's own memory), so that 1 MB gives partitions of a quarter MB."""
  with (
    mock.patch.object(partition, "PIECE_MB", PIECE_MB),
    mock.patch.object(partition, "resident_mb", return_value=0.0),
    mock.patch.object(partition, "_LEAST_PARTITION_MB", 0.01),
  ):
    yield


def _config(path, directory, **changes):
  return config_lib.TrainConfig(
    model_dir=os.path.join(directory, "run")
  ).replace(dataset="json", dataset_spec=path, **changes)


def _in_memory(config):
  return train_data.prepare(loaders.load(config.data, 0), config)


def _canonical(lists):
  """`lists` in an order that depends on their values only."""
  names = sorted(lists)

  def key(i):
    return tuple(
      lists[n][i].tobytes() if lists[n].dtype != object else repr(lists[n][i])
      for n in names
    )

  order = sorted(range(len(lists[names[0]])), key=key)
  return {n: lists[n][order] for n in names}


def _shop_rows(requests=2500, bad=None):
  """A shop log (see test_description): `requests` lists of 4 rows, about
  30 bytes a row; `bad` = (1-based data row, column, value) to spoil."""
  rng = np.random.default_rng(1)
  lines = ["request_id,ts,user_id,item_id,position,click,dwell,rating"]
  for r in range(requests):
    user = f"u{rng.integers(30)}"
    for p, item in enumerate(rng.choice(20, 4, replace=False), start=1):
      click = int(rng.random() < 0.3)
      dwell = round(float(rng.exponential(30)), 1) if click else 0
      values = [r, r * 60, user, item, p, click, dwell, rng.integers(1, 6)]
      lines.append(",".join(map(str, values)))
  if bad is not None:
    row, column, value = bad
    fields = lines[row].split(",")
    fields[lines[0].split(",").index(column)] = value
    lines[row] = ",".join(fields)
  return "\n".join(lines) + "\n"


class StreamTestCase(tf.test.TestCase, parameterized.TestCase):
  def assertListsEqual(self, got, expected):
    self.assertEqual(sorted(got), sorted(expected))
    for name, column in expected.items():
      self.assertEqual(got[name].dtype, column.dtype, name)
      self.assertEqual(got[name].shape, column.shape, name)
      np.testing.assert_array_equal(got[name], column, err_msg=name)

  def setUp(self):
    super().setUp()
    # The tests read INFO logs; another test may have lowered absl's level.
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    self.addCleanup(logging.set_verbosity, verbosity)

  def streamed(self, config, directory):
    """`stream.prepare` in small pieces: (the data, {split: its lists read
    back}, the partitions it used)."""
    scratch = os.path.join(directory, "scratch")
    os.makedirs(scratch)
    with small_pieces():
      with self.assertLogs(level="INFO") as logs:
        data, splits = stream.prepare(config, scratch)
    done = [m for m in logs.output if "pass 1 done" in m]
    self.assertLen(done, 1)
    partitions = int(done[0].split(" lists, ")[1].split(" partitions")[0])
    # The shards are in `scratch`; the partition files are gone.
    self.assertEqual(
      sorted(os.listdir(scratch)),
      sorted(os.path.basename(f) for s in splits.values() for f in s.files),
    )
    lists = {s: shards.read(f.files, f.columns) for s, f in splits.items()}
    return data, lists, partitions


class SyntheticLogTest(StreamTestCase):
  """The synthetic log as Parquet shards, prepared in pieces."""

  def setUp(self):
    super().setUp()
    self.directory = self.create_tempdir().full_path
    self.path = synthetic.write_shards(LOG, os.path.join(self.directory, "log"))
    self.config = _config(self.path, self.directory)
    self.memory = _in_memory(self.config)

  def assertSummaryClose(self, got, expected):
    self.assertEqual(sorted(got), sorted(expected))
    for split, info in expected.items():
      self.assertEqual(sorted(got[split]), sorted(info), split)
      for key, value in info.items():
        # Label means: float64 sums of pieces, float32 means in memory.
        self.assertAllClose(got[split][key], value, rtol=1e-6, msg=key)

  def test_one_partition_is_preparation_in_memory(self):
    directory = self.create_tempdir().full_path
    data, lists, partitions = self.streamed(self.config, directory)
    self.assertEqual(partitions, 1)
    memory = self.memory
    self.assertEqual(list(lists), list(SPLITS))
    self.assertEqual(
      {s: len(t["user_id"]) for s, t in lists.items()},
      {"train": 2400, "valid": 300, "test": 300},
    )
    for split in SPLITS:
      with self.subTest(split=split):
        self.assertListsEqual(lists[split], memory.lists[split])
    self.assertEqual(data.stats.vocabularies, memory.stats.vocabularies)
    self.assertEqual(data.stats.moments, memory.stats.moments)
    self.assertEqual(data.uniform_probability.dtype, np.float32)
    self.assertTrue(
      np.array_equal(data.uniform_probability, memory.uniform_probability)
    )
    self.assertEqual(data.config, memory.config)
    self.assertEqual(data.lists, {})
    self.assertSummaryClose(data.summary, memory.summary)

  def test_several_partitions_give_the_same_lists(self):
    directory = self.create_tempdir().full_path
    config = self.config.replace(memory_mb=1)
    data, lists, partitions = self.streamed(config, directory)
    # About 0.3 MB of Parquet, 2.3 MB in memory, a third of 1 MB each: 7.
    self.assertGreater(partitions, 1)
    memory = self.memory
    for split in SPLITS:
      with self.subTest(split=split):
        self.assertListsEqual(
          _canonical(lists[split]), _canonical(memory.lists[split])
        )
    # Partitions hash lists apart: the order differs.
    self.assertNotAllEqual(
      lists["train"]["user_id"], memory.lists["train"]["user_id"]
    )
    self.assertEqual(data.stats.vocabularies, memory.stats.vocabularies)
    self.assertEqual(sorted(data.stats.moments), ["age", "price"])
    for name, (mean, var) in memory.stats.moments.items():
      self.assertAllClose(data.stats.moments[name], (mean, var), rtol=1e-12)
    # Item counts are integers: summed over partitions, exact.
    self.assertTrue(
      np.array_equal(data.uniform_probability, memory.uniform_probability)
    )
    self.assertEqual(
      data.config,
      dataclasses.replace(memory.config, prepare=data.config.prepare),
    )
    self.assertEqual(data.config.prepare.memory_mb, 1)
    self.assertSummaryClose(data.summary, memory.summary)

  def test_the_cache_prepares_a_large_log_in_pieces(self):
    # Beyond --prepare_memory_mb the cache never loads the log whole.
    directory = os.path.join(self.create_tempdir().full_path, "cache")
    config = self.config.replace(memory_mb=1, epochs=1, batch_size=256)
    self.assertTrue(stream.in_pieces(config))
    self.assertFalse(stream.in_pieces(self.config))
    with mock.patch.object(loaders, "load", side_effect=AssertionError):
      with small_pieces():
        data = cache.prepared(config, directory)
    self.assertEqual(
      cache.read_manifest(directory)["splits"]["train"]["lists"], 2400
    )
    for split in SPLITS:
      self.assertListsEqual(
        _canonical(data.lists[split]), _canonical(self.memory.lists[split])
      )
    # Its training batches hold every list once.
    users = np.concatenate([b["user_id"].numpy() for b in data.train_dataset()])
    np.testing.assert_array_equal(
      np.sort(users), np.sort(self.memory.lists["train"]["user_id"])
    )


class DescribedCsvTest(StreamTestCase):
  """A shop log in CSV with a users file and a catalogue."""

  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  @parameterized.named_parameters(
    ("time_split", {}, 4096, 1),
    ("random_split", {"split": {"method": "random", "test": 0.2}}, 4096, 1),
    ("without_list_ids", {"columns": COLUMNS[:2] + COLUMNS[3:]}, 4096, 1),
    # 0.3 MB of CSV, several MB in NumPy: partitions of a quarter of 1 MB.
    ("several_partitions", {}, 1, 2),
    # Partitioned by user, each history built from its user's rows alone.
    ("built_history", {"columns": [*COLUMNS, BUILT_HISTORY]}, 1, 2),
    # Without list ids the rows are events: the history is trained at every
    # position, the training lists windows of each user's rows.
    (
      "windows_of_events",
      {
        "columns": [
          *(c for c in COLUMNS if c["role"] != "list_id"),
          BUILT_HISTORY,
        ]
      },
      1,
      2,
    ),
    ("item_vectors", {"columns": [*COLUMNS, ITEM_VECTORS]}, 1, 2),
  )
  def test_lists_of_preparation_in_memory(self, shop, memory_mb, partitions):
    vectors = np.random.default_rng(0).normal(size=(15, 4))
    pq.write_table(
      pa.table({"item_id": range(15), "vector": list(vectors)}),
      os.path.join(self.folder, "v.parquet"),
    )
    path = write_shop(self.folder, rows=_shop_rows(), **shop)
    config = _config(path, self.folder, memory_mb=memory_mb)
    memory = _in_memory(config)
    # A history of a log without list ids is trained in windows.
    roles = {c["role"] for c in shop.get("columns", COLUMNS)}
    windowed = (
      BUILT_HISTORY in shop.get("columns", []) and "list_id" not in roles
    )
    self.assertEqual(
      "__events/recent_clicks" in memory.lists["train"], windowed
    )
    data, lists, used = self.streamed(config, self.folder)
    if partitions > 1:
      self.assertGreaterEqual(used, partitions)
    else:
      self.assertEqual(used, 1)
    self.assertEqual(list(lists), list(memory.lists))
    for split, expected in memory.lists.items():
      got = lists[split]
      if partitions > 1:
        got, expected = _canonical(got), _canonical(expected)
      with self.subTest(split=split):
        self.assertListsEqual(got, expected)
    self.assertEqual(data.stats.vocabularies, memory.stats.vocabularies)
    self.assertEqual(data.stats.policies, memory.stats.policies)
    self.assertTrue(
      np.array_equal(data.uniform_probability, memory.uniform_probability)
    )

  def test_a_bad_label_names_its_file_and_row(self):
    # Data row 7,001 (line 7,002) is in the 20th piece or so.
    rows = _shop_rows(bad=(7001, "click", "2"))
    path = write_shop(self.folder, rows=rows)
    config = _config(path, self.folder)
    expected = (
      f"{path}: rows: {os.path.join(self.folder, 'rows.csv')}: label 'click' "
      "of objective 'click' must be 0 or 1; row 7001 has 2.0 (1 such rows)."
    )
    with small_pieces():
      with self.assertRaises(ValueError) as raised:
        stream.prepare(config, self.folder)
    self.assertEqual(str(raised.exception), expected)

  def test_a_column_that_changes_kind_is_named(self):
    # request_id is an integer up to data row 8,000, then text ("r2000").
    rows = _shop_rows().splitlines()
    for i in range(8001, len(rows)):
      rows[i] = "r" + rows[i]
    path = write_shop(self.folder, rows="\n".join(rows) + "\n")
    with small_pieces():
      with self.assertRaisesRegex(
        ValueError,
        f"^{re.escape(path)}: rows: "
        f"{re.escape(os.path.join(self.folder, 'rows.csv'))}: column "
        r"'request_id' holds string values from row (\d+), but int64 before; "
        "give the column one kind of value throughout the log.$",
      ) as raised:
        stream.prepare(_config(path, self.folder), self.folder)
    # The row is where the piece holding row 8,001 starts.
    found = int(str(raised.exception).split("from row ")[1].split(",")[0])
    self.assertBetween(found, 7000, 8001)

  def test_string_list_ids_partition_alike_in_every_process(self):
    # Two processes preparing one log must write the same shards, or two
    # runs with the same flags train on batches in another order.
    rows = _shop_rows().splitlines()
    rows[1:] = ["r" + r for r in rows[1:]]  # request ids "r0", "r1", ...
    path = write_shop(self.folder, rows="\n".join(rows) + "\n")
    config = _config(path, self.folder, memory_mb=1)
    _, lists, partitions = self.streamed(config, self.folder)
    self.assertGreater(partitions, 1)
    other = os.path.join(self.create_tempdir().full_path, "other")
    os.makedirs(other)
    script = textwrap.dedent(
      f"""
      from unittest import mock
      from multiobj import config as config_lib
      from multiobj.prepare import partition, stream
      config = config_lib.TrainConfig(model_dir={other!r}).replace(
        dataset="json", dataset_spec={path!r}, memory_mb=1
      )
      with (
        mock.patch.object(partition, "PIECE_MB", {PIECE_MB}),
        mock.patch.object(partition, "resident_mb", return_value=0.0),
        mock.patch.object(partition, "_LEAST_PARTITION_MB", 0.01),
      ):
        stream.prepare(config, {other!r})
      """
    )
    # Another salt of Python's str hash than this process's.
    salt = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    done = subprocess.run(
      [sys.executable, "-c", script],
      env={**os.environ, "PYTHONHASHSEED": salt},
      capture_output=True,
      text=True,
    )
    self.assertEqual(done.returncode, 0, done.stderr[-2000:])
    files = sorted(glob.glob(os.path.join(other, "train-*.tfrecord")))
    again = shards.read(files, shards.columns_of(lists["train"]))
    self.assertListsEqual(again, lists["train"])

  @parameterized.named_parameters(
    ("described_negatives", "negatives", {}, "sampled negatives (--negatives)"),
    ("run_negatives", "", {"negatives": 2}, "sampled negatives (--negatives)"),
    (
      "cold_start",
      "",
      {"cold_start_items": 0.1},
      "cold-start items (--cold_start_items)",
    ),
  )
  def test_refuses_what_needs_the_whole_log(self, described, changes, what):
    shop = {}
    if described:
      # Sampled negatives need rows without a list id.
      shop = {
        "columns": COLUMNS[:2] + COLUMNS[3:],
        "negatives": {"per_positive": 2},
      }
    path = write_shop(self.folder, **shop)
    config = _config(path, self.folder).replace(memory_mb=7, **changes)
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      f"{path}: the log is larger than --prepare_memory_mb=7, so it is "
      f"prepared in pieces, which does not support {what}; raise "
      "--prepare_memory_mb to prepare it in memory.",
    ):
      stream.prepare(config, self.folder)

  def test_a_budget_below_what_the_process_holds_is_refused(self):
    # 900 MB held, 2,000,000 lists of 32 bytes (61 MB) and four partitions
    # of at least 16 MB: 1,025.04 MB, so 1,026.
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "--prepare_memory_mb=1000 is too small for this log: the process "
      "holds 900 MB before reading it (TensorFlow, pyarrow, the catalogue) "
      "and the index of its about 2,000,000 lists takes 61 MB; give at "
      "least 1026.",
    ):
      partition._partition_mb(1000, 900.0, 2_000_000)
    # What the process and the index leave, in quarters.
    self.assertAlmostEqual(
      partition._partition_mb(2048, 448.0, 2**20 * 10), (2048 - 448 - 320) / 4
    )


if __name__ == "__main__":
  tf.test.main()
