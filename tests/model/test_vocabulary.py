"""Vocabulary policies (`Feature.min_count`, `max_size`, `hash_buckets`):
what preparation keeps, what it reports, what the encoder and the exported
model do with each value."""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.data import synthetic
from multiobj.data.description import loader as description
from multiobj.model import features as features_lib
from multiobj.prepare import stats, train_data
from multiobj.serve import export
from tests import tiny

# Ten values, "a" seen 6 times down to "j" once (frequency order = name order).
COUNTS = dict(zip("abcdefghij", [6, 5, 4, 3, 3, 2, 2, 1, 1, 1], strict=True))
ROWS = {"tag": np.array([v for v, n in COUNTS.items() for _ in range(n)])}
TOTAL = sum(COUNTS.values())  # 28


def _stats(**policy) -> stats.FeatureStats:
  spec = spec_lib.DatasetSpec(
    name="tags",
    features=(
      spec_lib.Feature("tag", "query", "category", **policy),
      spec_lib.Feature("item", "candidate", "id"),
    ),
    labels=(),
    item_id="item",
  )
  counter = stats.Counter(spec, text_max_tokens=10)
  rows = {**ROWS, "item": np.zeros(TOTAL, np.int64)}
  # In two pieces, as the streaming preparation counts.
  counter.add({k: v[:11] for k, v in rows.items()})
  counter.add({k: v[11:] for k, v in rows.items()})
  return counter.result()


class PolicyTest(tf.test.TestCase):
  def test_the_default_keeps_every_value_and_reports_nothing(self):
    found = _stats()
    self.assertEqual(found.vocabularies["tag"], list("abcdefghij"))
    self.assertEqual(found.policies, {})

  def test_min_count_cuts_the_rare_values(self):
    found = _stats(min_count=3)
    self.assertEqual(found.vocabularies["tag"], list("abcde"))
    # f..j: 2 + 2 + 1 + 1 + 1 = 7 of 28 occurrences.
    self.assertEqual(
      found.policies["tag"],
      {
        "distinct": 10,
        "min_count": 3,
        "max_size": 0,
        "kept": 5,
        "occurrences_out_of_vocabulary": 7 / 28,
      },
    )

  def test_max_size_keeps_the_most_frequent(self):
    found = _stats(max_size=2)
    self.assertEqual(found.vocabularies["tag"], ["a", "b"])
    self.assertAlmostEqual(
      found.policies["tag"]["occurrences_out_of_vocabulary"], 17 / 28
    )
    # Both: the tighter one wins.
    self.assertEqual(
      _stats(min_count=5, max_size=4).vocabularies["tag"], ["a", "b"]
    )

  def test_hash_buckets_keep_no_vocabulary_and_count_collisions(self):
    buckets = 4
    found = _stats(hash_buckets=buckets)
    self.assertEqual(found.vocabularies["tag"], [])
    # By hand from TF's own hash: which values share a bucket.
    bucket = {
      v: int(tf.strings.to_hash_bucket_fast(v, buckets)) + 1 for v in COUNTS
    }
    shared = [v for v in COUNTS if list(bucket.values()).count(bucket[v]) > 1]
    self.assertEqual(
      found.policies["tag"],
      {
        "distinct": 10,
        "hash_buckets": 4,
        "integers": False,
        "collision_rate": len(shared) / 10,
        "occurrences_colliding": sum(COUNTS[v] for v in shared) / 28,
      },
    )
    # Ten values in four buckets must collide; in one bucket all do.
    self.assertGreater(len(shared), 0)
    self.assertEqual(
      _stats(hash_buckets=1).policies["tag"]["collision_rate"], 1
    )

  def test_integers_hash_as_their_decimal_text(self):
    ints = stats.hash_bucket(np.array([0, 7, 123456789]), 1000)
    texts = stats.hash_bucket(np.array(["0", "7", "123456789"]), 1000)
    self.assertAllEqual(ints, texts)
    self.assertTrue(((ints >= 1) & (ints <= 1000)).all())

  def test_a_policy_is_checked_where_it_is_given(self):
    cases = [
      ({"kind": "numeric", "min_count": 2}, "min_count applies to id, "),
      ({"kind": "text", "hash_buckets": 9}, "hash_buckets applies to id, "),
      ({"kind": "id", "min_count": 0}, "min_count must be an integer of at "),
      ({"kind": "id", "max_size": -1}, "max_size must be an integer of at "),
      (
        {"kind": "id", "hash_buckets": 8, "max_size": 3},
        "hash_buckets keeps no vocabulary, so max_size has nothing to cut",
      ),
    ]
    for options, message in cases:
      with self.subTest(options=options):
        with self.assertRaisesRegex(ValueError, f"Feature 'x': {message}"):
          spec_lib.Feature("x", "query", **options)


