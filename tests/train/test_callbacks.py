"""A diverging run stops with `DivergenceError`, naming the task and the step, and
writes no result; a run that would learn nothing is refused before it
trains."""

import os

import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

import objectives as objectives_lib
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import synthetic
from multiobj.prepare import resolve
from multiobj.train import callbacks, fit, tensorboard

SMALL = synthetic.SyntheticConfig(num_users=100, num_items=60, num_requests=200)


class FiniteLossTest(tf.test.TestCase):
  def _check(self, logs, epoch=0, batch=0):
    check = callbacks.FiniteLoss(["retrieval", "click"], 0.05)
    check.on_epoch_begin(epoch)
    check.on_train_batch_end(batch, logs)

  def test_finite_losses_pass(self):
    self._check({"loss": 1.5, "retrieval_loss": 1.0, "click_loss": 0.5})
    self._check({})  # No loss logged: nothing to check.

  def test_names_the_tasks_the_epoch_and_the_step(self):
    with self.assertRaisesWithLiteralMatch(
      callbacks.DivergenceError,
      "Training diverged at epoch 3, step 41: the loss of click (nan) is not "
      "finite. No result was written. Lower --learning_rate (it is 0.05), or "
      "look for extreme values in the labels, weights or numeric features.",
    ):
      self._check(
        {
          "loss": float("nan"),
          "retrieval_loss": 1.0,
          "click_loss": float("nan"),
        },
        epoch=2,
        batch=40,
      )

  def test_a_weight_that_is_not_finite(self):
    with self.assertRaisesRegex(
      callbacks.DivergenceError,
      r"step 1: the weighted sum of the losses \(inf\), every task's own "
      r"loss finite \(a weight is not\) is not finite",
    ):
      self._check({"loss": float("inf"), "retrieval_loss": 1.0})


class TensorBoardTest(tf.test.TestCase):
  def _events(self, directory):
    """{tag: [(step, value)]} of the events under `directory`."""
    found = {}
    for name in sorted(os.listdir(directory)):
      for event in tf.compat.v1.train.summary_iterator(
        os.path.join(directory, name)
      ):
        for value in event.summary.value:
          scalar = float(tf.make_ndarray(value.tensor))
          found.setdefault(value.tag, []).append((event.step, scalar))
    return found

  def test_writes_batches_every_n_steps_and_epochs_with_validation(self):
    directory = os.path.join(self.get_temp_dir(), "tensorboard")
    model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0), loss="mse")
    x = tf.ones((6, 2))
    y = tf.zeros((6, 1))
    history = model.fit(
      x,
      y,
      batch_size=2,
      epochs=2,
      validation_data=(x, y),
      callbacks=[tensorboard.TensorBoard(directory, every=2)],
      verbose=0,
    )
    train = self._events(os.path.join(directory, "train"))
    validation = self._events(os.path.join(directory, "validation"))
    # 3 steps an epoch: steps 1 to 6, recorded at 2, 4 and 6.
    self.assertEqual([s for s, _ in train["step/loss/total"]], [2, 4, 6])
    self.assertEqual([s for s, _ in train["loss/total"]], [0, 1])
    self.assertAllClose(
      [v for _, v in train["loss/total"]], history.history["loss"]
    )
    self.assertAllClose(
      [v for _, v in validation["loss/total"]], history.history["val_loss"]
    )
    self.assertNotIn("step/loss/total", validation)
    # The training step's graph, for the Graphs dashboard: the layer's
    # product and its gradient are in it.
    graph = (
      event_accumulator.EventAccumulator(os.path.join(directory, "train"))
      .Reload()
      .Graph()
    )
    ops = {node.op for node in graph.node}
    self.assertIn("MatMul", ops)
    self.assertIn("BiasAddGrad", ops)

  def test_tags_are_grouped_by_kind(self):
    tasks = ["click", "click_listwise"]
    gates = {"gate_click_l1_e0": ("click_l1", "e0")}
    expected = {
      "loss": "loss/total",
      "click_loss": "loss/click",
      "click_listwise_loss": "loss/click_listwise",
      "click_listwise_weight": "weight/click_listwise",
      "gate_click_l1_e0": "gate/click_l1/e0",
      "my_metric": "my_metric",
    }
    for key, name in expected.items():
      self.assertEqual(tensorboard.tag(key, tasks, gates), name)
    # On validation data, weights and gates are training's own: not written.
    self.assertIsNone(tensorboard.tag("click_weight", tasks, gates, False))
    self.assertIsNone(tensorboard.tag("gate_click_l1_e0", tasks, gates, False))
    self.assertEqual(
      tensorboard.metric_tag("click_listwise_ndcg@5", tasks),
      "test/click_listwise/ndcg@5",
    )

  def test_results_reach_the_hparams_dashboard(self):
    # Read back with TensorBoard's own reader and the HParams plugin's
    # metadata parser, as the dashboard reads them.
    directory = self.get_temp_dir()
    config = config_lib.TrainConfig(model_dir="runs/x").replace(
      learning_rate=0.01,
      trunk="mmoe(experts=3)",
      objectives=tuple(objectives_lib.select("retrieval:1,click:0.5")),
    )
    tensorboard.write_results(
      directory,
      config.to_dict(),
      {"click_auc": 0.75, "retrieval_recall@100": 0.5, "dwell_rmse": None},
      ["click", "retrieval", "dwell"],
      step=3,
    )
    test = event_accumulator.EventAccumulator(
      os.path.join(directory, "test")
    ).Reload()
    self.assertCountEqual(
      test.Tags()["tensors"],
      ["test/click/auc", "test/retrieval/recall@100"],
    )
    (auc,) = test.Tensors("test/click/auc")
    self.assertEqual(auc.step, 3)
    self.assertAllClose(tf.make_ndarray(auc.tensor_proto), 0.75)
    root = event_accumulator.EventAccumulator(directory).Reload()
    content = root.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    (session,) = (
      hparams_metadata.parse_session_start_info_plugin_data(
        root.SummaryMetadata(t).plugin_data.content
      )
      for t in content
      if t == hparams_metadata.SESSION_START_INFO_TAG
    )
    values = {
      k: v.number_value or v.string_value for k, v in session.hparams.items()
    }
    self.assertEqual(values["fit.learning_rate"], 0.01)
    self.assertEqual(values["model.trunk"], "mmoe(experts=3)")
    self.assertEqual(values["prepare.objectives"], "retrieval:1,click:0.5")
    self.assertNotIn("model_dir", values)


