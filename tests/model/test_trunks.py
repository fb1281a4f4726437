"""Trunks (gates), purchase given click (ESMM), label leakage, retrieval
negatives."""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

import objectives
from multiobj import config as config_lib
from multiobj import features as features_lib
from multiobj import model as model_lib
from multiobj import pipeline, preparation, schema, training, trunks
from multiobj.data import synthetic

TINY = synthetic.SyntheticConfig(
  num_users=200, num_items=120, num_requests=300, seed=5
)
SMALL_MODEL = model_lib.ModelConfig(
  embedding_dim=8, tower_layers=(16,), trunk_layers=(16, 8), head_layers=(8,)
)


def _prepared(**changes):
  changes.setdefault("model", SMALL_MODEL)
  config = config_lib.TrainConfig(
    model_dir="/tmp/unused", synthetic=TINY, **changes
  )
  return preparation.prepare(synthetic.generate(TINY), config)


def _model(prepared):
  data = prepared.data
  stats = features_lib.compute_stats(data.spec, data.split("train"), 100)
  return model_lib.MultiObjectiveModel(
    data.spec, stats, prepared.config.objectives, prepared.config.model
  )


def _batch(prepared, lists=16):
  table = prepared.lists["train"]
  return {k: tf.constant(v[:lists]) for k, v in table.items()}


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

  def test_gate_usage_is_logged_in_metrics_json(self):
    model_dir = os.path.join(self.get_temp_dir(), "ple")
    config = config_lib.TrainConfig(
      model_dir=model_dir,
      synthetic=TINY,
      model=dataclasses.replace(SMALL_MODEL, trunk="ple"),
      epochs=1,
      batch_size=32,
    )
    training.train(config, verbose=0)
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
    self.assertIn("epoch_gate_purchase_l2_purchase0", tags)
    self.assertIn("epoch_gate_shared_l1_shared1", tags)


class PurchaseGivenClickTest(tf.test.TestCase):
  def test_product_logit_is_the_logit_of_the_product(self):
    a, b = np.meshgrid(np.linspace(-30, 30, 41), np.linspace(-30, 30, 41))
    a, b = (
      tf.constant(a.ravel(), tf.float32),
      tf.constant(b.ravel(), tf.float32),
    )
    with tf.GradientTape() as tape:
      tape.watch([a, b])
      logit = model_lib.product_logit(a, b)
    sa = 1 / (1 + np.exp(-a.numpy().astype(np.float64)))
    sb = 1 / (1 + np.exp(-b.numpy().astype(np.float64)))
    p = sa * sb
    # Where float32 can tell p from 1, the logit matches float64's.
    finite = p < 0.999
    expected = np.log(p[finite]) - np.log1p(-p[finite])
    self.assertAllClose(logit.numpy()[finite], expected, rtol=1e-4, atol=1e-3)
    for gradient in tape.gradient(logit, [a, b]):
      self.assertTrue(np.isfinite(gradient.numpy()).all())

  def test_entire_space_purchase_never_exceeds_click(self):
    prepared = _prepared(purchase_space="entire")
    model = _model(prepared)
    batch = _batch(prepared)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
    for _ in range(3):
      model.train_step(batch)
    predictions = model.predictions(model(batch))
    self.assertTrue(
      np.all(predictions["purchase"].numpy() <= predictions["click"].numpy())
    )
    # And the product is what is predicted.
    outputs = model(batch)
    self.assertAllClose(
      predictions["purchase"],
      tf.sigmoid(outputs["click"])
      * tf.sigmoid(outputs["purchase" + model_lib.CONDITIONAL]),
    )

  def test_conditional_and_entire_losses_by_hand(self):
    for space in ("clicked", "entire"):
      prepared = _prepared(purchase_space=space)
      model = _model(prepared)
      batch = _batch(prepared)
      outputs = model(batch)
      loss = model.task_losses(batch, outputs)["purchase"]
      mask = batch[schema.MASK].numpy()
      label = batch["purchase"].numpy()
      click_p = tf.sigmoid(outputs["click"]).numpy()
      cvr_p = tf.sigmoid(outputs["purchase" + model_lib.CONDITIONAL]).numpy()
      if space == "clicked":
        # p(purchase | click) on clicked rows only.
        p, rows = cvr_p, mask * (batch["click"].numpy() > 0)
      else:
        p, rows = click_p * cvr_p, mask
      bce = -(label * np.log(p) + (1 - label) * np.log(1 - p))
      self.assertAllClose(loss, (bce * rows).sum() / rows.sum(), rtol=1e-4)

  def test_purchase_space_needs_click_and_purchase(self):
    with self.assertRaisesRegex(
      ValueError,
      r"--purchase_space=entire needs the objectives click and purchase; this "
      r"run has no click",
    ):
      _prepared(purchase_space="entire", objective_weights="retrieval,purchase")
    with self.assertRaisesRegex(ValueError, "purchase_space must be one of"):
      config_lib.TrainConfig(model_dir="x", purchase_space="esmm")


