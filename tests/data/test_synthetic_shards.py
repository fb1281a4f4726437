"""The synthetic log in chunks, and written as Parquet shards that the JSON
description loader reads back as `generate` draws it."""

import dataclasses
import io
import json
import os
from contextlib import redirect_stdout
from unittest import mock

import numpy as np
from absl.testing import absltest, flagsaver

from experiments import write_synthetic
from multiobj.data import readers, synthetic
from multiobj.data.description import loader
from multiobj.data.synthetic import log

# 1,800 requests in chunks of at most 500: four chunks of 450.
CHUNK = 500
SMALL = synthetic.SyntheticConfig(
  num_users=300, num_items=200, num_requests=1800, seed=5
)
# Truth columns of `generate`'s rows that its SPEC does not name; the files
# hold them, the description does not.
UNDESCRIBED = {"examination", "noise_click"}


def _concat(tables):
  return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


class ChunksTest(absltest.TestCase):
  def setUp(self):
    super().setUp()
    self.enter_context(mock.patch.object(log, "REQUESTS_PER_CHUNK", CHUNK))

  def test_chunks_are_bounded_global_and_in_time_order(self):
    parts = list(synthetic.chunks(SMALL))
    self.assertLen(parts, 4)
    for part in parts:
      self.assertLessEqual(len(np.unique(part["request_id"])), CHUNK)
    rows = _concat(parts)
    # Requests are numbered over the whole log, and time never goes back.
    np.testing.assert_array_equal(
      rows["request_id"], np.repeat(np.arange(1800), 10)
    )
    self.assertTrue(np.all(np.diff(rows["timestamp"]) >= 0))
    self.assertLess(rows["timestamp"].max(), SMALL.num_days * 86400)
    # The same columns, dtypes and order as the in-memory log.
    data = synthetic.generate(SMALL)
    self.assertEqual(
      [(k, v.dtype) for k, v in rows.items()],
      [(k, v.dtype) for k, v in data.splits["train"].items()],
    )

  def test_generate_is_the_chunks_split_by_time(self):
    rows = _concat(list(synthetic.chunks(SMALL)))
    data = synthetic.generate(SMALL)
    together = _concat([data.splits[s] for s in ("train", "valid", "test")])
    for name, column in rows.items():
      np.testing.assert_array_equal(together[name], column, err_msg=name)

  def test_click_noise_share_holds_per_chunk(self):
    for part in synthetic.chunks(SMALL):
      clicks = part["click"] > 0
      share = part["noise_click"][clicks].mean()
      self.assertAlmostEqual(share, SMALL.click_noise, delta=0.06)