class EncoderTest(tf.test.TestCase):
  def _embedding(self, found, **policy):
    feature = spec_lib.Feature("tag", "query", "category", **policy)
    return features_lib.FeatureEmbedding(feature, found, 8, 4)

  def test_a_value_cut_by_min_count_is_out_of_vocabulary(self):
    layer = self._embedding(_stats(min_count=3), min_count=3)
    index = layer.index(tf.constant(["a", "e", "f", "j", "never seen"]))
    self.assertAllEqual(index[:2] > 0, [True, True])
    self.assertAllEqual(index[2:], [0, 0, 0])

  def test_hashed_values_take_their_bucket_s_row(self):
    layer = self._embedding(_stats(hash_buckets=16), hash_buckets=16)
    self.assertEqual(layer.embedding.input_dim, 17)  # Row 0: unknown.
    values = tf.constant(["a", "j", "never seen", "a"])
    index = layer.index(values)
    self.assertAllEqual(index, stats.hash_bucket(values, 16))
    self.assertEqual(int(index[0]), int(index[3]))
    self.assertTrue((index.numpy() >= 1).all())  # Unseen too: its bucket.
    vectors = layer(values)
    self.assertAllClose(vectors[0], vectors[3])
    self.assertAllClose(vectors[1], layer.embedding(index[1:2])[0])


class RunTest(tf.test.TestCase):
  """A tiny synthetic run with hashed users and a cut item vocabulary."""

  def test_prepared_trained_and_exported(self):
    data = synthetic.generate(tiny.TINY)
    changed = {
      "user_id": {"hash_buckets": 64},
      "item_id": {"min_count": 5},
    }
    features = tuple(
      dataclasses.replace(f, **changed.get(f.name, {}))
      for f in data.spec.features
    )
    data = dataclasses.replace(data, spec=data.spec.replace(features=features))
    config = tiny.prepared().config
    prepared = train_data.prepare(data, config)
    report = prepared.describe()["vocabularies"]
    self.assertEqual(set(report), {"user_id", "item_id"})
    train = data.split("train")
    users = np.unique(train["user_id"])
    self.assertEqual(report["user_id"]["distinct"], len(users))
    self.assertTrue(report["user_id"]["integers"])
    ids, counts = np.unique(train["item_id"], return_counts=True)
    self.assertEqual(report["item_id"]["kept"], int((counts >= 5).sum()))
    self.assertEqual(
      sorted(prepared.stats.values("item_id")),
      sorted(ids[counts >= 5].tolist()),
    )
    model = tiny.model(prepared)
    encoder = model.query_tower.encoder.by_feature["user_id"]
    self.assertEqual(encoder.embedding.input_dim, 65)
    history = model.fit(prepared.train_dataset(), epochs=1, verbose=0)
    self.assertTrue(np.isfinite(history.history["loss"]).all())
    path = self.create_tempdir().full_path
    export.export(model, data.catalogue, path, k=5)
    loaded = tf.saved_model.load(path)
    retrieve = loaded.signatures["retrieve"]
    spec = retrieve.structured_input_signature[1]
    self.assertEqual(spec["user_id"].dtype, tf.int64)
    query = {
      "user_id": tf.constant([0, 10**9], tf.int64),  # Seen, and never seen.
      "country": tf.constant(["US", "XX"]),
      "device": tf.constant(["ios", "web"]),
      "age": tf.constant([30.0, 40.0]),
    }
    found = retrieve(**{k: v for k, v in query.items() if k in spec})
    self.assertEqual(found["ids"].shape, (2, 5))


class DescriptionTest(tf.test.TestCase):
  def _load(self, columns):
    folder = self.create_tempdir().full_path
    with open(os.path.join(folder, "rows.csv"), "w") as f:
      f.write("user,item,tag,click\n1,10,x,1\n2,11,y,0\n1,11,x,1\n2,10,y,1\n")
    path = os.path.join(folder, "d.json")
    with open(path, "w") as f:
      json.dump({"rows": {"path": "rows.csv"}, "columns": columns}, f)
    return description.load(path, folder), path

  def test_policies_reach_the_spec(self):
    data, _ = self._load(
      [
        {"name": "user", "role": "user_id", "hash_buckets": 100},
        {"name": "item", "role": "item_id", "min_count": 2, "max_size": 9},
        {"name": "tag", "role": "query", "type": "category", "min_count": 3},
        {"name": "click", "role": "label", "objective": "click"},
      ]
    )
    self.assertEqual(data.spec.feature("user").hash_buckets, 100)
    item = data.spec.feature("item")
    self.assertEqual((item.min_count, item.max_size), (2, 9))
    self.assertEqual(data.spec.feature("tag").min_count, 3)

  def test_a_policy_on_a_number_names_the_key(self):
    columns = [
      {"name": "user", "role": "user_id"},
      {"name": "item", "role": "item_id"},
      {"name": "tag", "role": "query", "type": "numeric", "max_size": 3},
      {"name": "click", "role": "label", "objective": "click"},
    ]
    with self.assertRaisesRegex(
      ValueError,
      r"d\.json: columns\[2\]\.max_size: applies to id, category, "
      r"multi_category columns only\.",
    ):
      self._load(columns)

  def test_hashing_and_cutting_at_once_names_the_entry(self):
    columns = [
      {"name": "user", "role": "user_id", "hash_buckets": 9, "min_count": 2},
      {"name": "item", "role": "item_id"},
      {"name": "click", "role": "label", "objective": "click"},
    ]
    with self.assertRaisesRegex(
      ValueError,
      r"d\.json: columns\[0\]: Feature 'user': hash_buckets keeps no "
      "vocabulary, so min_count",
    ):
      self._load(columns)
