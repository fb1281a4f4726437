"""End to end: a small run learns, writes every metric, and reloads."""

import json
import os
from unittest import mock

import numpy as np
import tensorflow as tf
from tensorflow.python.autograph.impl import api as autograph_api

import objectives
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import synthetic
from multiobj.evaluate import heads, report
from multiobj.model import features
from multiobj.model import model as model_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import train_data
from multiobj.train import fit, run_dir
from tests import custom_objectives

SMALL = synthetic.SyntheticConfig(
  num_users=600, num_items=300, num_requests=3000
)


class TrainingTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "fit_run")
    cls.config = config_lib.TrainConfig(model_dir=cls.model_dir).replace(
      objectives=tuple(objectives.select(synthetic.DEFAULT_OBJECTIVES)),
      synthetic=SMALL,
      epochs=4,
      batch_size=64,
    )
    # Every function AutoGraph converts on the way (data, steps, metrics).
    convert = autograph_api._convert_actual
    with mock.patch.object(
      autograph_api, "_convert_actual", side_effect=convert
    ) as converted:
      cls.result = experiment.run(cls.config, flags={"epochs": 4}, verbose=0)
    cls.converted = {c.args[0].__qualname__ for c in converted.call_args_list}

  def test_autograph_converts_only_what_needs_it(self):
    # Converting the model's and the data's code cost seconds a run. What is
    # left is Keras's own: the functions around each step and a text
    # vocabulary's adapt, and the layer TFRS's Retrieval.call (converted on
    # its own, when the module is imported) calls.
    self.assertLessEqual(
      self.converted,
      {
        "Model.make_train_function.<locals>.train_function",
        "Model.make_test_function.<locals>.test_function",
        "PreprocessingLayer.make_adapt_function.<locals>.adapt_step",
        "RemoveAccidentalHits.call",
      },
    )

  def test_metrics_json_holds_every_metric(self):
    with open(os.path.join(self.model_dir, "metrics.json")) as f:
      saved = json.load(f)
    expected = [
      "retrieval_recall@10",
      "retrieval_recall@50",
      "retrieval_recall@100",
      "click_auc",
      "click_logloss",
      "click_ndcg@10",
      "click_truth_ndcg@10",
      "dwell_rmse",
      "dwell_mae",
      "purchase_auc",
      "purchase_logloss",
    ]
    self.assertCountEqual(saved["metrics"], expected)
    self.assertCountEqual(saved["baselines"], expected)
    for name in expected:
      self.assertTrue(np.isfinite(saved["metrics"][name]), name)
    # Each task's loss and weight, per epoch, training and validation.
    for task in ("retrieval", "click", "dwell", "purchase"):
      self.assertLen(saved["history"][f"{task}_loss"], 4)
      self.assertLen(saved["history"][f"val_{task}_loss"], 4)
    self.assertEqual(saved["effective_weights"]["dwell"], 0.5)
    self.assertEqual(saved["flags"], {"epochs": 4})
    self.assertEqual(saved["config"]["data"]["synthetic"]["num_requests"], 3000)
    with open(os.path.join(self.model_dir, "history.jsonl")) as f:
      epochs = [json.loads(line) for line in f]
    self.assertEqual([e["epoch"] for e in epochs], [1, 2, 3, 4])
    self.assertAlmostEqual(
      epochs[-1]["val_click_loss"], saved["history"]["val_click_loss"][-1]
    )
    for name in (
      "config.json",
      "feature_stats.json",
      "checkpoints",
      "tensorboard",
    ):
      self.assertTrue(os.path.exists(os.path.join(self.model_dir, name)), name)

  def test_beats_a_random_model(self):
    metrics = self.result.metrics
    # A random scorer has AUC 0.5 and recall@K = K / number of items.
    self.assertGreater(metrics["click_auc"], 0.6)
    self.assertGreater(metrics["purchase_auc"], 0.6)
    self.assertGreater(metrics["retrieval_recall@10"], 3 * 10 / SMALL.num_items)
    self.assertGreater(metrics["retrieval_recall@50"], 2 * 50 / SMALL.num_items)
    # Within impression lists it ranks truly relevant items above random
    # order, whose truth NDCG@10 is computed here from the same lists.
    data = synthetic.generate(SMALL)
    test = train_data.prepare(data, self.config).lists["test"]
    random_scores = np.random.default_rng(0).random(test["click"].shape)
    random_ndcg = heads.ndcg(
      test["true_relevance"], random_scores, test[lists_lib.MASK] > 0, 10
    )
    self.assertGreater(metrics["click_truth_ndcg@10"], random_ndcg + 0.02)

  def test_loaded_model_reproduces_the_metrics(self):
    model, config = run_dir.load_model(self.model_dir)
    # The run's config, with the retrieval candidates that trained filled in.
    self.assertEqual(
      config,
      self.config.replace(retrieval=self.config.retrieval.resolved({})),
    )
    data = synthetic.generate(SMALL)
    lists = train_data.prepare(data, config).lists
    again = report.model_metrics(model, lists["test"], data.catalogue)
    for name, value in self.result.metrics.items():
      self.assertAllClose(again[name], value, atol=1e-5, msg=name)

  def test_evaluates_the_validation_split_for_tuning(self):
    model, config = run_dir.load_model(self.model_dir)
    data = train_data.prepare(synthetic.generate(SMALL), config)
    scored = report.evaluate(model, data, "valid")
    on_valid = report.model_metrics(
      model, data.lists["valid"], data.data.catalogue
    )
    self.assertCountEqual(scored.metrics, self.result.metrics)
    for name, value in scored.metrics.items():
      self.assertAllClose(on_valid[name], value, atol=1e-5, msg=name)
    self.assertEqual(scored.counts["lists"], data.num_lists("valid"))
    # Other lists than the test split's (as many here: 10% each).
    self.assertNotEqual(scored.metrics, self.result.metrics)

  def test_checkpoint_names_features_by_column(self):
    path = tf.train.latest_checkpoint(
      os.path.join(self.model_dir, run_dir.CHECKPOINTS)
    )
    embeddings = sorted(
      name.split("/.ATTRIBUTES")[0]
      for name, _ in tf.train.list_variables(path)
      if name.startswith("model/")
      and name.endswith("embedding/embeddings/.ATTRIBUTES/VARIABLE_VALUE")
    )
    self.assertIn(
      "model/query_tower/encoder/by_feature/user_id/embedding/embeddings",
      embeddings,
    )
    self.assertIn(
      "model/candidate_tower/encoder/by_feature/item_id/embedding/embeddings",
      embeddings,
    )
    self.assertEmpty([n for n in embeddings if "/encoders/" in n])


