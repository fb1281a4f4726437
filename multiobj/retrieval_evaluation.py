"""Retrieval from the whole catalogue, per user: exact, approximate, slates.

For every user of the evaluation split (queried with the features of the
user's first request there), the towers retrieve the top k items of the whole
catalogue, in batches of users, so only one batch of scores is ever held:

  user_recall@k  share of the user's positives in the top k, mean over
               users (the training report's recall@k counts pairs instead);
  hit_rate@k   share of users with at least one positive in the top k;
  scann_*      the same through ScaNN (`tfrs.layers.factorized_top_k.ScaNN`),
               with scann_overlap@k, the share of the exact top k that ScaNN
               returns, and each index's query latency;
  slates       the exact top `slate_k` of each user, scored by
               `multiobj.slates`: catalogue coverage, intra-list diversity
               (by category and by embedding), novelty, popularity
               percentile.
"""

import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from multiobj import evaluation, schema
from multiobj import slates as slates_lib
from multiobj.data import dataset as dataset_lib


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
    spec: schema.DatasetSpec,
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
    positive = (lists[label] > 0) & (lists[schema.MASK] > 0)
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


def recall_and_hits(
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


def evaluate(
  model,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  item_popularity: np.ndarray,
  num_users: int,
  ks: Sequence[int] = (1, 5, 10, 20, 50, 100),
  slate_k: int = 10,
  scann: bool = True,
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

  Returns:
    (metrics named `<objective>_<metric>`, {"recall_at_k": [max(ks)] exact
    user recall at every k from 1, for plotting; "users": how many}).
  """
  objective = model.retrieval_objective
  spec = model.spec
  ids = catalogue[spec.item_id]
  users = UserQueries(spec, lists, objective.label, ids)
  embeddings = evaluation.embed_catalogue(model, catalogue)
  k = min(max(max(ks), slate_k), len(ids))
  rows = tf.constant(np.arange(len(ids), dtype=np.int64))
  exact = tfrs.layers.factorized_top_k.BruteForce(k=k)
  exact.index(tf.constant(embeddings), rows)
  ks = [c for c in ks if c <= k]
  top, seconds = top_k(model.query_tower, users.query, exact, k)
  prefix = f"{objective.name}_"
  out = recall_and_hits(top, users.positives, ks, prefix)
  curve = recall_and_hits(top, users.positives, range(1, k + 1), "")
  out[f"{prefix}exact_ms_per_query"] = 1000 * seconds
  if scann:
    approximate = evaluation.scann_index(len(ids), k)
    approximate.index(tf.constant(embeddings), rows)
    found, seconds = top_k(model.query_tower, users.query, approximate, k)
    out.update(recall_and_hits(found, users.positives, ks, f"{prefix}scann_"))
    for c in ks:
      overlap = [
        len(np.intersect1d(a[:c], b[:c])) / c
        for a, b in zip(found, top, strict=True)
      ]
      out[f"{prefix}scann_overlap@{c}"] = float(np.mean(overlap))
    out[f"{prefix}scann_ms_per_query"] = 1000 * seconds
  slates = top[:, :slate_k]
  out[f"{prefix}coverage@{slate_k}"] = slates_lib.catalogue_coverage(
    slates, len(ids)
  )
  category = next(
    (f.name for f in spec.features_of("candidate") if f.kind == "category"),
    None,
  )
  if category:
    out[f"{prefix}diversity_{category}@{slate_k}"] = (
      slates_lib.intra_list_diversity(
        slates, item_categories=catalogue[category]
      )[0]
    )
  out[f"{prefix}diversity_embedding@{slate_k}"] = (
    slates_lib.intra_list_diversity(slates, item_embeddings=embeddings)[0]
  )
  out[f"{prefix}novelty@{slate_k}"] = slates_lib.novelty(
    slates, item_popularity, num_users
  )
  out[f"{prefix}popularity_percentile@{slate_k}"] = (
    slates_lib.popularity_percentile(slates, item_popularity)
  )
  recall_at = np.array([curve[f"user_recall@{c}"] for c in range(1, k + 1)])
  return out, {"recall_at_k": recall_at, "users": len(users.users)}


def popularity(
  spec: schema.DatasetSpec,
  train: dataset_lib.Table,
  label: str,
  catalogue_ids: np.ndarray,
) -> tuple[np.ndarray, int]:
  """([C] users with a training positive of each catalogue item, users with
  any positive): the popularity novelty and popularity bias are measured by."""
  positive = (train[label] > 0) & (train[schema.MASK] > 0)
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
