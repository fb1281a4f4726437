"""EASE^R and item-KNN against hand computations."""

import dataclasses
import json
import os
from unittest import mock

import numpy as np
import scipy.sparse as sp
from absl.testing import absltest

import objectives
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import spec as spec_lib
from multiobj.evaluate import memo as memo_lib
from multiobj.evaluate import neighbours, report, served
from multiobj.prepare import lists as lists_lib
from tests import tiny

# 4 users x 3 items: items 0 and 1 go together, item 2 mostly alone.
X = sp.csr_matrix(
  np.array(
    [[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]],
    np.float32,
  )
)
SPEC = spec_lib.DatasetSpec(
  "toy",
  (
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
  ),
  ("seen",),
  item_id="item",
  user_id="user",
)


class EaseTest(absltest.TestCase):
  def test_closed_form(self):
    # Steck's B = I - P diagMat(1 / diag(P)), P = (X'X + lambda I)^-1.
    dense = X.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + 2.0 * np.eye(3))
    expected = np.eye(3) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(neighbours.ease(X, 2.0), expected, atol=1e-6)
    np.testing.assert_array_equal(np.diag(neighbours.ease(X, 2.0)), 0.0)

  def test_family_matches_the_closed_form_at_each_lambda(self):
    # The grid's weights come from one Gram matrix, each lambda inverted
    # from its Cholesky factor (LAPACK fills one triangle: both must hold).
    x = (np.random.default_rng(0).random((60, 25)) < 0.3).astype(np.float32)
    family = neighbours.ease_family(sp.csr_matrix(x))
    for lam in (0.5, 10.0, 1000.0):
      p = np.linalg.inv(x.T.astype(np.float64) @ x + lam * np.eye(25))
      expected = np.eye(25) - p / np.diag(p)[None, :]
      np.testing.assert_allclose(family(lam), expected, rtol=1e-5, atol=1e-7)

  def test_the_lower_triangle_is_mirrored_band_by_band(self):
    # Bands of 3 rows over 10: the last band is short, and every band
    # copies both its square and the part right of it.
    lower = np.tril(np.random.default_rng(1).random((10, 10)))
    p = np.asfortranarray(lower)
    neighbours._mirror_lower(p, block=3)
    np.testing.assert_array_equal(p, lower + np.tril(lower, -1).T)

  def test_a_matrix_that_cannot_be_inverted_is_named(self):
    with self.assertRaisesRegex(ValueError, r"X'X \+ -5 I cannot be inverted"):
      neighbours.ease(X, -5.0)


class ItemKnnTest(absltest.TestCase):
  def test_cosine_with_the_k_nearest(self):
    # Co-counts: (0,1) 2, (1,2) 1, (0,2) 0; item counts 2, 3, 2.
    cos01, cos12 = 2 / np.sqrt(2 * 3), 1 / np.sqrt(3 * 2)
    full = neighbours.item_knn(X, 2).toarray()
    np.testing.assert_allclose(
      full,
      [[0, cos01, 0], [cos01, 0, cos12], [0, cos12, 0]],
      atol=1e-6,
    )
    # With k = 1 each item's column keeps its most similar item only:
    # item 1's nearest is item 0.
    one = neighbours.item_knn(X, 1).toarray()
    np.testing.assert_allclose(
      one, [[0, cos01, 0], [cos01, 0, cos12], [0, 0, 0]], atol=1e-6
    )


