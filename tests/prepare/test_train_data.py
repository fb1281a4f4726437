"""Sampled negatives, cold start and objective resolution."""

import dataclasses

import numpy as np
import tensorflow as tf

import objectives
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import dataset as dataset_lib
from multiobj.data import loaders, synthetic
from multiobj.data import spec as spec_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import negatives, resolve, train_data

SPEC = spec_lib.DatasetSpec(
  name="toy_log",
  features=(
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
    spec_lib.Feature("genres", "candidate", "multi_category"),
    spec_lib.Feature("year", "candidate", "numeric", transform="none"),
  ),
  labels=("watched", "rating"),
  item_id="item",
  user_id="user",
)
NUM_ITEMS = 40


def _toy(num_users=60, seed=0):
  """A log of positives only: each user watched 8 of 40 items and rated them."""
  rng = np.random.default_rng(seed)
  users = np.repeat(np.arange(num_users), 8)
  items = np.concatenate(
    [rng.choice(NUM_ITEMS, 8, replace=False) for _ in range(num_users)]
  )
  genres = np.array(
    ["Action|Comedy", "Drama", "Comedy|Drama|Romance", ""], dtype=object
  )
  catalogue = {
    "item": np.arange(NUM_ITEMS),
    "genres": genres[np.arange(NUM_ITEMS) % 4],
    "year": 1990.0 + np.arange(NUM_ITEMS) % 10,
  }
  rows = {
    "user": users,
    "item": items,
    "genres": catalogue["genres"][items],
    "year": catalogue["year"][items],
    "watched": np.ones(len(users), np.float32),
    "rating": rng.integers(1, 6, len(users)).astype(np.float32),
  }
  test = np.arange(len(users)) % 8 == 7
  return dataset_lib.Dataset(
    spec=SPEC,
    splits={
      "train": dataset_lib.take(rows, np.flatnonzero(~test)),
      "test": dataset_lib.take(rows, np.flatnonzero(test)),
    },
    catalogue=catalogue,
    objectives=(
      dataclasses.replace(objectives.get("retrieval"), label="watched"),
      dataclasses.replace(
        objectives.get("click"), label="watched", metrics=("auc",)
      ),
      objectives.get("rating"),
    ),
    negatives=dataset_lib.NegativeSampling(
      per_positive=3, distribution="uniform"
    ),
  )


