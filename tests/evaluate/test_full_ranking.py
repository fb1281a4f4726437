"""Full-ranking evaluation against hand computations (DeCA's protocol)."""

import numpy as np
import tensorflow as tf

from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.evaluate import full_ranking, neighbours

SPEC = spec_lib.DatasetSpec(
  name="toy",
  features=(
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
  ),
  labels=("buy",),
  item_id="item",
  user_id="user",
)


def _data():
  # Users 1 and 2; items 10..14. User 1 bought 10 in train, 11 and 12 in
  # test; user 2 bought 13 in train and valid, 14 in test; user 3 only in train.
  train = {
    "user": np.array([1, 2, 3]),
    "item": np.array([10, 13, 11]),
    "buy": np.ones(3),
  }
  valid = {"user": np.array([2]), "item": np.array([12]), "buy": np.ones(1)}
  test = {
    "user": np.array([1, 1, 2]),
    "item": np.array([11, 12, 14]),
    "buy": np.ones(3),
  }
  return dataset_lib.Dataset(
    spec=SPEC,
    splits={"train": train, "valid": valid, "test": test},
    catalogue={"item": np.array([14, 10, 11, 12, 13])},
  )


class MetricsTest(tf.test.TestCase):
  def test_metrics_at_match_hand_computation(self):
    # User A: truth {1, 2}, ranked [1, 5, 2]: hits at ranks 1 and 3.
    # User B: truth {7}, ranked [3, 4, 7]: hit at rank 3.
    top = np.array([[1, 5, 2], [3, 4, 7]])
    truth = [np.array([1, 2]), np.array([7])]
    out = full_ranking.metrics_at(top, truth, [1, 3], "m")
    # @1: A 1/2 recall, NDCG 1; B 0.
    self.assertAlmostEqual(out["m_recall@1"], (0.5 + 0) / 2)
    self.assertAlmostEqual(out["m_ndcg@1"], (1 + 0) / 2)
    self.assertAlmostEqual(out["m_precision@1"], (1 + 0) / 2)
    # @3: A recall 1, DCG 1 + 1/2 over ideal 1 + 1/log2(3); B recall 1,
    # DCG 1/2 over ideal 1.
    ndcg_a = (1 + 0.5) / (1 + 1 / np.log2(3))
    self.assertAlmostEqual(out["m_recall@3"], 1.0)
    self.assertAlmostEqual(out["m_ndcg@3"], (ndcg_a + 0.5) / 2)
    self.assertAlmostEqual(out["m_precision@3"], (2 / 3 + 1 / 3) / 2)


def _preferred(start, stop):
  """Everyone prefers items in catalogue order 13 > 12 > 11 > 10 > 14."""
  return np.tile([0.0, 1.0, 2.0, 3.0, 4.0], (stop - start, 1))