class ScoringTest(absltest.TestCase):
  def test_a_user_without_history_gets_the_popular_items(self):
    learned = neighbours.Interactions(np.array([0, 1, 2, 3]), X)
    scores = neighbours.scorer(learned, neighbours.ease(X, 2.0))
    # Item 1 is in 3 histories, items 0 and 2 in 2 each.
    unknown = scores(np.array([99]))[0]
    self.assertEqual(int(np.argmax(unknown)), 1)
    self.assertLess(unknown.max(), 1e-5)

  def test_pair_recall_counts_the_true_item_in_the_top_k(self):
    scores = np.array([[0.1, 0.9, 0.5], [0.8, 0.1, 0.2]], np.float32)
    recall = neighbours.pair_recall(
      lambda users: scores[users], np.array([0, 1]), np.array([2, 2]), [1, 2], 3
    )
    # User 0 ranks 1, 2, 0: item 2 second. User 1 ranks 0, 2, 1.
    self.assertEqual(recall, {1: 0.0, 2: 1.0})

  def test_interactions_and_pairs_read_positive_slots(self):
    lists = {
      "user": np.array([7, 9]),
      "item": np.array([[30, 10, 20], [10, 10, 0]]),
      "seen": np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]),
      lists_lib.MASK: np.array([[1, 1, 1], [1, 1, 0]]),
    }
    catalogue = np.array([10, 20, 30])
    users, items = neighbours.pairs(SPEC, "seen", [lists], catalogue)
    np.testing.assert_array_equal(users, [7, 7, 9, 9])
    np.testing.assert_array_equal(items, [2, 1, 0, 0])
    learned = neighbours.interactions(SPEC, "seen", [lists], catalogue)
    np.testing.assert_array_equal(learned.users, [7, 9])
    np.testing.assert_array_equal(
      learned.matrix.toarray(), [[0, 1, 1], [1, 0, 0]]
    )
    # An unknown user gets a zero row.
    np.testing.assert_array_equal(
      learned.vectors(np.array([9, 8])).toarray(), [[1, 0, 0], [0, 0, 0]]
    )

  def test_baselines_choose_on_validation_and_name_the_choice(self):
    learned = neighbours.Interactions(np.array([0, 1, 2, 3]), X)
    objective = objectives.get("retrieval")
    pairs = (np.array([0, 3]), np.array([2, 0]))
    knn, ease = neighbours.baselines(objective, learned, pairs, pairs)
    self.assertRegex(ease.name, r"^EASE\^R \(lambda=\d+\)$")
    self.assertRegex(knn.name, r"^item-KNN \(k=\d+\)$")
    self.assertCountEqual(
      ease.metrics,
      ["retrieval_recall@10", "retrieval_recall@50", "retrieval_recall@100"],
    )
    # Its scores, for other protocols: x_u B of user 3 (item 2 only).
    np.testing.assert_allclose(
      ease.scores_of(np.array([3])),
      neighbours.ease(X, float(ease.name.split("=")[1][:-1]))[2:3],
      atol=1e-5,
    )

  def test_every_behaviour_and_the_users_own_items(self):
    # Purchases X; views add item 2 to user 0 and item 0 to user 3.
    bought = neighbours.Interactions(np.array([0, 1, 2, 3]), X)
    every = X.toarray().copy()
    every[0, 2] = every[3, 0] = 1
    viewed = neighbours.Interactions(
      np.array([0, 1, 2, 3]), sp.csr_matrix(every)
    )
    pairs = (np.array([0, 3]), np.array([2, 0]))
    out = neighbours.baselines(
      objectives.get("retrieval"), bought, pairs, pairs, viewed
    )
    names = [b.name for b in out]
    self.assertRegex(names[2], r"^item-KNN \(k=\d+, every behaviour\)$")
    self.assertRegex(names[3], r"^EASE\^R \(lambda=\d+, every behaviour\)$")
    self.assertEqual(names[4], "own items")
    own = out[4]
    # A user's own items of any behaviour score 1 (plus a popularity
    # tie-break below 1e-6), the others 0: user 0 viewed or bought all
    # three, user 3 items 0 and 2.
    scores = own.scores_of(np.array([0, 3]))
    np.testing.assert_allclose(scores[0], [1, 1, 1], atol=1e-5)
    np.testing.assert_allclose(scores[1], [1, 0, 1], atol=1e-5)
    # Both held-out items are the user's own: in the top 2 of 3.
    self.assertEqual(own.metrics["retrieval_recall@10"], 1.0)

  def test_served_history_baselines_read_each_pairs_history(self):
    # Items 10..13. Training: user 1 bought 10; user 2 10 and 11; user 3
    # 12 and 13. At test, user 1 buys 13 with 10 and 12 (bought since the
    # cut) in the history served with the pair.
    spec = spec_lib.DatasetSpec(
      "toy",
      (
        spec_lib.Feature("item", "candidate", "id"),
        spec_lib.Feature(
          "recent", "query", "history", built_from=("seen",), max_length=2
        ),
      ),
      ("seen",),
      item_id="item",
      user_id="user",
      timestamp="time",
    )
    catalogue = np.array([10, 11, 12, 13])
    history = served.feature(spec, "seen")
    self.assertEqual(history.name, "recent")
    test_lists = {
      "user": np.array([1]),
      "item": np.array([[13]]),
      "seen": np.array([[1.0]]),
      # An item outside the catalogue (99) counts as a slot but no item,
      # as the model's lookup; 11 and 10 fall before the last two.
      "recent": np.array(["11|10|99|12"]),
      lists_lib.MASK: np.array([[1]]),
    }
    test = neighbours.pairs(spec, "seen", [test_lists], catalogue, history.name)
    np.testing.assert_array_equal(test[0], ["11|10|99|12"])
    np.testing.assert_array_equal(test[1], [3])
    vectors = served.Vectors(history, catalogue)
    # The last two: 99 (no item) and 12.
    np.testing.assert_array_equal(vectors(test[0]).toarray(), [[0, 0, 1, 0]])
    test_lists["recent"] = np.array(["11|10|12"])
    test = neighbours.pairs(spec, "seen", [test_lists], catalogue, history.name)
    np.testing.assert_array_equal(vectors(test[0]).toarray(), [[1, 0, 1, 0]])

    bought = neighbours.Interactions(
      np.array([1, 2, 3]),
      sp.csr_matrix(
        np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]], np.float32)
      ),
    )
    objective = dataclasses.replace(
      objectives.get("retrieval"), metrics=("recall@1",)
    )
    out = neighbours.baselines(
      objective,
      bought,
      None,
      (np.array([1]), np.array([3])),
      served=(vectors, None, test),
    )
    by_name = {b.name.split(" (")[0] + ("*" if b.reads else ""): b for b in out}
    # Cosines: 10~11 1/sqrt(2), 12~13 1. From user 1's training row (10)
    # item 11 comes first; from the served history (10, 12) item 13 does.
    self.assertEqual(by_name["item-KNN"].metrics["retrieval_recall@1"], 0.0)
    served_knn = by_name["item-KNN*"]
    self.assertEqual(served_knn.name, "item-KNN (k=200, served history)")
    self.assertEqual(served_knn.reads, "recent")
    self.assertEqual(served_knn.metrics["retrieval_recall@1"], 1.0)
    np.testing.assert_allclose(
      served_knn.scores_of(np.array(["10|12"])),
      [[0, 1 / np.sqrt(2), 0, 1]],
      atol=1e-5,
    )

  def test_ease_is_skipped_for_a_large_catalogue(self):
    learned = neighbours.Interactions(np.array([0, 1, 2, 3]), X)
    pairs = (np.array([0]), np.array([2]))
    with mock.patch.object(neighbours, "MAX_EASE_ITEMS", 2):
      with self.assertLogs(level="INFO") as logs:
        out = neighbours.baselines(
          objectives.get("retrieval"), learned, None, pairs
        )
    self.assertEqual([b.name for b in out], ["item-KNN (k=200)"])
    self.assertIn(
      "EASE^R skipped: 3 items would take a 0.0 GB items x items matrix "
      "(at most 2 items).",
      "\n".join(logs.output),
    )


