"""Position-bias propensities: estimates against the generator's truth."""

import json
import os

import numpy as np
import tensorflow as tf

import objectives
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import synthetic
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import propensity, resolve, train_data

TRUTH = (1.0 / np.arange(1, 11)) ** 1.0  # The generator's examination model.


def _train_lists(**changes):
  config = synthetic.SyntheticConfig(num_requests=6000, **changes)
  data = synthetic.generate(config)
  prepared = train_data.prepare(
    data, config_lib.TrainConfig(model_dir="unused").replace(synthetic=config)
  )
  return prepared.lists["train"], data.spec


class EstimateTest(tf.test.TestCase):
  def test_randomized_ctr_ratios_recover_the_examination_model(self):
    # Every list randomised: CTR ratios estimate 1/position directly.
    lists, spec = _train_lists(randomized_share=1.0)
    theta = propensity.estimate("randomized", lists, spec, "click")
    self.assertAllClose(theta, TRUTH, atol=0.05)

  def test_click_em_recovers_the_examination_model(self):
    # The default log: only 5% randomised, relevance falls with position.
    lists, spec = _train_lists()
    theta = propensity.estimate("em", lists, spec, "click")
    self.assertEqual(theta[0], 1.0)
    self.assertAllClose(theta, TRUTH, atol=0.05)
    # The naive CTR ratio is confounded by the policy's ordering.
    valid = lists[lists_lib.MASK] > 0
    ctr = [
      lists["click"][valid & (lists["position"] == k)].mean()
      for k in range(1, 11)
    ]
    self.assertLess(ctr[9] / ctr[0], TRUTH[9] - 0.01)

  def test_from_file(self):
    path = os.path.join(self.create_tempdir().full_path, "p.csv")
    with open(path, "w") as f:
      f.write(
        "position,propensity\n"
        + "".join(f"{k},{0.8 / k}\n" for k in range(1, 11))
      )
    lists, spec = _train_lists()
    self.assertAllClose(
      propensity.estimate(f"file:{path}", lists, spec, "click"), TRUTH
    )

  def test_file_errors_name_the_line(self):
    lists, spec = _train_lists()
    path = os.path.join(self.create_tempdir().full_path, "p.csv")
    with open(path, "w") as f:
      f.write("position,propensity\n1,1.0\n2,zero\n")
    with self.assertRaisesRegex(
      ValueError,
      r"p\.csv, line 3: expected 'position,propensity', got '2,zero'",
    ):
      propensity.estimate(f"file:{path}", lists, spec, "click")
    with open(path, "w") as f:
      f.write("1,1.0\n2,0.5\n")
    with self.assertRaisesRegex(
      ValueError, r"no propensity for positions \[3, 4, 5, 6, 7, 8, 9, 10\]"
    ):
      propensity.estimate(f"file:{path}", lists, spec, "click")
    with self.assertRaisesRegex(ValueError, "no such file"):
      propensity.estimate("file:/nonexistent.csv", lists, spec, "click")

  def test_needs_the_columns(self):
    lists, spec = _train_lists()
    with self.assertRaisesRegex(
      ValueError, "needs a column marking randomised lists"
    ):
      propensity.estimate(
        "randomized", lists, spec.replace(randomized=None), "click"
      )
    with self.assertRaisesRegex(
      ValueError, "needs the dataset's position column"
    ):
      propensity.estimate("em", lists, spec.replace(position=None), "click")
    with self.assertRaisesRegex(ValueError, "Unknown propensity method 'ips'"):
      config_lib.check_propensity_method("ips")

  def test_weights(self):
    theta = np.array([1.0, 0.5, 0.05])
    positions = np.array([[1, 2, 3], [3, 2, 1]])
    labels = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    # Clicks weigh 1/theta, capped at 10; unclicked slots weigh 1.
    self.assertAllClose(
      propensity.weights(theta, positions, labels, max_weight=10.0),
      [[1.0, 2.0, 10.0], [1.0, 2.0, 1.0]],
    )


class TrainWithPropensityTest(tf.test.TestCase):
  def test_click_losses_are_weighted(self):
    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(
      objectives=tuple(objectives.select("retrieval,click,purchase")),
      synthetic=synthetic.SyntheticConfig(
        num_users=300, num_items=150, num_requests=800
      ),
      epochs=1,
      propensity="em",
    )
    resolved = config.replace(
      prepare=resolve.resolve(
        config.prepare, synthetic.generate(config.data.synthetic)
      ),
      # The retrieval candidates that trained, recorded (the default).
      retrieval=config.retrieval.resolved({}),
    )
    # Only the binary objective learning from clicks is weighted.
    self.assertEqual(
      {o.name: o.weight_column for o in resolved.objectives},
      {"retrieval": None, "click": propensity.IPW, "purchase": None},
    )
    result = experiment.run(config, verbose=0)
    self.assertLen(result.propensities, 10)
    self.assertTrue(np.isfinite(result.metrics["click_auc"]))
    with open(os.path.join(config.model_dir, "config.json")) as f:
      saved = json.load(f)["config"]
    self.assertEqual(config_lib.TrainConfig.from_dict(saved), resolved)

  def test_needs_an_objective_on_the_click_label(self):
    with self.assertRaisesRegex(
      ValueError, "no binary or listwise objective learns from 'click'"
    ):
      resolve.resolve(
        config_lib.PrepareConfig(
          objectives=tuple(objectives.select("dwell,purchase")),
          propensity="em",
          # Named: by default it is the first binary objective's label.
          propensity_label="click",
        ),
        synthetic.generate(synthetic.SyntheticConfig(num_requests=100)),
      )


if __name__ == "__main__":
  tf.test.main()
