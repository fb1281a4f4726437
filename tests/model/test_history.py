"""History features: the user's recent items, built from the log without
the future, embedded with the candidates' item embedding, pooled for
retrieval and attended to by the candidate for ranking (DIN)."""

import json
import os

import numpy as np
import tensorflow as tf

from multiobj import config as config_lib
from multiobj.data import history, loaders
from multiobj.data import spec as spec_lib
from multiobj.model import attention
from multiobj.model import features as features_lib
from multiobj.prepare import train_data
from multiobj.serve import export
from tests import tiny
from tests.data.test_description import COLUMNS, write_shop
from tests.data.test_history_sets import sets_by_hand

BUILT = {
  "name": "recent_clicks",
  "role": "query",
  "type": "history",
  "built_from": "click",
  "max_length": 3,
}


def _by_hand(users, when, items, events, max_length):
  """Each row's history, one row and one event at a time."""
  out = []
  for u, t in zip(users, when, strict=True):
    before = [
      (when[j], j)
      for j in range(len(users))
      if events[j] and users[j] == u and when[j] < t
    ]
    kept = [str(items[j]) for _, j in sorted(before)][-max_length:]
    out.append("|".join(kept))
  return out


class BuildTest(tf.test.TestCase):
  def test_a_small_log_by_hand(self):
    users = np.array(["u", "v", "u", "u", "v", "u"], dtype=object)
    when = np.array([1, 1, 2, 2, 3, 5])
    items = np.array([10, 20, 11, 12, 21, 13])
    events = np.array([1, 1, 1, 0, 1, 1]) > 0
    # u's row at time 2 sees only the event at 1 (not its own, nor 11 at
    # the same time); at 5, 10 and 11 (12 was no event).
    self.assertEqual(
      history.build(users, when, items, events, 5).tolist(),
      ["", "", "10", "10", "20", "10|11"],
    )
    self.assertEqual(
      history.build(users, when, items, events, 1).tolist(),
      ["", "", "10", "10", "20", "11"],
    )

  def test_a_random_log_matches_the_definition(self):
    rng = np.random.default_rng(3)
    n = 400
    users = rng.integers(0, 12, n)
    when = rng.integers(0, 60, n)  # Many ties.
    items = rng.integers(100, 130, n)
    events = rng.random(n) < 0.4
    for max_length in (1, 4, 50):
      got = history.build(users, when, items, events, max_length)
      self.assertEqual(
        got.tolist(), _by_hand(users, when, items, events, max_length)
      )

  def test_no_row_of_a_list_sees_its_list_or_later(self):
    # The list began at time 5 (its rows are logged at 5 and 9): an event
    # at 7, after the list began, is in no row's history of it.
    rows = {
      "user": np.array(["u", "u", "u", "u"], dtype=object),
      "item": np.array([1, 2, 3, 4]),
      "t": np.array([2.0, 5.0, 7.0, 9.0]),
      "list": np.array([0, 1, 2, 1]),
      "click": np.array([1.0, 1.0, 1.0, 1.0]),
    }
    spec = spec_lib.DatasetSpec(
      name="log",
      features=(
        spec_lib.Feature("user", "query", "id"),
        spec_lib.Feature("item", "candidate", "id"),
        spec_lib.Feature("h", "query", "history", built_from="click"),
      ),
      labels=("click",),
      item_id="item",
      user_id="user",
      list_id="list",
      timestamp="t",
    )
    built = history.add_built(rows, spec)["h"]
    self.assertEqual(built.tolist(), ["", "1", "1|2|4", "1"])

  def test_parse_counts_and_keeps_the_newest(self):
    column = np.array(["1|2|3|4", "", "5", "|6||7", 12], dtype=object)
    lengths, kept = history.parse(column, "|", 2)
    self.assertEqual(lengths.tolist(), [4, 0, 1, 2, 1])
    self.assertEqual(kept.tolist(), ["3", "4", "5", "6", "7", "12"])