class MemoTest(absltest.TestCase):
  def test_a_second_run_on_the_same_data_reads_the_baselines(self):
    folder = self.create_tempdir().full_path
    config = config_lib.TrainConfig(model_dir=folder + "/a").replace(
      synthetic=tiny.TINY,
      model=tiny.SMALL_MODEL,
      epochs=1,
      cache_dir=folder + "/prepared",
    )
    first = experiment.run(config, verbose=0)
    with open(os.path.join(folder, "prepared", memo_lib.Memo.FILE)) as f:
      self.assertLen(json.load(f), 1)
    with mock.patch.object(
      neighbours, "fitted", side_effect=AssertionError("fitted again")
    ):
      second = experiment.run(
        config.replace(model_dir=folder + "/b", learning_rate=0.01), verbose=0
      )
    self.assertEqual(second.retrieval_baselines, first.retrieval_baselines)
    self.assertEqual(second.baseline_names, first.baseline_names)
    keys = sorted(first.baselines)
    self.assertEqual(sorted(second.baselines), keys)
    np.testing.assert_allclose(  # NaN where a baseline has no value.
      [second.baselines[k] for k in keys], [first.baselines[k] for k in keys]
    )

  def test_an_unreadable_memo_is_fitted_again(self):
    folder = self.create_tempdir()
    folder.create_file(memo_lib.Memo.FILE, "{not json")
    memo = memo_lib.Memo(folder.full_path, ["key"])
    self.assertIsNone(memo.get())
    memo.put({"values": {}})
    self.assertEqual(memo.get(), {"values": {}})
    self.assertIsNone(memo_lib.Memo(folder.full_path, ["other"]).get())


class TableTest(absltest.TestCase):
  def test_the_table_names_the_strongest_baseline(self):
    table = report.metrics_table(
      [objectives.get("retrieval")],
      {"retrieval_recall@10": 0.3},
      {"retrieval_recall@10": 0.25},
      {"retrieval_recall@10": "EASE^R (lambda=500)"},
    )
    self.assertIn(
      "retrieval  recall@10  0.3000    0.2500  EASE^R (lambda=500)", table
    )


if __name__ == "__main__":
  absltest.main()
