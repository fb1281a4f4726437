"""Benchmark shapes described in JSON alone: objectives the description
defines, logs of positives, per-user splits."""

import json
import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data.description import loader as description
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


if __name__ == "__main__":
  tf.test.main()
