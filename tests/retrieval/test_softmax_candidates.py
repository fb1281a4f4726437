"""Retrieval beyond the batch (retrieval/task.py, retrieval/catalogue.py,
model/boost.py): the full softmax over the catalogue, the sampled softmax
with logQ, the softmax over a batch's distinct positives, each against a
NumPy reference with and without the history boost; the catalogue's rows
and draws; the softmax loss's one-positive form."""

import random
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import objectives
from multiobj import config as config_lib
from multiobj.data import spec as spec_lib
from multiobj.model import boost as boost_lib
from multiobj.model import features as features_lib
from multiobj.retrieval import candidates as candidates_lib
from multiobj.retrieval import catalogue as catalogue_lib
from multiobj.retrieval import task as task_lib
from objectives import losses, ranking

TEMPERATURE = 0.5
WIDTH = 3
# The catalogue: ids (not their rows) and popularity.
IDS = np.array([7, 3, 12, 5, 9])
PROBABILITY = np.array([0.4, 0.1, 0.2, 0.2, 0.1])
# Three lists of three slots; 99 is an item out of the catalogue (cold),
# 0 padding. Positives: (0, 0) 7, (0, 2) 99, (1, 0) 12, (1, 1) 7, (2, 1) 3.
ITEMS = np.array([[7, 3, 99], [12, 7, 5], [9, 3, 0]])
CLICKS = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]], np.float32)
VALID = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0]], bool)
POSITIVES = [(0, 0), (0, 2), (1, 0), (1, 1), (2, 1)]
# Each list's boosted histories (one value a list) and, by hand, the items
# in them: h2 has two behaviours, its events `item:label`.
HISTORIES = {
  "h1": np.array(["3|12", "", "7|99"], dtype=object),
  "h2": np.array(["12:buy|9:click", "7:click", ""], dtype=object),
}
IN_HISTORY = {"h1": [{3, 12}, set(), {7, 99}], "h2": [{12, 9}, {7}, set()]}
BONUS = {"h1": 0.7, "h2": -1.5}

_RNG = np.random.default_rng(0)
# Each item's candidate embedding (a tower that depends on the id only).
VECTORS = {i: _RNG.normal(size=WIDTH).astype(np.float32) for i in [*IDS, 99, 0]}
QUERIES = _RNG.normal(size=(3, WIDTH)).astype(np.float32)
SLOT_QUERIES = _RNG.normal(size=(3, 3, WIDTH)).astype(np.float32)


def _neg_log_softmax(logits, column):
  """-log softmax(logits)[column], stable (float64)."""
  logits = np.asarray(logits, np.float64)
  top = logits.max()
  return top + np.log(np.exp(logits - top).sum()) - logits[column]


def _bonus(b, item, boosted):
  """The history bonus of `item` for list b, by hand, as a logit: on the
  scale of the similarities, so divided by the temperature as they are."""
  if not boosted:
    return 0.0
  return sum(BONUS[h] for h in BONUS if item in IN_HISTORY[h][b]) / TEMPERATURE


def _embed(features, training=None):
  """The candidate tower: [N] item ids -> [N, WIDTH]."""
  del training
  ids = features["item"].numpy()
  return tf.constant(np.stack([VECTORS[i] for i in ids]))


def _item_embedding(vocabulary):
  item = spec_lib.Feature("item", "candidate", "id")
  stats = features_lib.FeatureStats({"item": list(vocabulary)}, {})
  return features_lib.FeatureEmbedding(item, stats, WIDTH, 3)


NO_STATS = features_lib.FeatureStats({}, {})  # A history needs none.


def _boost(integer_ids=True, vocabulary=tuple(IDS)):
  """A HistoryBoost of h1 (one behaviour) and h2 (two), bonuses BONUS."""
  items = _item_embedding(vocabulary)
  features = [
    spec_lib.Feature("h1", "query", "history", built_from="click"),
    spec_lib.Feature("h2", "query", "history", built_from=("click", "buy")),
  ]
  encoders = {
    f.name: features_lib.FeatureEmbedding(f, NO_STATS, WIDTH, 3, items=items)
    for f in features
  }
  boost = boost_lib.HistoryBoost(features, encoders, integer_ids)
  boost.bonus.assign([BONUS["h1"], BONUS["h2"]])
  return boost