class BatchWithoutPositivesTest(tf.test.TestCase):
  def test_retrieval_loss_is_zero(self):
    config = config_lib.TrainConfig(model_dir="unused").replace(synthetic=SMALL)
    data = synthetic.generate(SMALL)
    prepared = train_data.prepare(data, config)
    lists = dict(prepared.lists["train"])
    lists["click"] = np.zeros_like(lists["click"])  # No click, no pair.
    stats = features.compute_stats(data.spec, data.split("train"), 1000)
    model = model_lib.build(data.spec, stats, prepared.config)
    batch = next(iter(lists_lib.make_dataset(lists, 16, shuffle=False, seed=0)))
    logs = model.train_step(batch)
    self.assertEqual(float(logs["retrieval_loss"]), 0.0)
    self.assertTrue(np.isfinite(float(logs["loss"])))


class EarlyStoppingTest(tf.test.TestCase):
  def test_keeps_the_best_epoch(self):
    # At this learning rate the validation loss is best at epoch 2. Patience
    # 2 stops at epoch 4 (Keras restores epoch 2); patience 9 runs all 5
    # epochs, and epoch 2 must still be what is kept.
    for patience, epochs_run in ((2, 4), (9, 5)):
      with self.subTest(patience=patience):
        self._check(patience, epochs_run)

  def _check(self, patience, epochs_run):
    model_dir = self.create_tempdir().full_path
    config = config_lib.TrainConfig(model_dir=model_dir).replace(
      synthetic=SMALL,
      epochs=5,
      early_stopping=patience,
      learning_rate=0.01,
    )
    result = fit.fit(config, verbose=0)
    val_loss = result.history["val_loss"]
    self.assertLen(val_loss, epochs_run)
    # Every variable exists before the first step, so each step function is
    # traced once (a function that creates variables is traced twice), the
    # last, partial batch included.
    self.assertEqual(
      result.model.train_function.experimental_get_tracing_count(), 1
    )
    self.assertEqual(
      result.model.test_function.experimental_get_tracing_count(), 1
    )
    self.assertLen(result.epoch_seconds, epochs_run)
    best = result.best_epoch
    self.assertEqual(best, int(np.argmin(val_loss)) + 1)
    self.assertLess(best, epochs_run)
    # The checkpoint on disk holds the best epoch's weights: its validation
    # loss is the best one of the history.
    model, resolved = run_dir.load_model(model_dir)
    data = synthetic.generate(SMALL)
    valid = train_data.prepare(data, resolved).lists["valid"]
    logs = model.evaluate(
      lists_lib.make_dataset(
        valid, resolved.fit.batch_size, shuffle=False, seed=0
      ),
      return_dict=True,
      verbose=0,
    )
    self.assertAllClose(logs["loss"], min(val_loss), rtol=1e-4)


