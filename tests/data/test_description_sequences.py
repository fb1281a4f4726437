"""JSON descriptions of sequence and multi-behaviour logs: the order role,
built histories' keys and their every_position rule, a validation split
held out of a files split, and the retrieval key."""

import copy
import json
import os

import tensorflow as tf
from absl.testing import parameterized

from multiobj.data.description import loader as description

# Three users' items in order, as SASRec's files give them.
SEQUENCES = "1 10 11 12 13\n2 11 12\n3\t10 13 14\n"
ATTRIBUTES = (
  '{"10": ["brand_a", "cat_1"], "11": "cat_1", "12": ["cat_2"], '
  '"13": ["brand_b", "cat_2"], "14": "cat_3"}'
)


def _table(path, format, columns=("user_id", "item_id"), **extra):
  return {"path": path, "format": format, "columns": list(columns), **extra}


HISTORY = {"role": "query", "type": "history"}
POSITIONS = ["user_id", "item_id", "position"]
SEQUENCE_LOG = {
  "name": "seq",
  "rows": _table("seq.txt", "user_items", POSITIONS, labels={"bought": 1}),
  "catalogue": _table("items.json", "json_object", ["item_id", "attributes"]),
  "columns": [
    {"name": "user_id", "role": "user_id"},
    {"name": "item_id", "role": "item_id"},
    {"name": "position", "role": "order"},
    {"name": "attributes", "role": "candidate", "type": "multi_category"},
    {"name": "recent", **HISTORY, "built_from": "bought", "max_length": 2},
    {"name": "bought", "role": "label", "objective": "retrieval"},
  ],
  "split": {"method": "leave_one_out"},
}
BEHAVIOUR_LOG = {
  "name": "shop",
  "rows": [
    _table("buy.txt", "user_items", labels={"buy": 1, "view": 0}),
    _table("view.txt", "user_items", labels={"buy": 0, "view": 1}),
  ],
  "columns": [
    {"name": "user_id", "role": "user_id"},
    {"name": "item_id", "role": "item_id"},
    {"name": "seen", **HISTORY, "built_from": ["view", "buy"], "boost": True},
    {"name": "buy", "role": "label", "objective": "retrieval"},
    {"name": "view", "role": "label", "objective": []},
  ],
  "split": {
    "method": "files",
    "test": _table("test.txt", "user_items", labels={"buy": 1}),
  },
}
FILES = {
  "seq": {"seq.txt": SEQUENCES, "items.json": ATTRIBUTES},
  # Tmall's files in small: purchases and views of the training split,
  # and a test file of one purchase a user.
  "shop": {
    "buy.txt": "1 10 11 12\n2 13 14\n3 15\n",
    "view.txt": "1 10 16\n2 17\n",
    "test.txt": "1 18\n2 10\n3 11\n",
  },
}


