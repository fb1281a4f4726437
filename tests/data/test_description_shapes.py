"""Benchmark shapes described in JSON alone: objectives the description
defines, logs of positives, per-user splits."""

import json
import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import dataset as dataset_lib
from multiobj.data.adapters import deca, mind, taobao
from multiobj.data.description import loader as description
from multiobj.serve import from_run
from multiobj.train import run_dir

# A log of positives: (user, item, day) collections, no impressions.
POSITIVES = [
  {"name": "user", "role": "user_id"},
  {"name": "item", "role": "item_id"},
  {"name": "day", "role": "timestamp"},
  {
    "name": "collect",
    "role": "label",
    "constant": 1,
    "objective": [
      {"kind": "binary"},
      {"kind": "retrieval", "name": "collect_retrieval"},
    ],
  },
]


def write(folder, columns, rows=None, **top):
  """rows.csv (by default 12 users x 8 collections) and collect.json."""
  if rows is None:
    rng = np.random.default_rng(0)
    rows = "user,item,day,seconds\n" + "".join(
      f"u{u},{rng.integers(30)},{day},{rng.integers(1, 90)}\n"
      for u in range(12)
      for day in range(8)
    )
  with open(os.path.join(folder, "rows.csv"), "w") as f:
    f.write(rows)
  described = {
    "name": "collect",
    "rows": {"path": "rows.csv"},
    "columns": columns,
    **top,
  }
  path = os.path.join(folder, "collect.json")
  with open(path, "w") as f:
    json.dump(described, f)
  return path


class GenericObjectiveTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def test_a_log_of_positives_with_objectives_of_its_own(self):
    path = write(self.folder, POSITIVES, negatives={"per_positive": 2})
    data = description.load(path)
    binary, retrieval = data.objectives
    self.assertEqual(
      (binary.name, binary.kind, binary.label, binary.loss, binary.weight),
      ("collect", "binary", "collect", "bce", 1.0),
    )
    self.assertEqual(binary.metrics, ("auc", "logloss"))
    self.assertEqual(
      (retrieval.name, retrieval.kind, retrieval.label, retrieval.loss),
      ("collect_retrieval", "retrieval", "collect", "softmax"),
    )
    for table in data.splits.values():
      np.testing.assert_array_equal(
        table["collect"], np.ones(len(table["item"]))
      )
    # It trains and evaluates with nothing registered.
    config = config_lib.TrainConfig(
      model_dir=os.path.join(self.folder, "run")
    ).replace(dataset="json", dataset_spec=path, epochs=1, batch_size=16)
    metrics = experiment.run(config, verbose=0).metrics
    self.assertContainsSubset(
      ["collect_auc", "collect_logloss", "collect_retrieval_recall@10"],
      metrics,
    )
    # Sampled negatives are the only zeros: the AUC is defined.
    self.assertBetween(metrics["collect_auc"], 0.0, 1.0)
    # The run reopens from its own files (config.json holds the objectives).
    _, reopened = run_dir.load_model(config.model_dir)
    self.assertEqual(
      [(o.name, o.kind) for o in reopened.objectives],
      [("collect", "binary"), ("collect_retrieval", "retrieval")],
    )

  def test_a_regression_objective_with_its_transform_and_overrides(self):
    columns = [
      *POSITIVES[:3],
      {
        "name": "seconds",
        "role": "label",
        "objective": {"kind": "regression", "name": "watch", "transform": "log1p"},
        "loss": "huber",
        "weight": 0.25,
      },
    ]  # fmt: skip
    (watch,) = description.load(write(self.folder, columns)).objectives
    self.assertEqual(
      (watch.name, watch.kind, watch.label, watch.label_transform),
      ("watch", "regression", "seconds", "log1p"),
    )
    self.assertEqual((watch.loss, watch.weight), ("huber", 0.25))
    self.assertEqual(watch.metrics, ("rmse", "mae"))

  @parameterized.named_parameters(
    ("unknown_kind", {"objective": {"kind": "ordinal"}},
     r"collect\.json: columns\[3\]\.objective\.kind: unknown kind 'ordinal'; "
     r"expected one of retrieval, binary, regression, listwise\."),
    ("transform_of_binary", {"objective": {"kind": "binary", "transform": "log1p"}},
     r"columns\[3\]\.objective\.transform: applies to regression only\."),
    ("not_a_name", {"objective": ["click", 3]},
     r"columns\[3\]\.objective\[1\]: expected a name or an object\."),
    ("unknown_key", {"objective": {"kind": "binary", "loss": "bce"}},
     r"columns\[3\]\.objective\.loss: unknown key; expected one of kind, "
     r"name, transform\."),
    ("constant_and_source", {"source": "seconds"},
     r"columns\[3\]\.source: a constant label reads no column\."),
    ("same_name_twice", {"objective": [{"kind": "binary"}, {"kind": "binary"}]},
     r"columns\[3\]\.objective: 'collect' already learns from 'collect'\."),
  )  # fmt: skip
  def test_errors(self, change, message):
    columns = [*POSITIVES[:3], {**POSITIVES[3], **change}]
    with self.assertRaisesRegex(ValueError, message):
      description.load(write(self.folder, columns))


