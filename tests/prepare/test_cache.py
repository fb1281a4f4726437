"""Prepared data cached on disk (prepare/cache.py): written once, reused by
runs that differ in what does not shape the lists, refused with a reason
when stale or damaged."""

import json
import os
import re
from unittest import mock

import numpy as np
import tensorflow as tf
from absl import logging

import multiobj
from multiobj import config as config_lib
from multiobj.data import loaders, synthetic
from multiobj.prepare import cache, stream, train_data
from tests.data.test_description import write_shop
from tests.prepare import test_stream
from tests.prepare.test_stream import _canonical

LOG = synthetic.SyntheticConfig(
  num_users=200, num_items=100, num_requests=600, list_size=5
)
SPLITS = ("train", "valid", "test")
# The synthetic log's default objectives with click weighted 2 instead of 1.
REWEIGHTED = "retrieval:1,click:2,dwell:0.5,purchase:2"


def _no_loading():
  """Loading the raw log fails the test."""
  return mock.patch.object(
    loaders, "load", side_effect=AssertionError("the raw log was loaded")
  )


class CacheTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    # The tests read INFO logs; another test may have lowered absl's level.
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    self.addCleanup(logging.set_verbosity, verbosity)
    self.folder = self.create_tempdir().full_path
    self.directory = os.path.join(self.folder, "cache")
    self.config = config_lib.TrainConfig(
      model_dir=os.path.join(self.folder, "run")
    ).replace(synthetic=LOG, epochs=1, batch_size=64)

  def assertListsEqual(self, got, expected):
    self.assertEqual(sorted(got), sorted(expected))
    for name, column in expected.items():
      self.assertEqual(got[name].dtype, column.dtype, name)
      np.testing.assert_array_equal(got[name], column, err_msg=name)

  def _prepared(self, config=None):
    return cache.prepared(config or self.config, self.directory)

  def _manifest(self):
    with open(os.path.join(self.directory, cache.MANIFEST)) as f:
      return json.load(f)

  def test_first_run_writes_the_cache(self):
    data = self._prepared()
    self.assertCountEqual(
      os.listdir(self.directory),
      [
        "manifest.json",
        "state.pkl",
        "feature_stats.json",
        "vocabularies",
        "train-00000.tfrecord",
        "valid-00000.tfrecord",
        "test-00000.tfrecord",
      ],
    )
    # No scratch folder is left beside it.
    self.assertEqual(os.listdir(self.folder), ["cache"])
    manifest = self._manifest()
    self.assertEqual(manifest["format"], "multiobj.prepared")
    self.assertEqual(manifest["version"], cache.VERSION)
    self.assertEqual(manifest["library"], multiobj.__version__)
    self.assertEqual(
      manifest["fingerprint"], cache.fingerprint(cache.inputs(self.config))
    )
    # 600 requests split 80/10/10 by time, 5 rows each.
    self.assertEqual(
      {s: (v["lists"], v["rows"]) for s, v in manifest["splits"].items()},
      {"train": (480, 2400), "valid": (60, 300), "test": (60, 300)},
    )
    for split in manifest["splits"].values():
      for shard in split["shards"]:
        size = os.path.getsize(os.path.join(self.directory, shard["file"]))
        self.assertEqual(shard["bytes"], size)
    # The lists are those prepared in memory, in order.
    memory = train_data.prepare(synthetic.generate(LOG), self.config)
    self.assertEqual(list(data.lists), list(SPLITS))
    for split in SPLITS:
      self.assertListsEqual(data.lists[split], memory.lists[split])
    self.assertEqual(data.config, memory.config)
    # The same statistics, the vocabularies on file in the cache.
    self.assertEqual(data.stats.directory, self.directory)
    for name, values in memory.stats.vocabularies.items():
      self.assertEqual(data.stats.values(name), values, name)
    self.assertEqual(data.stats.moments, memory.stats.moments)
    self.assertEqual(data.stats.policies, memory.stats.policies)
    self.assertTrue(
      np.array_equal(data.uniform_probability, memory.uniform_probability)
    )
    self.assertEqual(
      manifest["splits"]["train"]["columns"]["item_id"], ["int64", [5]]
    )

  def test_training_batches_are_those_of_lists_in_memory(self):
    # What keeps `make train`'s numbers: the cached run's batches, derived
    # columns included, are the in-memory run's, epoch after epoch.
    data = self._prepared()
    memory = train_data.prepare(synthetic.generate(LOG), self.config)
    cached, expected = data.train_dataset(), memory.train_dataset()
    self.assertEqual(cached.cardinality().numpy(), 8)  # 480 lists / 64.
    for _ in range(2):
      pairs = list(zip(cached, expected, strict=True))
      self.assertLen(pairs, 8)
      for a, b in pairs:
        self.assertEqual(sorted(a), sorted(b))
        for name in b:
          self.assertAllEqual(a[name], b[name], msg=name)

  def test_second_run_reads_no_raw_log(self):
    first = self._prepared()
    with _no_loading():
      with self.assertLogs(level="INFO") as logs:
        second = self._prepared()
    self.assertIn(
      "reusing the cache in " + self.directory, "".join(logs.output)
    )
    for split in SPLITS:
      self.assertListsEqual(second.lists[split], first.lists[split])
    self.assertEqual(second.stats, first.stats)
    self.assertEqual(second.config, first.config)

  def test_a_synthetic_log_beyond_the_budget_is_prepared_in_pieces(self):
    # 3,000 rows of about 400 bytes exceed 1 MB: the log is written as
    # Parquet shards and streamed, never loaded whole.
    config = self.config.replace(memory_mb=1)
    self.assertTrue(stream.in_pieces(config))
    self.assertFalse(stream.in_pieces(self.config))
    with _no_loading(), test_stream.small_pieces():
      data = self._prepared(config)
    self.assertEqual(os.listdir(self.folder), ["cache"])
    memory = train_data.prepare(synthetic.generate(LOG), config)
    for split in SPLITS:
      self.assertListsEqual(
        _canonical(data.lists[split]), _canonical(memory.lists[split])
      )
    self.assertEqual(data.config, memory.config)
    for name, values in memory.stats.vocabularies.items():
      self.assertEqual(data.stats.values(name), values, name)
    self.assertTrue(
      np.array_equal(data.uniform_probability, memory.uniform_probability)
    )
    with _no_loading():
      self.assertEqual(cache.load(self.directory, config)[1], "")

  def test_a_setting_that_shapes_the_lists_is_stale(self):
    self._prepared()
    shorter = self.config.replace(max_list_size=3)
    found, why = cache.load(self.directory, shorter)
    self.assertIsNone(found)
    self.assertEqual(
      why, "cache is stale: prepare.max_list_size was None, now 3"
    )
    # Preparing again replaces the cache.
    data = self._prepared(shorter)
    self.assertEqual(data.lists["train"]["item_id"].shape, (480, 3))
    self.assertEqual(self._manifest()["inputs"]["prepare"]["max_list_size"], 3)
    self.assertEqual(cache.load(self.directory, self.config)[0], None)

  def test_the_seed_and_the_data_are_inputs(self):
    self._prepared()
    self.assertEqual(
      cache.load(self.directory, self.config.replace(seed=3))[1],
      "cache is stale: seed was 0, now 3",
    )
    other = synthetic.SyntheticConfig(**{**LOG.__dict__, "num_requests": 700})
    why = cache.load(self.directory, self.config.replace(synthetic=other))[1]
    self.assertStartsWith(why, "cache is stale: data.synthetic was ")
    self.assertIn("'num_requests': 600", why)
    self.assertIn("'num_requests': 700", why)

  def test_weights_and_fit_settings_reuse_the_cache(self):
    first = self._prepared()
    run = self.config.replace(
      objective_weights=REWEIGHTED, learning_rate=0.01, epochs=4, shard_mb=1
    )
    with _no_loading():
      data = self._prepared(run)
    self.assertEqual(
      [(o.name, o.weight) for o in data.config.objectives],
      [("retrieval", 1.0), ("click", 2.0), ("dwell", 0.5), ("purchase", 2.0)],
    )
    # Resolved: the weights are in the objectives, the selection is spent.
    self.assertEqual(data.config.prepare.objective_weights, "")
    self.assertEqual(data.config.fit.learning_rate, 0.01)
    self.assertEqual(data.config.fit.epochs, 4)
    self.assertEqual(data.config.model_dir, self.config.model_dir)
    self.assertListsEqual(data.lists["train"], first.lists["train"])

  def test_a_propensity_label_without_propensities_reuses_the_cache(self):
    # The command line's default label is "click", the library's "": without
    # --propensity the label shapes nothing.
    self._prepared()
    with _no_loading():
      self._prepared(self.config.replace(propensity_label="click"))
    found, why = cache.load(
      self.directory,
      self.config.replace(propensity="randomized", propensity_label="click"),
    )
    self.assertIsNone(found)
    self.assertEqual(
      why, "cache is stale: prepare.propensity was 'none', now 'randomized'"
    )

  def test_fewer_objectives_on_the_same_columns_reuse_the_cache(self):
    # A click-only run reads no column the cached lists lack (the module's
    # rule), so a sweep over objectives reads the raw log once.
    first = self._prepared()
    with _no_loading():
      found, why = cache.load(
        self.directory, self.config.replace(objective_weights="click:2")
      )
    self.assertEqual(why, "")
    self.assertEqual(
      [(o.name, o.weight) for o in found.config.objectives], [("click", 2.0)]
    )
    self.assertListsEqual(found.lists["train"], first.lists["train"])

  def test_a_truncated_shard_is_refused(self):
    self._prepared()
    shard = os.path.join(self.directory, "valid-00000.tfrecord")
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
      f.truncate(size - 10)
    found, why = cache.load(self.directory, self.config)
    self.assertIsNone(found)
    self.assertEqual(
      why,
      f"cache refused: {shard}: {size - 10:,} bytes, the manifest says "
      f"{size:,} bytes: the shard is truncated or was replaced; prepare the "
      "data again.",
    )
    with self.assertRaisesRegex(cache.CacheError, "truncated"):
      cache.read_manifest(self.directory)
    # The next run prepares it again.
    data = self._prepared()
    self.assertEqual(os.path.getsize(shard), size)
    self.assertEqual(len(data.lists["valid"]["item_id"]), 60)

  def test_a_missing_shard_is_refused(self):
    self._prepared()
    shard = os.path.join(self.directory, "test-00000.tfrecord")
    os.remove(shard)
    why = cache.load(self.directory, self.config)[1]
    self.assertStartsWith(why, f"cache refused: {shard}: missing, the manifest")

  def test_another_format_version_is_refused(self):
    self._prepared()
    manifest = self._manifest()
    manifest["version"] = 99
    path = os.path.join(self.directory, cache.MANIFEST)
    with open(path, "w") as f:
      json.dump(manifest, f)
    found, why = cache.load(self.directory, self.config)
    self.assertIsNone(found)
    version = multiobj.__version__
    self.assertEqual(
      why,
      f"cache refused: {path}: written by multiobj {version} (cache format "
      f"99); this is {version} (format {cache.VERSION}).",
    )

  def test_a_damaged_manifest_is_refused(self):
    self._prepared()
    path = os.path.join(self.directory, cache.MANIFEST)
    with open(path, "w") as f:
      f.write('{"format": ')
    with self.assertRaisesRegex(
      cache.CacheError, f"^{re.escape(path)}: not a valid manifest"
    ):
      cache.read_manifest(self.directory)
    self.assertStartsWith(
      cache.load(self.directory, self.config)[1], f"cache refused: {path}"
    )

  def test_no_cache(self):
    self.assertEqual(
      cache.load(self.directory, self.config),
      (None, f"no cache in {self.directory}"),
    )

  def test_an_edited_data_file_makes_a_described_log_stale(self):
    path = write_shop(self.folder)
    config = self.config.replace(dataset="json", dataset_spec=path)
    rows = os.path.join(self.folder, "rows.csv")
    files = [f[0] for f in cache.inputs(config)["files"]]
    self.assertEqual(
      files,
      [os.path.abspath(path), rows]
      + [os.path.join(self.folder, n) for n in ("items.csv", "users.jsonl")],
    )
    data = self._prepared(config)
    self.assertEqual(len(data.lists["train"]["item_id"]), 72)
    with _no_loading():
      self.assertEqual(cache.load(self.directory, config)[1], "")
    with open(rows, "a") as f:
      f.write("999,99999,u1,3,1,0,0,2\n")
    found, why = cache.load(self.directory, config)
    self.assertIsNone(found)
    self.assertEqual(why, f"cache is stale: data file {rows} changed")


if __name__ == "__main__":
  tf.test.main()