class _Descriptions(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def _write(self, log, change=None):
    """`log` (SEQUENCE_LOG or BEHAVIOUR_LOG), edited by `change`, and its
    files in the test's folder; the description's path."""
    described = copy.deepcopy(log)
    if change is not None:
      change(described)
    for name, text in FILES[log["name"]].items():
      with open(os.path.join(self.folder, name), "w") as f:
        f.write(text)
    path = os.path.join(self.folder, f"{log['name']}.json")
    with open(path, "w") as f:
      json.dump(described, f)
    return path

  def _sequences(self, change=None):
    return self._write(SEQUENCE_LOG, change)

  def _behaviours(self, change=None):
    return self._write(BEHAVIOUR_LOG, change)

  def _history(self, path):
    """The built history of the description at `path`, as parsed."""
    spec = description.parse(path)[1]["spec"]
    return spec.feature(spec.built[0].name)


def _recent(**changes):
  return lambda d: d["columns"][4].update(changes)


class OrderTest(_Descriptions):
  def test_an_order_column_orders_each_users_rows(self):
    path = self._sequences(_recent(encoder="gru", boost=True))
    data = description.load(path)
    self.assertEqual(data.spec.timestamp, "position")
    self.assertTrue(data.spec.order_only)
    recent = data.spec.feature("recent")
    self.assertEqual(recent.built_from, ("bought",))
    self.assertEqual((recent.encoder, recent.boost), ("gru", True))
    self.assertEqual((recent.ordered, recent.every_position), (True, True))
    # Leave one out by position: user 1's 10 11 12 13 gives 13 to test and
    # 12 to valid; user 2's 11 12 only 12 to test (it keeps one in
    # training); user 3's 10 13 14 gives 14 and 13.
    train, valid, test = (data.split(s) for s in ("train", "valid", "test"))
    self.assertEqual(train["item_id"].tolist(), [10, 11, 11, 10])
    self.assertEqual(valid["item_id"].tolist(), [12, 13])
    self.assertEqual(test["item_id"].tolist(), [13, 12, 14])
    # Histories, the last two items before: none in training (trained at
    # every position, from the windows).
    self.assertEqual(train["recent"].tolist(), [""] * 4)
    self.assertEqual(valid["recent"].tolist(), ["10|11", "10"])
    self.assertEqual(test["recent"].tolist(), ["11|12", "11", "10|13"])
    # The json_object catalogue's lists read as a multi_category.
    self.assertEqual(
      test["attributes"].tolist(), ["brand_b|cat_2", "cat_2", "cat_3"]
    )

  def test_a_time_split_is_refused(self):
    path = self._sequences(lambda d: d.update(split={"method": "time"}))
    with self.assertRaisesRegex(
      ValueError,
      r"seq\.json: split\.method: 'time' orders every user's events "
      "together, and an 'order' column orders each user's only: give a "
      r"timestamp, or split per user \(leave_one_out, last_n\)",
    ):
      description.load(path)

  def test_a_timestamp_and_an_order_are_refused(self):
    path = self._sequences(
      lambda d: d["columns"].insert(3, {"name": "ts", "role": "timestamp"})
    )
    with self.assertRaisesRegex(
      ValueError,
      r"seq\.json: columns\[3\]: a column with role 'timestamp' and one "
      "with role 'order': the order of a user's events is one or the other",
    ):
      description.load(path)


class HistoryKeysTest(_Descriptions):
  @parameterized.named_parameters(
    ("in_time_order", None, (True, True)),
    ("asked_not_to", _recent(every_position=False), (True, False)),
    (
      "sampled_negatives",
      lambda d: d.update(negatives={"per_positive": 2}),
      (True, False),
    ),
    (
      "lists",
      lambda d: d["columns"].append({"name": "request", "role": "list_id"}),
      (True, False),
    ),
    ("no_order", lambda d: d["columns"].pop(2), (False, False)),
    (
      "files_split",
      lambda d: d.update(split={"method": "files", "test": {"path": "t.txt"}}),
      (False, False),
    ),
  )
  def test_every_position_by_default(self, change, expected):
    recent = self._history(self._sequences(change))
    self.assertEqual((recent.ordered, recent.every_position), expected)

  def test_built_from_a_label_or_a_list_of_them(self):
    recent = self._history(self._sequences())
    self.assertEqual(recent.built_from, ("bought",))
    seen = self._history(self._behaviours())
    self.assertEqual(seen.built_from, ("view", "buy"))
    self.assertTrue(seen.boost)

  @parameterized.named_parameters(
    (
      "every_position_with_files",
      lambda d: (
        d.update(split={"method": "files", "test": {"path": "t.txt"}}),
        d["columns"][4].update(every_position=True),
      ),
      r"columns\[4\]\.every_position: needs a history built in time order: "
      r"a timestamp or order column, and a split the framework makes \(not "
      r"files\)",
    ),
    (
      "every_position_without_order",
      lambda d: (_recent(every_position=True)(d), d["columns"].pop(2)),
      r"columns\[3\]\.every_position: needs a history built in time order",
    ),
    (
      "every_position_not_a_bool",
      _recent(every_position=1),
      r"columns\[4\]\.every_position: expected true or false or null, got 1",
    ),
    (
      "empty_built_from",
      _recent(built_from=[]),
      r"columns\[4\]\.built_from: expected a label or a list of labels",
    ),
    (
      "built_from_not_a_label",
      _recent(built_from=["bought", "viewed"]),
      r"columns: History feature 'recent': built_from 'viewed' is not a "
      "label; labels: bought",
    ),
    (
      "encoder_of_another_type",
      lambda d: d["columns"][3].update(encoder="gru"),
      r"columns\[3\]\.encoder: applies to history columns only",
    ),
    (
      "boost_not_a_bool",
      _recent(boost="yes"),
      r'columns\[4\]\.boost: expected true or false, got "yes"',
    ),
  )
  def test_refused(self, change, message):
    with self.assertRaisesRegex(ValueError, r"seq\.json: " + message):
      description.parse(self._sequences(change))


class FilesSplitTest(_Descriptions):
  def test_a_history_is_the_users_training_events(self):
    data = description.load(self._behaviours())
    seen = data.spec.feature("seen")
    self.assertEqual((seen.ordered, seen.every_position), (False, False))
    train, test = data.split("train"), data.split("test")
    # Training rows: buys, then views. User 1's events in that order are
    # 10:buy 11:buy 12:buy 10:view 16:view; each row leaves its own out.
    self.assertEqual(
      train["seen"].tolist()[:3],
      [
        "11:buy|12:buy|10:view|16:view",
        "10:buy|12:buy|10:view|16:view",
        "10:buy|11:buy|10:view|16:view",
      ],
    )
    self.assertEqual(train["seen"][5], "")  # User 3's one event.
    # A test row sees every training event of its user.
    self.assertEqual(test["seen"][0], "10:buy|11:buy|12:buy|10:view|16:view")
    self.assertEqual(
      test["seen"].tolist()[1:], ["13:buy|14:buy|17:view", "15:buy"]
    )
    self.assertEqual(data.absent, {"test": ("view",)})

  def test_a_validation_split_held_out_of_training(self):
    path = self._behaviours(
      lambda d: d["split"].update(valid={"hold_out": "buy", "seed": 0})
    )
    data = description.load(path)
    self.assertIn("valid", data.splits)
    train, valid = data.split("train"), data.split("valid")
    # Users 1 and 2 bought two items or more: one each is held out; user
    # 3's one purchase stays in training, as do all views.
    users, items = valid["user_id"].tolist(), valid["item_id"].tolist()
    held = dict(zip(users, items, strict=True))
    self.assertCountEqual(held, [1, 2])
    self.assertIn(held[1], (10, 11, 12))
    self.assertIn(held[2], (13, 14))
    self.assertEqual(valid["buy"].tolist(), [1, 1])
    self.assertEqual(train["buy"].sum(), 4)
    self.assertEqual(train["view"].sum(), 3)
    self.assertEqual(data.absent["valid"], ("view",))
    # A held-out purchase is no training event: no history holds it.
    for user, item in held.items():
      for split in (train, valid, data.split("test")):
        mine = split["seen"][split["user_id"] == user]
        self.assertFalse(any(f"{item}:buy" in h.split("|") for h in mine))
    again = description.load(path).split("valid")
    self.assertEqual(again["item_id"].tolist(), valid["item_id"].tolist())

  @parameterized.named_parameters(
    (
      "not_a_label",
      {"hold_out": "cart"},
      r"split\.valid\.hold_out: 'cart' is not a label here \(buy, view\)",
    ),
    (
      "no_row",
      {"hold_out": "buy", "per_user": 0},
      r"split\.valid\.per_user: expected an integer of at least 1",
    ),
  )
  def test_hold_out_refused(self, valid, message):
    path = self._behaviours(lambda d: d["split"].update(valid=valid))
    with self.assertRaisesRegex(ValueError, r"shop\.json: " + message):
      description.parse(path)


class RetrievalTest(_Descriptions):
  def test_by_default_nothing_is_set(self):
    data = description.load(self._sequences())
    self.assertEqual(data.retrieval, {})

  def test_the_candidates_are_kept(self):
    wanted = {"candidates": "sampled", "samples": 5, "sampling": "uniform"}
    path = self._sequences(lambda d: d.update(retrieval=wanted))
    self.assertEqual(description.load(path).retrieval, wanted)

  @parameterized.named_parameters(
    (
      "candidates",
      {"candidates": "all"},
      r"retrieval\.candidates: unknown candidates 'all'; expected one of "
      "batch, catalogue, sampled",
    ),
    (
      "no_samples",
      {"candidates": "sampled", "samples": 0},
      r"retrieval\.samples: expected an integer of at least 1",
    ),
    (
      "bool_samples",
      {"samples": True},
      r"retrieval\.samples: expected an integer, got true",
    ),
    (
      "sampling",
      {"sampling": "zipf"},
      r"retrieval\.sampling: unknown sampling 'zipf'; expected one of "
      "uniform, popularity",
    ),
    (
      "unknown_key",
      {"sample": 3},
      r"retrieval\.sample: unknown key; expected one of candidates, "
      "samples, sampling; did you mean 'samples'",
    ),
    ("not_an_object", "batch", r'retrieval: expected an object, got "batch"'),
  )
  def test_refused(self, value, message):
    path = self._sequences(lambda d: d.update(retrieval=value))
    with self.assertRaisesRegex(ValueError, r"seq\.json: " + message):
      description.parse(path)


if __name__ == "__main__":
  tf.test.main()


class UserIdFeatureTest(tf.test.TestCase):
  def test_a_user_id_need_not_be_a_query_feature(self):
    folder = self.create_tempdir().full_path
    with open(os.path.join(folder, "log.txt"), "w") as f:
      f.write("1 10 11 12\n2 13 14\n3 10 12\n")
    entry = {"name": "user_id", "role": "user_id", "feature": False}
    written = {
      "rows": {
        "path": "log.txt",
        "format": "user_items",
        "columns": ["user_id", "item_id", "position"],
      },
      "columns": [
        entry,
        {"name": "item_id", "role": "item_id"},
        {"name": "position", "role": "order"},
        {"name": "recent", "role": "query", "type": "history",
         "built_from": "seen"},
        {"name": "seen", "role": "label", "constant": 1,
         "objective": "retrieval"},
      ],
      "split": {"method": "leave_one_out"},
    }  # fmt: skip
    path = os.path.join(folder, "log.json")
    with open(path, "w") as f:
      json.dump(written, f)
    spec = description.load(path).spec
    self.assertEqual(spec.user_id, "user_id")
    self.assertEqual([f.name for f in spec.features_of("query")], ["recent"])
    # The users still split the rows: one test row each.
    self.assertLen(description.load(path).split("test")["user_id"], 3)
