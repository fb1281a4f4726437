"""Pointwise, per-user and per-list metrics against hand computations."""

import itertools

import numpy as np
import tensorflow as tf
import tensorflow_ranking as tfr
from absl.testing import absltest, parameterized

from multiobj.evaluate import metrics


def _permutation_reference(labels, scores, valid, k, kind):
  """MRR or MAP averaged over every order of the tied scores (plain Python)."""
  per_list = []
  for y, s, v in zip(labels, scores, valid, strict=True):
    y, s = np.asarray(y)[v] > 0, np.asarray(s)[v]
    if not y.any():
      continue
    values = []
    for tiebreak in itertools.permutations(range(len(s))):
      order = sorted(range(len(s)), key=lambda i, t=tiebreak: (-s[i], t[i]))
      rel = y[order]
      if kind == "mrr":
        hits = np.flatnonzero(rel[:k])
        values.append(1 / (hits[0] + 1) if len(hits) else 0.0)
      else:
        precision = np.cumsum(rel) / np.arange(1, len(rel) + 1)
        values.append((precision * rel)[:k].sum() / rel.sum())
    per_list.append(np.mean(values))
  return np.mean(per_list)


class MetricsTest(absltest.TestCase):
  def test_auc(self):
    # Pairs (pos, neg): (0.35 > 0.1) yes, (0.35 > 0.4) no, (0.8 > both) yes x2.
    self.assertEqual(
      metrics.auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 0.75
    )

  def test_auc_counts_ties_half(self):
    # Positive 0.5 vs negatives 0.5 (tie: 1/2) and 0.2 (win: 1); positive 0.9
    # wins both: (0.5 + 1 + 1 + 1) / 4.
    labels = np.array([1, 0, 0, 1])
    scores = np.array([0.5, 0.5, 0.2, 0.9])
    self.assertEqual(metrics.auc(labels, scores), 3.5 / 4)
    self.assertEqual(metrics.auc(np.array([1, 0, 1, 0]), np.zeros(4)), 0.5)

  def test_auc_single_class_is_nan(self):
    self.assertTrue(np.isnan(metrics.auc(np.ones(3), np.arange(3))))
    self.assertTrue(np.isnan(metrics.auc(np.zeros(3), np.arange(3))))

  def test_auc_matches_pair_count(self):
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.2
    scores = rng.integers(0, 10, 300).astype(float)  # Many ties.
    pos, neg = scores[labels], scores[~labels]
    expected = np.mean(
      (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    )
    self.assertAlmostEqual(metrics.auc(labels, scores), expected)

  def test_logloss_rmse_mae(self):
    self.assertAlmostEqual(
      metrics.logloss(np.array([1, 0]), np.array([0.5, 0.5])), np.log(2)
    )
    # -(log 0.8 + log(1 - 0.4)) / 2
    self.assertAlmostEqual(
      metrics.logloss(np.array([1, 0]), np.array([0.8, 0.4])),
      -(np.log(0.8) + np.log(0.6)) / 2,
    )
    self.assertAlmostEqual(
      metrics.rmse(np.zeros(2), np.array([3.0, 4.0])), np.sqrt(12.5)
    )
    self.assertAlmostEqual(metrics.mae(np.zeros(2), np.array([3.0, -4.0])), 3.5)


class GaucTest(tf.test.TestCase):
  def test_hand_computed_with_ties_and_single_class_users(self):
    labels = [1, 0, 1, 1, 0, 1, 1, 0, 0]
    scores = [0.9, 0.1, 0.2, 0.5, 0.5, 0.3, 0.4, 0.2, 0.6]
    users = ["a", "a", "b", "b", "b", "c", "c", "d", "d"]
    # a: one pair, won: AUC 1, 2 rows. b: positives 0.2, 0.5 vs negative 0.5:
    # 0 + 1/2 over 2 pairs = 1/4, 3 rows. c only positives, d only negatives:
    # skipped. GAUC = (2 * 1 + 3 * 1/4) / 5 = 0.55.
    value, info = metrics.gauc(labels, scores, users)
    self.assertAlmostEqual(value, 0.55)
    self.assertEqual(info, {"groups": 2, "skipped_single_class": 2})

  def test_all_single_class_is_nan(self):
    value, info = metrics.gauc([1, 1, 0], [0.1, 0.2, 0.3], [1, 1, 2])
    self.assertTrue(np.isnan(value))
    self.assertEqual(info, {"groups": 0, "skipped_single_class": 2})
    self.assertTrue(np.isnan(metrics.gauc([], [], [])[0]))
    with self.assertRaisesRegex(ValueError, "equally long"):
      metrics.gauc([1, 0], [0.5], [1, 1])

  def test_matches_per_group_auc(self):
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 50, 2000)
    labels = rng.random(2000) < 0.3
    scores = rng.integers(0, 5, 2000).astype(float)  # Many ties.
    num = den = 0.0
    for g in np.unique(groups):
      auc = metrics.auc(labels[groups == g], scores[groups == g])
      if not np.isnan(auc):
        num += auc * np.sum(groups == g)
        den += np.sum(groups == g)
    self.assertAlmostEqual(metrics.gauc(labels, scores, groups)[0], num / den)


