"""Ranking-head metrics against hand computations."""

import numpy as np
from absl.testing import absltest

import objectives
from multiobj.data import synthetic
from multiobj.evaluate import heads
from multiobj.prepare import lists as lists_lib


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


class ConditionalAucTest(absltest.TestCase):
  def test_auc_given_click_by_hand(self):
    click = objectives.Objective(
      name="click", kind="binary", label="click", loss="bce", metrics=("auc",)
    )
    purchase = objectives.Objective(
      name="purchase",
      kind="binary",
      label="purchase",
      loss="bce",
      metrics=("auc",),
      given="click",
    )
    lists = {
      lists_lib.MASK: np.ones((1, 4), np.float32),
      "click": np.array([[1, 1, 1, 0]], np.float32),
      "purchase": np.array([[1, 0, 0, 0]], np.float32),
    }
    p_click = np.array([[0.5, 0.8, 0.4, 0.9]])
    p_purchase = np.array([[0.3, 0.2, 0.35, 0.1]])
    predictions = {
      "click": {"logged": p_click, "serving": p_click},
      "purchase": {"logged": p_purchase, "serving": p_purchase},
    }
    out = heads.head_metrics(
      [click, purchase], synthetic.SPEC, lists, predictions
    )
    # On the three clicked rows p(purchase | click) = 0.6, 0.25, 0.875: the
    # purchase (0.6) beats one of the two others, AUC 1/2.
    self.assertAlmostEqual(out["purchase_auc_given_click"], 0.5)
    self.assertNotIn("click_auc_given_click", out)


class NonFiniteScoresTest(absltest.TestCase):
  def test_are_refused_not_ranked(self):
    lists = {
      lists_lib.MASK: np.array([[1, 1, 0], [1, 1, 1]], np.float32),
      "click": np.array([[1, 0, 0], [0, 1, 0]], np.float32),
    }
    where = lists[lists_lib.MASK] > 0
    scores = np.array([[0.5, 0.1, np.nan], [0.2, np.inf, np.nan]])
    finite = np.nan_to_num(scores, nan=0.0, posinf=1.0)
    # A NaN in a padded slot does not count.
    self.assertIn(
      "click_auc",
      heads.score(
        "click",
        ("auc",),
        lists["click"],
        where,
        {"logged": np.where(where, finite, np.nan), "serving": finite},
        synthetic.SPEC,
        lists,
        {},
      ),
    )
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "blend_click: 2 of 5 logged scores are NaN or infinite (the first in "
      "list 1, inf); metrics would rank them arbitrarily. A model whose "
      "weights diverged, non-finite inputs, or a blend that overflows give "
      "such scores.",
    ):
      heads.score(
        "blend_click",
        ("auc",),
        lists["click"],
        where,
        {"logged": scores, "serving": finite},
        synthetic.SPEC,
        lists,
        {},
      )


if __name__ == "__main__":
  absltest.main()