class NegativeSamplerTest(tf.test.TestCase):
  def test_never_a_users_own_item(self):
    data = _toy()
    train = data.splits["train"]
    sampler = negatives.NegativeSampler(
      data.negatives, SPEC, data.catalogue, train
    )
    lists = train_data.prepare(
      data, config_lib.TrainConfig(model_dir="x")
    ).lists["train"]
    self.assertEqual(lists[lists_lib.MASK].shape, (len(train["user"]), 4))
    own = set(zip(train["user"].tolist(), train["item"].tolist(), strict=True))
    drawn = lists["item"][:, 1:]
    for user, row in zip(lists["user"], drawn, strict=True):
      for item in row:
        self.assertNotIn((user, item), own)
    # Negatives: every label 0, logged slot first, candidate features from
    # the catalogue.
    self.assertAllEqual(lists["watched"][:, 1:], np.zeros_like(drawn))
    self.assertAllEqual(lists["rating"][:, 1:], np.zeros_like(drawn))
    self.assertAllEqual(lists[negatives.OBSERVED][0], [1, 0, 0, 0])
    self.assertAllEqual(lists["genres"][:, 1:], data.catalogue["genres"][drawn])
    # A fresh draw differs.
    one_row = {k: v[:, :1] if v.ndim == 2 else v for k, v in lists.items()}
    one_row.pop(negatives.OBSERVED)
    again = sampler.add(one_row, seed=1)
    self.assertNotAllEqual(again["item"][:, 1:], drawn)

  def test_popularity_distribution(self):
    # Item 0 in 90 rows, item 1 in 10: with alpha 1, negatives of a user who
    # has neither are 0 nine times as often as 1.
    rows = {
      "user": np.arange(100) + 1000,
      "item": np.r_[np.zeros(90), np.ones(10)].astype(int),
    }
    catalogue = {"item": np.array([0, 1, 2])}
    sampling = dataset_lib.NegativeSampling(
      per_positive=1, distribution="popularity", alpha=1.0
    )
    sampler = negatives.NegativeSampler(sampling, SPEC, catalogue, rows)
    lists = {"user": np.zeros(20000, int), "item": np.full((20000, 1), 2)}
    lists[lists_lib.MASK] = np.ones((20000, 1), np.float32)
    drawn = sampler.add(lists, seed=0)["item"][:, 1]
    self.assertAlmostEqual(np.mean(drawn == 0), 0.9, delta=0.01)
    self.assertEqual(
      np.sum(drawn == 2), 0
    )  # Never seen in training: never drawn.

  def test_trains_with_negatives_multi_category_and_rating_on_logged_rows(self):
    data = _toy()

    @loaders.DATASETS.register("toy_log")
    def _load(data_config, seed):
      del data_config, seed  # Unused.
      return data

    result = experiment.run(
      config_lib.TrainConfig(model_dir=self.create_tempdir().full_path).replace(
        dataset="toy_log", epochs=2
      ),
      verbose=0,
    )
    self.assertEqual(result.data["negatives"]["per_positive"], 3)
    metrics = result.metrics
    for key in ("retrieval_recall@10", "click_auc", "rating_rmse"):
      self.assertTrue(np.isfinite(metrics[key]), key)
    # Ratings are scored on logged rows only: one a test list.
    self.assertEqual(
      result.counts["rating_rows"], len(data.splits["test"]["user"])
    )
    self.assertEqual(
      result.counts["click_rows"], 4 * len(data.splits["test"]["user"])
    )

  def test_flags_override_the_datasets_sampling(self):
    data = _toy()
    config = config_lib.TrainConfig(model_dir="x").replace(
      negatives=2, negative_sampling="popularity"
    )
    sampling = negatives.sampling_for(config.prepare, data)
    self.assertEqual(
      (sampling.per_positive, sampling.distribution), (2, "popularity")
    )
    self.assertIsNone(
      negatives.sampling_for(config.replace(negatives=0).prepare, data)
    )


class ColdStartTest(tf.test.TestCase):
  def test_cold_items_never_reach_training(self):
    data = _toy()
    prepared = train_data.prepare(
      data, config_lib.TrainConfig(model_dir="x").replace(cold_start_items=0.25)
    )
    self.assertLen(prepared.cold_items, 10)
    train_items = prepared.lists["train"]["item"]
    self.assertFalse(
      np.isin(train_items, prepared.cold_items).any()
    )  # Nor as negatives.
    test_items = prepared.lists["test"]["item"][:, 0]
    self.assertTrue(np.isin(test_items, prepared.cold_items).any())

  def test_cold_metrics_are_reported(self):
    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(
      synthetic=synthetic.SyntheticConfig(
        num_users=300, num_items=200, num_requests=1500
      ),
      objective_weights="retrieval,click",
      epochs=2,
      cold_start_items=0.2,
    )
    result = experiment.run(config, verbose=0)
    self.assertEqual(result.data["cold_items"], 40)
    self.assertIn("retrieval_recall@100_cold", result.metrics)
    # Among the 40 cold items only, recall@50 finds every one.
    self.assertEqual(result.metrics["retrieval_recall@50_among_cold"], 1.0)
    # Popularity never retrieves an item nobody saw in training.
    self.assertEqual(result.baselines["retrieval_recall@10_cold"], 0.0)


class ResolveTest(tf.test.TestCase):
  def test_dataset_objectives_by_default_and_by_name(self):
    data = _toy()
    everything = resolve.resolve(
      config_lib.TrainConfig(model_dir="x").prepare, data
    ).objectives
    self.assertEqual(
      [o.name for o in everything], ["retrieval", "click", "rating"]
    )
    self.assertEqual(everything[0].label, "watched")
    chosen = resolve.resolve(
      config_lib.TrainConfig(model_dir="x")
      .replace(objective_weights="click:2", losses="click:tce")
      .prepare,
      data,
    ).objectives
    self.assertEqual(
      [(o.name, o.label, o.weight, o.loss) for o in chosen],
      [("click", "watched", 2.0, "tce")],
    )


if __name__ == "__main__":
  tf.test.main()
