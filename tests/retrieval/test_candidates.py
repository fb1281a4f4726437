"""Retrieval candidates: their sampling probabilities (logQ), the uniform
draws, the loss over the candidate mix by hand, and item ids as keys."""

import numpy as np
import tensorflow as tf

from multiobj.prepare import lists as lists_lib
from multiobj.retrieval import candidates
from tests import tiny


def _sampling_probability(lists, item, label, catalogue, *args):
  """`candidates.sampling_probability` of a table of lists."""
  valid = lists[lists_lib.MASK] > 0
  positive = (lists[label] > 0) & valid
  return candidates.sampling_probability(
    valid, positive, lists[item], catalogue, *args
  )


class SamplingProbabilityTest(tf.test.TestCase):
  def test_mixture_probability_by_hand(self):
    lists = {
      lists_lib.MASK: np.array([[1, 1, 1], [1, 1, 0]], np.float32),
      "item": np.array([[1, 2, 3], [1, 3, 0]]),
      "click": np.array([[1, 0, 0], [0, 1, 0]], np.float32),
    }
    catalogue = np.array([3, 2, 1, 4])
    slots, q = _sampling_probability(
      lists, "item", "click", catalogue, True, 2, np.array([1, 1, 1, 0], bool)
    )
    # Per list: positives {1, 3}/2, unclicked {2, 3, 1}/2, 2 uniform over 3
    # eligible items (4 is not): expected counts 1: 1/2+1/2+2/3, 2: 1/2+2/3,
    # 3: 1/2+1/2+2/3, 4: 0 (the smallest positive then).
    expected = np.array([5 / 3, 7 / 6, 5 / 3, 0.0])
    expected = expected / expected.sum()
    expected[3] = expected[1]
    self.assertAllClose(q, expected[[0, 1, 2, 3]])
    by_item = {3: expected[0], 2: expected[1], 1: expected[2]}
    self.assertAllClose(slots[0], [by_item[1], by_item[2], by_item[3]])

  def test_sampling_probability_stays_above_the_tfrs_clip(self):
    # 3 million positives of one item and one of another: normalised, the
    # rare one would be 3.3e-7, under TFRS's 1e-6 clip; scaled, the ratio is
    # kept and the popular item has 1.
    n = 3_000_001
    lists = {
      lists_lib.MASK: np.ones((n, 1), np.float32),
      "item": np.where(np.arange(n) == 0, 2, 1)[:, None],
      "click": np.ones((n, 1), np.float32),
    }
    _, q = _sampling_probability(lists, "item", "click", np.array([1, 2]))
    self.assertAllClose(q, [1.0, 1 / 3_000_000])


class UniformDrawsTest(tf.test.TestCase):
  def test_uniform_negatives_are_drawn_from_the_warm_catalogue(self):
    prepared = tiny.prepared(uniform_negatives=5, cold_start_items=0.2)
    batch = next(iter(prepared.train_dataset()))
    drawn = batch[candidates.UNIFORM + "item_id"].numpy()
    self.assertEqual(drawn.shape, (batch[lists_lib.MASK].shape[0], 5))
    self.assertFalse(np.isin(drawn, prepared.cold_items).any())
    titles = dict(
      zip(
        prepared.data.catalogue["item_id"],
        prepared.data.catalogue["title"],
        strict=True,
      )
    )
    got = batch[candidates.UNIFORM + "title"].numpy()
    self.assertEqual(got[0, 0].decode(), titles[drawn[0, 0]])
    # A new draw every batch.
    second = next(iter(prepared.train_dataset().skip(1)))
    self.assertNotAllEqual(drawn, second[candidates.UNIFORM + "item_id"])


class CandidateMixLossTest(tf.test.TestCase):
  def test_hard_negatives_loss_by_hand(self):
    prepared = tiny.prepared(hard_negatives=True)
    model = tiny.model(prepared)
    batch = tiny.batch(prepared, lists=4)
    outputs = model(batch)
    loss = float(model.compute_loss(batch)["retrieval"].value)

    # The same by hand: each click against the batch's clicks (not those of
    # its own list) and every unclicked impression, logQ-corrected, items
    # equal to the click's own removed.
    mask = batch[lists_lib.MASK].numpy() > 0
    click = (batch["click"].numpy() > 0) & mask
    query = outputs["query_embedding"].numpy()
    candidate = outputs["candidate_embedding"].numpy()
    ids = batch["item_id"].numpy()
    q = batch[candidates.SAMPLING_PROBABILITY].numpy()
    pos = np.argwhere(click)
    neg = np.argwhere(mask & ~click)
    columns = np.concatenate([pos, neg])
    temperature = prepared.config.retrieval.temperature
    total = 0.0
    for r, (i, j) in enumerate(pos):
      logits = []
      for c, (k, m) in enumerate(columns):
        if c != r and ids[k, m] == ids[i, j]:
          continue  # accidental hit
        if c < len(pos) and c != r and k == i:
          continue  # another click of the same list
        score = query[i] @ candidate[k, m] / temperature - np.log(q[k, m])
        logits.append((c == r, score))
      scores = np.array([s for _, s in logits])
      target = [s for is_pos, s in logits if is_pos][0]
      total += (
        np.log(np.exp(scores - scores.max()).sum()) + scores.max() - target
      )
    self.assertGreater(len(neg), 0)
    self.assertAllClose(loss, total / len(pos), rtol=1e-4)


class IdKeyTest(tf.test.TestCase):
  def test_string_item_ids_get_a_numeric_key(self):
    keys = candidates.id_key(tf.constant(["a", "b", "a"]))
    self.assertEqual(keys.dtype, tf.int64)
    self.assertEqual(int(keys[0]), int(keys[2]))
    self.assertNotEqual(int(keys[0]), int(keys[1]))


if __name__ == "__main__":
  tf.test.main()
