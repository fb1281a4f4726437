"""Ranking-head metrics against hand computations."""

import numpy as np
from absl.testing import absltest

from multiobj.evaluate import heads


class NdcgTest(absltest.TestCase):
  def test_ndcg(self):
    labels = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    scores = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    valid = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 0]], bool)
    # List 1: the positive at rank 2, NDCG = (1/log(3)) / (1/log(2)); list 2
    # perfect; list 3 has no valid entry and is left out. (Natural logs cancel.)
    expected = (np.log(2) / np.log(3) + 1.0) / 2
    self.assertAlmostEqual(
      heads.ndcg(labels, scores, valid, 10), expected, places=6
    )
    # At k = 1 the first list scores 0.
    self.assertAlmostEqual(heads.ndcg(labels, scores, valid, 1), 0.5, places=6)

  def test_ndcg_graded_and_masked(self):
    labels = np.array([[2.0, 1.0, 9.0]])
    scores = np.array([[0.1, 0.2, 5.0]])
    valid = np.array([[1, 1, 0]], bool)  # The 9 is padding.
    # Order by score among valid: 1 (gain 1) then 2 (gain 3).
    dcg = 1 / np.log(2) + 3 / np.log(3)
    ideal = 3 / np.log(2) + 1 / np.log(3)
    self.assertAlmostEqual(
      heads.ndcg(labels, scores, valid, 10), dcg / ideal, places=6
    )


if __name__ == "__main__":
  absltest.main()
