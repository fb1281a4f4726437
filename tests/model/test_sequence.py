"""Sequence encoders (model/sequence.py): every registered one is causal,
shaped [B, T, W] and finite without events; the mean by NumPy; the
self-attention's refusals and its unordered form; the registry's errors;
and a history feature's two paths (`encode` of a column, `encode_slots`
of a window) agreeing on the same events."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj.data import spec as spec_lib
from multiobj.model import encoder_names, sequence
from multiobj.model import features as features_lib

WIDTH, STEPS = 4, 5
NAMES = encoder_names.ENCODERS.names()
EVERY_ENCODER = [(name, name) for name in NAMES]

ITEM = spec_lib.Feature("item", "candidate", "id")
STATS = features_lib.FeatureStats({"item": [10, 11, 12, 13, 14]}, {})


def _inputs(seed, batch=3, types=2):
  """[B, T, W] items, [B, T] types (the last row no event) and positions."""
  rng = np.random.default_rng(seed)
  items = rng.normal(size=(batch, STEPS, WIDTH)).astype(np.float32)
  kinds = rng.integers(0, types + 1, size=(batch, STEPS))
  kinds[0, -1] = 1  # Row 0 ends with an event.
  kinds[-1] = 0
  positions = np.broadcast_to(np.arange(STEPS), (batch, STEPS))
  return items, kinds, positions


def _encode(encoder, items, kinds, positions):
  return encoder(
    tf.constant(items),
    tf.constant(kinds),
    tf.constant(positions),
    training=False,
  ).numpy()


class EveryEncoderTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    tf.keras.utils.set_random_seed(0)

  @parameterized.named_parameters(*EVERY_ENCODER)
  def test_causal_shaped_and_finite_without_events(self, name):
    encoder = sequence.make(name, WIDTH, STEPS + 1, 2, True, "encoder")
    items, kinds, positions = _inputs(seed=1)
    before = _encode(encoder, items, kinds, positions)
    self.assertEqual(before.shape, (3, STEPS, WIDTH))
    self.assertAllEqual(np.isfinite(before), np.ones_like(before, bool))
    rng = np.random.default_rng(2)
    for t in range(STEPS - 1):
      # Other items and behaviours after slot t (events become padding and
      # back): nothing up to t may move.
      later_items, later_kinds = items.copy(), kinds.copy()
      later_items[:, t + 1 :] = rng.normal(size=(3, STEPS - t - 1, WIDTH))
      later_kinds[:, t + 1 :] = rng.integers(0, 3, size=(3, STEPS - t - 1))
      after = _encode(encoder, later_items, later_kinds, positions)
      self.assertAllClose(after[:, : t + 1], before[:, : t + 1], atol=1e-6)
      self.assertNotAllClose(after[:2, t + 1 :], before[:2, t + 1 :])


class MeanTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    tf.keras.utils.set_random_seed(0)

  def _reference(self, items, kinds):
    """The mean of the events up to each slot; zeros before the first."""
    out = np.zeros_like(items)
    for b in range(items.shape[0]):
      for t in range(items.shape[1]):
        events = [items[b, s] for s in range(t + 1) if kinds[b, s] > 0]
        if events:
          out[b, t] = np.mean(events, axis=0)
    return out

  def test_one_behaviour_is_the_mean_of_the_events_so_far(self):
    encoder = sequence.make("mean", WIDTH, STEPS + 1, 1, True, "mean")
    items, kinds, positions = _inputs(seed=3, types=1)
    got = _encode(encoder, items, kinds, positions)
    self.assertAllClose(got, self._reference(items, kinds), atol=1e-6)

  def test_several_behaviours_add_their_vector(self):
    encoder = sequence.make("mean", WIDTH, STEPS + 1, 2, True, "mean")
    items, kinds, positions = _inputs(seed=4, types=2)
    got = _encode(encoder, items, kinds, positions)
    table = encoder.type_embedding.embeddings.numpy()  # [3, W]
    self.assertFalse(np.allclose(table[1], table[2]))
    expected = self._reference(items + table[kinds], kinds)
    self.assertAllClose(got, expected, atol=1e-6)


class SelfAttentionTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    tf.keras.utils.set_random_seed(0)

  @parameterized.named_parameters(
    (
      "heads_not_dividing",
      "self_attention(heads=3)",
      "self_attention needs blocks >= 1 and heads >= 1 dividing the width 4; "
      "got blocks=2, heads=3.",
    ),
    (
      "no_block",
      "self_attention(blocks=0)",
      "self_attention needs blocks >= 1 and heads >= 1 dividing the width 4; "
      "got blocks=0, heads=1.",
    ),
    (
      "dropout_one",
      "self_attention(dropout=1.0)",
      "self_attention dropout must be in [0, 1): 1.0.",
    ),
    (
      "dropout_negative",
      "self_attention(dropout=-0.1)",
      "self_attention dropout must be in [0, 1): -0.1.",
    ),
  )
  def test_bad_parameters_are_refused(self, text, message):
    with self.assertRaisesWithLiteralMatch(ValueError, message):
      sequence.make(text, WIDTH, STEPS + 1, 0, True, "encoder")

  def test_unordered_reads_its_events_as_a_set(self):
    encoder = sequence.make(
      "self_attention(blocks=1)", WIDTH, STEPS + 1, 0, False, "encoder"
    )
    self.assertIsNone(encoder.position_embedding)
    items, _, positions = _inputs(seed=5, batch=1)
    kinds = np.ones((1, STEPS), np.int64)
    got = _encode(encoder, items, kinds, positions)
    # Every event attends to every other, with no positions: permuting the
    # events permutes the outputs, and the last slot's output does not see
    # the order of the events before it.
    order = [3, 0, 2, 1, 4]
    permuted = _encode(encoder, items[:, order], kinds, positions)
    self.assertAllClose(permuted, got[:, order], atol=1e-5)
    # The first slot, which sees only itself when causal, sees all.
    alone = _encode(encoder, items[:, :1], kinds[:, :1], positions[:, :1])
    self.assertNotAllClose(got[:, 0], alone[:, 0])

  def test_a_set_history_is_encoded_order_free(self):
    # A set's encoding is the mean of its events' outputs: which item comes
    # last in the column (file order, for a set) does not change it.
    tf.keras.utils.set_random_seed(0)
    layer = _history("self_attention(blocks=1)", ordered=False)
    got = layer.encode(tf.constant(["10|12|11", "11|10|12"])).numpy()
    self.assertAllClose(got[0], got[1], atol=1e-5)

  def test_a_set_pooled_by_the_mean_encoder_is_its_plain_mean(self):
    layer = _history("mean", ordered=False)
    got = layer.encode(tf.constant(["10|12|11", "11|10|12", "12"])).numpy()
    vectors = layer.items.embedding(
      layer.items.index(tf.constant(["10", "11", "12"]))
    ).numpy()
    # Every event weighs the same, whichever comes first in the column.
    self.assertAllClose(got[0], vectors.mean(axis=0), atol=1e-6)
    self.assertAllClose(got[1], vectors.mean(axis=0), atol=1e-6)
    self.assertAllClose(got[2], vectors[2], atol=1e-6)

  def test_a_gru_refuses_a_set(self):
    with self.assertRaisesRegex(ValueError, "gru reads events in order"):
      _history("gru", ordered=False)


class EncoderNamesTest(tf.test.TestCase):
  def test_an_unknown_name_lists_the_known_ones(self):
    # gru, mean, self_attention, and any registered since.
    message = (
      f"Unknown sequence encoder 'lstm'. Known sequence encoders: "
      f"{', '.join(encoder_names.ENCODERS.names())}."
    )
    with self.assertRaisesWithLiteralMatch(ValueError, message):
      encoder_names.check("lstm")
    with self.assertRaisesWithLiteralMatch(ValueError, message):
      encoder_names.resolve("lstm(blocks=2)")

  def test_an_unknown_parameter_names_the_encoder_s_parameters(self):
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "encoder of 'h': sequence encoder 'self_attention' does not take "
      "parameters ['depth', 'layers']; its parameters: blocks, heads, "
      "dropout.",
    ):
      encoder_names.check("self_attention(layers=2, depth=1)", "encoder of 'h'")
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "--history_encoder: sequence encoder 'gru' does not take parameters "
      "['units']; its parameters: (none).",
    ):
      encoder_names.resolve("gru(units=8)")

  def test_resolve_returns_the_class_and_its_parameters(self):
    cls, params = encoder_names.resolve("self_attention(blocks=1, heads=2)")
    self.assertIs(cls, sequence.SelfAttention)
    self.assertEqual(params, {"blocks": 1, "heads": 2})
    encoder_names.check("mean")  # No error.


def _history(encoder, built_from="click", max_length=3, ordered=True):
  """A history feature's embedding, sharing a fresh item embedding."""
  items = features_lib.FeatureEmbedding(ITEM, STATS, WIDTH, 3)
  feature = spec_lib.Feature(
    "h",
    "query",
    "history",
    built_from=built_from,
    max_length=max_length,
    encoder=encoder,
    ordered=ordered,
  )
  return features_lib.FeatureEmbedding(feature, STATS, WIDTH, 3, items=items)


