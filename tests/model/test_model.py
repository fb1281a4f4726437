"""The model refuses label leakage: no column an objective learns from (its
label, mask, weights, a loss's inputs) or ground truth as a model input."""

import tensorflow as tf

import objectives
from multiobj.data import spec as spec_lib
from multiobj.model import features as features_lib
from multiobj.model import model as model_lib
from tests import tiny


class LabelLeakageTest(tf.test.TestCase):
  def test_a_label_column_as_input_is_refused(self):
    prepared = tiny.prepared()
    pricey = objectives.Objective(
      name="pricey", kind="regression", label="price", loss="mse"
    )
    with self.assertRaisesRegex(
      ValueError,
      r"Label leakage: objective 'pricey' learns from column 'price' \(label\), "
      r"which is also a model input \(candidate feature\)\. A label column can "
      "never be a model input",
    ):
      model_lib.check_no_leakage(prepared.data.spec, [pricey])
    spec = prepared.data.spec.replace(
      features=(
        *prepared.data.spec.features,
        spec_lib.Feature("true_relevance", "candidate", "numeric"),
      )
    )
    with self.assertRaisesRegex(
      ValueError, r"Label leakage: column 'true_relevance' \(ground truth"
    ):
      model_lib.check_no_leakage(spec, prepared.config.objectives)

  def test_a_column_a_loss_reads_is_no_input(self):
    prepared = tiny.prepared()
    weighted = objectives.Objective(
      name="clicky",
      kind="binary",
      label="click",
      loss="dwell_weighted",
      loss_params=(("dwell_column", "price"),),
    )
    with self.assertRaisesRegex(
      ValueError, r"column 'price' \(loss input\), which is also a model input"
    ):
      model_lib.check_no_leakage(prepared.data.spec, [weighted])

  def test_the_model_builder_checks(self):
    prepared = tiny.prepared()
    data = prepared.data
    stats = features_lib.compute_stats(data.spec, data.split("train"), 100)
    leaky = objectives.Objective(
      name="agey", kind="regression", label="age", loss="mse"
    )
    with self.assertRaisesRegex(
      ValueError, r"'age' \(label\), which is also a model input \(query"
    ):
      model_lib.MultiObjectiveModel(data.spec, stats, [leaky], tiny.SMALL_MODEL)


if __name__ == "__main__":
  tf.test.main()


class SimilarityAndDecayTest(tf.test.TestCase):
  def _model(self, **changes):
    prepared = tiny.prepared()
    data = prepared.data
    stats = features_lib.compute_stats(data.spec, data.split("train"), 100)
    config = prepared.config.replace(**changes)
    return model_lib.build(data.spec, stats, config, steps_per_epoch=10), (
      prepared
    )

  def test_cosine_embeddings_have_unit_length_dot_ones_do_not(self):
    for similarity, unit in (("cosine", True), ("dot", False)):
      model, prepared = self._model(similarity=similarity)
      batch = next(iter(prepared.eval_dataset("test", batch_size=8)))
      outputs = model(batch)
      norms = tf.norm(outputs["query_embedding"], axis=-1).numpy()
      if unit:
        self.assertAllClose(norms, tf.ones_like(norms), atol=1e-5)
      else:
        self.assertNotAllClose(norms, tf.ones_like(norms), atol=1e-2)

  def test_cosine_decay_reaches_zero_at_the_last_step(self):
    # 10 steps an epoch, 3 epochs: half a cosine over 30 steps.
    model, _ = self._model(learning_rate_decay="cosine", epochs=3)
    schedule = tf.keras.optimizers.schedules.deserialize(
      model.optimizer.get_config()["learning_rate"]
    )
    self.assertIsInstance(schedule, tf.keras.optimizers.schedules.CosineDecay)
    self.assertAllClose(schedule(0), 1e-3)
    self.assertAllClose(schedule(15), 0.5e-3)
    self.assertAllClose(schedule(30), 0.0)
    constant, _ = self._model()
    self.assertAllClose(float(constant.optimizer.learning_rate), 1e-3)
