"""Retrieval from the whole catalogue: recall@k, per pair and per user.

Two views of the same towers, both over every catalogue item:

  recall@k       (`recall_at_k`, the training report's) the share of the
                 (query, positive item) pairs of the evaluation lists whose
                 item the towers retrieve in the top k for the pair's query;
                 a user with many positives counts many times;
  user_recall@k  (`user_metrics`, the offline evaluation's) for every user of
                 the split, queried with the features of the user's first
                 request there, the share of the user's positives in the top
                 k, averaged over users; with hit_rate@k, the share of users
                 with at least one positive in the top k.

`user_metrics` also retrieves through ScaNN (`scann_*`: recall, overlap@k
with the exact top k, query latency) and scores the exact top `slate_k` of
each user with `slates.py`: catalogue coverage, intra-list diversity (by
category and by embedding), novelty, popularity percentile. Users are
scored in batches, so only one batch of scores is ever held.
"""

import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.evaluate import slates as slates_lib
from multiobj.evaluate.heads import cutoff
from multiobj.prepare import lists as lists_lib
from multiobj.retrieval import candidates as candidates_lib
from multiobj.retrieval import index as index_lib

# Scores of a batch of queries against the catalogue, at most (128 MB).
SCORES = 2**25


def catalogue_embeddings(model, catalogue: dataset_lib.Table) -> np.ndarray:
  """[C, D] candidate-tower embeddings of every catalogue item."""
  names = [f.name for f in model.spec.features_of("candidate")]
  return index_lib.embed_catalogue(model.candidate_tower, catalogue, names)


def bonus_scores(model, catalogue_ids: np.ndarray):
  """batch -> [N, C] what the model's boost (`model/boost.py`) adds to the
  towers' scores (query . item) of every catalogue item for the queries of
  `batch` ({query feature: [N]}); None for a model without one."""
  if getattr(model, "boost", None) is None:
    return None
  keys = candidates_lib.id_key(tf.constant(catalogue_ids))
  table = tf.lookup.StaticHashTable(
    tf.lookup.KeyValueTensorInitializer(
      keys, tf.range(len(catalogue_ids), dtype=tf.int64)
    ),
    default_value=-1,
  )

  @tf.function(reduce_retracing=True)
  def bonus(histories):
    keys = model.boost.keys_of(histories)
    return model.boost.over(keys, table.lookup, len(catalogue_ids))

  def scores(batch):
    return bonus({n: batch[n] for n in model.boost.names}).numpy()

  return scores


def recall_at_k(
  objective: objectives_lib.Objective,
  query_embeddings: np.ndarray,
  true_item_ids: np.ndarray,
  catalogue_ids: np.ndarray,
  catalogue_embeddings: np.ndarray,
  cold_items: np.ndarray | None = None,
  bonus=None,
) -> dict[str, float]:
  """recall@K over (query, positive item) pairs, among the whole catalogue.

  The share of the pairs whose item is among the top K the towers retrieve
  for the pair's query (TFRS's `FactorizedTopK` on a brute-force index of
  every catalogue item): the training report's recall@K.

  Args:
    objective: The retrieval objective; its metrics name the cutoffs.
    query_embeddings: [P, D], one row per positive pair.
    true_item_ids: [P] the item of each pair.
    catalogue_ids: [C] every candidate's id.
    catalogue_embeddings: [C, D].
    cold_items: Ids held out of training; the pairs of these items are
      also scored alone, as `<name>_recall@K_cold` (among the whole
      catalogue) and `<name>_recall@K_among_cold` (among the cold items).
    bonus: For a model with a boost (`model/boost.py`): pairs [n] -> [n, C]
      what it adds to the towers' scores of every catalogue item.
  """
  pairs = np.arange(len(true_item_ids))
  out = _recall(
    objective,
    query_embeddings,
    true_item_ids,
    catalogue_ids,
    catalogue_embeddings,
    bonus and (lambda at: bonus(pairs[at])),
  )
  if cold_items is not None and len(cold_items):
    cold = np.isin(true_item_ids, cold_items)
    if cold.any():
      recall = _recall(
        objective,
        query_embeddings[cold],
        true_item_ids[cold],
        catalogue_ids,
        catalogue_embeddings,
        bonus and (lambda at: bonus(pairs[cold][at])),
      )
      out.update({f"{k}_cold": v for k, v in recall.items()})
      # Among the cold items only, as a "new arrivals" shelf ranks them: a
      # test of the content features alone, without warm items to beat.
      among = np.isin(catalogue_ids, cold_items)
      recall = _recall(
        objective,
        query_embeddings[cold],
        true_item_ids[cold],
        catalogue_ids[among],
        catalogue_embeddings[among],
        bonus and (lambda at: bonus(pairs[cold][at])[:, among]),
      )
      out.update({f"{k}_among_cold": v for k, v in recall.items()})
  return out


