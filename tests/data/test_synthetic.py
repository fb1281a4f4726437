"""The synthetic log: deterministic, and shaped like a real impression log."""

import hashlib

import numpy as np
from absl.testing import absltest

from multiobj.data import synthetic
from multiobj.data.synthetic import population

SMALL = synthetic.SyntheticConfig(
  num_users=800, num_items=400, num_requests=3000, seed=3
)


# sha256 of each split (and the catalogue) of the default log, `_digest`
# below, taken before the log was drawn in chunks. A change to these is a
# change to the data of `make train` and of every published table.
DEFAULT_DIGESTS = {
  "train": "4d43023eed0dba98d9592b01842c02ed3c5020dba342738eb1801f379be4ed34",
  "valid": "2393b1916a9fa85b97f3ee443a5c068a16535a1221ff4b7f53da9e8f2bffbc7e",
  "test": "3d83fd38639d37bc5591338f2703d16e9679a7f1cb242dd805766a89e0f8fe1b",
  "catalogue": "737cdbc83166276c59e7dd240251689bf6eb1a0763a36edadbaa66146718ae86",
}


def _digest(table):
  """sha256 over the columns in order: name, dtype and values (text as
  UTF-8, joined by NUL)."""
  h = hashlib.sha256()
  for name, column in table.items():
    h.update(name.encode())
    h.update(str(column.dtype).encode())
    if column.dtype == object:
      h.update("\0".join(column).encode())
    else:
      h.update(np.ascontiguousarray(column).tobytes())
  return h.hexdigest()


def _all_rows(data):
  splits = [data.splits[name] for name in ("train", "valid", "test")]
  return {k: np.concatenate([s[k] for s in splits]) for k in splits[0]}