class LeakageTest(tf.test.TestCase):
  def test_a_label_column_as_input_is_refused(self):
    prepared = _prepared()
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
        schema.Feature("true_relevance", "candidate", "numeric"),
      )
    )
    with self.assertRaisesRegex(
      ValueError, r"Label leakage: column 'true_relevance' \(ground truth"
    ):
      model_lib.check_no_leakage(spec, prepared.config.objectives)

  def test_the_model_builder_checks(self):
    prepared = _prepared()
    data = prepared.data
    stats = features_lib.compute_stats(data.spec, data.split("train"), 100)
    leaky = objectives.Objective(
      name="agey", kind="regression", label="age", loss="mse"
    )
    with self.assertRaisesRegex(
      ValueError, r"'age' \(label\), which is also a model input \(query"
    ):
      model_lib.MultiObjectiveModel(data.spec, stats, [leaky], SMALL_MODEL)


class RetrievalNegativesTest(tf.test.TestCase):
  def test_mixture_probability_by_hand(self):
    lists = {
      schema.MASK: np.array([[1, 1, 1], [1, 1, 0]], np.float32),
      "item": np.array([[1, 2, 3], [1, 3, 0]]),
      "click": np.array([[1, 0, 0], [0, 1, 0]], np.float32),
    }
    catalogue = np.array([3, 2, 1, 4])
    slots, q = pipeline.sampling_probability(
      lists, "item", "click", catalogue, True, 2, np.array([1, 1, 1, 0], bool)
    )
    # Per list: positives {1, 3}/2, unclicked {2, 3, 1}/2, 2 uniform over 3
    # eligible items (4 is not): expected counts 1: 1/2+1/2+2/3, 2: 1/2+2/3,
    # 3: 1/2+1/2+2/3, 4: 0 (the smallest positive then).
    expected = np.array([5 / 3, 7 / 6, 5 / 3, 0.0])
    expected = expected / expected.sum()
    expected[3] = expected[1]
    self.assertAllClose(q, expected[[0, 1, 2, 3]])
    by_item = {3: expected[0], 2: expected[1], 1: expected[2]}
    self.assertAllClose(slots[0], [by_item[1], by_item[2], by_item[3]])

  def test_uniform_negatives_are_drawn_from_the_warm_catalogue(self):
    prepared = _prepared(
      model=dataclasses.replace(SMALL_MODEL, uniform_negatives=5),
      cold_start_items=0.2,
    )
    batch = next(iter(prepared.train_dataset()))
    drawn = batch[schema.UNIFORM + "item_id"].numpy()
    self.assertEqual(drawn.shape, (batch[schema.MASK].shape[0], 5))
    self.assertFalse(np.isin(drawn, prepared.cold_items).any())
    titles = dict(
      zip(
        prepared.data.catalogue["item_id"],
        prepared.data.catalogue["title"],
        strict=True,
      )
    )
    got = batch[schema.UNIFORM + "title"].numpy()
    self.assertEqual(got[0, 0].decode(), titles[drawn[0, 0]])
    # A new draw every batch.
    second = next(iter(prepared.train_dataset().skip(1)))
    self.assertNotAllEqual(drawn, second[schema.UNIFORM + "item_id"])

  def test_hard_negatives_loss_by_hand(self):
    prepared = _prepared(
      model=dataclasses.replace(SMALL_MODEL, hard_negatives=True)
    )
    model = _model(prepared)
    batch = _batch(prepared, lists=4)
    outputs = model(batch)
    loss = float(model.task_losses(batch, outputs)["retrieval"])

    # The same by hand: each click against the batch's clicks (not those of
    # its own list) and every unclicked impression, logQ-corrected, items
    # equal to the click's own removed.
    mask = batch[schema.MASK].numpy() > 0
    click = (batch["click"].numpy() > 0) & mask
    query = outputs["query_embedding"].numpy()
    candidate = outputs["candidate_embedding"].numpy()
    ids = batch["item_id"].numpy()
    q = batch[schema.SAMPLING_PROBABILITY].numpy()
    pos = np.argwhere(click)
    neg = np.argwhere(mask & ~click)
    columns = np.concatenate([pos, neg])
    temperature = model.config.temperature
    total = 0.0
    for r, (i, j) in enumerate(pos):
      logits = []
      for c, (k, m) in enumerate(columns):
        if c != r and ids[k, m] == ids[i, j]:
          continue  # accidental hit
        if c < len(pos) and c != r and k == i:
          continue  # another click of the same list
        score = query[i] @ candidate[k, m] / temperature - np.log(q[k, m])
        logits.append((c == r, score))
      scores = np.array([s for _, s in logits])
      target = [s for is_pos, s in logits if is_pos][0]
      total += (
        np.log(np.exp(scores - scores.max()).sum()) + scores.max() - target
      )
    self.assertGreater(len(neg), 0)
    self.assertAllClose(loss, total / len(pos), rtol=1e-4)

  def test_sampling_probability_stays_above_the_tfrs_clip(self):
    # 3 million positives of one item and one of another: normalised, the
    # rare one would be 3.3e-7, under TFRS's 1e-6 clip; scaled, the ratio is
    # kept and the popular item has 1.
    n = 3_000_001
    lists = {
      schema.MASK: np.ones((n, 1), np.float32),
      "item": np.where(np.arange(n) == 0, 2, 1)[:, None],
      "click": np.ones((n, 1), np.float32),
    }
    _, q = pipeline.sampling_probability(
      lists, "item", "click", np.array([1, 2])
    )
    self.assertAllClose(q, [1.0, 1 / 3_000_000])


