"""Columns derived as lists are read (prepare/derived.py): bit for bit what
NumPy gives on the lists in memory, padding slots included."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj.prepare import derived
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import propensity as propensity_lib
from multiobj.retrieval import candidates
from tests import tiny

# Positions 1..10 are logged; propensities are given for 8 (positions 9
# and 10 take the last), and 1 / 0.05 = 20 is above the cap of 10.
THETA = (1.0, 0.6, 0.41, 0.3, 0.22, 0.17, 0.05, 0.11)
MAX_WEIGHT = 10.0


def _padded(lists):
  """`lists` widened by two padding slots, as `to_lists` pads (mask 0,
  item 0, position 0, label 0, text ""); in every third list the padding's item is
  -1, an id the catalogue lacks."""
  n = len(lists[lists_lib.MASK])
  out = {}
  for name, column in lists.items():
    if column.ndim == 2:
      pad = np.full((n, 2), "" if column.dtype == object else 0, column.dtype)
      if name == "item_id":
        pad[::3] = -1
      column = np.concatenate([column, pad], axis=1)
    out[name] = column
  return out


def _batches(dataset):
  """The batches of `dataset` concatenated, as NumPy columns."""
  parts = list(dataset.as_numpy_iterator())
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class DerivedTest(tf.test.TestCase, parameterized.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data = tiny.prepared(propensity="randomized")
    cls.lists = _padded(cls.data.lists["train"])

  def test_the_padding_is_there(self):
    mask = self.lists[lists_lib.MASK]
    self.assertEqual(mask.shape[1], 12)
    self.assertEqual(mask[:, 10:].sum(), 0)
    self.assertEqual(mask[:, :10].min(), 1)
    self.assertEqual((self.lists["item_id"][:, 10:] == -1).sum(), 2 * 80)
    self.assertLen(mask, 240)

  @parameterized.named_parameters(
    ("positives", False, 0),
    ("hard_negatives", True, 0),
    ("uniform_draws", False, 3),
  )
  def test_sampling_probability_is_numpy_bit_for_bit(self, hard, uniform):
    lists = self.lists
    catalogue = self.data.data.catalogue["item_id"]
    valid = lists[lists_lib.MASK] > 0
    slots, q = candidates.sampling_probability(
      valid,
      (lists["click"] > 0) & valid,
      lists["item_id"],
      catalogue,
      hard,
      uniform,
    )
    got = _batches(
      derived.add(
        tf.data.Dataset.from_tensor_slices(lists).batch(37),
        "item_id",
        catalogue,
        q,
      )
    )
    found = got[candidates.SAMPLING_PROBABILITY]
    self.assertEqual(found.dtype, np.float32)
    self.assertTrue(np.array_equal(found, slots))
    # Padding of a catalogue id (0) is that item's; of another id, the
    # smallest probability.
    self.assertTrue(np.array_equal(found[1, 10:], [q[0], q[0]]))
    self.assertTrue(np.array_equal(found[0, 10:], [q.min(), q.min()]))
    self.assertNotIn(propensity_lib.IPW, got)
    # The other columns pass through.
    np.testing.assert_array_equal(got["item_id"], lists["item_id"])

  def test_inverse_propensity_weights_are_numpy_bit_for_bit(self):
    lists = self.lists
    expected = propensity_lib.weights(
      np.asarray(THETA), lists["position"], lists["click"], MAX_WEIGHT
    )
    got = _batches(
      derived.add(
        tf.data.Dataset.from_tensor_slices(lists).batch(50),
        "item_id",
        propensities=THETA,
        position="position",
        label="click",
        max_weight=MAX_WEIGHT,
      )
    )
    found = got[propensity_lib.IPW]
    self.assertEqual(found.dtype, np.float32)
    self.assertTrue(np.array_equal(found, expected))
    self.assertNotIn(candidates.SAMPLING_PROBABILITY, got)
    # By hand: a click at position 2 weighs 1 / 0.6, at 7 the cap, at 9 and
    # 10 1 / 0.11; padding and unclicked slots 1.
    clicked = lists["click"] > 0
    at = lambda p: found[clicked & (lists["position"] == p)]  # noqa: E731
    self.assertAllEqual(at(2), np.full(len(at(2)), np.float32(1 / 0.6)))
    self.assertAllEqual(at(7), np.full(len(at(7)), np.float32(10.0)))
    self.assertAllEqual(at(10), np.full(len(at(10)), np.float32(1 / 0.11)))
    self.assertGreater(len(at(7)) * len(at(10)), 0)
    self.assertAllEqual(found[:, 10:], np.ones((240, 2), np.float32))
    self.assertAllEqual(found[~clicked], np.ones((~clicked).sum()))

  def test_a_prepared_runs_columns_are_its_numpy_columns(self):
    # The columns `add_draw_columns` computes on the lists in memory (the
    # path of sampled negatives) are those the streamed batches get.
    data = self.data
    self.assertLen(data.propensities, 10)
    lists = dict(self.lists)
    q = derived.add_draw_columns(
      lists, data.config, data.data, data.eligible(), data.propensities
    )
    got = _batches(
      data.with_derived(
        tf.data.Dataset.from_tensor_slices(self.lists).batch(64), "train"
      )
    )
    self.assertTrue(np.array_equal(data.uniform_probability, q))
    for name in (candidates.SAMPLING_PROBABILITY, propensity_lib.IPW):
      self.assertEqual(got[name].dtype, lists[name].dtype, name)
      self.assertTrue(np.array_equal(got[name], lists[name]), name)
    # Validation batches get weights, not sampling probabilities.
    valid = _batches(
      data.with_derived(
        tf.data.Dataset.from_tensor_slices(self.lists).batch(64), "valid"
      )
    )
    self.assertNotIn(candidates.SAMPLING_PROBABILITY, valid)
    self.assertTrue(
      np.array_equal(valid[propensity_lib.IPW], lists[propensity_lib.IPW])
    )

  def test_nothing_to_derive_leaves_the_dataset(self):
    dataset = tf.data.Dataset.from_tensor_slices(self.lists).batch(8)
    self.assertIs(derived.add(dataset, "item_id"), dataset)


if __name__ == "__main__":
  tf.test.main()
