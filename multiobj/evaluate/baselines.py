"""Data-only baselines, scored by the same code as the model.

A metric means little alone: recall@50 of 0.3 is excellent for a catalogue
of a million items and poor for a hundred. Each model metric is reported
beside the baseline a practitioner would try first:

  retrieval   the most popular items (by training positives) for everyone;
  binary      each item's smoothed rate of the label in training,
              (positives + m * global_rate) / (shows + m), with m = 20;
  regression  the training mean of the (transformed) label.

Per-user retrieval of the offline evaluation (`popular_user_metrics`) gives
every user the most popular items too.
"""

from collections.abc import Sequence

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.evaluate import heads, retrieval
from multiobj.evaluate import slates as slates_lib
from multiobj.prepare import lists as lists_lib

_PRIOR_SHOWS = 20.0


def baseline_metrics(
  objectives: Sequence[objectives_lib.Objective],
  spec: spec_lib.DatasetSpec,
  train: dataset_lib.Table,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  cold_items: np.ndarray | None = None,
) -> dict[str, float]:
  """Baseline metrics on `lists`, learned from the `train` lists."""
  predictions = {}
  out = {}
  for o in objectives:
    train_applies = heads.applies(o, train)
    labels = train[o.label][train_applies].astype(np.float64)
    items = train[spec.item_id][train_applies]
    if o.kind == "retrieval":
      positives = items[labels > 0]
      ids, counts = np.unique(positives, return_counts=True)
      popularity = _lookup(
        ids, counts.astype(np.float64), catalogue[spec.item_id], 0.0
      )
      # Break ties (every item never positive in training) at random, not by
      # catalogue order, which can carry information (in ML-100K, low ids
      # are the popular movies). The jitter is far below a count of 1.
      jitter = np.random.default_rng(0).random(len(popularity))
      popularity = popularity + 1e-3 * jitter
      rows, true_items = retrieval.positive_pairs(o, spec, lists)
      out.update(
        retrieval.recall_at_k(
          o,
          np.ones((len(rows), 1), np.float32),
          true_items,
          catalogue[spec.item_id],
          popularity[:, None].astype(np.float32),
          cold_items,
        )
      )
      continue
    if o.kind == "regression":
      if o.label_transform == "log1p":
        labels = np.log1p(np.maximum(labels, 0.0))
      score = np.full(
        lists[lists_lib.MASK].shape, labels.mean() if len(labels) else 0.0
      )
    else:
      rate = float(np.mean(labels > 0)) if len(labels) else 0.0
      ids, inverse = np.unique(items, return_inverse=True)
      shows = np.bincount(inverse, minlength=len(ids))
      hits = np.bincount(inverse, weights=labels > 0, minlength=len(ids))
      smoothed = (hits + _PRIOR_SHOWS * rate) / (shows + _PRIOR_SHOWS)
      score = _lookup(ids, smoothed, lists[spec.item_id], rate)
    predictions[o.name] = {"logged": score, "serving": score}
  out.update(heads.head_metrics(objectives, spec, lists, predictions))
  return out


def _lookup(
  keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float
):
  """values[keys == query], or `default` where the key is absent."""
  if len(keys) == 0:
    return np.full(query.shape, default)
  where = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
  return np.where(keys[where] == query, values[where], default)


def popular_user_metrics(
  spec: spec_lib.DatasetSpec,
  objective: objectives_lib.Objective,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  popularity: np.ndarray,
  num_users: int,
  ks: Sequence[int],
  slate_k: int,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """The popularity baseline of per-user retrieval: everyone gets the most
  popular items; its recall, hit rate and slate metrics (as
  `retrieval.user_metrics`), and its recall at every k from 1."""
  users = retrieval.UserQueries(
    spec, lists, objective.label, catalogue[spec.item_id]
  )
  k = min(max(max(ks), slate_k), len(popularity))
  # Ties (items never positive) broken at random, not by catalogue order.
  jitter = 1e-3 * np.random.default_rng(0).random(len(popularity))
  order = np.argsort(-(popularity + jitter), kind="stable")[:k]
  top = np.broadcast_to(order, (len(users.users), k))
  prefix = f"{objective.name}_"
  metrics = retrieval.user_recall(
    top, users.positives, [c for c in ks if c <= k], prefix
  )
  slates = top[:, :slate_k]
  at = f"@{slate_k}"
  metrics[f"{prefix}coverage{at}"] = slates_lib.catalogue_coverage(
    slates, len(popularity)
  )
  metrics[f"{prefix}novelty{at}"] = slates_lib.novelty(
    slates, popularity, num_users
  )
  metrics[f"{prefix}popularity_percentile{at}"] = (
    slates_lib.popularity_percentile(slates, popularity)
  )
  curve = retrieval.user_recall(top, users.positives, range(1, k + 1), "")
  recall = np.array([curve[f"user_recall@{c}"] for c in range(1, k + 1)])
  return metrics, {"most popular": recall}