class DivergingRunTest(tf.test.TestCase):
  def test_stops_with_an_error_and_writes_no_metrics(self):
    model_dir = os.path.join(self.get_temp_dir(), "diverging")
    config = config_lib.TrainConfig(model_dir=model_dir).replace(
      synthetic=SMALL, epochs=2, learning_rate=1e30
    )
    with self.assertRaisesRegex(
      callbacks.DivergenceError,
      r"^Training diverged at epoch 1, step \d+: the loss",
    ):
      experiment.run(config, verbose=0)
    self.assertFalse(os.path.exists(os.path.join(model_dir, "metrics.json")))


class CheckTrainableTest(tf.test.TestCase):
  SUMMARY = {"train": {"rows": 900, "mean_click": 0.1, "mean_purchase": 0.0}}

  def _config(self, **changes):
    changes.setdefault("objective_weights", "retrieval:1,click:1,purchase:0")
    return config_lib.TrainConfig(model_dir="unused").replace(**changes)

  def test_a_trainable_run_passes(self):
    # purchase has no positive, but weight 0: it only reports.
    config = _resolved(self._config())
    fit.check_trainable(config, self.SUMMARY)

  def test_every_weight_zero(self):
    config = _resolved(self._config(objective_weights="click:0,purchase:0"))
    with self.assertRaisesRegex(ValueError, "^Every objective's weight is 0"):
      fit.check_trainable(config, self.SUMMARY)

  def test_a_label_without_positives(self):
    config = _resolved(self._config(objective_weights="click:1,purchase:2"))
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "Objective 'purchase' learns from label 'purchase', which has no "
      "positive in the training split (900 rows): there is nothing to "
      "learn. Leave it out of --objectives (or give it weight 0), or check "
      "the column.",
    ):
      fit.check_trainable(config, self.SUMMARY)

  def test_in_batch_retrieval_needs_two_lists(self):
    config = _resolved(self._config(batch_size=1))
    with self.assertRaisesRegex(
      ValueError, r"^--batch_size=1 with in-batch retrieval: "
    ):
      fit.check_trainable(config, self.SUMMARY)
    # Sampled negatives give one list its negatives.
    config = _resolved(self._config(batch_size=1, uniform_negatives=4))
    fit.check_trainable(config, self.SUMMARY)


def _resolved(config):
  """`config` with its objectives resolved for the synthetic data."""
  stub = synthetic.generate(SMALL)
  prepare = resolve.resolve(config.prepare, stub)
  return config.replace(prepare=prepare)


if __name__ == "__main__":
  tf.test.main()