def _recall(
  objective,
  query_embeddings,
  true_item_ids,
  catalogue_ids,
  catalogue_embeddings,
  bonus=None,
):
  ks = sorted({cutoff(m) for m in objective.metrics})
  # As many queries a batch as keep its [queries, catalogue] scores within
  # SCORES (a few batches for a small catalogue: each is an eager call).
  batch_size = max(1, SCORES // max(1, len(catalogue_ids)))
  k_max = min(max(ks), len(catalogue_ids))
  if bonus is not None:
    return _recall_with_bonus(
      objective, ks, k_max, batch_size, query_embeddings, true_item_ids,
      catalogue_ids, catalogue_embeddings, bonus,
    )  # fmt: skip
  index = tfrs.layers.factorized_top_k.BruteForce(k=k_max)
  index.index(
    tf.constant(catalogue_embeddings, tf.float32), tf.constant(catalogue_ids)
  )
  top_k = tfrs.metrics.FactorizedTopK(
    candidates=index, ks=[min(k, k_max) for k in ks]
  )
  for start in range(0, len(true_item_ids), batch_size):
    query = tf.constant(
      query_embeddings[start : start + batch_size], tf.float32
    )
    # Id-based evaluation: the embeddings of the true items are not used.
    top_k.update_state(
      query,
      tf.zeros_like(query),
      true_candidate_ids=true_item_ids[start : start + batch_size],
    )
  results = [float(r.numpy()) for r in top_k.result()]
  return {
    f"{objective.name}_recall@{k}": r for k, r in zip(ks, results, strict=False)
  }


def _recall_with_bonus(
  objective, ks, k_max, batch_size, query_embeddings, true_item_ids,
  catalogue_ids, catalogue_embeddings, bonus,
):  # fmt: skip
  """`_recall` of towers plus a bonus, [n, C] for pairs `at` (`bonus(at)`):
  the same top K by exact scores, as the brute-force index's."""
  found = np.zeros((len(true_item_ids), k_max), bool)
  for start in range(0, len(true_item_ids), batch_size):
    at = np.arange(start, min(start + batch_size, len(true_item_ids)))
    scores = query_embeddings[at] @ catalogue_embeddings.T + bonus(at)
    top = tf.math.top_k(scores, k_max).indices.numpy()
    found[at] = catalogue_ids[top] == true_item_ids[at, np.newaxis]
  return {
    f"{objective.name}_recall@{k}": float(
      found[:, : min(k, k_max)].any(1).mean()
    )
    for k in ks
  }


def positive_pairs(
  objective: objectives_lib.Objective,
  spec: spec_lib.DatasetSpec,
  lists: dataset_lib.Table,
) -> tuple[np.ndarray, np.ndarray]:
  """(list index, item id) of every positive slot of a retrieval objective."""
  positive = (lists[objective.label] > 0) & (lists[lists_lib.MASK] > 0)
  rows, slots = np.nonzero(positive)
  return rows, lists[spec.item_id][rows, slots]


class UserQueries:
  """The users of an evaluation split, their query features and positives.

  Args:
    spec: Names the user, item and query columns.
    lists: The evaluation lists.
    label: The label whose positive slots are the user's positives.
    catalogue_ids: Every catalogue id, in catalogue order.
  """

  def __init__(
    self,
    spec: spec_lib.DatasetSpec,
    lists: dataset_lib.Table,
    label: str,
    catalogue_ids: np.ndarray,
  ):
    users = lists[spec.user_id]
    self.users, first, inverse = np.unique(
      users, return_index=True, return_inverse=True
    )
    self.query = {
      f.name: lists[f.name][first] for f in spec.features_of("query")
    }
    order = np.argsort(catalogue_ids, kind="stable")
    positive = (lists[label] > 0) & (lists[lists_lib.MASK] > 0)
    rows, slots = np.nonzero(positive)
    ids = lists[spec.item_id][rows, slots]
    where = np.minimum(
      np.searchsorted(catalogue_ids[order], ids), len(order) - 1
    )
    known = catalogue_ids[order][where] == ids
    items = order[where[known]]
    owners = inverse[rows[known]]
    self.positives = [
      np.unique(items[owners == u]) for u in range(len(self.users))
    ]
    keep = np.array([len(p) > 0 for p in self.positives])
    self.users = self.users[keep]
    self.query = {k: v[keep] for k, v in self.query.items()}
    self.positives = [p for p, k in zip(self.positives, keep, strict=True) if k]


def top_k(
  query_tower,
  query: dict[str, np.ndarray],
  index,
  k: int,
  batch_size: int = 512,
) -> tuple[np.ndarray, float]:
  """[U, k] catalogue rows retrieved per user (-1 where the index returned
  fewer than k), and seconds per query."""
  tower = tf.function(query_tower, reduce_retracing=True)
  n = len(next(iter(query.values())))
  out = np.empty((n, k), np.int64)
  seconds = 0.0
  for start in range(0, n, batch_size):
    batch = {
      name: column[start : start + batch_size] for name, column in query.items()
    }
    embeddings = tower(batch)
    began = time.perf_counter()
    _, rows = index(embeddings, k=k)
    seconds += time.perf_counter() - began
    rows = rows.numpy()
    # An approximate index may find fewer than k candidates in the leaves it
    # searches: pad with -1, which matches no item.
    out[start : start + batch_size] = -1
    out[start : start + batch_size, : rows.shape[1]] = rows
  return out, seconds / max(n, 1)


def user_recall(
  top: np.ndarray,
  positives: Sequence[np.ndarray],
  ks: Sequence[int],
  prefix: str,
):
  """`<prefix>user_recall@k` and `<prefix>hit_rate@k` for each k."""
  hits = np.stack(
    [np.isin(row, p) for row, p in zip(top, positives, strict=True)]
  )
  sizes = np.array([len(p) for p in positives], np.float64)
  out = {}
  for k in ks:
    found = hits[:, :k].sum(axis=1)
    out[f"{prefix}user_recall@{k}"] = float(np.mean(found / sizes))
    out[f"{prefix}hit_rate@{k}"] = float(np.mean(found > 0))
  return out


def user_metrics(
  model,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  item_popularity: np.ndarray,
  num_users: int,
  ks: Sequence[int] = (1, 5, 10, 20, 50, 100),
  slate_k: int = 10,
  scann: bool = True,
  embeddings: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """Per-user retrieval metrics of `model`'s retrieval objective.

  Args:
    model: A trained model with a retrieval objective.
    lists: The evaluation lists.
    catalogue: Every candidate, with its features.
    item_popularity: [C] training positives of each catalogue item.
    num_users: Users behind `item_popularity` (for novelty).
    ks: Cutoffs of recall and hit rate.
    slate_k: Length of the slates scored for diversity and novelty.
    scann: Also retrieve through ScaNN.
    embeddings: [C, D] the catalogue's embeddings, if already computed.

  Returns:
    (metrics named `<objective>_<metric>`, {"recall_at_k": [max(ks)] exact
    user recall at every k from 1, for plotting; "users": how many}).
  """
  objective = model.retrieval_objective
  spec = model.spec
  ids = catalogue[spec.item_id]
  users = UserQueries(spec, lists, objective.label, ids)
  if embeddings is None:
    embeddings = catalogue_embeddings(model, catalogue)
  k = min(max(max(ks), slate_k), len(ids))
  rows = tf.constant(np.arange(len(ids), dtype=np.int64))
  exact = tfrs.layers.factorized_top_k.BruteForce(k=k)
  exact.index(tf.constant(embeddings), rows)
  ks = [c for c in ks if c <= k]
  top, seconds = top_k(model.query_tower, users.query, exact, k)
  prefix = f"{objective.name}_"
  out = user_recall(top, users.positives, ks, prefix)
  curve = user_recall(top, users.positives, range(1, k + 1), "")
  out[f"{prefix}exact_ms_per_query"] = 1000 * seconds
  if scann:
    approximate = index_lib.scann(len(ids), k)
    approximate.index(tf.constant(embeddings), rows)
    found, seconds = top_k(model.query_tower, users.query, approximate, k)
    out.update(user_recall(found, users.positives, ks, f"{prefix}scann_"))
    for c in ks:
      overlap = [
        len(np.intersect1d(a[:c], b[:c])) / c
        for a, b in zip(found, top, strict=True)
      ]
      out[f"{prefix}scann_overlap@{c}"] = float(np.mean(overlap))
    out[f"{prefix}scann_ms_per_query"] = 1000 * seconds
  out.update(
    _slate_metrics(
      top[:, :slate_k],
      spec,
      catalogue,
      embeddings,
      item_popularity,
      num_users,
      prefix,
      f"@{slate_k}",
    )
  )
  recall_at = np.array([curve[f"user_recall@{c}"] for c in range(1, k + 1)])
  return out, {"recall_at_k": recall_at, "users": len(users.users)}


def _slate_metrics(
  slates, spec, catalogue, embeddings, item_popularity, num_users, prefix, at
):
  """Coverage, diversity, novelty and popularity of [U, k] slates, named
  `{prefix}{metric}{at}`."""
  out = {
    f"{prefix}coverage{at}": slates_lib.catalogue_coverage(
      slates, len(embeddings)
    )
  }
  category = next(
    (f.name for f in spec.features_of("candidate") if f.kind == "category"),
    None,
  )
  if category:
    out[f"{prefix}diversity_{category}{at}"] = slates_lib.intra_list_diversity(
      slates, item_categories=catalogue[category]
    )[0]
  out[f"{prefix}diversity_embedding{at}"] = slates_lib.intra_list_diversity(
    slates, item_embeddings=embeddings
  )[0]
  out[f"{prefix}novelty{at}"] = slates_lib.novelty(
    slates, item_popularity, num_users
  )
  out[f"{prefix}popularity_percentile{at}"] = slates_lib.popularity_percentile(
    slates, item_popularity
  )
  return out


def popularity(
  spec: spec_lib.DatasetSpec,
  train: dataset_lib.Table,
  label: str,
  catalogue_ids: np.ndarray,
) -> tuple[np.ndarray, int]:
  """([C] users with a training positive of each catalogue item, users with
  any positive): the popularity novelty and popularity bias are measured by."""
  positive = (train[label] > 0) & (train[lists_lib.MASK] > 0)
  rows, slots = np.nonzero(positive)
  ids = train[spec.item_id][rows, slots]
  users = train[spec.user_id][rows] if spec.user_id else rows
  order = np.argsort(catalogue_ids, kind="stable")
  where = np.minimum(np.searchsorted(catalogue_ids[order], ids), len(order) - 1)
  known = catalogue_ids[order][where] == ids
  _, user_index = np.unique(users[known], return_inverse=True)
  pairs = np.unique(np.stack([user_index, order[where[known]]], axis=1), axis=0)
  counts = np.bincount(pairs[:, 1], minlength=len(catalogue_ids))
  return counts.astype(np.float64), int(user_index.max(initial=-1)) + 1