class MoreChecksTest(tf.test.TestCase):
  def test_string_item_ids_get_a_numeric_key(self):
    keys = model_lib._id_key(tf.constant(["a", "b", "a"]))
    self.assertEqual(keys.dtype, tf.int64)
    self.assertEqual(int(keys[0]), int(keys[2]))
    self.assertNotEqual(int(keys[0]), int(keys[1]))

  def test_purchases_outside_the_funnel_are_reported(self):
    # Synthetic purchases all follow a click: nothing to report...
    prepared = _prepared(purchase_space="entire")
    data = prepared.data
    with self.assertNoLogs("absl", level="WARNING"):
      preparation._check_funnels(prepared.config, data)
    # ...until half the clicks are erased.
    rows = data.split("train")
    keep = np.arange(len(rows["click"])) % 2 == 0
    rows["click"] = np.where(keep, rows["click"], 0).astype(np.float32)
    with self.assertLogs("absl", level="WARNING") as logs:
      preparation._check_funnels(prepared.config, data)
    self.assertTrue(
      any(
        "training positives of 'purchase'" in m and "have no 'click'" in m
        for m in logs.output
      ),
      logs.output,
    )

  def test_ple_refuses_a_task_named_shared(self):
    with self.assertRaisesRegex(
      ValueError, "a task named 'shared' would clash"
    ):
      trunks.get_trunk("ple", ["shared", "click"], (4,))

  def test_a_column_a_loss_reads_is_no_input(self):
    prepared = _prepared()
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


class ConditionalAucTest(tf.test.TestCase):
  def test_auc_given_click_by_hand(self):
    from multiobj import evaluation

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
      schema.MASK: np.ones((1, 4), np.float32),
      "click": np.array([[1, 1, 1, 0]], np.float32),
      "purchase": np.array([[1, 0, 0, 0]], np.float32),
    }
    p_click = np.array([[0.5, 0.8, 0.4, 0.9]])
    p_purchase = np.array([[0.3, 0.2, 0.35, 0.1]])
    predictions = {
      "click": {"logged": p_click, "serving": p_click},
      "purchase": {"logged": p_purchase, "serving": p_purchase},
    }
    out = evaluation.ranking_metrics(
      [click, purchase], synthetic.SPEC, lists, predictions
    )
    # On the three clicked rows p(purchase | click) = 0.6, 0.25, 0.875: the
    # purchase (0.6) beats one of the two others, AUC 1/2.
    self.assertAlmostEqual(out["purchase_auc_given_click"], 0.5)
    self.assertNotIn("click_auc_given_click", out)


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
    prepared = _prepared(
      model=dataclasses.replace(SMALL_MODEL, trunk="test_separate_towers")
    )
    model = _model(prepared)
    outputs = model(_batch(prepared))
    self.assertIsInstance(model.trunk, _SeparateTowers)
    self.assertEqual(outputs["click"].shape, outputs["purchase"].shape)
    self.assertEqual(outputs["gates"], {})
