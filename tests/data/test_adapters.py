"""The real-data adapters: each reads its folder as SOURCE.md describes it,
passes validation and trains.

The data folder is `loaders.default_data_dir()` ($MULTIOBJ_DATA, else
../shared/data from the working directory: run the tests from the project
root). A test needing a dataset skips, with the reason, when its folder is
absent; the tests of missing folders and files need no data.
"""

import dataclasses
import functools
import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import dataset as dataset_lib
from multiobj.data import loaders, validation
from multiobj.model import features as features_lib
from multiobj.model import model as model_lib
from multiobj.prepare import train_data

DATA_DIR = loaders.default_data_dir()
SMALL = ("kuairand_sample", "ali_ccp_sample", "otto_sample", "mind_sample")
LARGE = ("ml-100k", "deca_ml100k", "taobao_multibehavior")
NAMES = LARGE + SMALL


def _named(names):
  return [{"testcase_name": n.replace("-", "_"), "name": n} for n in names]


@functools.cache
def _cached(name, seed):
  return _load(name, seed=seed)


def _config(name, model_dir, **changes):
  changes.setdefault("data_dir", DATA_DIR)
  return config_lib.TrainConfig(model_dir=model_dir).replace(
    dataset=name, **changes
  )


def _load(name, **changes):
  """Loads `name` through the registry, as training does."""
  config = _config(name, "unused", **changes)
  return loaders.DATASETS.get(name)(config.data, config.seed)


def _pairs(table):
  return set(
    zip(table["user_id"].tolist(), table["item_id"].tolist(), strict=True)
  )


def _concat(data):
  splits = list(data.splits.values())
  return {k: np.concatenate([s[k] for s in splits]) for k in splits[0]}


class AdapterTestCase(tf.test.TestCase, parameterized.TestCase):
  def load(self, name, seed=0):
    """The dataset `name`, or a skipped test when its folder is absent."""
    folder = os.path.join(DATA_DIR, name)
    if not os.path.isdir(folder):
      self.skipTest(
        f"dataset folder {folder} not found; set MULTIOBJ_DATA to the folder "
        "holding the datasets to run this test."
      )
    return _cached(name, seed)

  def row(self, table, **values):
    """The one row of `table` with these column values, as a dict."""
    where = np.ones(dataset_lib.num_rows(table), bool)
    for column, value in values.items():
      where &= table[column] == value
    self.assertEqual(int(where.sum()), 1, values)
    i = int(np.argmax(where))
    return {k: v[i] for k, v in table.items()}


class EveryAdapterTest(AdapterTestCase):
  def test_registered(self):
    self.assertContainsSubset(NAMES, loaders.DATASETS.names())

  @parameterized.named_parameters(_named(NAMES))
  def test_missing_folder_names_path_and_setting(self, name):
    data_dir = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, "MULTIOBJ_DATA") as raised:
      _load(name, data_dir=data_dir)
    self.assertIn(os.path.join(data_dir, name), str(raised.exception))

  @parameterized.named_parameters(_named(NAMES))
  def test_missing_file_names_path(self, name):
    data_dir = self.create_tempdir().full_path
    os.mkdir(os.path.join(data_dir, name))
    with self.assertRaisesRegex(ValueError, "MULTIOBJ_DATA") as raised:
      _load(name, data_dir=data_dir)
    self.assertIn(f"file {os.path.join(data_dir, name)}", str(raised.exception))

  @parameterized.named_parameters(_named(NAMES))
  def test_loads_and_validates(self, name):
    data = self.load(name)
    validation.check(data, data.objectives)
    spec = data.spec
    self.assertEqual(spec.name, name)
    self.assertIsNone(spec.list_id)  # No impression lists: a row is a list.
    self.assertCountEqual(data.splits, ["train", "valid", "test"])
    for objective in data.objectives:
      self.assertIn(objective.label, spec.labels, objective.name)
    catalogue = data.catalogue[spec.item_id]
    for split, table in data.splits.items():
      self.assertTrue(np.isin(table[spec.item_id], catalogue).all(), split)


