"""Vocabularies as files (prepare/vocabularies.py, FeatureStats.save): a
lookup built from the file gives every value the row a lookup built from
the values in memory gives it, the empty value included; values a line
cannot hold are refused by name."""

import json
import os
import re

import numpy as np
import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.model import features as features_lib
from multiobj.prepare import stats as stats_lib
from multiobj.prepare import vocabularies

SPEC = spec_lib.DatasetSpec(
  name="vocabularies",
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("country", "query", "category"),
    spec_lib.Feature("item_id", "candidate", "id"),
    spec_lib.Feature("tags", "candidate", "multi_category"),
    spec_lib.Feature("title", "candidate", "text"),
    spec_lib.Feature("recent", "query", "history"),
  ),
  labels=("click",),
  item_id="item_id",
  user_id="user_id",
)
ROWS = {
  "user_id": np.array(["u1", "u2", "u2", "u3", "u1", "u1"], dtype=object),
  # "" is a value (an empty CSV field of a text column): a row of its own.
  "country": np.array(["de", "", "fr", "", "de", "de"], dtype=object),
  "item_id": np.array([7, 3, 7, 12, 7, 3]),
  "tags": np.array(["a|b", "b", "", "c", "b", "a"], dtype=object),
  "title": np.array(["red shoe", "blue", "red", "", "x", "x"], dtype=object),
  "recent": np.array(["7", "7|3", "", "3|12|7", "12", "7"], dtype=object),
  "click": np.array([1, 0, 1, 0, 1, 0]),
}


def _encoders(stats):
  """Each feature's encoder, the history sharing the item's."""
  items = features_lib.FeatureEmbedding(SPEC.feature("item_id"), stats, 4, 3)
  out = {"item_id": items}
  for feature in SPEC.features:
    if feature.name != "item_id":
      out[feature.name] = features_lib.FeatureEmbedding(
        feature, stats, 4, 3, items=items
      )
  return out


class VocabularyFilesTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.memory = stats_lib.compute_stats(SPEC, ROWS, 10)
    self.directory = self.create_tempdir().full_path
    self.on_file = self.memory.save(self.directory)

  def test_file_holds_one_value_per_line_in_lookup_order(self):
    path, size, integers = self.on_file.vocabulary("country")
    with open(path, encoding="utf-8") as f:
      # de 3 times, "" twice, fr once; the empty value as EMPTY.
      self.assertEqual(f.read(), "de\n\x00\nfr\n")
    self.assertEqual((size, integers), (3, False))
    path, size, integers = self.on_file.vocabulary("item_id")
    with open(path) as f:
      self.assertEqual(f.read(), "7\n3\n12\n")  # 7 thrice, 3 twice.
    self.assertEqual((size, integers), (3, True))
    self.assertStartsWith(
      os.path.relpath(path, self.directory), "vocabularies/item_id-"
    )

  def test_lookups_from_file_and_from_memory_agree(self):
    memory, on_file = _encoders(self.memory), _encoders(self.on_file)
    probes = {
      "user_id": tf.constant(["u1", "u2", "u3", "u9", ""]),
      "country": tf.constant(["de", "", "fr", "it"]),
      "item_id": tf.constant([7, 3, 12, 99], tf.int64),
      "tags": tf.constant(["a", "b", "c", "", "z"]),
    }
    expected = {
      "user_id": [1, 2, 3, 0, 0],  # u1 3 rows, u2 2, u3 1.
      "country": [1, 2, 3, 0],
      "item_id": [1, 2, 3, 0],
      "tags": [2, 1, 3, 0, 0],  # b twice, then a and c (a before c).
    }
    for name, values in probes.items():
      self.assertAllEqual(on_file[name].index(values), expected[name], name)
      self.assertAllEqual(memory[name].index(values), expected[name], name)
    titles = tf.constant(["red shoe", "blue sky"])
    self.assertAllEqual(
      on_file["title"].lookup(titles), memory["title"].lookup(titles)
    )

  def test_history_items_written_as_integers_find_their_rows(self):
    encoder = _encoders(self.on_file)["item_id"]
    # "007" is the integer 7 (the reader's rule); text is unknown.
    values = tf.constant(["7", "007", "3", "12", "abc", "99", "-1"])
    self.assertAllEqual(encoder.index(values), [1, 1, 2, 3, 0, 0, 0])

  def test_saved_stats_load_to_the_same_files(self):
    again = stats_lib.FeatureStats.load(self.directory)
    for name in self.memory.vocabularies:
      self.assertEqual(again.vocabulary(name), self.on_file.vocabulary(name))
    self.assertEqual(again.moments, self.memory.moments)
    for name, values in self.memory.vocabularies.items():
      self.assertEqual(again.values(name), values, name)
    self.assertEqual(again.policies, self.memory.policies)

  def test_a_run_of_lists_written_before_files_still_loads(self):
    directory = self.create_tempdir().full_path
    with open(os.path.join(directory, stats_lib.FILE), "w") as f:
      json.dump(
        {"vocabularies": {"country": ["de", "", "fr"]}, "moments": {}}, f
      )
    old = stats_lib.FeatureStats.load(directory)
    values, size, integers = old.vocabulary("country")
    self.assertEqual(list(values), ["de", vocabularies.EMPTY, "fr"])
    self.assertEqual((size, integers), (3, False))

  def test_saving_again_elsewhere_copies_the_files(self):
    other = self.create_tempdir().full_path
    copied = self.on_file.save(other)
    for name in self.memory.vocabularies:
      path, size, _ = copied.vocabulary(name)
      self.assertStartsWith(path, other)
      with (
        open(path, "rb") as a,
        open(self.on_file.vocabulary(name)[0], "rb") as b,
      ):
        self.assertEqual(a.read(), b.read())

  def test_a_file_name_is_one_content(self):
    a = vocabularies.write(self.directory, "x", ["p", "q"])
    b = vocabularies.write(self.directory, "x", ["q", "p"])
    self.assertNotEqual(a.file, b.file)
    self.assertEqual(vocabularies.write(self.directory, "x", ["p", "q"]), a)
    odd = vocabularies.write(self.directory, "../a b", [1])
    self.assertStartsWith(odd.file, "vocabularies/_a_b-")

  def test_a_value_a_line_cannot_hold_is_refused_by_name(self):
    for bad in ("two\nlines", "ends\r", "nul\x00"):
      with self.assertRaisesRegex(
        ValueError,
        re.escape(f"Feature 'country': the value {bad!r} holds a line break"),
      ):
        vocabularies.write(self.directory, "country", ["de", "", bad])


if __name__ == "__main__":
  tf.test.main()