class FullRankingTest(tf.test.TestCase):
  def test_masks_and_ranks(self):
    ranking = full_ranking.FullRanking(_data(), "test", ["train", "valid"])
    self.assertAllEqual(ranking.users, [1, 2])
    # Catalogue rows: 14->0, 10->1, 11->2, 12->3, 13->4.
    self.assertAllEqual(ranking.truth[0], [2, 3])
    self.assertAllEqual(ranking.truth[1], [0])

    # User 1: 10 masked (train); user 2: 13 (train) and 12 (valid) masked.
    # The same, one user a call or both at once (the masks of a batch).
    for users_per_batch in (1, 2):
      top = ranking.rank(_preferred, k=3, users_per_batch=users_per_batch)
      self.assertAllEqual(top, [[4, 3, 2], [2, 1, 0]])

    def ties(start, stop):
      return np.ones((stop - start, 5))

    # Equal scores: the lower catalogue row first, masked items never.
    self.assertAllEqual(
      ranking.rank(ties, k=3, users_per_batch=2), [[0, 2, 3], [0, 1, 2]]
    )
    out = ranking.metrics(_preferred, [2], "toy")
    # User 1 gets 13, 12: one of two hits; user 2 gets 11, 10: none.
    self.assertAlmostEqual(out["toy_recall@2"], (0.5 + 0) / 2)

  def test_protocol_on_validation_masks_training_only(self):
    data = _data()
    data = dataset_lib.Dataset(
      spec=data.spec,
      splits=data.splits,
      catalogue=data.catalogue,
      full_ranking=dataset_lib.FullRanking(mask=("train", "valid")),
    )
    # Tuning: user 2's valid purchase 12 is the truth, not masked; 13
    # (train) is; the test split's 14 is neither masked nor truth.
    ranking = full_ranking.protocol_ranking(data, "valid", "buy")
    self.assertAllEqual(ranking.users, [2])
    self.assertAllEqual(ranking.truth[0], [3])
    top = ranking.rank(_preferred, k=4, users_per_batch=1)
    self.assertAllEqual(top, [[3, 2, 1, 0]])
    # On test both masks hold, as in test_masks_and_ranks.
    ranking = full_ranking.protocol_ranking(data, "test", "buy")
    self.assertAllEqual(
      ranking.rank(_preferred, k=3, users_per_batch=2), [[4, 3, 2], [2, 1, 0]]
    )

  def test_given_candidates_only(self):
    data = _data()
    # The test file gives user 1 the candidates 11 and 12 (bought) and 14
    # (a given negative, label 0); user 2 has 14 (bought) and 10 (not).
    data.splits["test"] = {
      "user": np.array([1, 1, 1, 2, 2]),
      "item": np.array([11, 12, 14, 14, 10]),
      "buy": np.array([1.0, 1.0, 0.0, 1.0, 0.0]),
    }
    ranking = full_ranking.FullRanking(data, "test", [], "buy", given=True)
    self.assertAllEqual(ranking.truth[0], [2, 3])
    self.assertAllEqual(ranking.truth[1], [0])

    # 13, never a candidate, never comes first. User 1: 12 > 11 > 14;
    # user 2: 10 > 14, then the other items, below every candidate.
    for users_per_batch in (1, 2):
      top = ranking.rank(_preferred, k=2, users_per_batch=users_per_batch)
      self.assertAllEqual(top, [[3, 2], [1, 0]])
    out = ranking.metrics(_preferred, [1, 2], "toy")
    self.assertAlmostEqual(out["toy_recall@1"], (0.5 + 0) / 2)
    self.assertAlmostEqual(out["toy_recall@2"], (1 + 1) / 2)
    # User 2's bought 14 is second: DCG 1/log2(3) over an ideal 1.
    self.assertAlmostEqual(out["toy_ndcg@2"], (1 + 1 / np.log2(3)) / 2)

  def test_a_stronger_baseline_replaces_popularity(self):
    data = _data()
    ranking = full_ranking.FullRanking(data, "test", ["train"])

    def perfect(users):  # Each user's test items first: 11, 12 and 14.
      wanted = {1: [2, 3], 2: [0]}
      out = np.zeros((len(users), 5), np.float32)
      for row, user in enumerate(users):
        out[row, wanted[int(user)]] = 1.0
      return out

    oracle = neighbours.Baseline("oracle", {}, perfect)
    each = full_ranking._each_baseline(data, ranking, None, [2], [oracle])
    self.assertEqual(list(each), [full_ranking.POPULARITY, "oracle"])
    self.assertEqual(each["oracle"]["recall@2"], 1.0)
    best, names = full_ranking._strongest(each)
    self.assertEqual(best["recall@2"], 1.0)
    self.assertEqual(
      names, {"recall@2": "oracle", "ndcg@2": "oracle", "precision@2": "oracle"}
    )
    # Popularity: 10, 11 and 13 were bought once in train. User 1 (10
    # masked) gets 11 and 13, one of their two; user 2 (13 masked) gets 10
    # and 11, not their 14.
    popular = each[full_ranking.POPULARITY]
    self.assertAlmostEqual(popular["recall@2"], (0.5 + 0) / 2)

  def test_query_is_each_users_earliest_row(self):
    # User 1's two test rows come latest first in the file; the later one's
    # history holds the earlier test item 11, which is also a truth item.
    spec = spec_lib.DatasetSpec(
      name="toy",
      features=(
        spec_lib.Feature("item", "candidate", "id"),
        spec_lib.Feature("recent", "query", "history", built_from=("buy",)),
      ),
      labels=("buy",),
      item_id="item",
      user_id="user",
      timestamp="time",
    )
    test = {
      "user": np.array([1, 2, 1, 2]),
      "item": np.array([12, 14, 11, 13]),
      "time": np.array([9, 5, 8, 5]),
      "buy": np.ones(4),
      "recent": np.array(["10 11", "13", "10", "13 14"]),
    }
    data = dataset_lib.Dataset(
      spec=spec,
      splits={"train": {k: v[:0] for k, v in test.items()}, "test": test},
      catalogue={"item": np.array([14, 10, 11, 12, 13])},
    )
    ranking = full_ranking.FullRanking(data, "test", [])
    # User 1: the row at time 8 (not the first in the file); user 2: a tie
    # at time 5, broken by file order.
    self.assertAllEqual(ranking.query["recent"], ["10", "13"])
    # A baseline that reads the served history scores those values.
    reader = neighbours.Baseline(
      "reader",
      {},
      lambda values: np.array([[float(v), 0, 0, 0, 0] for v in values]),
      reads="recent",
    )
    scores = full_ranking._users_scores(ranking, reader)(0, 2)
    self.assertAllEqual(scores[:, 0], [10, 13])

  def test_unknown_item(self):
    data = _data()
    data.splits["test"]["item"][0] = 99
    with self.assertRaisesRegex(ValueError, "item 99 is not in the catalogue"):
      full_ranking.FullRanking(data, "test", ["train"])

  def test_popularity(self):
    data = _data()
    ranking = full_ranking.FullRanking(data, "test", ["train"])
    scores = full_ranking.popularity_scores(data, ranking, None)(0, 1)
    # Train counts: 10, 13 and 11 once each, plus a jitter below 1e-3 that
    # breaks ties at random.
    self.assertAllClose(scores[0], [0, 1, 1, 0, 1], atol=1e-3)
    self.assertLen(set(scores[0]), 5)


if __name__ == "__main__":
  tf.test.main()
