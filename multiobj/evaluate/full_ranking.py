"""Full-ranking evaluation: every catalogue item ranked for every test user.

The protocol of most implicit-feedback papers (e.g. DeCA, T-CE): for each
user with positives in the evaluation split, score every catalogue item, mask
the items the user interacted with in the masked splits (train, often
valid), take the top k and compare with the user's evaluation positives:

  recall@k    = |top-k ∩ truth| / |truth|
  ndcg@k      = sum over hits at rank j of 1/log2(j + 1), divided by the same
                sum for an ideal top-k (min(|truth|, k) hits at the top)
  precision@k = |top-k ∩ truth| / k

each averaged over the users (as DeCA's evaluate.py computes them). Scores
come either from the two towers (the retrieval dot product, cheap enough for
large catalogues) or from a ranking head run on every (user, item) pair at
serving context (feasible for catalogues of a few thousand items).
"""

import copy
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging

from multiobj import progress as progress_lib
from multiobj.data import dataset as dataset_lib
from multiobj.evaluate import retrieval
from multiobj.prepare import lists as lists_lib

# Users ranked at once: their float64 scores within SCORES values (128 MB),
# and, through a ranking head, within PAIRS (user, item) pairs a pass.
SCORES = 2**24
PAIRS = 2**18
# The name of the most-popular ranking among the baselines.
POPULARITY = "most popular"


def metrics_at(
  top: np.ndarray, truth: Sequence[np.ndarray], ks: Sequence[int], prefix: str
) -> dict[str, float]:
  """Recall, NDCG and precision at each k from ranked item indices.

  Args:
    top: [U, max(ks)] item indices, best first.
    truth: For each user, the indices of their positives (non-empty).
    ks: Cutoffs.
    prefix: Metric name prefix.
  """
  hits = np.zeros(top.shape, bool)
  for u, items in enumerate(truth):
    hits[u] = np.isin(top[u], items)
  sizes = np.array([len(items) for items in truth], np.float64)
  discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
  out = {}
  for k in ks:
    found = hits[:, :k]
    dcg = (found * discount[:k]).sum(axis=1)
    ideal = np.array([discount[: int(min(n, k))].sum() for n in sizes])
    out[f"{prefix}_recall@{k}"] = float(np.mean(found.sum(axis=1) / sizes))
    out[f"{prefix}_ndcg@{k}"] = float(np.mean(dcg / ideal))
    out[f"{prefix}_precision@{k}"] = float(np.mean(found.sum(axis=1) / k))
  return out