class CountsTest(AdapterTestCase):
  """Counts and first rows from each folder's SOURCE.md."""

  def test_ml_100k(self):
    data = self.load("ml-100k")
    rows = _concat(data)
    self.assertLen(rows["rating"], 100_000)
    self.assertLen(np.unique(rows["user_id"]), 943)
    self.assertLen(data.catalogue["item_id"], 1682)
    self.assertEqual(
      {k: len(v["rating"]) for k, v in data.splits.items()},
      {"train": 80_000, "valid": 10_000, "test": 10_000},
    )
    # SOURCE.md: ratings 4 and 5 are 34,174 + 21,201 of 100,000.
    self.assertEqual(rows["like"].sum(), 34_174 + 21_201)
    self.assertTrue((rows["watched"] == 1).all())
    # By time: the test split follows the training split.
    self.assertLessEqual(
      data.splits["train"]["timestamp"].max(),
      data.splits["test"]["timestamp"].min(),
    )
    # u.data line 1: 196 242 3 881250949; u.user 196: 49|M|writer; u.item
    # 242: Kolya (1996), released 24-Jan-1997, Comedy.
    first = self.row(data.splits["train"], user_id=196, item_id=242)
    expected = {
      "rating": 3.0,
      "like": 0.0,
      "timestamp": 881250949,
      "age": 49.0,
      "gender": "M",
      "occupation": "writer",
      "title": "Kolya (1996)",
      "genres": "Comedy",
      "year": 1997.0,
    }
    self.assertEqual({k: first[k] for k in expected}, expected)
    toy_story = self.row(data.catalogue, item_id=1)
    self.assertEqual(toy_story["genres"], "Animation|Children's|Comedy")
    # Item 267 has no release date: the median year of the others.
    unknown = self.row(data.catalogue, item_id=267)
    others = data.catalogue["year"][data.catalogue["item_id"] != 267]
    self.assertEqual(unknown["year"], np.median(others))

  def test_deca_ml100k(self):
    data = self.load("deca_ml100k")
    train, valid, test = (data.splits[s] for s in ("train", "valid", "test"))
    self.assertEqual(
      [len(t["item_id"]) for t in (train, valid, test)], [79_619, 1_707, 3_594]
    )
    self.assertLen(np.unique(train["user_id"]), 943)
    self.assertLen(np.unique(train["item_id"]), 1_611)
    self.assertAllEqual(data.catalogue["item_id"], np.arange(1611))
    # Line 1 of ml-100k.train.rating: 196 241 3.
    self.assertEqual(
      [train[c][0] for c in ("user_id", "item_id", "rating")], [196, 241, 3]
    )
    self.assertAllEqual(
      np.bincount(train["rating"].astype(int))[1:],
      [4_338, 8_311, 21_366, 27_999, 17_605],
    )
    self.assertTrue(
      (valid["rating"] == 5).all() and (test["rating"] == 5).all()
    )
    for table in (train, valid, test):
      self.assertTrue((table["interaction"] == 1).all())
    self.assertNotIn("rating", [f.name for f in data.spec.features])
    self.assertNotIn("rating", data.spec.labels)
    # The shipped quirk the docstring warns of: valid pairs are test pairs.
    self.assertLessEqual(_pairs(valid), _pairs(test))
    self.assertEmpty(_pairs(train) & _pairs(test))
    self.assertEqual(data.negatives, dataset_lib.NegativeSampling(1, "uniform"))
    self.assertEqual(
      data.full_ranking,
      dataset_lib.FullRanking(ks=(3, 5, 10, 20), mask=("train", "valid")),
    )

  def test_taobao_multibehavior(self):
    data = self.load("taobao_multibehavior")
    train = data.splits["train"]
    self.assertLen(np.unique(train["user_id"]), 48_749)
    self.assertAllEqual(data.catalogue["item_id"], np.arange(1, 39_494))
    # Union of 193,747 carts and 162,273 buys, 22,764 pairs in both.
    self.assertLen(train["item_id"], 193_747 + 162_273 - 22_764)
    self.assertEqual(train["cart"].sum(), 193_747)
    self.assertEqual(train["purchase"].sum(), 162_273)
    # First lines: buy.txt "1 22645", cart.txt "1 27232", test.txt "1 22870".
    self.assertEqual(self.row(train, user_id=1, item_id=22645)["purchase"], 1)
    self.assertEqual(self.row(train, user_id=1, item_id=27232)["cart"], 1)
    for split in ("valid", "test"):
      table = data.splits[split]
      self.assertLen(table["user_id"], 48_749)
      self.assertLen(np.unique(table["user_id"]), 48_749)
      self.assertTrue((table["purchase"] == 1).all())
    self.assertEqual(
      [data.splits["test"][c][0] for c in ("user_id", "item_id")], [1, 22870]
    )
    self.assertEqual(
      data.negatives, dataset_lib.NegativeSampling(4, "popularity")
    )
    self.assertEqual(
      data.full_ranking,
      dataset_lib.FullRanking(
        ks=(20, 50), mask=("train",), mask_label="purchase", scorer="retrieval"
      ),
    )
    self.assertEqual(data.absent, {"valid": ("cart",), "test": ("cart",)})

  def test_kuairand_sample(self):
    data = self.load("kuairand_sample")
    rows = _concat(data)
    self.assertLen(rows["is_click"], 200)
    self.assertEqual(rows["is_click"].sum(), 32)
    self.assertLen(np.unique(rows["user_id"]), 145)
    self.assertLen(data.catalogue["video_id"], 29)
    self.assertEqual(
      {k: len(v["is_click"]) for k, v in data.splits.items()},
      {"train": 160, "valid": 20, "test": 20},
    )
    # Line 1: user 0, video 5543, not clicked, played 863 ms, 30,066 ms long.
    first = self.row(rows, user_id=0, video_id=5543)
    self.assertEqual(first["is_click"], 0)
    self.assertAllClose(first["dwell"], 0.863)
    self.assertEqual(first["duration_ms"], 30066)
    self.assertEqual(first["is_live_streamer"], "1")
    # onehot_feat4 is written "1.0" in the file: a category code "1".
    self.assertEqual(first["onehot_feat4"], "1")
    # The split is seeded: the same seed repeats it, another changes it.
    again = _load("kuairand_sample")
    self.assertAllEqual(
      again.splits["test"]["user_id"], data.splits["test"]["user_id"]
    )
    other = self.load("kuairand_sample", seed=1)
    self.assertNotAllEqual(
      other.splits["test"]["user_id"], data.splits["test"]["user_id"]
    )

  def test_ali_ccp_sample(self):
    data = self.load("ali_ccp_sample")
    counts = {
      k: (len(v["click"]), v["click"].sum(), v["purchase"].sum())
      for k, v in data.splits.items()
    }
    self.assertEqual(
      counts, {"train": (100, 7, 1), "valid": (50, 3, 1), "test": (50, 2, 1)}
    )
    # Line 1 of the training file.
    first = {k: v[0] for k, v in data.splits["train"].items()}
    self.assertEqual(
      {k: first[k] for k in ("user_id", "item_id", "f206", "f216", "f301")},
      {"user_id": 1, "item_id": 0, "f206": "1", "f216": "0", "f301": "1"},
    )
    self.assertAllClose(
      [first[k] for k in ("d109_14", "d508", "d509")], [0.4734, 0.07556, 0.0]
    )

  def test_otto_sample(self):
    data = self.load("otto_sample")
    rows = _concat(data)
    # 862 events on 527 (session, aid) pairs: 525 clicked, 48 carted and 10
    # ordered (counted by hand from the JSON lines).
    self.assertLen(rows["aid"], 527)
    self.assertEqual(
      [rows[c].sum() for c in ("click", "cart", "order")], [525, 48, 10]
    )
    self.assertLen(np.unique(rows["session"]), 20)
    self.assertLen(data.catalogue["aid"], 510)
    sessions = {k: set(v["session"].tolist()) for k, v in data.splits.items()}
    self.assertEqual([len(sessions[k]) for k in sessions], [16, 2, 2])
    self.assertEqual(sessions["test"], {12899777, 12899778})
    # Line 1: session 0 starts with a click on 1517085 at 1659304800025.
    first = self.row(rows, session=0, aid=1517085)
    self.assertEqual(first["timestamp"], 1659304800025)
    self.assertEqual(first["click"], 1)
    self.assertEqual(data.negatives.distribution, "popularity")

  def test_mind_sample(self):
    data = self.load("mind_sample")
    rows = _concat(data)
    self.assertLen(rows["click"], 8000)
    self.assertEqual(rows["click"].sum(), 363)
    self.assertLen(np.unique(rows["user_id"]), 7892)
    self.assertLen(data.catalogue["news_id"], 1921)
    first = self.row(rows, user_id="U479610", news_id="N110473")
    self.assertEqual(
      [first[c] for c in ("click", "category", "subcategory")],
      [0, "sports", "football_ncaa"],
    )


