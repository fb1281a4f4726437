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