class CalibrationTest(tf.test.TestCase):
  def test_bins_ece_ratio_and_empty_bins(self):
    labels = [0, 1, 0, 1, 1]
    probs = [0.0, 0.1, 0.3, 0.9, 1.0]
    c = metrics.calibration(labels, probs, num_bins=4)
    # Bins [0, .25): 0, .1 (mean .05, rate 1/2); [.25, .5): .3 (rate 0);
    # [.5, .75): empty; [.75, 1]: .9, 1 (mean .95, rate 1).
    self.assertEqual([b["count"] for b in c["bins"]], [2, 1, 0, 2])
    self.assertAllClose(
      [b["mean_predicted"] for b in c["bins"]][:2], [0.05, 0.3]
    )
    self.assertTrue(np.isnan(c["bins"][2]["mean_predicted"]))
    self.assertTrue(np.isnan(c["bins"][2]["observed_rate"]))
    self.assertEqual(c["bins"][3]["observed_rate"], 1.0)
    self.assertEqual(
      (c["bins"][2]["lower"], c["bins"][2]["upper"]), (0.5, 0.75)
    )
    # Wilson's 95% interval, by hand: 1 positive of 2, z = 1.96, centre
    # (1 + z^2/2) / (2 + z^2) = 1/2, half z sqrt(1/2 + z^2/4) / (2 + z^2).
    z = 1.959963984540054
    half = z * np.sqrt(0.5 + z * z / 4) / (2 + z * z)
    self.assertAllClose(
      (c["bins"][0]["observed_low"], c["bins"][0]["observed_high"]),
      (0.5 - half, 0.5 + half),
    )
    self.assertAllClose(
      (c["bins"][0]["observed_low"], c["bins"][0]["observed_high"]),
      (0.0945, 0.9055),
      atol=1e-4,
    )
    self.assertTrue(np.isnan(c["bins"][2]["observed_low"]))
    # 2 positives of 2: the interval reaches 1 and stays below it.
    self.assertAllClose(c["bins"][3]["observed_high"], 1.0)
    self.assertLess(c["bins"][3]["observed_low"], 1.0)
    # ECE = (2 * .45 + 1 * .3 + 0 + 2 * .05) / 5 = 1.3 / 5.
    self.assertAlmostEqual(c["ece"], 0.26)
    # Mean prediction 2.3 / 5 = .46, mean label .6.
    self.assertAlmostEqual(c["calibration_ratio"], 0.46 / 0.6)
    self.assertEqual(c["count"], 5)

  def test_bin_edges_are_exact(self):
    # 0.3 is the lower edge of bin 3 of 10, 0.2999 falls in bin 2.
    c = metrics.calibration([1, 0], [0.3, 0.2999])
    self.assertEqual((c["bins"][3]["lower"], c["bins"][3]["count"]), (0.3, 1))
    self.assertEqual((c["bins"][2]["upper"], c["bins"][2]["count"]), (0.3, 1))

  def test_perfect_and_no_positive(self):
    c = metrics.calibration([0, 1], [0.0, 1.0], num_bins=10)
    self.assertEqual(c["ece"], 0.0)
    self.assertEqual(c["calibration_ratio"], 1.0)
    self.assertTrue(
      np.isnan(metrics.calibration([0], [0.2])["calibration_ratio"])
    )

  def test_rejects_values_outside_unit_interval(self):
    with self.assertRaisesRegex(ValueError, r"\[0, 1\]"):
      metrics.calibration([1], [1.5])