class TrainTest(AdapterTestCase):
  @parameterized.named_parameters(_named(SMALL))
  def test_small_sample_trains_one_epoch(self, name):
    self.load(name)
    # Large enough that every batch of mind_sample (4.5% clicks) holds a
    # click: the retrieval loss fails on a batch without a positive.
    config = _config(
      name, self.create_tempdir().full_path, epochs=1, batch_size=256
    )
    result = experiment.run(config, verbose=0)
    for objective in result.config.objectives:
      loss = result.history[f"{objective.name}_loss"]
      self.assertTrue(np.isfinite(loss).all(), objective.name)
    self.assertNotEmpty(result.metrics)

  # Full epochs of the large datasets take minutes: a few steps on a cut.
  @parameterized.named_parameters(_named(LARGE))
  def test_large_dataset_trains_on_a_subset(self, name):
    data = self.load(name)
    rng = np.random.default_rng(0)
    splits = {}
    for split, rows in data.splits.items():
      size = 2048 if split == "train" else 256
      index = np.sort(rng.choice(dataset_lib.num_rows(rows), size, False))
      splits[split] = dataset_lib.take(rows, index)
    data = dataclasses.replace(data, splits=splits)
    config = _config(
      name, self.create_tempdir().full_path, epochs=1, batch_size=256
    )
    prepared = train_data.prepare(data, config)
    validation.check(prepared.data, prepared.config.objectives)
    stats = features_lib.compute_stats(
      data.spec, prepared.data.split("train"), config.model.text_max_tokens
    )
    model = model_lib.build(data.spec, stats, prepared.config)
    history = model.fit(prepared.train_dataset(), epochs=1, verbose=0)
    for objective in prepared.config.objectives:
      loss = history.history[f"{objective.name}_loss"]
      self.assertTrue(np.isfinite(loss).all(), objective.name)


if __name__ == "__main__":
  tf.test.main()