class SpecTest(tf.test.TestCase):
  def test_what_a_history_needs_is_named(self):
    item = spec_lib.Feature("item", "candidate", "id")
    user = spec_lib.Feature("user", "query", "id")

    def spec(feature, **changes):
      fields = dict(
        name="d",
        features=(user, item, feature),
        labels=("click",),
        item_id="item",
        user_id="user",
        timestamp="t",
      )
      return spec_lib.DatasetSpec(**{**fields, **changes})

    def built(name, **options):
      return spec_lib.Feature(
        name, "query", "history", built_from="click", **options
      )

    cases = [
      (
        lambda: spec_lib.Feature("h", "candidate", "history"),
        "History feature 'h': a history is the user's, so its role is "
        "'query', not 'candidate'",
      ),
      (
        lambda: spec_lib.Feature("h", "query", "history", max_length=0),
        "History feature 'h': max_length must be a positive integer, got 0",
      ),
      (
        lambda: spec_lib.Feature("h", "query", "id", max_length=5),
        "Feature 'h': max_length applies to history features only",
      ),
      (
        lambda: spec(
          spec_lib.Feature("h", "query", "history", built_from="buy")
        ),
        "History feature 'h': built_from 'buy' is not a label; labels: click",
      ),
      (
        lambda: spec(
          spec_lib.Feature("h", "query", "history", built_from="click"),
          user_id=None,
        ),
        "History feature 'h': building a history from the log needs a "
        r"user_id column \(each user's events\)",
      ),
      (
        lambda: spec(
          spec_lib.Feature("h", "query", "history", built_from="click"),
          timestamp=None,
        ),
        "History feature 'h': building a history in time order needs a "
        r"timestamp or order column \(without one, the history is the user's "
        "training events as a set: ordered false",
      ),
      (
        lambda: built("h", ordered=False, every_position=True),
        "History feature 'h': every_position needs a history built from the "
        "log in time order",
      ),
      (
        lambda: spec_lib.Feature("h", "query", "id", encoder="gru"),
        "Feature 'h': encoder applies to history features only",
      ),
      (
        lambda: spec(
          built("a", every_position=True),
          features=(
            user,
            item,
            built("a", every_position=True),
            built("b", every_position=True, max_length=7),
          ),
        ),
        r"Dataset 'd': the histories trained at every position \(a, b\) read "
        r"windows of one user's events, so they need one max_length; got "
        r"\[7, 50\]",
      ),
    ]
    for make, message in cases:
      with self.subTest(message=message):
        with self.assertRaisesRegex(ValueError, message):
          make()

  def test_built_from_is_a_tuple_and_may_be_a_str(self):
    for given, expected in (
      ("click", ("click",)),
      (["view", "click"], ("view", "click")),
      ("", ()),
    ):
      with self.subTest(given=given):
        feature = spec_lib.Feature("h", "query", "history", built_from=given)
        self.assertEqual(feature.built_from, expected)
    # Without a timestamp, a set of the user's events (ordered false).
    spec = spec_lib.DatasetSpec(
      name="d",
      features=(
        spec_lib.Feature("user", "query", "id"),
        spec_lib.Feature("item", "candidate", "id"),
        spec_lib.Feature(
          "h", "query", "history", built_from="click", ordered=False
        ),
      ),
      labels=("click",),
      item_id="item",
      user_id="user",
    )
    self.assertEqual([f.name for f in spec.built], ["h"])

  def test_a_built_history_with_a_split_in_files_is_a_set(self):
    # The test file is the training rows again: a test row is never a
    # training event, so it sees each of its user's training clicks.
    folder = self.create_tempdir().full_path
    path = write_shop(
      folder,
      columns=[*COLUMNS, BUILT],
      split={"method": "files", "test": {"path": "rows.csv"}},
    )
    data = loaders.load(_config(path, folder).data, 0)
    feature = data.spec.feature("recent_clicks")
    self.assertFalse(feature.ordered)
    self.assertFalse(feature.every_position)
    train, test = data.split("train"), data.split("test")
    self.assertEqual(sorted(data.splits), ["test", "train"])
    clicks = train["click"] > 0
    self.assertEqual(
      train["recent_clicks"].tolist(),
      sets_by_hand(train["user_id"], train["item_id"], clicks, 3),
    )
    users = np.concatenate([train["user_id"], test["user_id"]])
    items = np.concatenate([train["item_id"], test["item_id"]])
    events = np.concatenate([clicks, np.zeros(len(clicks), bool)])
    expected = sets_by_hand(users, items, events, 3)[len(clicks) :]
    self.assertEqual(test["recent_clicks"].tolist(), expected)
    self.assertNotEqual(
      test["recent_clicks"].tolist(), train["recent_clicks"].tolist()
    )


def _config(path, folder):
  return config_lib.TrainConfig(model_dir=os.path.join(folder, "run")).replace(
    dataset="json", dataset_spec=path, model=tiny.SMALL_MODEL
  )