def _task(candidates, catalogue=None, boost=None, samples=0, sampling=""):
  objective = objectives.Objective("retrieval", "retrieval", "click", "softmax")
  config = config_lib.RetrievalConfig(
    temperature=TEMPERATURE,
    candidates=candidates,
    samples=samples,
    sampling=sampling,
  )
  return task_lib.RetrievalTask(
    objective, "item", ("item",), config, catalogue, boost
  )


def _batch(**extra):
  batch = {"item": tf.constant(ITEMS), "click": tf.constant(CLICKS)}
  for name, values in HISTORIES.items():
    batch[name] = tf.constant(values)
  return {**batch, **{k: tf.constant(v) for k, v in extra.items()}}


def _candidate_embedding():
  return tf.constant(
    np.stack([[VECTORS[i] for i in row] for row in ITEMS]), tf.float32
  )


def _catalogue():
  return catalogue_lib.Catalogue(IDS, {"item": IDS}, PROBABILITY)


BOOSTED = (("plain", False), ("boosted", True))


class CatalogueLossTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    random.seed(0)

  @parameterized.named_parameters(
    ("plain", False, False),
    ("boosted", True, False),
    ("plain_per_slot", False, True),
    ("boosted_per_slot", True, True),
  )
  def test_full_softmax_by_numpy(self, boosted, per_slot):
    catalogue = _catalogue()
    task = _task("catalogue", catalogue, _boost() if boosted else None)
    query = SLOT_QUERIES if per_slot else QUERIES
    loss, pairs = _loss(task, query)
    table = np.stack([VECTORS[i] for i in IDS])
    expected = []
    for b, slot in POSITIVES:
      item = ITEMS[b, slot]
      if item not in IDS:
        continue  # 99 is nobody's target.
      q = query[b, slot] if per_slot else query[b]
      logits = q @ table.T / TEMPERATURE
      logits += [_bonus(b, i, boosted) for i in IDS]
      row = list(IDS).index(item)
      expected.append(_neg_log_softmax(logits, row))
    self.assertLen(expected, 4)
    self.assertAllClose(pairs, 4.0)
    self.assertAllClose(loss, np.mean(expected), rtol=1e-5)

  def test_a_given_catalogue_embedding_is_used(self):
    catalogue = _catalogue()
    task = _task("catalogue", catalogue)
    args = (
      _batch(),
      tf.constant(VALID),
      tf.constant(QUERIES),
      _candidate_embedding(),
    )
    embedded = _embed(catalogue.features)
    loss, _ = task.loss(*args, _embed)
    given, _ = task.loss(*args, None, catalogue_embedding=embedded)
    self.assertAllClose(given, loss)

  def test_without_a_catalogue_it_is_refused(self):
    task = _task("catalogue")
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "Retrieval candidates 'catalogue' score against the catalogue, and the "
      "model was built without one.",
    ):
      _loss(task)


def _loss(task, query=QUERIES, batch=None, *query_valid):
  """The task's (loss, pairs) on `batch` (the test batch by default) for
  `query`, scored against the test candidate embedding."""
  return task.loss(
    _batch() if batch is None else batch,
    tf.constant(VALID),
    tf.constant(query),
    _candidate_embedding(),
    _embed,
    *query_valid,
  )


def _loss_with_draws(task, catalogue, drawn, log_expected):
  """The task's loss and pairs on the batch, the catalogue's draw fixed to
  `drawn` rows with `log_expected` counts; the draw's mock."""
  draw = mock.Mock(
    return_value=(
      tf.constant(drawn, tf.int64),
      tf.constant(log_expected, tf.float32),
    )
  )
  with mock.patch.object(catalogue, "draw", draw):
    loss, pairs = _loss(task)
  return loss, pairs, draw


def _sampled_by_hand(drawn, log_expected, own_log_q, boosted):
  """The mean over positives of the sampled softmax: the own item less
  `own_log_q(item)`, then each drawn row but the own item less its
  `log_expected`, each plus its boost's bonus."""
  expected = []
  for b, slot in POSITIVES:
    item = ITEMS[b, slot]
    logits = [VECTORS[item] @ QUERIES[b] / TEMPERATURE - own_log_q(item)]
    logits[0] += _bonus(b, item, boosted)
    for row, log_q in zip(drawn, log_expected, strict=True):
      if IDS[row] == item:
        continue  # A draw of the own item is no negative.
      logit = VECTORS[IDS[row]] @ QUERIES[b] / TEMPERATURE - log_q
      logits.append(logit + _bonus(b, IDS[row], boosted))
    expected.append(_neg_log_softmax(logits, 0))
  return np.mean(expected)


class SampledLossTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    random.seed(0)

  @parameterized.named_parameters(*BOOSTED)
  def test_sampled_softmax_by_numpy(self, boosted):
    catalogue = _catalogue()
    # Rows 2 (item 12), 0 (item 7) twice and 4 (item 9), drawn by
    # popularity: each one's log expected count, log(4 p).
    drawn = np.array([2, 0, 0, 4])
    log_expected = np.log(4 * PROBABILITY[drawn]).astype(np.float32)
    task = _task(
      "sampled",
      catalogue,
      _boost() if boosted else None,
      samples=4,
      sampling="popularity",
    )
    loss, pairs, draw = _loss_with_draws(task, catalogue, drawn, log_expected)
    draw.assert_called_once_with(4, "popularity")

    def own_log_q(item):
      # The own item's expected count, 4 p(own); the smallest p for one
      # out of the catalogue (99).
      p = PROBABILITY[list(IDS).index(item)] if item in IDS else 0.1
      return np.log(4 * p)

    expected = _sampled_by_hand(drawn, log_expected, own_log_q, boosted)
    self.assertAllClose(pairs, 5.0)  # Every positive, 99 too.
    self.assertAllClose(loss, expected, rtol=1e-5)

  def test_uniform_draws_correct_the_positive_as_uniform_too(self):
    # Every item, the positive included, is expected 4 / size times among
    # 4 uniform draws: one constant, so the loss is the plain softmax's.
    catalogue = _catalogue()
    drawn = np.array([2, 0, 0, 4])
    log_q = np.log(4 / len(IDS))
    task = _task("sampled", catalogue, samples=4, sampling="uniform")
    loss, _, _ = _loss_with_draws(
      task, catalogue, drawn, np.full(4, log_q, np.float32)
    )
    expected = _sampled_by_hand(
      drawn, np.full(4, log_q), lambda item: log_q, boosted=False
    )
    self.assertAllClose(loss, expected, rtol=1e-5)

  def test_a_catalogue_of_one_item_draws_it(self):
    # Nothing to fix by hand: every draw is row 0, expected 3 times, and a
    # pair whose own item it is has no negative left (loss 0).
    catalogue = catalogue_lib.Catalogue(np.array([7]), {"item": np.array([7])})
    task = _task("sampled", catalogue, samples=3, sampling="uniform")
    loss, pairs = _loss(task)
    expected = []
    for b, slot in POSITIVES:
      item = ITEMS[b, slot]
      # p(own) = 1 (the one item's, and the smallest for the others).
      own = VECTORS[item] @ QUERIES[b] / TEMPERATURE - np.log(3.0)
      drawn = VECTORS[7] @ QUERIES[b] / TEMPERATURE - np.log(3.0)
      logits = [own] if item == 7 else [own, drawn, drawn, drawn]
      expected.append(_neg_log_softmax(logits, 0))
    self.assertAllClose(pairs, 5.0)
    self.assertAllClose(loss, np.mean(expected), rtol=1e-5)


class DistinctLossTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(*BOOSTED)
  def test_distinct_positives_by_numpy(self, boosted):
    # Sampling probability of each item among a batch's positives.
    q = {7: 0.3, 3: 0.05, 12: 0.2, 99: 0.01, 5: 0.1, 9: 0.1, 0: 1.0}
    probability = np.vectorize(q.get)(ITEMS).astype(np.float32)
    # Slot (0, 2) has no event before it: no query, no pair.
    query_valid = np.ones((3, 3), bool)
    query_valid[0, 2] = False
    task = _task("batch", boost=_boost() if boosted else None)
    loss, pairs = _loss(
      task,
      SLOT_QUERIES,
      _batch(**{candidates_lib.SAMPLING_PROBABILITY: probability}),
      tf.constant(query_valid),
    )
    pairs_by_hand = [(0, 0), (1, 0), (1, 1), (2, 1)]  # 7, 12, 7, 3.
    columns = [7, 12, 3]  # Each distinct positive item once.
    expected = []
    for b, slot in pairs_by_hand:
      logits = [
        SLOT_QUERIES[b, slot] @ VECTORS[c] / TEMPERATURE
        - np.log(q[c])
        + _bonus(b, c, boosted)
        for c in columns
      ]
      expected.append(_neg_log_softmax(logits, columns.index(ITEMS[b, slot])))
    self.assertAllClose(pairs, 4.0)
    self.assertAllClose(loss, np.mean(expected), rtol=1e-5)

  def test_extra_negatives_are_refused_not_ignored(self):
    objective = objectives.Objective(
      "retrieval", "retrieval", "click", "softmax"
    )
    config = config_lib.RetrievalConfig(
      temperature=TEMPERATURE, candidates="batch", uniform_negatives=4
    )
    task = task_lib.RetrievalTask(
      objective, "item", ("item",), config, None, _boost()
    )
    with self.assertRaisesRegex(
      ValueError,
      "cannot add them: for more negatives, use candidates 'sampled'",
    ):
      _loss(task)

  def test_without_probabilities_no_correction(self):
    task = _task("batch")
    loss, _ = _loss(task, SLOT_QUERIES)
    columns = [7, 99, 12, 3]
    expected = [
      _neg_log_softmax(
        [SLOT_QUERIES[b, s] @ VECTORS[c] / TEMPERATURE for c in columns],
        columns.index(ITEMS[b, s]),
      )
      for b, s in POSITIVES
    ]
    self.assertAllClose(loss, np.mean(expected), rtol=1e-5)


class CatalogueTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    random.seed(0)  # Seeds the catalogue's generator.

  def test_rows_of_ids_and_their_features(self):
    catalogue = _catalogue()
    rows = catalogue.rows(tf.constant([12, 99, 7, -1, 9]))
    self.assertAllEqual(rows, [2, -1, 0, -1, 4])
    self.assertAllEqual(catalogue.ids_of(tf.constant([4, 1])), [9, 3])
    self.assertAllEqual(
      catalogue.features_of(tf.constant([3, 3, 0]))["item"], [5, 5, 7]
    )

  def test_rows_of_text_ids(self):
    ids = np.array(["b", "a:x", "c"], dtype=object)
    catalogue = catalogue_lib.Catalogue(ids, {"item": ids})
    rows = catalogue.rows(tf.constant(["c", "z", "a:x", "", "b"]))
    self.assertAllEqual(rows, [2, -1, 1, -1, 0])

  def test_an_empty_catalogue_is_refused(self):
    with self.assertRaisesWithLiteralMatch(
      ValueError, "The retrieval catalogue holds no eligible item."
    ):
      catalogue_lib.Catalogue(np.array([], np.int64), {})

  def test_uniform_draws(self):
    catalogue = _catalogue()
    rows, log_expected = catalogue.draw(1000, "uniform")
    self.assertEqual(rows.dtype, tf.int64)
    self.assertEqual(rows.shape, (1000,))
    self.assertAllInRange(rows, 0, 4)
    self.assertCountEqual(set(rows.numpy().tolist()), range(5))
    # Each of 5 rows expected 1000 / 5 times in the draw.
    self.assertAllClose(log_expected, np.full(1000, np.log(200.0)))

  def test_popularity_draws_follow_the_probabilities(self):
    # Unnormalised; item 12 never a positive.
    probability = np.array([5.0, 3.0, 0.0, 1.5, 0.5])
    catalogue = catalogue_lib.Catalogue(IDS, {"item": IDS}, probability)
    share = probability / probability.sum()  # .5, .3, 0, .15, .05
    self.assertAllClose(catalogue.probability, share)
    count = 20_000
    rows, log_expected = catalogue.draw(count, "popularity")
    frequency = np.bincount(rows.numpy(), minlength=5) / count
    # Binomial standard deviations are at most 0.0036: 0.02 is over 5.
    self.assertAllClose(frequency, share, atol=0.02)
    self.assertEqual(frequency[2], 0.0)
    self.assertAllClose(
      log_expected, np.log(count * share[rows.numpy()]), rtol=1e-5
    )

  def test_draws_are_seeded(self):
    random.seed(4)
    first = _catalogue().draw(50, "popularity")[0]
    random.seed(4)
    again = _catalogue().draw(50, "popularity")[0]
    self.assertAllEqual(first, again)