class FullRanking:
  """Ground truth, masks and query features of one evaluation split.

  Args:
    data: The dataset; users are `spec.user_id`, items `spec.item_id`.
    split: The evaluation split; its rows are the positives.
    mask_splits: Splits whose (user, item) pairs are masked from rankings.
    label: Only rows with this label positive count as truth (None: all).
    mask_label: Only rows of the masked splits with this label positive are
      masked (None: all), e.g. training purchases but not carts.
    given: Rank only each user's rows of `split` (positives and the
      negatives given with them), not the whole catalogue.
  """

  def __init__(
    self,
    data: dataset_lib.Dataset,
    split: str,
    mask_splits: Sequence[str],
    label: str | None = None,
    mask_label: str | None = None,
    given: bool = False,
  ):
    spec = data.spec
    if not spec.user_id:
      raise ValueError(
        f"Full ranking needs users; dataset {spec.name!r} has no user_id."
      )
    self.spec = spec
    self.catalogue = data.catalogue
    self.given = given
    item_ids = data.catalogue[spec.item_id]
    self._order = np.argsort(item_ids, kind="stable")
    self._sorted_ids = item_ids[self._order]
    rows = candidates = data.split(split)
    if label is not None:
      rows = dataset_lib.take(rows, np.flatnonzero(rows[label] > 0))
    self.users, user_of_row = np.unique(rows[spec.user_id], return_inverse=True)
    first = _earliest_row(user_of_row, rows.get(spec.timestamp))
    self._allowed = None
    if given:  # The pairs each user's ranking may hold, as sorted keys.
      where = np.searchsorted(self.users, candidates[spec.user_id])
      where = np.minimum(where, len(self.users) - 1)
      known = self.users[where] == candidates[spec.user_id]
      self._allowed = np.unique(
        where[known] * len(item_ids)
        + self.item_index(candidates[spec.item_id][known])
      )
    items = self.item_index(rows[spec.item_id])
    self.truth = [
      np.unique(items[user_of_row == u]) for u in range(len(self.users))
    ]
    # A user's query is their earliest row of the split (by time, then
    # file order): a later row's history may hold the split's earlier
    # truth items.
    query = [f.name for f in spec.features_of("query")]
    self.query = {name: rows[name][first] for name in query}
    masked = {}
    for name in mask_splits:
      table = data.split(name)
      if mask_label is not None:
        table = dataset_lib.take(table, np.flatnonzero(table[mask_label] > 0))
      where = np.searchsorted(self.users, table[spec.user_id])
      where = np.minimum(where, len(self.users) - 1)
      known = self.users[where] == table[spec.user_id]
      keys = where[known] * len(item_ids) + self.item_index(
        table[spec.item_id][known]
      )
      masked[name] = keys
    self._masked = np.unique(
      np.concatenate(list(masked.values()) or [np.empty(0, np.int64)])
    )

  def sample(self, limit: int) -> "FullRanking":
    """This ranking of at most about `limit` users: an even sample (every
    k-th user), the same each call; itself if it has no more."""
    stride = -(-len(self.users) // limit)
    if stride <= 1:
      return self
    keep = np.arange(0, len(self.users), stride)
    out = copy.copy(self)
    out.users = self.users[keep]
    out.truth = [self.truth[i] for i in keep]
    out.query = {name: column[keep] for name, column in self.query.items()}
    num_items = len(self._sorted_ids)
    renumbered = np.full(len(self.users), -1)
    renumbered[keep] = np.arange(len(keep))

    def kept(keys):  # (user, item) keys of the users kept, renumbered.
      if keys is None:
        return None
      user = renumbered[keys // num_items]
      return (user * num_items + keys % num_items)[user >= 0]

    out._masked, out._allowed = kept(self._masked), kept(self._allowed)
    return out

  def item_index(self, ids: np.ndarray) -> np.ndarray:
    """Catalogue row of each item id; raises ValueError for unknown ids."""
    where = np.minimum(
      np.searchsorted(self._sorted_ids, ids), len(self._sorted_ids) - 1
    )
    unknown = self._sorted_ids[where] != ids
    if unknown.any():
      raise ValueError(
        f"Dataset {self.spec.name!r}: item {np.asarray(ids)[unknown][0]!r} is not in "
        "the catalogue, so it cannot be ranked."
      )
    return self._order[where]

  def rank(self, scores_fn, k: int, users_per_batch: int) -> np.ndarray:
    """[U, k] best items per user, masked pairs excluded.

    Args:
      scores_fn: (start, stop) -> [stop - start, C] scores of those users.
      k: How many to keep.
      users_per_batch: Users scored at once.
    """
    num_items = len(self._sorted_ids)
    k = min(k, num_items)
    top = np.empty((len(self.users), k), np.int64)
    progress = progress_lib.Progress("Full ranking", len(self.users), "users")
    for start in range(0, len(self.users), users_per_batch):
      stop = min(start + users_per_batch, len(self.users))
      scores = np.asarray(scores_fn(start, stop), np.float64)
      lo, hi = np.searchsorted(
        self._masked, [start * num_items, stop * num_items]
      )
      keys = self._masked[lo:hi]
      scores[keys // num_items - start, keys % num_items] = -np.inf
      if self._allowed is not None:  # Only the given candidates.
        lo, hi = np.searchsorted(
          self._allowed, [start * num_items, stop * num_items]
        )
        keys = self._allowed[lo:hi]
        kept = np.full_like(scores, -np.inf)
        rows, columns = keys // num_items - start, keys % num_items
        kept[rows, columns] = scores[rows, columns]
        scores = kept
      # TensorFlow's top-k: sorted, ties to the lower index, on both cores
      # (4x NumPy's argpartition and sort on 39,000 items).
      top[start:stop] = tf.math.top_k(scores, k).indices.numpy()
      progress.step(stop - start)
    return top

  def metrics(
    self,
    scores_fn,
    ks: Sequence[int],
    prefix: str,
    users_per_batch: int | None = None,
  ):
    """Metrics of the ranking `scores_fn` gives, `users_per_batch` users a
    call (by default as many as keep their scores within SCORES)."""
    if users_per_batch is None:
      users_per_batch = max(1, SCORES // len(self._sorted_ids))
    return metrics_at(
      self.rank(scores_fn, max(ks), users_per_batch), self.truth, ks, prefix
    )


def tower_scores(model, ranking: FullRanking):
  """scores_fn of the two towers: query embedding . item embedding (plus
  the bonus of the query's boosted histories' items, `model/boost.py`)."""
  items = retrieval.catalogue_embeddings(model, ranking.catalogue)
  query = tf.function(model.query_tower, reduce_retracing=True)
  bonus = retrieval.bonus_scores(model, ranking.catalogue[model.spec.item_id])

  def scores(start, stop):
    batch = {name: column[start:stop] for name, column in ranking.query.items()}
    found = query(batch).numpy() @ items.T
    if bonus is not None:
      found += bonus(batch)
    return found

  return scores


def head_scores(model, ranking: FullRanking, head: str):
  """scores_fn of one ranking head on every (user, item) pair, at serving
  context; higher ranks first (probabilities for binary heads)."""
  spec = model.spec
  catalogue = {
    f.name: ranking.catalogue[f.name] for f in spec.features_of("candidate")
  }
  num_items = len(ranking.catalogue[spec.item_id])

  @tf.function(reduce_retracing=True)
  def forward(batch):
    return model.predictions(
      model(model.serving_inputs(batch), training=False)
    )[head]

  def scores(start, stop):
    n = stop - start
    batch = {name: column[start:stop] for name, column in ranking.query.items()}
    for name, column in catalogue.items():
      batch[name] = np.broadcast_to(column, (n, num_items))
    for feature in spec.features_of("context"):
      batch[feature.name] = np.full((n, num_items), feature.serving_value)
    batch[lists_lib.MASK] = np.ones((n, num_items), np.float32)
    return forward(batch).numpy()

  return scores


def popularity_scores(
  data: dataset_lib.Dataset, ranking: FullRanking, label: str | None
):
  """scores_fn ranking items by their number of training positives."""
  rows = data.split("train")
  if label is not None:
    rows = dataset_lib.take(rows, np.flatnonzero(rows[label] > 0))
  counts = np.bincount(
    ranking.item_index(rows[data.spec.item_id]),
    minlength=len(ranking.catalogue[data.spec.item_id]),
  ).astype(np.float64)
  # Ties (items never positive) broken at random, not by catalogue order.
  counts += 1e-3 * np.random.default_rng(0).random(len(counts))

  def scores(start, stop):
    return np.broadcast_to(counts, (stop - start, len(counts))).copy()

  return scores


class Protocol(NamedTuple):
  """`protocol_metrics`' results.

  Attributes:
    metrics: The model's, `<scorer>_full_<metric>@k` (`_given_` when only
      the split's candidates are ranked).
    baselines: The same keys, the strongest baseline of each.
    names: Which baseline that is, where not popularity.
    each: {baseline name: its values of the same keys}, popularity first.
  """

  metrics: dict[str, float]
  baselines: dict[str, float]
  names: dict[str, str]
  each: dict[str, dict[str, float]]


def protocol_metrics(
  model,
  data: dataset_lib.Dataset,
  others: Sequence = (),
  baselines: bool = True,
  split: str = "test",
) -> Protocol:
  """The dataset's full-ranking protocol (`data.full_ranking`), if it has
  one, on `split`. The truth is the rows of `split` whose label of the
  retrieval objective (else the first binary one) is positive. On "valid"
  (tuning) the protocol's masks stay but for the split itself: the test
  split, the future, is neither masked nor seen.

  Returns:
    A `Protocol`: the model's metrics; the strongest of the most-popular
    ranking and `others` (fitted `neighbours.Baseline`s) per metric, which
    one, and each one's values; without `baselines`, only the metrics.
  """
  protocol = data.full_ranking
  if protocol is None:
    return Protocol({}, {}, {}, {})
  logging.info("Full ranking of every item for every %s user.", split)
  objectives = model.objective_list
  retrieval = model.retrieval_objective
  binary = [o for o in objectives if o.kind in ("binary", "listwise")]
  label = (
    retrieval.label if retrieval else (binary[0].label if binary else None)
  )
  ranking = protocol_ranking(data, split, label)
  ks = list(protocol.ks)
  kind = "given" if ranking.given else "full"
  # {name: (scores_fn, users a call)}: the towers' scores are a product of
  # embeddings; a ranking head scores every (user, item) pair in a forward
  # pass, PAIRS of them at most.
  scorers = {}
  if retrieval:
    scorers[retrieval.name] = (tower_scores(model, ranking), None)
  if protocol.scorer != "retrieval":
    for o in binary:
      if o.label == label:
        scorers[o.name] = (head_scores(model, ranking, o.name), _batch(data))
  metrics = {}
  for name, (scores, users) in scorers.items():
    metrics.update(ranking.metrics(scores, ks, f"{name}_{kind}", users))
  if not baselines:  # Known already (`memo.Memo`).
    return Protocol(metrics, {}, {}, {})
  each = _each_baseline(data, ranking, label, ks, others)
  best, names = _strongest(each)

  def keyed(values):  # The model's keys: one set per scorer.
    return {
      f"{name}_{kind}_{key}": value
      for name in scorers
      for key, value in values.items()
    }

  return Protocol(
    metrics,
    keyed(best),
    keyed(names),
    {baseline: keyed(values) for baseline, values in each.items()},
  )


def protocol_ranking(
  data: dataset_lib.Dataset, split: str, label: str | None
) -> FullRanking:
  """The `FullRanking` of the dataset's protocol on `split`: its masks but
  the split itself, which on "valid" (tuning) leaves the training items
  masked, and the test split, the future, neither masked nor seen."""
  protocol = data.full_ranking
  return FullRanking(
    data,
    split,
    [name for name in protocol.mask if name != split],
    label,
    protocol.mask_label,
    protocol.candidates == "given",
  )


def _each_baseline(data, ranking, label, ks, others):
  """{baseline name: {metric: value}} of the most-popular ranking, first,
  and of each of `others` (`neighbours.Baseline`: item-KNN, EASE^R)."""
  strip = len("b_")
  each = {}
  for name, scores in [
    (POPULARITY, popularity_scores(data, ranking, label)),
    *((other.name, _users_scores(ranking, other)) for other in others),
  ]:
    values = ranking.metrics(scores, ks, "b")
    each[name] = {k[strip:]: v for k, v in values.items()}
  return each


def _users_scores(ranking, baseline):
  """A baseline's scores of the ranking's users, by user id or by the
  history their query holds."""

  def scores(start, stop):
    if baseline.reads is not None:
      return baseline.scores_of(ranking.query[baseline.reads][start:stop])
    return baseline.scores_of(ranking.users[start:stop])

  return scores


def _strongest(each):
  """({metric: the best value of `each` (`_each_baseline`)}, {metric: the
  name of the best, where not popularity, the first})."""
  first, *others = each
  best, names = dict(each[first]), {}
  for name in others:
    for key, value in each[name].items():
      if value > best[key]:
        best[key], names[key] = value, name
  return best, names


def _batch(data):
  # About PAIRS (user, item) pairs per forward pass of a ranking head.
  return max(1, PAIRS // len(data.catalogue[data.spec.item_id]))


def _earliest_row(
  user_of_row: np.ndarray, time: np.ndarray | None
) -> np.ndarray:
  """Row of each user's earliest event (by `time`, ties and a missing
  `time` by row order); users numbered 0.. in `user_of_row`."""
  rows = np.arange(len(user_of_row))
  keys = (rows, user_of_row) if time is None else (rows, time, user_of_row)
  order = np.lexsort(keys)
  starts = np.flatnonzero(np.diff(user_of_row[order], prepend=-1))
  return order[starts]