class SyntheticTest(absltest.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data = synthetic.generate(SMALL)
    cls.rows = _all_rows(cls.data)

  def test_deterministic_per_seed(self):
    again = _all_rows(synthetic.generate(SMALL))
    self.assertEqual(sorted(again), sorted(self.rows))
    for name in self.rows:
      np.testing.assert_array_equal(again[name], self.rows[name], err_msg=name)
    other = _all_rows(
      synthetic.generate(
        synthetic.SyntheticConfig(**{**SMALL.__dict__, "seed": 4})
      )
    )
    self.assertFalse(np.array_equal(other["click"], self.rows["click"]))

  def test_default_log_is_unchanged(self):
    data = synthetic.generate(synthetic.SyntheticConfig())
    tables = {**data.splits, "catalogue": data.catalogue}
    self.assertEqual(
      {name: _digest(table) for name, table in tables.items()},
      DEFAULT_DIGESTS,
    )

  def test_shape_and_splits(self):
    self.assertLen(self.rows["click"], SMALL.num_requests * SMALL.list_size)
    lists = {name: set(t["request_id"]) for name, t in self.data.splits.items()}
    self.assertEqual(
      {k: len(v) for k, v in lists.items()},
      {"train": 2400, "valid": 300, "test": 300},
    )
    # By time: every test request comes after every training request.
    self.assertLessEqual(
      self.data.splits["train"]["timestamp"].max(),
      self.data.splits["test"]["timestamp"].min(),
    )
    for request in np.unique(self.rows["request_id"])[:50]:
      positions = self.rows["position"][self.rows["request_id"] == request]
      np.testing.assert_array_equal(np.sort(positions), np.arange(1, 11))
    self.assertLen(self.data.catalogue["item_id"], SMALL.num_items)

  def test_ctr_falls_with_position(self):
    ctr = [
      self.rows["click"][self.rows["position"] == p].mean()
      for p in range(1, 11)
    ]
    # Slot 1 is clicked several times as often as slot 10, and the fall is
    # monotone over pairs of slots (single slots are noisy at this size).
    self.assertGreater(ctr[0], 3 * ctr[9])
    pairs = [np.mean(ctr[i : i + 2]) for i in range(0, 10, 2)]
    self.assertEqual(pairs, sorted(pairs, reverse=True))

  def test_ctr_rises_with_true_relevance(self):
    # Within one position, so the logging policy's ordering cannot explain it.
    first = self.rows["position"] == 1
    relevance = self.rows["true_relevance"][first]
    click = self.rows["click"][first]
    edges = np.quantile(relevance, [0.25, 0.5, 0.75])
    ctr = [click[np.digitize(relevance, edges) == b].mean() for b in range(4)]
    self.assertEqual(ctr, sorted(ctr))
    self.assertGreater(ctr[3], 2 * ctr[0])

  def test_click_noise_share(self):
    clicks = self.rows["click"] > 0
    share = self.rows["noise_click"][clicks].mean()
    self.assertAlmostEqual(share, SMALL.click_noise, delta=0.03)
    clean = synthetic.generate(
      synthetic.SyntheticConfig(**{**SMALL.__dict__, "click_noise": 0.0})
    )
    self.assertEqual(_all_rows(clean)["noise_click"].sum(), 0)

  def test_dwell_and_purchase_follow_clicks(self):
    click = self.rows["click"] > 0
    dwell = self.rows["dwell"]
    self.assertTrue(np.all(dwell[~click] == 0))
    self.assertTrue(np.all(dwell[click] > 0))
    self.assertTrue(np.all(self.rows["purchase"][~click] == 0))
    # No purchase after a false-positive click.
    self.assertEqual(
      self.rows["purchase"][self.rows["noise_click"] > 0].sum(), 0
    )
    # Real clicks dwell far longer than accidental ones.
    noise = self.rows["noise_click"] > 0
    self.assertGreater(
      np.median(dwell[click & ~noise]), 5 * np.median(dwell[noise])
    )

  def test_no_position_bias(self):
    flat = synthetic.generate(
      synthetic.SyntheticConfig(
        **{**SMALL.__dict__, "position_bias": 0.0, "randomized_share": 1.0}
      )
    )
    rows = _all_rows(flat)
    np.testing.assert_array_equal(rows["examination"], 1.0)
    ctr = [rows["click"][rows["position"] == p].mean() for p in (1, 10)]
    self.assertAlmostEqual(ctr[0], ctr[1], delta=0.03)

  def test_features_look_real(self):
    self.assertContainsSubset(["US", "DE"], set(self.rows["country"]))
    self.assertEqual(set(self.rows["device"]), {"ios", "android", "web"})
    self.assertTrue(np.all((self.rows["age"] >= 18) & (self.rows["age"] <= 85)))
    self.assertTrue(np.all(self.rows["price"] > 0))
    title_words = self.data.catalogue["title"][0].lower().split()
    self.assertBetween(len(title_words), 4, 8)

  def test_rejects_bad_config(self):
    with self.assertRaisesRegex(ValueError, "click_noise must be in"):
      synthetic.SyntheticConfig(click_noise=1.0)
    with self.assertRaisesRegex(ValueError, "num_requests must be >= 1"):
      synthetic.SyntheticConfig(num_requests=0)
    with self.assertRaisesRegex(ValueError, "list_size .* exceeds num_items"):
      synthetic.SyntheticConfig(num_items=5, list_size=10)


class ConflictTest(absltest.TestCase):
  def test_click_bait_is_clicked_more_and_bought_less(self):
    base = dict(num_users=800, num_items=400, num_requests=20000, seed=3)
    plain = _all_rows(synthetic.generate(synthetic.SyntheticConfig(**base)))
    conflict = _all_rows(
      synthetic.generate(
        synthetic.SyntheticConfig(**base, click_purchase_conflict=1.0)
      )
    )
    # The truth is the same log: same items shown, same relevance.
    np.testing.assert_array_equal(plain["item_id"], conflict["item_id"])
    np.testing.assert_array_equal(
      plain["true_relevance"], conflict["true_relevance"]
    )
    # Bait shows as bait words in the title; compare baity items to plain.
    baity = np.array(
      [
        any(w in t.split() for w in population.BAIT_WORDS)
        for t in plain["title"]
      ]
    )
    real = lambda rows: (rows["click"] > 0) & (rows["noise_click"] == 0)  # noqa: E731

    def ratio(rows):
      # Real-click rate and purchases per real click, baity over plain items.
      clicks = real(rows)
      ctr = clicks[baity].mean() / clicks[~baity].mean()
      cvr = (rows["purchase"][baity & clicks].mean()) / (
        rows["purchase"][~baity & clicks].mean()
      )
      return ctr, cvr

    ctr_plain, cvr_plain = ratio(plain)
    ctr_conflict, cvr_conflict = ratio(conflict)
    self.assertGreater(ctr_conflict, 1.3 * ctr_plain)
    self.assertLess(cvr_conflict, 0.7 * cvr_plain)

  def test_negative_conflict_is_refused(self):
    with self.assertRaisesRegex(
      ValueError, "synthetic click_purchase_conflict must be >= 0, got -1"
    ):
      synthetic.SyntheticConfig(click_purchase_conflict=-1)

  def test_bad_feature_settings_are_refused(self):
    cases = [
      (
        {"history_length": -1},
        "synthetic history_length and item_vectors must be >= 0, got -1 and 0",
      ),
      (
        {"item_vector_noise": -0.5},
        "synthetic item_vector_noise must be >= 0, got -0.5",
      ),
    ]
    for changes, message in cases:
      with self.assertRaisesRegex(ValueError, message):
        synthetic.SyntheticConfig(**changes)


if __name__ == "__main__":
  absltest.main()