class MonitorTest(tf.test.TestCase):
  """The kept epoch is the best by a validation metric, which each epoch
  logs as val_<metric>: by default a retrieval run's recall, a run with
  heads' loss; a lower-is-better metric, and the last epoch on request."""

  def _run(self, **changes):
    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(synthetic=SMALL, epochs=3, learning_rate=0.01, **changes)
    result = experiment.run(config, verbose=0)
    with open(os.path.join(config.model_dir, "history.jsonl")) as f:
      logged = [json.loads(line) for line in f]
    return result, logged

  def test_auto_keeps_the_epoch_of_the_best_validation_recall(self):
    # A run of retrieval alone: its recall; with heads, the loss.
    result, logged = self._run(objective_weights="retrieval")
    values = [e["val_retrieval_recall@100"] for e in logged]
    self.assertLen(values, 3)
    self.assertEqual(result.history["val_retrieval_recall@100"], values)
    self.assertEqual(result.best_epoch, int(np.argmax(values)) + 1)

  def test_a_run_with_heads_keeps_the_epoch_of_the_best_loss(self):
    result, logged = self._run()
    values = [e["val_loss"] for e in logged]
    self.assertNotIn("val_retrieval_recall@100", logged[0])
    self.assertEqual(result.best_epoch, int(np.argmin(values)) + 1)

  def test_a_lower_is_better_metric_and_the_last_epoch(self):
    result, logged = self._run(monitor="dwell_rmse")
    values = [e["val_dwell_rmse"] for e in logged]
    self.assertEqual(result.best_epoch, int(np.argmin(values)) + 1)
    result, _ = self._run(monitor="click_auc", keep="last")
    self.assertEqual(result.best_epoch, 3)

  def test_an_unknown_metric_is_refused_listing_the_known(self):
    with self.assertRaisesRegex(
      ValueError,
      r"--monitor: 'recall' is not a metric of this run on the validation "
      r"split; it has: loss, auto, .*click_auc.*retrieval_recall@100",
    ):
      self._run(monitor="recall")


class SingleKindTest(tf.test.TestCase):
  def test_retrieval_only_and_ranking_only_models_train(self):
    for weights, metric in (
      ("retrieval", "retrieval_recall@50"),
      ("click", "click_auc"),
    ):
      config = config_lib.TrainConfig(
        model_dir=self.create_tempdir().full_path
      ).replace(synthetic=SMALL, objective_weights=weights, epochs=1)
      result = experiment.run(config, verbose=0)
      self.assertEqual(list(result.effective_weights), [weights])
      self.assertTrue(np.isfinite(result.metrics[metric]), weights)


class CustomObjectiveTest(tf.test.TestCase):
  def test_a_variable_made_in_the_first_step_is_refused_by_name(self):
    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(synthetic=SMALL, epochs=1, weighting="lazy_variable")
    with self.assertRaisesRegex(
      ValueError,
      r"The trainable variable lazy_scale:0 was made during the first "
      r"training step, .* must make its variables in __init__",
    ):
      fit.fit(config, verbose=0)

  def test_user_registered_objectives_train(self):
    # Registered in tests/custom_objectives.py, outside the library.
    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(
      objectives=(
        objectives.get("click"),
        custom_objectives.CONVERSION,
        custom_objectives.CLICK_LISTWISE,
      ),
      synthetic=SMALL,
      epochs=2,
      batch_size=64,
    )
    result = experiment.run(config, verbose=0)
    metrics = result.metrics
    self.assertCountEqual(
      metrics,
      [
        "click_auc",
        "click_logloss",
        "click_ndcg@10",
        "click_truth_ndcg@10",
        "conversion_auc",
        "click_listwise_ndcg@5",
        "click_listwise_truth_ndcg@5",
      ],
    )
    # Conversion is scored on clicked rows only.
    self.assertEqual(
      result.counts["conversion_rows"], result.counts["click_positives"]
    )
    self.assertGreater(
      metrics["click_listwise_ndcg@5"],
      result.baselines["click_listwise_ndcg@5"] - 0.05,
    )
    self.assertIn("click_listwise_loss", result.history)


if __name__ == "__main__":
  tf.test.main()
