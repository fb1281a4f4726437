"""Metrics against hand computations."""

import numpy as np
from absl.testing import absltest

from multiobj import evaluation, metrics


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

  def test_ndcg(self):
    labels = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    scores = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    valid = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 0]], bool)
    # List 1: the positive at rank 2, NDCG = (1/log(3)) / (1/log(2)); list 2
    # perfect; list 3 has no valid entry and is left out. (Natural logs cancel.)
    expected = (np.log(2) / np.log(3) + 1.0) / 2
    self.assertAlmostEqual(
      evaluation.ndcg(labels, scores, valid, 10), expected, places=6
    )
    # At k = 1 the first list scores 0.
    self.assertAlmostEqual(
      evaluation.ndcg(labels, scores, valid, 1), 0.5, places=6
    )

  def test_ndcg_graded_and_masked(self):
    labels = np.array([[2.0, 1.0, 9.0]])
    scores = np.array([[0.1, 0.2, 5.0]])
    valid = np.array([[1, 1, 0]], bool)  # The 9 is padding.
    # Order by score among valid: 1 (gain 1) then 2 (gain 3).
    dcg = 1 / np.log(2) + 3 / np.log(3)
    ideal = 3 / np.log(2) + 1 / np.log(3)
    self.assertAlmostEqual(
      evaluation.ndcg(labels, scores, valid, 10), dcg / ideal, places=6
    )


if __name__ == "__main__":
  absltest.main()