class HistoryPathsTest(tf.test.TestCase, parameterized.TestCase):
  """`encode` (served: a history column) and `encode_slots` (trained: a
  window of slots) must give a query the same encoding of the same events,
  or what is trained is not what is served."""

  def setUp(self):
    super().setUp()
    tf.keras.utils.set_random_seed(0)

  def assertWindowMatchesColumn(self, name):
    layer = _history(name, max_length=3)
    # Row 0, a full window: 3 events (positions 0..2), then the slot they
    # predict. Row 1, a window of 2 slots and padding: 1 event, its target.
    ids = tf.constant([[10, 12, 11, 13], [14, 11, 0, 0]], tf.int64)
    kinds = tf.constant([[1, 1, 1, 1], [1, 1, 0, 0]])
    mask = tf.constant([[0, 1, 1, 1], [1, 1, 0, 0]])
    slots, before = layer.encode_slots(ids, kinds, mask)
    self.assertEqual(slots.shape, (2, 4, WIDTH))
    self.assertAllEqual(before, [[False, True, True, True]] * 2)
    served = layer.encode(tf.constant(["10|12|11", "14"])).numpy()
    self.assertAllClose(slots[0, -1], served[0], atol=1e-5)
    self.assertAllClose(slots[1, 1], served[1], atol=1e-5)

  @parameterized.named_parameters(*[(n, n) for n in NAMES])
  def test_a_window_s_query_is_the_served_history_s(self, name):
    self.assertWindowMatchesColumn(name)

  @parameterized.named_parameters(*EVERY_ENCODER)
  def test_slots_without_an_event_before_them_have_none(self, name):
    layer = _history(name, max_length=4)  # A window of up to 5 slots.
    # Slots 0 and 2 are rows of no event of this history (another label).
    ids = tf.constant([[10, 11, 12, 13, 14]], tf.int64)
    kinds = tf.constant([[0, 1, 0, 1, 0]])
    mask = tf.constant([[1, 1, 1, 1, 1]])
    slots, before = layer.encode_slots(ids, kinds, mask)
    self.assertAllEqual(before, [[False, False, True, True, True]])
    self.assertAllEqual(slots[0, :2], np.zeros((2, WIDTH)))
    # Slots 2 and 3 see the one event at slot 1; slot 4 also the one at 3.
    self.assertAllClose(slots[0, 2], slots[0, 3])
    self.assertNotAllClose(slots[0, 3], slots[0, 4])
    self.assertNotAllClose(slots[0, 2], np.zeros(WIDTH))

  @parameterized.named_parameters(*EVERY_ENCODER)
  def test_an_empty_history_encodes_to_zeros(self, name):
    layer = _history(name)
    got = layer.encode(tf.constant(["", "10|11", ""])).numpy()
    self.assertEqual(got.shape, (3, WIDTH))
    self.assertAllEqual(got[[0, 2]], np.zeros((2, WIDTH)))
    self.assertNotAllClose(got[1], np.zeros(WIDTH))
    self.assertAllEqual(
      layer.encode(tf.constant([""])).numpy(), np.zeros((1, WIDTH))
    )


