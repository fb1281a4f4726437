"""Ranking trunks: their gates, a user's registered trunk, the names they
refuse, and the gates' usage a run reports."""

import json
import os

import tensorflow as tf

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.model import trunks
from tests import tiny


class TrunkTest(tf.test.TestCase):
  def test_mmoe_gates_sum_to_one_per_task(self):
    trunk = trunks.get_trunk("mmoe(experts=3)", ["a", "b"], (8, 4))
    hidden, gates = trunk(tf.random.normal([5, 7, 6]))
    self.assertEqual(sorted(gates), ["a", "b"])
    for task in ("a", "b"):
      self.assertEqual(hidden[task].shape, (5, 7, 4))
      self.assertEqual(gates[task].shape, (5, 7, 3))
      self.assertAllClose(tf.reduce_sum(gates[task], -1), tf.ones([5, 7]))
    self.assertEqual(trunk.gate_experts["a"], ("e0", "e1", "e2"))

  def test_ple_gates_follow_the_flags(self):
    trunk = trunks.get_trunk(
      "ple(shared_experts=2,task_experts=1)", ["a", "b"], (8, 4)
    )
    hidden, gates = trunk(tf.random.normal([5, 6]))
    # Two levels (two widths): task gates at both, a shared gate below the
    # last; a task gate mixes its own expert and the two shared ones, the
    # shared gate every expert of its level.
    self.assertEqual(
      sorted(gates), ["a_l1", "a_l2", "b_l1", "b_l2", "shared_l1"]
    )
    self.assertEqual(gates["a_l1"].shape, (5, 3))
    self.assertEqual(gates["shared_l1"].shape, (5, 4))
    self.assertEqual(trunk.gate_experts["b_l2"], ("b0", "shared0", "shared1"))
    for g in gates.values():
      self.assertAllClose(tf.reduce_sum(g, -1), tf.ones([5]))
    self.assertEqual(hidden["a"].shape, (5, 4))
    # One level is CGC: no shared gate.
    cgc = trunks.get_trunk("ple(shared_experts=1,task_experts=2)", ["a"], (8,))
    _, gates = cgc(tf.random.normal([3, 6]))
    self.assertEqual(list(gates), ["a_l1"])
    self.assertEqual(gates["a_l1"].shape, (3, 3))

  def test_ple_refuses_a_task_named_shared(self):
    with self.assertRaisesRegex(
      ValueError, "a task named 'shared' would clash"
    ):
      trunks.get_trunk("ple", ["shared", "click"], (4,))

  def test_shared_bottom_shares_one_output(self):
    trunk = trunks.get_trunk("shared_bottom", ["a", "b"], (8, 4))
    hidden, gates = trunk(tf.random.normal([5, 6]))
    self.assertEqual(gates, {})
    self.assertAllEqual(hidden["a"], hidden["b"])

  def test_unknown_trunk_and_parameter_are_named(self):
    with self.assertRaisesRegex(
      ValueError, r"Unknown trunk 'moe'. Known trunks: mmoe, ple, shared_bottom"
    ):
      trunks.check("moe")
    with self.assertRaisesRegex(
      ValueError,
      r"Trunk 'mmoe' does not take parameters \['expert'\]; its parameters: "
      "experts",
    ):
      trunks.check("mmoe(expert=2)")
    with self.assertRaisesRegex(ValueError, "mmoe: experts must be >= 1"):
      trunks.get_trunk("mmoe(experts=0)", ["a"], (4,))


class GateUsageTest(tf.test.TestCase):
  def test_gate_usage_is_logged_in_metrics_json(self):
    model_dir = os.path.join(self.get_temp_dir(), "ple")
    config = config_lib.TrainConfig(model_dir=model_dir).replace(
      synthetic=tiny.TINY,
      model=tiny.SMALL_MODEL,
      trunk="ple",
      epochs=1,
      batch_size=32,
    )
    experiment.run(config, verbose=0)
    with open(os.path.join(model_dir, "metrics.json")) as f:
      usage = json.load(f)["gate_usage"]
    self.assertEqual(
      sorted(usage),
      sorted(
        [
          f"{t}_l{level}"
          for t in ("click", "dwell", "purchase")
          for level in (1, 2)
        ]
        + ["shared_l1"]
      ),
    )
    for gate, experts in usage.items():
      # Means of softmax weights over the same rows: they sum to one.
      self.assertAlmostEqual(sum(experts.values()), 1.0, places=4, msg=gate)
    # And in TensorBoard, each epoch.
    tags = set()
    train_dir = os.path.join(model_dir, "tensorboard", "train")
    for name in os.listdir(train_dir):
      for event in tf.compat.v1.train.summary_iterator(
        os.path.join(train_dir, name)
      ):
        tags.update(v.tag for v in event.summary.value)
    self.assertIn("gate/purchase_l2/purchase0", tags)
    self.assertIn("gate/shared_l1/shared1", tags)


@trunks.register_trunk("test_separate_towers")
class _SeparateTowers(trunks.Trunk):
  """A user's trunk: one MLP per task, nothing shared."""

  def __init__(self, tasks, layers, **kwargs):
    super().__init__(tasks, layers, **kwargs)
    self.mlps = {
      t: tf.keras.layers.Dense(self.units[-1], "relu") for t in tasks
    }

  def call(self, inputs, training=False):
    return {t: self.mlps[t](inputs) for t in self.tasks}, {}


class UserTrunkTest(tf.test.TestCase):
  def test_a_registered_trunk_is_named_by_config(self):
    prepared = tiny.prepared(trunk="test_separate_towers")
    model = tiny.model(prepared)
    outputs = model(tiny.batch(prepared))
    self.assertIsInstance(model.trunk, _SeparateTowers)
    self.assertEqual(outputs["click"].shape, outputs["purchase"].shape)
    self.assertEqual(outputs["gates"], {})


if __name__ == "__main__":
  tf.test.main()