class ListMetricsTest(tf.test.TestCase, parameterized.TestCase):
  def test_hand_computed(self):
    labels = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1]])
    scores = np.array([[4, 3, 2, 1], [1, 2, 3, 4], [4, 3, 2, 1.0]])
    valid = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]], bool)
    # List 3's only positive is padding: left out. List 1: positives at ranks
    # 2 and 4; list 2: at rank 4. MRR = (1/2 + 1/4) / 2.
    self.assertAlmostEqual(
      metrics.mean_reciprocal_rank(labels, scores, valid), 0.375
    )
    # MRR@3: list 2 scores 0, (1/2 + 0) / 2.
    self.assertAlmostEqual(
      metrics.mean_reciprocal_rank(labels, scores, valid, 3), 0.25
    )
    # AP list 1 = (1/2 + 2/4) / 2 = 1/2, list 2 = 1/4.
    self.assertAlmostEqual(
      metrics.mean_average_precision(labels, scores, valid), 0.375
    )
    # MAP@3: list 1 (1/2) / 2 (divided by all 2 positives), list 2 0.
    self.assertAlmostEqual(
      metrics.mean_average_precision(labels, scores, valid, 3), 0.125
    )

  def test_ties_are_expected_over_random_order(self):
    # One positive tied with two negatives at the top: rank 1, 2 or 3 with
    # probability 1/3 each. MRR = (1 + 1/2 + 1/3) / 3 = AP.
    labels, scores, valid = [[0, 1, 0, 0]], [[5, 5, 5, 1]], [[1, 1, 1, 1]]
    self.assertAlmostEqual(
      metrics.mean_reciprocal_rank(labels, scores, valid), 11 / 18
    )
    self.assertAlmostEqual(
      metrics.mean_average_precision(labels, scores, valid), 11 / 18
    )
    # Two positives tied with one negative: first positive at rank 1 with
    # probability 2/3, else rank 2: MRR = 2/3 + 1/3 * 1/2 = 5/6.
    self.assertAlmostEqual(
      metrics.mean_reciprocal_rank([[1, 1, 0]], [[2, 2, 2]], [[1, 1, 1]]), 5 / 6
    )

  def test_ties_match_permutation_reference(self):
    rng = np.random.default_rng(1)
    labels = (rng.random((6, 6)) < 0.4).astype(int)
    labels[:, 0] = 1
    scores = rng.integers(0, 3, (6, 6)).astype(float)
    valid = rng.random((6, 6)) < 0.8
    valid[:, 0] = True
    for k in (1, 2, 4, 6):
      for kind, fn in (
        ("mrr", metrics.mean_reciprocal_rank),
        ("map", metrics.mean_average_precision),
      ):
        expected = _permutation_reference(labels, scores, valid, k, kind)
        self.assertAlmostEqual(fn(labels, scores, valid, k), expected)

  def test_no_positive_is_nan(self):
    self.assertTrue(
      np.isnan(metrics.mean_reciprocal_rank([[0, 0]], [[1, 2]], [[1, 1]]))
    )
    self.assertTrue(
      np.isnan(metrics.mean_average_precision([[1, 0]], [[1, 2]], [[0, 1]]))
    )

  @parameterized.named_parameters(
    ("top1", 1), ("top3", 3), ("top10", 10), ("whole_list", None)
  )
  def test_matches_tf_ranking(self, k):
    rng = np.random.default_rng(2)
    labels = (rng.random((64, 12)) < 0.25).astype(np.float64)
    valid = rng.random((64, 12)) < 0.8
    labels[:, 0], valid[:, 0] = 1.0, True  # Every list has a positive.
    scores = rng.random((64, 12))  # No ties.
    y_true = tf.constant(np.where(valid, labels, -1.0), tf.float32)
    y_pred = tf.constant(scores, tf.float32)
    for ours, theirs in (
      (metrics.mean_reciprocal_rank, tfr.keras.metrics.MRRMetric(topn=k)),
      (
        metrics.mean_average_precision,
        tfr.keras.metrics.MeanAveragePrecisionMetric(topn=k),
      ),
    ):
      theirs.update_state(y_true, y_pred)
      self.assertAlmostEqual(
        ours(labels, scores, valid, k), float(theirs.result()), places=5
      )


if __name__ == "__main__":
  tf.test.main()