class SeveralLabelsTest(tf.test.TestCase):
  def test_parts_splits_items_and_their_behaviours(self):
    layer = _history("mean", built_from=("click", "buy"), max_length=3)
    items, kinds = layer.parts(
      tf.constant(["10:click|11:buy|12:view", "", "a:b:buy", "1:buy|||2:x"])
    )
    # click -> 1, buy -> 2 (1 + their index); an unknown label (view, x)
    # -> 3, the last type; the item is all before the last ':'.
    self.assertEqual(
      items.to_list(),
      [[b"10", b"11", b"12"], [], [b"a:b"], [b"1", b"2"]],
    )
    self.assertEqual(kinds.to_list(), [[1, 2, 3], [], [2], [2, 3]])
    # Three types and the unknown one: 4 rows with padding's 0.
    self.assertEqual(layer.sequence.type_embedding.input_dim, 4)

  def test_parts_keeps_the_last_max_length_events(self):
    layer = _history("mean", built_from=("click", "buy"), max_length=2)
    items, kinds = layer.parts(tf.constant(["10:buy|11:click|12:buy"]))
    self.assertEqual(items.to_list(), [[b"11", b"12"]])
    self.assertEqual(kinds.to_list(), [[1, 2]])

  def test_one_label_has_one_type(self):
    layer = _history("mean", built_from="click")
    items, kinds = layer.parts(tf.constant(["10|11", "12"]))
    self.assertEqual(items.to_list(), [[b"10", b"11"], [b"12"]])
    self.assertEqual(kinds.to_list(), [[1, 1], [1]])
    self.assertIsNone(layer.sequence.type_embedding)

  def test_the_behaviour_changes_the_mean(self):
    layer = _history("mean", built_from=("click", "buy"))
    got = layer.encode(tf.constant(["10:click|11:buy", "10:buy|11:buy"]))
    items = layer.items.embedding.embeddings.numpy()
    table = layer.sequence.type_embedding.embeddings.numpy()
    index = layer.items.index(tf.constant([10, 11], tf.int64)).numpy()
    # (item 10 + click's vector + item 11 + buy's) / 2, and with buy twice.
    expected = [
      (items[index[0]] + table[1] + items[index[1]] + table[2]) / 2,
      (items[index[0]] + items[index[1]]) / 2 + table[2],
    ]
    self.assertAllClose(got, expected, atol=1e-6)


if __name__ == "__main__":
  tf.test.main()
