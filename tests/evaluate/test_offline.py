"""The offline evaluation suite on a small trained run, and its pieces."""

import contextlib
import io
import json
import os
import shlex

import numpy as np
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from experiments import evaluate as evaluate_script
from multiobj import offline_evaluation, retrieval_evaluation, schema, training
from multiobj.data import synthetic

FLAGS = flags.FLAGS
SMALL = synthetic.SyntheticConfig(
  num_users=300, num_items=150, num_requests=1500
)
BLEND = "click*purchase^0.5*log1p(dwell)"
# Users clicking items: the smallest description retrieval evaluation reads.
TOY_SPEC = schema.DatasetSpec(
  name="toy",
  features=(
    schema.Feature("user", "query", "id"),
    schema.Feature("item", "candidate", "id"),
  ),
  labels=("click",),
  item_id="item",
  user_id="user",
)


class OfflineEvaluationTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "run")
    training.train(
      training.TrainConfig(model_dir=cls.model_dir, synthetic=SMALL, epochs=2),
      verbose=0,
    )

  def test_every_metric_and_file(self):
    result = offline_evaluation.evaluate(
      offline_evaluation.EvaluationConfig(
        model_dir=self.model_dir, blend=BLEND, ks=(1, 10, 50)
      )
    )
    metrics = result["metrics"]
    for head in ("click", "purchase"):
      for metric in (
        "auc",
        "gauc",
        "logloss",
        "ece",
        "ndcg@10",
        "mrr@10",
        "map@10",
        "truth_ndcg@10",
      ):
        self.assertIn(f"{head}_{metric}", metrics)
        self.assertIn(f"{head}_{metric}", result["baselines"])
    for metric in ("rmse", "mae"):
      self.assertIn(f"dwell_{metric}", metrics)
    for metric in (
      "recall@10",
      "user_recall@50",
      "hit_rate@1",
      "scann_user_recall@10",
      "scann_overlap@10",
      "scann_ms_per_query",
      "exact_ms_per_query",
      "coverage@10",
      "diversity_category@10",
      "diversity_embedding@10",
      "novelty@10",
      "popularity_percentile@10",
    ):
      self.assertIn(f"retrieval_{metric}", metrics)
    for metric in (
      "click_auc",
      "click_ndcg@10",
      "purchase_ndcg@10",
      "click_truth_ndcg@10",
    ):
      self.assertIn(f"blend_{metric}", metrics)
    self.assertEqual(result["blend"], "click * purchase^0.5 * log1p(dwell)")
    # GAUC says how many users it skipped.
    gauc = result["details"]["click_gauc"]
    self.assertGreater(gauc["groups"], 0)
    self.assertIn("skipped_single_class", gauc)
    output = os.path.join(self.model_dir, "eval")
    with open(os.path.join(output, "eval.json")) as f:
      self.assertEqual(json.load(f)["split"], "test")
    for name in (
      "eval.md",
      "calibration_click.png",
      "calibration_purchase.png",
      "recall_at_k.png",
    ):
      self.assertTrue(os.path.exists(os.path.join(output, name)), name)
    # Recall and hit rate rise with k; ScaNN finds part of the exact top k.
    self.assertLessEqual(
      metrics["retrieval_user_recall@1"], metrics["retrieval_user_recall@50"]
    )
    self.assertBetween(metrics["retrieval_scann_overlap@10"], 0.0, 1.0)

  def test_blend_changes_the_ranking_metrics(self):
    # A blend that is the click head alone ranks exactly like it.
    result = offline_evaluation.evaluate(
      offline_evaluation.EvaluationConfig(
        model_dir=self.model_dir, blend="click", scann=False, plots=False
      )
    )
    metrics = result["metrics"]
    self.assertAlmostEqual(
      metrics["blend_click_ndcg@10"], metrics["click_ndcg@10"], places=6
    )
    self.assertAlmostEqual(metrics["blend_purchase_ndcg@10"] >= 0, True)

  def test_bad_input(self):
    with self.assertRaisesRegex(
      ValueError,
      r"unknown head 'clik' at position 0 in 'clik\+1'; known heads: click, dwell, purchase",
    ):
      offline_evaluation.evaluate(
        offline_evaluation.EvaluationConfig(
          model_dir=self.model_dir, blend="clik+1"
        )
      )
    with self.assertRaisesRegex(
      ValueError, "has no split 'holdout'; splits: train, valid, test"
    ):
      offline_evaluation.evaluate(
        offline_evaluation.EvaluationConfig(
          model_dir=self.model_dir, split="holdout"
        )
      )
    with self.assertRaisesRegex(ValueError, "slate_k must be >= 2"):
      offline_evaluation.EvaluationConfig(model_dir="x", slate_k=1)

  def test_docstring_example_runs(self):
    command = evaluate_script.__doc__.replace("\\\n", " ")
    line = next(
      c for c in command.splitlines() if "python -m experiments.evaluate" in c
    )
    args = [
      a
      for a in shlex.split(line)
      if a.startswith("--") and not a.startswith("--model_dir")
    ]
    output = self.create_tempdir().full_path
    with (
      flagsaver.flagsaver(),
      contextlib.redirect_stdout(io.StringIO()) as out,
    ):
      FLAGS(
        [
          "evaluate.py",
          f"--model_dir={self.model_dir}",
          f"--output_dir={output}",
          *args,
        ]
      )
      evaluate_script.main(["evaluate.py"])
    self.assertIn("blend      click_ndcg@10", out.getvalue())
    self.assertRegex(
      out.getvalue(), r"click_gauc: \d+ users scored, \d+ skipped"
    )
    self.assertTrue(os.path.exists(os.path.join(output, "eval.json")))


