"""Feature statistics in pieces (prepare/stats.py `Counter`): what the whole
training split gives, for a log read out of core."""

import numpy as np
import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.data import synthetic
from multiobj.prepare import stats

TINY = synthetic.SyntheticConfig(
  num_users=200, num_items=120, num_requests=300, seed=5
)
TOKENS = 50
# A spec with every kind of feature (the synthetic one has no
# multi_category): id, category, multi_category, numeric (zscore, log1p,
# none) and text.
SPEC = spec_lib.DatasetSpec(
  name="every_kind",
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("country", "query", "category"),
    spec_lib.Feature("age", "query", "numeric"),
    spec_lib.Feature("item_id", "candidate", "id"),
    spec_lib.Feature("tags", "candidate", "multi_category"),
    spec_lib.Feature("price", "candidate", "numeric", transform="log1p"),
    spec_lib.Feature("score", "candidate", "numeric", transform="none"),
    spec_lib.Feature("title", "candidate", "text"),
  ),
  labels=("click",),
  item_id="item_id",
  user_id="user_id",
)


def _rows():
  """The tiny synthetic log's training rows, with tags and a raw score."""
  rows = dict(synthetic.generate(TINY).split("train"))
  n = len(rows["item_id"])
  tags = np.array(["a|b", "b", "", "c|a|d", "e"], dtype=object)
  rows["tags"] = tags[rows["item_id"] % len(tags)]
  rows["score"] = np.random.default_rng(0).normal(5.0, 3.0, n)
  return rows


def _take(rows, index):
  return {k: v[index] for k, v in rows.items()}


def _frequency_order(values):
  """Distinct values by count (descending), then value."""
  unique, counts = np.unique(values, return_counts=True)
  order = np.lexsort((np.arange(len(unique)), -counts))
  return unique[order].tolist()


class CounterTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.rows = _rows()
    self.n = len(self.rows["item_id"])
    self.whole = stats.compute_stats(SPEC, self.rows, TOKENS)

  def _in_pieces(self, bounds, order=None):
    order = np.arange(self.n) if order is None else order
    counter = stats.Counter(SPEC, TOKENS)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
      counter.add(_take(self.rows, order[start:stop]))
    return counter.result()

  def test_whole_and_one_piece_match_a_numpy_reference(self):
    one = stats.Counter(SPEC, TOKENS)
    one.add(self.rows)
    for found in (self.whole, one.result()):
      self._check_reference(found)

  def _check_reference(self, found):
    rows = self.rows
    self.assertEqual(
      sorted(found.vocabularies),
      ["country", "item_id", "tags", "title", "user_id"],
    )
    for name in ("user_id", "country", "item_id"):
      self.assertEqual(
        found.vocabularies[name], _frequency_order(rows[name]), name
      )
    # Tags: every non-empty value of every row, split on "|".
    values = [v for t in rows["tags"] for v in t.split("|") if v]
    self.assertEqual(found.vocabularies["tags"], _frequency_order(values))
    self.assertCountEqual(found.vocabularies["tags"], list("abcde"))
    age = rows["age"].astype(np.float64)
    price = np.log1p(np.maximum(rows["price"].astype(np.float64), 0.0))
    self.assertEqual(
      found.moments,
      {
        "age": (float(age.mean()), float(age.var())),
        "price": (float(price.mean()), float(price.var())),
        "score": (float(rows["score"].mean()), float(rows["score"].var())),
      },
    )
    # Text: lower-cased words of the titles, at most TOKENS of them.
    words = {w for t in rows["title"] for w in t.lower().split()}
    title = found.vocabularies["title"]
    self.assertLen(title, min(TOKENS, len(words)))
    self.assertContainsSubset(title, words)

  def test_three_pieces_give_the_whole(self):
    # Uneven pieces, and the rows in another order.
    order = np.random.default_rng(1).permutation(self.n)
    for rows_order in (None, order):
      found = self._in_pieces([0, 7, self.n // 2, self.n], rows_order)
      self.assertEqual(found.vocabularies, self.whole.vocabularies)
      self.assertEqual(sorted(found.moments), sorted(self.whole.moments))
      for name, (mean, var) in self.whole.moments.items():
        got_mean, got_var = found.moments[name]
        self.assertAllClose(got_mean, mean, rtol=1e-12, atol=0, msg=name)
        self.assertAllClose(got_var, var, rtol=1e-12, atol=0, msg=name)

  def test_a_piece_without_any_tag_adds_none(self):
    # Rows 0-2 and 6-9 have tags, rows 3-5 none: a piece may hold only
    # rows without a tag (a partition of a sparse log), and must add no
    # value to the vocabulary ("" is no tag).
    rows = {
      "user_id": np.zeros(10, np.int64),
      "country": np.array(["de"] * 10, dtype=object),
      "age": np.arange(10.0),
      "item_id": np.arange(10),
      "tags": np.array(
        ["a|b", "b", "c", "", "", "", "a", "b", "a|c", "b"], dtype=object
      ),
      "price": np.ones(10),
      "score": np.ones(10),
      "title": np.array(["x y"] * 10, dtype=object),
    }
    whole = stats.compute_stats(SPEC, rows, TOKENS)
    # Counts a 3, b 4, c 2.
    self.assertEqual(whole.vocabularies["tags"], ["b", "a", "c"])
    counter = stats.Counter(SPEC, TOKENS)
    for piece in (slice(0, 3), slice(3, 6), slice(6, 10)):
      counter.add(_take(rows, piece))
    self.assertEqual(counter.result().vocabularies["tags"], ["b", "a", "c"])

  def test_save_and_load(self):
    directory = self.create_tempdir().full_path
    saved = self.whole.save(directory)
    again = stats.FeatureStats.load(directory)
    self.assertEqual(again.vocabularies, saved.vocabularies)
    self.assertEqual(again.moments, self.whole.moments)
    for name, values in self.whole.vocabularies.items():
      path, size, _ = again.vocabulary(name)
      with open(path) as f:
        lines = f.read().splitlines()
      # One value per line, in lookup order; integers in decimal.
      self.assertEqual(lines, [str(v) for v in values], name)
      self.assertEqual(size, len(values))


if __name__ == "__main__":
  tf.test.main()
