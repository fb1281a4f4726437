"""The offline evaluation suite on a small trained run."""

import contextlib
import io
import json
import os
import shlex
from unittest import mock

import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from experiments import evaluate as evaluate_script
from multiobj import experiment
from multiobj.config import TrainConfig
from multiobj.data import loaders, synthetic
from multiobj.evaluate import heads, offline, predictions, report
from multiobj.serve import blend as blend_lib
from multiobj.train import run_dir
from tests import tiny

FLAGS = flags.FLAGS
SMALL = synthetic.SyntheticConfig(
  num_users=300, num_items=150, num_requests=1500
)
BLEND = "click*purchase^0.5*log1p(dwell)"


class OfflineEvaluationTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model_dir = os.path.join(
      tf.compat.v1.test.get_temp_dir(), "offline_run"
    )
    experiment.run(
      TrainConfig(model_dir=cls.model_dir).replace(synthetic=SMALL, epochs=2),
      verbose=0,
    )

  def test_every_metric_and_file(self):
    result = offline.evaluate_run(
      offline.EvaluationConfig(
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

  def test_strong_baselines_as_the_training_report_found_them(self):
    result = offline.evaluate_run(
      offline.EvaluationConfig(
        model_dir=self.model_dir,
        output_dir=self.create_tempdir().full_path,
        scann=False,
        plots=False,
      )
    )
    with open(os.path.join(self.model_dir, "metrics.json")) as f:
      trained = json.load(f)
    every = result["retrieval_baselines"]
    self.assertEqual(
      [name.split(" (")[0] for name in every],
      ["most popular", "item-KNN", "EASE^R"],
    )
    self.assertEqual(every, trained["retrieval_baselines"])
    self.assertEqual(result["baseline_names"], trained["baseline_names"])
    for key in trained["baseline_names"]:
      self.assertAlmostEqual(
        result["baselines"][key], trained["baselines"][key], msg=key
      )

  def test_blend_changes_the_ranking_metrics(self):
    # A blend that is the click head alone ranks exactly like it.
    result = offline.evaluate_run(
      offline.EvaluationConfig(
        model_dir=self.model_dir, blend="click", scann=False, plots=False
      )
    )
    metrics = result["metrics"]
    self.assertAlmostEqual(
      metrics["blend_click_ndcg@10"], metrics["click_ndcg@10"], places=6
    )
    self.assertAlmostEqual(metrics["blend_purchase_ndcg@10"] >= 0, True)

  def test_reads_the_runs_cache_and_samples_beyond_the_limit(self):
    # The run's prepared cache is read, never the raw log; beyond
    # report.TEST_LISTS lists, an even sample of them (every k-th) is scored.
    with (
      mock.patch.object(loaders, "load", side_effect=AssertionError("read")),
      mock.patch.object(report, "TEST_LISTS", 50),
    ):
      result = offline.evaluate_run(
        offline.EvaluationConfig(
          model_dir=self.model_dir,
          scann=False,
          plots=False,
          output_dir=self.create_tempdir().full_path,
        )
      )
    total = result["lists"]["of"]
    self.assertGreater(total, 100)
    self.assertEqual(result["lists"]["scored"], -(-total // -(-total // 50)))
    self.assertEqual(result["counts"]["lists"], result["lists"]["scored"])

  def test_an_unfinished_run_is_refused(self):
    folder = self.create_tempdir().full_path
    run_dir.write_json(folder, run_dir.CONFIG, {"config": {}})
    with self.assertRaisesRegex(ValueError, f"^{folder} holds an unfinished"):
      offline.evaluate_run(offline.EvaluationConfig(model_dir=folder))

  def test_bad_input(self):
    with self.assertRaisesRegex(
      ValueError,
      r"unknown head 'clik' at position 0 in 'clik\+1'; known heads: click, dwell, purchase",
    ):
      offline.evaluate_run(
        offline.EvaluationConfig(model_dir=self.model_dir, blend="clik+1")
      )
    with self.assertRaisesRegex(
      ValueError, "has no split 'holdout'; splits: train, valid, test"
    ):
      offline.evaluate_run(
        offline.EvaluationConfig(model_dir=self.model_dir, split="holdout")
      )
    with self.assertRaisesRegex(ValueError, "slate_k must be >= 2"):
      offline.EvaluationConfig(model_dir="x", slate_k=1)

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


if __name__ == "__main__":
  tf.test.main()


class BlendOfFunnelTest(tf.test.TestCase):
  def test_a_blend_scores_a_model_whose_purchase_follows_click(self):
    # The blend's rows were once made by copying the objectives, which kept
    # purchase's `given` on a listwise copy and failed; a blend of the
    # purchase head alone ranks as the head does.
    prepared = tiny.prepared(funnels="purchase:click")
    model = tiny.model(prepared)
    lists = prepared.lists["test"]
    predicted, _ = predictions.predict(model, lists, 64)
    blend = blend_lib.Blend.parse(
      "purchase", [o.name for o in model.ranking_objectives]
    )
    metrics = offline.blend_metrics(model, blend, lists, predicted)
    # Judged by clicks (the tiny test split has no purchase to rank).
    click = model.objective_by_name["click"]
    head = heads.score(
      "purchase",
      ("ndcg@10",),
      heads.labels_of(click, lists),
      heads.applies(click, lists),
      predicted["purchase"],
      model.spec,
      lists,
      {},
    )
    self.assertAlmostEqual(
      metrics["blend_click_ndcg@10"], head["purchase_ndcg@10"], places=6
    )
    self.assertIn("blend_purchase_auc", metrics)