class RetrievalPiecesTest(tf.test.TestCase):
  def test_recall_and_hits(self):
    # User A: positives {1, 2}, top [1, 5, 2]; user B: positive {7}, top [3, 4, 9].
    top = np.array([[1, 5, 2], [3, 4, 9]])
    out = retrieval_evaluation.recall_and_hits(
      top, [np.array([1, 2]), np.array([7])], [1, 3], "r_"
    )
    self.assertAlmostEqual(out["r_user_recall@1"], (0.5 + 0) / 2)
    self.assertAlmostEqual(out["r_user_recall@3"], (1 + 0) / 2)
    self.assertAlmostEqual(out["r_hit_rate@1"], 0.5)
    self.assertAlmostEqual(out["r_hit_rate@3"], 0.5)

  def test_user_queries(self):
    lists = {
      "user": np.array([5, 3, 5]),
      "item": np.array([[10, 11], [12, 10], [13, 11]]),
      "click": np.array([[1, 0], [0, 0], [0, 1]]),
      schema.MASK: np.ones((3, 2)),
    }
    users = retrieval_evaluation.UserQueries(
      TOY_SPEC, lists, "click", np.array([13, 12, 11, 10])
    )
    # User 3 has no positive and is left out; user 5 clicked 10 and 11, which
    # are catalogue rows 3 and 2.
    self.assertAllEqual(users.users, [5])
    self.assertAllEqual(users.positives[0], [2, 3])
    self.assertAllEqual(users.query["user"], [5])

  def test_popularity_counts_users_not_clicks(self):
    train = {
      "user": np.array([1, 1, 2]),
      "item": np.array([[10, 11], [10, 12], [10, 11]]),
      "click": np.array([[1, 0], [1, 1], [1, 0]]),
      schema.MASK: np.ones((3, 2)),
    }
    counts, users = retrieval_evaluation.popularity(
      TOY_SPEC, train, "click", np.array([10, 11, 12])
    )
    # Item 10: users 1 (twice) and 2 -> 2; item 12: user 1 -> 1.
    self.assertAllEqual(counts, [2, 0, 1])
    self.assertEqual(users, 2)


if __name__ == "__main__":
  tf.test.main()