class WriteShardsTest(absltest.TestCase):
  def setUp(self):
    super().setUp()
    self.enter_context(mock.patch.object(log, "REQUESTS_PER_CHUNK", CHUNK))
    self.directory = self.create_tempdir().full_path
    self.path = synthetic.write_shards(SMALL, self.directory)

  def test_layout(self):
    self.assertEqual(self.path, os.path.join(self.directory, "dataset.json"))
    self.assertEqual(
      sorted(os.listdir(os.path.join(self.directory, "rows"))),
      [f"part-0000{i}.parquet" for i in range(4)],
    )
    with open(self.path) as f:
      described = json.load(f)
    self.assertEqual(
      described["split"], {"method": "time", "valid": 0.1, "test": 0.1}
    )
    self.assertEqual(
      described["info"]["synthetic_config"]["num_requests"], 1800
    )

  def test_shards_hold_the_chunks(self):
    for i, part in enumerate(synthetic.chunks(SMALL)):
      read = readers.read_table(
        os.path.join(self.directory, "rows", f"part-{i:05d}.parquet")
      )
      self.assertEqual(list(read), list(part))
      for name, column in part.items():
        # The reader widens float32 to float64; the values are the same.
        np.testing.assert_array_equal(read[name], column, err_msg=name)

  def test_description_loads_as_generate(self):
    data = loader.load(self.path)
    expected = synthetic.generate(SMALL)
    self.assertEqual(data.spec, expected.spec)
    self.assertEqual(data.objectives, expected.objectives)
    self.assertEqual(list(data.splits), list(expected.splits))
    for split, table in expected.splits.items():
      loaded = data.splits[split]
      self.assertEqual(set(table) - set(loaded), UNDESCRIBED)
      for name, column in loaded.items():
        self.assertEqual(column.dtype, table[name].dtype, (split, name))
        np.testing.assert_array_equal(
          column, table[name], err_msg=f"{split}/{name}"
        )
    for name, column in expected.catalogue.items():
      np.testing.assert_array_equal(data.catalogue[name], column, name)

  def test_same_config_again_is_not_redrawn(self):
    with open(self.path) as f:
      written = json.load(f)
    with open(self.path, "w") as f:  # An older format, the same info.
      json.dump({**written, "columns": []}, f)
    with mock.patch.object(log, "chunks", side_effect=AssertionError):
      with self.assertLogs(level="INFO") as logs:
        path = synthetic.write_shards(SMALL, self.directory)
    self.assertEqual(path, self.path)
    self.assertIn("not drawn again", "".join(logs.output))
    with open(self.path) as f:
      self.assertEqual(json.load(f), written)

  def test_refuses_another_config(self):
    other = synthetic.SyntheticConfig(**{**SMALL.__dict__, "seed": 6})
    with self.assertRaisesRegex(
      ValueError, r"another config \(seed 5 there, 6 here\)"
    ):
      synthetic.write_shards(other, self.directory)

  def test_refuses_a_foreign_directory(self):
    directory = self.create_tempdir()
    directory.create_file("notes.txt")
    with self.assertRaisesRegex(
      ValueError, "not empty and not an output of write_shards.*notes.txt"
    ):
      synthetic.write_shards(SMALL, directory.full_path)

  def test_rewrites_an_interrupted_output(self):
    directory = self.create_tempdir()
    directory.create_file("rows/part-00007.parquet")
    directory.create_file("rows/.part-00008.parquet.tmp")
    path = synthetic.write_shards(SMALL, directory.full_path)
    self.assertLen(os.listdir(os.path.join(directory.full_path, "rows")), 4)
    self.assertTrue(os.path.exists(path))


class ScriptTest(absltest.TestCase):
  def test_docstring_example_at_small_size(self):
    self.assertIn(
      "python -m experiments.write_synthetic", write_synthetic.__doc__
    )
    directory = os.path.join(self.create_tempdir().full_path, "syn")
    out = io.StringIO()
    with flagsaver.flagsaver(
      output_dir=directory,
      synthetic_requests=600,
      synthetic_users=200,
      synthetic_items=100,
    ):
      with mock.patch.object(log, "REQUESTS_PER_CHUNK", 250):
        with redirect_stdout(out):
          write_synthetic.main(["write_synthetic"])
    path = os.path.join(directory, "dataset.json")
    self.assertEqual(out.getvalue().strip(), path)
    self.assertLen(os.listdir(os.path.join(directory, "rows")), 3)
    self.assertLen(loader.load(path).catalogue["item_id"], 100)


if __name__ == "__main__":
  absltest.main()


class FeaturesTest(absltest.TestCase):
  """The log with the user's recent clicks and item vectors."""

  def test_shards_load_as_generate(self):
    config = dataclasses.replace(SMALL, history_length=5, item_vectors=8)
    directory = self.create_tempdir().full_path
    data = loader.load(synthetic.write_shards(config, directory))
    expected = synthetic.generate(config)
    # The same features; the vectors' files differ in place only.
    vectors_at = {
      f.name: f.vectors for f in data.spec.features if f.kind == "embedding"
    }
    self.assertEqual(
      vectors_at, {"item_vector": os.path.join(directory, "item_vectors.npz")}
    )
    ours = expected.spec.feature("item_vector").vectors
    for name in ("ids", "vectors"):
      np.testing.assert_array_equal(
        np.load(vectors_at["item_vector"])[name], np.load(ours)[name]
      )
    self.assertEqual(
      [{**dataclasses.asdict(f), "vectors": ""} for f in data.spec.features],
      [
        {**dataclasses.asdict(f), "vectors": ""} for f in expected.spec.features
      ],
    )
    self.assertEqual(np.load(ours)["vectors"].shape, (200, 8))
    for split, table in expected.splits.items():
      loaded = data.splits[split]
      for name in ("recent_clicks", "item_vector", "item_id"):
        np.testing.assert_array_equal(loaded[name], table[name], name)
    clicks = expected.splits["test"]["recent_clicks"]
    lengths = [len(h.split("|")) if h else 0 for h in clicks]
    self.assertEqual(max(lengths), 5)
    self.assertGreater(np.mean(lengths), 1)