# u0 has four rows, out of time order in the file; u1 two; u2 one.
PER_USER_ROWS = (
  "user,item,day\nu0,1,3\nu1,2,5\nu0,3,1\nu2,4,0\nu0,5,2\nu1,6,4\nu0,7,0\n"
)
SPLIT_COLUMNS = [
  {"name": "user", "role": "user_id"},
  {"name": "item", "role": "item_id"},
  {"name": "day", "role": "timestamp"},
  {"name": "seen", "role": "label", "constant": 1, "objective": "retrieval"},
]  # fmt: skip


class PerUserSplitTest(parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def items(self, split, columns=SPLIT_COLUMNS, rows=PER_USER_ROWS):
    data = description.load(write(self.folder, columns, rows, split=split))
    return {s: sorted(t["item"].tolist()) for s, t in data.splits.items()}

  def test_leave_one_out(self):
    # u0: day 3 (item 1) test, day 2 (item 5) valid; u1: day 5 (item 2)
    # test, nothing left for valid; u2's only row stays in train.
    self.assertEqual(
      self.items({"method": "leave_one_out"}),
      {"train": [3, 4, 6, 7], "valid": [5], "test": [1, 2]},
    )
    self.assertEqual(
      self.items({"method": "leave_one_out", "valid": False}),
      {"train": [3, 4, 5, 6, 7], "test": [1, 2]},
    )

  def test_last_n(self):
    # u0 (4 rows): the last 2 test (items 1, 5), 1 valid (item 3), 1 train;
    # u1 (2 rows): 1 test, as each user keeps one row in train.
    self.assertEqual(
      self.items({"method": "last_n", "test": 2, "valid": 1}),
      {"train": [4, 6, 7], "valid": [3], "test": [1, 2, 5]},
    )

  def test_file_order_without_timestamps_and_lists_as_units(self):
    columns = [c for c in SPLIT_COLUMNS if c["role"] != "timestamp"]
    # The last rows of the file: u0's item 7, u1's item 6.
    self.assertEqual(
      self.items({"method": "leave_one_out", "valid": False}, columns),
      {"train": [1, 2, 3, 4, 5], "test": [6, 7]},
    )
    # Lists move whole: u0's list b (two rows, day 2) is its last.
    rows = (
      "list,user,item,day\na,u0,1,1\nb,u0,2,2\nb,u0,3,2\nc,u1,4,1\nd,u1,5,0\n"
    )
    columns = [{"name": "list", "role": "list_id"}, *SPLIT_COLUMNS]
    self.assertEqual(
      self.items({"method": "leave_one_out", "valid": False}, columns, rows),
      {"train": [1, 5], "test": [2, 3, 4]},
    )

  @parameterized.named_parameters(
    ("no_user", {"method": "leave_one_out"}, "user",
     r"collect\.json: split\.method: 'leave_one_out' splits each user's "
     r"lists: it needs a column with role 'user_id'\."),
    ("no_test", {"method": "last_n", "test": 0}, None,
     r"collect\.json: split: last_n needs test >= 1 and valid >= 0 lists\."),
    ("share_not_count", {"method": "last_n", "test": 0.2}, None,
     r"collect\.json: split\.test: expected an integer, got 0\.2\."),
  )  # fmt: skip
  def test_errors(self, split, drop, message):
    # The user column as a plain query feature: no user_id.
    columns = [
      {"name": c["name"], "role": "query", "type": "category"}
      if c["name"] == drop
      else c
      for c in SPLIT_COLUMNS
    ]
    with self.assertRaisesRegex(ValueError, message):
      self.items(split, columns)

  def test_users_with_one_row_each_leave_no_test_split(self):
    rows = "user,item,day\nu0,1,0\nu1,2,0\n"
    with self.assertRaisesRegex(
      ValueError,
      r"collect\.json: split: Dataset 'collect': no user has two lists or "
      r"more, so no test split is left once each keeps one in train\.",
    ):
      self.items({"method": "leave_one_out"}, rows=rows)


class EvaluationTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def load(self, evaluation, columns=SPLIT_COLUMNS):
    path = write(
      self.folder,
      columns,
      PER_USER_ROWS,
      split={"method": "leave_one_out"},
      evaluation=evaluation,
    )
    return description.load(path)

  def test_full_ranking_protocol(self):
    data = self.load(
      {"protocol": "full_ranking", "ks": [5, 10], "mask": ["train", "valid"]}
    )
    self.assertEqual(
      data.full_ranking,
      dataset_lib.FullRanking(ks=(5, 10), mask=("train", "valid")),
    )
    defaults = self.load({"protocol": "full_ranking"}).full_ranking
    self.assertEqual(
      (defaults.ks, defaults.mask, defaults.mask_label, defaults.scorer),
      ((10, 20), ("train",), None, "all"),
    )
    self.assertIsNone(
      description.load(write(self.folder, SPLIT_COLUMNS)).full_ranking
    )

  def test_given_candidates(self):
    protocol = self.load({"protocol": "given_candidates", "ks": [1]})
    self.assertEqual(
      protocol.full_ranking,
      dataset_lib.FullRanking(ks=(1,), mask=(), candidates="given"),
    )

  def test_given_candidates_end_to_end(self):
    rng = np.random.default_rng(0)
    folder = self.folder
    with open(os.path.join(folder, "train.csv"), "w") as f:
      f.write("user,item,buy\n")
      f.writelines(
        f"u{u},{rng.integers(20)},1\n" for u in range(30) for _ in range(6)
      )
    with open(os.path.join(folder, "test.csv"), "w") as f:
      f.write("user,item,buy\n")
      for u in range(30):  # One positive and three given negatives.
        items = rng.choice(20, 4, replace=False)
        f.writelines(
          f"u{u},{item},{int(i == 0)}\n" for i, item in enumerate(items)
        )
    columns = [
      {"name": "user", "role": "user_id"},
      {"name": "item", "role": "item_id"},
      {"name": "buy", "role": "label", "objective": ["retrieval", "click"]},
    ]
    path = write(
      folder,
      columns,
      open(os.path.join(folder, "train.csv")).read(),
      split={"method": "files", "test": {"path": "test.csv"}},
      negatives={"per_positive": 2},
      evaluation={"protocol": "given_candidates", "ks": [1, 2, 4]},
    )
    config = config_lib.TrainConfig(
      model_dir=os.path.join(folder, "run")
    ).replace(dataset="json", dataset_spec=path, epochs=1, batch_size=16)
    result = experiment.run(config, verbose=0)
    for scorer in ("retrieval", "click"):
      for k in (1, 2):
        value = result.metrics[f"{scorer}_given_recall@{k}"]
        self.assertBetween(value, 0.0, 1.0)
      # Each user's positive is one of their 4 candidates, whatever the
      # scores: ranked among them only, it is always in the top 4 (among
      # the 20 items of the catalogue it would not be).
      self.assertEqual(result.metrics[f"{scorer}_given_recall@4"], 1.0)
    self.assertNotIn("retrieval_full_recall@1", result.metrics)

  @parameterized.named_parameters(
    ("no_protocol", {"ks": [5]},
     r"collect\.json: evaluation: missing key 'protocol'\."),
    ("unknown_protocol", {"protocol": "sampled_100"},
     r"evaluation\.protocol: unknown protocol 'sampled_100'; expected one "
     r"of full_ranking, given_candidates\."),
    ("bad_ks", {"protocol": "full_ranking", "ks": [10, "20"]},
     r"evaluation\.ks: expected integers, got \[10, '20'\]\."),
    ("bad_mask", {"protocol": "full_ranking", "mask": ["training"]},
     r"evaluation: mask names training; expected splits among train, "
     r"valid, test\."),
    ("mask_label_not_a_label", {"protocol": "full_ranking", "mask_label": "buy"},
     r"evaluation\.mask_label: 'buy' is not a label here \(seen\)\."),
    ("bad_scorer", {"protocol": "full_ranking", "scorer": "heads"},
     r"evaluation\.scorer: unknown scorer 'heads'; expected one of all, "
     r"retrieval\."),
  )  # fmt: skip
  def test_errors(self, evaluation, message):
    with self.assertRaisesRegex(ValueError, message):
      self.load(evaluation)


BEHAVIOURS = [
  {"name": "user", "role": "user_id"},
  {"name": "item", "role": "item_id"},
  {"name": "buy", "role": "label", "objective": {"kind": "binary"}},
  {"name": "cart", "role": "label", "objective": {"kind": "binary"}},
  {"name": "seen", "role": "label", "constant": 1, "objective": "retrieval"},
]  # fmt: skip


class SeveralTablesTest(tf.test.TestCase, parameterized.TestCase):
  """A multi-behaviour log as one file per behaviour, and held-out files
  of purchases only."""

  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path
    files = {
      "buy.csv": "user,item\nu1,1\nu1,2\nu2,3\n",
      "cart.csv": "user,item\nu1,2\nu2,4\nu2,4\n",
      "valid.csv": "user,item\nu1,3\n",
      "test.csv": "user,item\nu2,1\nu1,4\n",
    }
    for name, text in files.items():
      with open(os.path.join(self.folder, name), "w") as f:
        f.write(text)

  def load(self, merge=False, rows=None, columns=BEHAVIOURS):
    rows = (
      rows
      if rows is not None
      else [
        {"path": "buy.csv", "labels": {"buy": 1, "cart": 0}},
        {"path": "cart.csv", "labels": {"buy": 0, "cart": 1}},
      ]
    )
    held_out = {"labels": {"buy": 1}}
    split = {
      "method": "files",
      "valid": {"path": "valid.csv", **held_out},
      "test": {"path": "test.csv", **held_out},
    }
    path = os.path.join(self.folder, "shop.json")
    with open(path, "w") as f:
      json.dump(
        {"rows": rows, "merge": merge, "columns": columns, "split": split}, f
      )
    return description.load(path)

  def pairs(self, table):
    return list(
      zip(
        table["user"], table["item"], table["buy"], table["cart"], strict=True
      )
    )

  def test_events_one_after_the_other(self):
    data = self.load()
    self.assertEqual(
      self.pairs(data.splits["train"]),
      [("u1", 1, 1, 0), ("u1", 2, 1, 0), ("u2", 3, 1, 0),
       ("u1", 2, 0, 1), ("u2", 4, 0, 1), ("u2", 4, 0, 1)],
    )  # fmt: skip

  def test_merged_pairs_take_the_largest_label(self):
    data = self.load(merge=True)
    # (u1, 2) was bought and carted; (u2, 4) carted twice is one row.
    self.assertEqual(
      self.pairs(data.splits["train"]),
      [("u1", 1, 1, 0), ("u1", 2, 1, 1), ("u2", 3, 1, 0), ("u2", 4, 0, 1)],
    )
    np.testing.assert_array_equal(data.splits["train"]["seen"], np.ones(4))

  def test_a_label_a_held_out_file_lacks_is_absent_there(self):
    data = self.load(merge=True)
    self.assertEqual(data.absent, {"valid": ("cart",), "test": ("cart",)})
    np.testing.assert_array_equal(data.splits["test"]["buy"], [1, 1])
    np.testing.assert_array_equal(data.splits["test"]["cart"], [0, 0])
    self.assertEqual(
      data.summary()["test"], {"rows": 2, "mean_buy": 1.0, "mean_seen": 1.0}
    )
    self.assertEqual(
      [o.name for o in data.scored(data.objectives, "test")],
      ["buy", "retrieval"],
    )

  @parameterized.named_parameters(
    ("not_a_label", [{"path": "buy.csv", "labels": {"bye": 1}}],
     r"shop\.json: rows\[0\]\.labels\.bye: not a label; the labels are "
     r"buy, cart, seen\."),
    ("not_a_number", [{"path": "buy.csv", "labels": {"buy": "yes"}}],
     r"rows\[0\]\.labels\.buy: expected a number, got \"yes\"\."),
    ("empty", [],
     r"shop\.json: rows: expected a table or a non-empty list of tables\."),
    ("label_not_given", [{"path": "buy.csv", "labels": {"buy": 1}}],
     r"shop\.json: rows\[0\]: .*buy\.csv: missing column 'cart'; columns "
     r"present: item, user\."),
  )  # fmt: skip
  def test_errors(self, rows, message):
    with self.assertRaisesRegex(ValueError, message):
      self.load(rows=rows)

  def test_absent_labels_are_neither_learnt_on_valid_nor_scored(self):
    rng = np.random.default_rng(0)
    for name, count in (("buy.csv", 200), ("cart.csv", 200)):
      with open(os.path.join(self.folder, name), "w") as f:
        f.write("user,item\n")
        f.writelines(
          f"u{rng.integers(40)},{rng.integers(30)}\n" for _ in range(count)
        )
    for name in ("valid.csv", "test.csv"):
      with open(os.path.join(self.folder, name), "w") as f:
        f.write("user,item\n")
        f.writelines(f"u{u},{rng.integers(30)}\n" for u in range(40))
    self.load(merge=True)
    path = os.path.join(self.folder, "shop.json")
    with open(path) as f:
      described = json.load(f)
    described["negatives"] = {"per_positive": 2}
    with open(path, "w") as f:
      json.dump(described, f)
    config = config_lib.TrainConfig(
      model_dir=os.path.join(self.folder, "run")
    ).replace(
      dataset="json",
      dataset_spec=path,
      epochs=2,
      batch_size=32,
      # A purchase follows a cart: its conditional test needs the carts the
      # test split lacks, so that one metric is left out too.
      funnels="buy:cart",
    )
    result = experiment.run(config, verbose=0)
    history = result.history
    self.assertIn("cart_loss", history)
    self.assertIn("val_buy_loss", history)
    self.assertNotIn("val_cart_loss", history)
    self.assertNotIn("val_cart_weight", history)
    # The total on validation holds the present objectives only.
    for epoch in range(2):
      self.assertAllClose(
        history["val_loss"][epoch],
        history["val_buy_loss"][epoch] + history["val_retrieval_loss"][epoch],
      )
    self.assertIn("buy_auc", result.metrics)
    self.assertEmpty([m for m in result.metrics if m.startswith("cart_")])
    self.assertNotIn("buy_auc_given_cart", result.metrics)

  def test_tables_whose_columns_disagree(self):
    with open(os.path.join(self.folder, "cart.csv"), "w") as f:
      f.write("user,item\nu1,x2\n")
    with self.assertRaisesRegex(
      ValueError,
      r"shop\.json: rows\[1\]: .*cart\.csv: column 'item' holds text, but "
      r"rows\[0\] \(.*buy\.csv\) holds integers there; the tables of rows "
      r"must agree\.",
    ):
      self.load()


SEARCH = [
  {"name": "request", "role": "list_id"},
  {"name": "region", "role": "query", "type": "category"},
  {"name": "brand", "role": "candidate", "type": "category"},
  {"name": "price", "role": "candidate", "type": "numeric"},
  {"name": "click", "role": "label", "objective": "click"},
  {"name": "buy", "role": "label", "objective": {"kind": "binary"}},
]  # fmt: skip


class RankingOnlyTest(tf.test.TestCase, parameterized.TestCase):
  """A search log without item ids: the candidate is its features."""

  def write(self, columns=SEARCH, rows=80):
    rng = np.random.default_rng(0)
    lines = ["request,region,brand,price,click,buy"]
    for r in range(rows):
      for _ in range(3):
        brand, price = rng.integers(4), rng.choice([1.5, 2.0, 9.99])
        click = int(rng.random() < 0.3)
        lines.append(f"{r},{r % 3},{brand},{price},{click},{click}")
    return write(
      self.create_tempdir().full_path,
      columns,
      "\n".join(lines) + "\n",
    )

  def test_items_are_told_apart_by_their_features(self):
    data = description.load(self.write())
    self.assertEqual(data.spec.item_id, "__item")
    self.assertEqual(data.spec.feature("__item").kind, "key")
    self.assertFalse(data.spec.has_item_ids)
    catalogue = data.catalogue
    # One item per distinct (brand, price): at most 4 x 3.
    self.assertLessEqual(len(catalogue["__item"]), 12)
    self.assertLen(np.unique(catalogue["__item"]), len(catalogue["__item"]))
    for table in data.splits.values():
      for key, brand, price in zip(
        table["__item"], table["brand"], table["price"], strict=True
      ):
        self.assertEqual(key, f"{brand}\x1f{price:g}")

  def test_it_trains_evaluates_and_serves_without_ids(self):
    path = self.write()
    model_dir = os.path.join(os.path.dirname(path), "run")
    config = config_lib.TrainConfig(model_dir=model_dir).replace(
      dataset="json", dataset_spec=path, epochs=1, batch_size=16
    )
    metrics = experiment.run(config, verbose=0).metrics
    self.assertContainsSubset(["click_auc", "buy_auc"], metrics)
    export_dir = os.path.join(os.path.dirname(path), "export")
    from_run.export_run(from_run.ExportConfig(model_dir, export_dir))
    rank = tf.saved_model.load(export_dir).signatures["rank"]
    self.assertCountEqual(
      rank.structured_input_signature[1], ["region", "brand", "price"]
    )
    scores = rank(
      region=tf.constant([0, 1], tf.int64),
      brand=tf.constant([[1, 2, 3], [0, 0, 1]], tf.int64),
      price=tf.constant([[1.5, 2.0, 9.99], [1.5, 1.5, 2.0]], tf.float32),
    )["score"]
    self.assertEqual(scores.shape, (2, 3))

  @parameterized.named_parameters(
    ("retrieval", {4: {"name": "click", "role": "label", "objective": "retrieval"}},
     r"collect\.json: columns\[4\]\.objective: 'retrieval' retrieves items "
     r"by their ids, and no column has role 'item_id': give one, or learn "
     r"ranking objectives only\."),
    ("no_candidate", {2: None, 3: None},
     r"collect\.json: columns: no column has role 'item_id', and no "
     r"candidate feature tells the items apart"),
    ("no_query", {1: None},
     r"collect\.json: columns: no query feature \(role 'query' or "
     r"'user_id'\): the query tower needs at least one input"),
  )  # fmt: skip
  def test_errors(self, changes, message):
    columns = [
      changes.get(i, c) for i, c in enumerate(SEARCH) if changes.get(i, c)
    ]
    with self.assertRaisesRegex(ValueError, message):
      description.load(self.write(columns))

  def test_retrieval_asked_by_flag_is_refused(self):
    # The run takes its directory before the refusal: a temporary one.
    model_dir = self.create_tempdir().full_path
    config = config_lib.TrainConfig(model_dir=model_dir).replace(
      dataset="json",
      dataset_spec=self.write(),
      objective_weights="click,retrieval",
    )
    with self.assertRaisesRegex(
      ValueError,
      r"--objectives: retrieval ranks items by their ids, and dataset "
      r"'collect' has none \(no item_id column\)",
    ):
      experiment.run(config, verbose=0)


REPO = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
DATA = os.environ.get(
  "MULTIOBJ_DATA", os.path.join(REPO, "..", "shared", "data")
)


def _wiring(o):
  """What an objective learns from and how, not its description text."""
  return (o.name, o.kind, o.label, o.loss, o.weight, o.mask, o.metrics)


class ExamplesTest(absltest.TestCase):
  def test_movielens_leave_one_out(self):
    if not os.path.exists(os.path.join(DATA, "ml-100k", "u.data")):
      self.skipTest(f"no MovieLens 100K under {DATA} (set MULTIOBJ_DATA)")
    path = os.path.join(REPO, "docs", "examples", "ml100k_leave_one_out.json")
    data = description.load(path, DATA)
    train, valid, test = (data.splits[s] for s in ("train", "valid", "test"))
    # Every one of the 943 users rated 20 movies or more: one test and one
    # validation rating each, the rest (100,000 - 2 * 943) in training.
    self.assertLen(np.unique(test["user_id"]), 943)
    self.assertLen(test["user_id"], 943)
    self.assertLen(valid["user_id"], 943)
    self.assertLen(train["user_id"], 100_000 - 2 * 943)
    self.assertEqual(train["watched"].min(), 1.0)
    # Each test rating is the user's latest, the validation one the latest
    # of the rest.
    latest = {}
    for user, time in zip(train["user_id"], train["timestamp"], strict=True):
      latest[user] = max(latest.get(user, time), time)
    for user, time in zip(valid["user_id"], valid["timestamp"], strict=True):
      self.assertGreaterEqual(time, latest[user])
      latest[user] = time
    for user, time in zip(test["user_id"], test["timestamp"], strict=True):
      self.assertGreaterEqual(time, latest[user])

  def test_deca_description_is_the_adapter_s_dataset(self):
    if not os.path.isdir(os.path.join(DATA, "deca_ml100k")):
      self.skipTest(f"no deca_ml100k under {DATA} (set MULTIOBJ_DATA)")
    path = os.path.join(REPO, "docs", "examples", "deca_ml100k.json")
    described = description.load(path, DATA)
    adapted = deca.load(DATA)
    self.assertEqual(described.spec, adapted.spec)
    np.testing.assert_array_equal(
      described.catalogue["item_id"], adapted.catalogue["item_id"]
    )
    self.assertEqual(list(described.splits), list(adapted.splits))
    for name, table in adapted.splits.items():
      # The adapter also keeps the rating, which nothing reads.
      self.assertEqual(set(table) - set(described.splits[name]), {"rating"})
      for column, values in described.splits[name].items():
        np.testing.assert_array_equal(values, table[column], err_msg=column)

    self.assertEqual(
      [_wiring(o) for o in described.objectives],
      [_wiring(o) for o in adapted.objectives],
    )
    self.assertEqual(described.negatives, adapted.negatives)
    self.assertEqual(described.full_ranking, adapted.full_ranking)

  def test_taobao_description_is_the_adapter_s_dataset(self):
    if not os.path.isdir(os.path.join(DATA, "taobao_multibehavior")):
      self.skipTest(f"no taobao_multibehavior under {DATA} (set MULTIOBJ_DATA)")
    path = os.path.join(REPO, "docs", "examples", "taobao_multibehavior.json")
    described = description.load(path, DATA)
    adapted = taobao.load(DATA)
    self.assertEqual(described.spec, adapted.spec)
    np.testing.assert_array_equal(
      described.catalogue["item_id"], adapted.catalogue["item_id"]
    )
    for name, table in adapted.splits.items():
      ours = described.splits[name]
      self.assertCountEqual(ours, table)
      # The same rows; merged pairs come in file order, the adapter's
      # sorted by (user, item).
      mine = np.lexsort((ours["item_id"], ours["user_id"]))
      theirs = np.lexsort((table["item_id"], table["user_id"]))
      for column, values in table.items():
        np.testing.assert_array_equal(
          ours[column][mine], values[theirs], err_msg=f"{name}.{column}"
        )

    self.assertCountEqual(
      [_wiring(o) for o in described.objectives],
      [_wiring(o) for o in adapted.objectives],
    )
    self.assertEqual(described.negatives, adapted.negatives)
    self.assertEqual(described.full_ranking, adapted.full_ranking)
    self.assertEqual(described.absent, adapted.absent)

  def test_mind_description_is_the_adapter_s_dataset(self):
    if not os.path.isdir(os.path.join(DATA, "mind_sample")):
      self.skipTest(f"no mind_sample under {DATA} (set MULTIOBJ_DATA)")
    path = os.path.join(REPO, "docs", "examples", "mind_sample.json")
    described = description.load(path, DATA, seed=3)
    adapted = mind.load(DATA, seed=3)
    # The description keeps the file's column names; the adapter renames.
    named = {
      "User_ID": "user_id",
      "News_ID": "news_id",
      "Category": "category",
      "SubCategory": "subcategory",
      "label": "click",
    }
    for name, table in adapted.splits.items():
      ours = described.splits[name]
      self.assertCountEqual([named[c] for c in ours], table)
      for column, values in ours.items():
        np.testing.assert_array_equal(values, table[named[column]], column)
    for column, values in described.catalogue.items():
      np.testing.assert_array_equal(values, adapted.catalogue[named[column]])
    self.assertCountEqual(
      [(o.name, o.kind, named[o.label]) for o in described.objectives],
      [(o.name, o.kind, o.label) for o in adapted.objectives],
    )


if __name__ == "__main__":
  tf.test.main()