class OnePositiveTest(tf.test.TestCase):
  def test_softmax_matches_the_one_hot_default(self):
    rng = np.random.default_rng(7)
    logits = tf.constant(rng.normal(size=(6, 9)) * 3, tf.float32)
    positive = tf.constant(rng.integers(0, 9, size=6))
    softmax = ranking.Softmax()
    loss, count = softmax.of_one_positive(logits, positive)
    # The base class's: one-hot labels through `parts`.
    default, default_count = losses.Loss.of_one_positive(
      softmax, logits, positive
    )
    self.assertAllClose(loss, default, rtol=1e-5)
    self.assertAllClose(count, default_count)
    expected = np.mean(
      [
        _neg_log_softmax(row, p)
        for row, p in zip(logits.numpy(), positive.numpy(), strict=True)
      ]
    )
    self.assertAllClose(loss, expected, rtol=1e-5)
    self.assertAllClose(count, 6.0)


# Integer ids (a history's "007" is 7) and text ids ("a:b" an item with a
# ':', in a history of behaviours).
BOOST_CASES = (
  dict(
    testcase_name="integer_ids",
    integer_ids=True,
    histories={
      "h1": ["3|007", "", "12|99|x"],
      "h2": ["12:buy|9:click", "7:click|3:view", ""],
    },
    in_history={
      "h1": [{3, 7}, set(), {12, 99}],
      "h2": [{12, 9}, {7, 3}, set()],
    },
    catalogue=np.array([7, 3, 12, 5, 9]),
    candidates=np.array([9, 7, 3, 99, 12, 5]),
  ),
  dict(
    testcase_name="text_ids",
    integer_ids=False,
    histories={
      "h1": ["b|c", "", "e|zz"],
      "h2": ["a:b:buy|c:click", "d:click", "b:buy"],
    },
    in_history={
      "h1": [{"b", "c"}, set(), {"e", "zz"}],
      "h2": [{"a:b", "c"}, {"d"}, {"b"}],
    },
    catalogue=np.array(["a", "b", "c", "d", "e", "a:b"], dtype=object),
    candidates=np.array(["c", "a:b", "zz", "a", "e"], dtype=object),
  ),
)


class HistoryBoostTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    random.seed(0)

  @parameterized.named_parameters(*BOOST_CASES)
  def test_against_own_and_over_agree_with_membership(
    self, integer_ids, histories, in_history, catalogue, candidates
  ):
    boost = _boost(integer_ids, vocabulary=catalogue)
    keys = boost.keys_of(
      {k: tf.constant(np.array(v, dtype=object)) for k, v in histories.items()}
    )

    def expected(b, item):
      return sum(BONUS[h] for h in BONUS if item in in_history[h][b])

    candidate_keys = candidates_lib.id_key(tf.constant(candidates))
    against = boost.against(keys, candidate_keys).numpy()
    self.assertAllClose(
      against, [[expected(b, c) for c in candidates] for b in range(3)]
    )
    # Each query's own candidate: against's column of it.
    for j in range(len(candidates)):
      own = boost.own(keys, tf.fill([3], candidate_keys[j])).numpy()
      self.assertAllClose(own, against[:, j])
    own = boost.own(keys, tf.gather(candidate_keys, [1, 0, 4])).numpy()
    self.assertAllClose(own, against[[0, 1, 2], [1, 0, 4]])
    # Over a catalogue: against its items, in its rows' order (items out of
    # it, 99 and zz, get nothing).
    items = catalogue_lib.Catalogue(catalogue, {"item": catalogue})
    over = boost.over(keys, items.rows, items.size).numpy()
    self.assertAllClose(
      over, boost.against(keys, candidates_lib.id_key(items.ids)).numpy()
    )
    self.assertAllClose(
      over, [[expected(b, c) for c in catalogue] for b in range(3)]
    )

  def test_a_new_boost_adds_nothing(self):
    boost = _boost()
    boost.bonus.assign([0.0, 0.0])
    keys = boost.keys_of({k: tf.constant(v) for k, v in HISTORIES.items()})
    got = boost.against(keys, tf.constant(IDS, tf.int64))
    self.assertAllEqual(got, np.zeros((3, 5)))


if __name__ == "__main__":
  tf.test.main()