class ShopTest(tf.test.TestCase):
  """The shop log of test_description with a history of recent clicks."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    folder = tf.compat.v1.test.get_temp_dir()
    path = write_shop(folder, columns=[*COLUMNS, BUILT])
    cls.config = _config(path, folder)
    cls.data = loaders.load(cls.config.data, 0)
    cls.prepared = train_data.prepare(cls.data, cls.config)
    cls.model = tiny.model(cls.prepared)
    cls.fit = cls.model.fit(cls.prepared.train_dataset(), epochs=1, verbose=0)

  def test_the_loader_builds_it_over_every_split(self):
    rows = {
      k: np.concatenate([t[k] for t in self.data.splits.values()])
      for k in ("user_id", "ts", "item_id", "click", "recent_clicks")
    }
    expected = _by_hand(
      rows["user_id"], rows["ts"], rows["item_id"], rows["click"] > 0, 3
    )
    self.assertEqual(rows["recent_clicks"].tolist(), expected)
    self.assertGreater(sum(bool(h) for h in expected), 100)

  def test_the_summary_counts_it(self):
    found = self.prepared.describe()["histories"]["recent_clicks"]
    train = self.data.split("train")["recent_clicks"]
    lengths = [len(h.split("|")) if h else 0 for h in train]
    self.assertEqual(found["rows"], len(train))
    self.assertEqual(found["empty"], lengths.count(0))
    self.assertEqual(found["truncated"], 0)  # Built: never longer.
    self.assertEqual(found["items"], sum(lengths))
    self.assertEqual(found["items_out_of_vocabulary"], 0.0)

  def test_it_shares_the_item_embedding(self):
    layer = self.model.query_tower.encoder.by_feature["recent_clicks"]
    items = self.model.candidate_tower.encoder.by_feature["item_id"]
    self.assertIs(layer.items, items)
    table = items.embedding.embeddings
    self.assertEqual(sum(v is table for v in self.model.trainable_variables), 1)
    self.assertTrue(np.isfinite(self.fit.history["loss"]).all())

  def test_the_query_tower_pools_the_last_items(self):
    layer = self.model.query_tower.encoder.by_feature["recent_clicks"]
    items = self.model.candidate_tower.encoder.by_feature["item_id"]

    def row(ids):
      return items.embedding(items.index(tf.constant(ids, tf.int64))).numpy()

    got = layer(tf.constant(["3|4", "", "1|2|3|4|5", "999|4", "x|4"])).numpy()
    self.assertAllClose(got[0], row([3, 4]).mean(0))
    self.assertAllClose(got[1], np.zeros(items.width))
    self.assertAllClose(got[2], row([3, 4, 5]).mean(0))  # The last 3.
    # An id out of the catalogue, or not an id, is the unknown row.
    unknown = items.embedding(tf.constant([0])).numpy()[0]
    self.assertAllClose(got[3], (unknown + row([4])[0]) / 2)
    self.assertAllClose(got[4], got[3])

  def test_the_exported_model_takes_it(self):
    path = self.create_tempdir().full_path
    export.export(self.model, self.data.catalogue, path, k=5)
    loaded = tf.saved_model.load(path)
    retrieve = loaded.signatures["retrieve"]
    specs = retrieve.structured_input_signature[1]
    self.assertEqual(specs["recent_clicks"].dtype, tf.string)
    query = {
      "user_id": tf.constant(["u1", "u2"]),
      "country": tf.constant(["DE", "FR"]),
      "age": tf.constant([30.0, 40.0]),
      "recent_clicks": tf.constant(["3|7", ""]),
    }
    found = retrieve(**{k: v for k, v in query.items() if k in specs})
    self.assertEqual(found["ids"].shape, (2, 5))
    with open(os.path.join(path, "serving.json")) as f:
      described = json.load(f)
    self.assertIn("recent_clicks", json.dumps(described))


class AttentionTest(tf.test.TestCase):
  def test_weights_are_a_softmax_over_the_items_present(self):
    tf.random.set_seed(0)
    layer = attention.TargetAttention(units=(4,))
    items = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    history = tf.RaggedTensor.from_tensor(items, lengths=[3, 0])
    candidates = np.random.default_rng(1).normal(size=(2, 2, 5))
    candidates = tf.constant(candidates, tf.float32)
    got = layer(history, candidates).numpy()
    # By hand: the layer's scoring network on each (item, candidate) pair.
    for b, lengths in ((0, 3), (1, 0)):
      for slot in range(2):
        c = candidates[b, slot].numpy()
        logits = [
          float(
            layer.score(np.concatenate([h, c, h - c, h * c])[np.newaxis])[0, 0]
          )
          for h in items[b, :lengths]
        ]
        if not lengths:
          self.assertAllClose(got[b, slot], np.zeros(5))
          continue
        weights = np.exp(logits - np.max(logits))
        weights /= weights.sum()
        self.assertAllClose(got[b, slot], weights @ items[b], atol=1e-5)


class EncoderTest(tf.test.TestCase):
  def test_a_history_needs_the_item_embedding(self):
    feature = spec_lib.Feature("h", "query", "history")
    stats = features_lib.FeatureStats({}, {})
    with self.assertRaisesRegex(
      ValueError, "History feature 'h' needs the candidate tower's item id"
    ):
      features_lib.FeatureEmbedding(feature, stats, 8, 4)
