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

from collections.abc import Iterable, Sequence

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.evaluate import heads, retrieval
from multiobj.evaluate import slates as slates_lib
from multiobj.prepare import lists as lists_lib

_PRIOR_SHOWS = 20.0


class _Tally:
  """Sums by key over chunks of (keys, values), merged as they come: its
  memory is the distinct keys', not the rows'."""

  def __init__(self, width: int):
    self.keys = None
    self.sums = np.zeros((0, width))

  def add(self, keys: np.ndarray, values: np.ndarray) -> None:
    if self.keys is not None:
      keys = np.concatenate([self.keys, keys])
      values = np.concatenate([self.sums, values])
    self.keys, inverse = np.unique(keys, return_inverse=True)
    self.sums = np.stack(
      [
        np.bincount(inverse, weights=column, minlength=len(self.keys))
        for column in values.T
      ],
      axis=1,
    )

  def get(self) -> tuple[np.ndarray, np.ndarray]:
    if self.keys is None:
      return np.zeros(0), self.sums
    return self.keys, self.sums


def learn(
  objectives: Sequence[objectives_lib.Objective],
  spec: spec_lib.DatasetSpec,
  chunks: Iterable[dataset_lib.Table],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """What each objective's baseline learns from the training lists, read a
  chunk at a time (so the whole split counts, in the memory of a chunk):
  {objective: (item ids, [items, 2] their shows and positives)}, or for a
  regression ((), [[rows, sum of the transformed label]])."""
  tallies = {o.name: _Tally(2) for o in objectives}
  for chunk in chunks:
    for o in objectives:
      where = heads.applies(o, chunk)
      if o.kind == "regression":
        labels = heads.labels_of(o, chunk)[where]
        tallies[o.name].add(
          np.zeros(1, np.int64), np.array([[len(labels), labels.sum()]])
        )
        continue
      positive = chunk[o.label][where] > 0
      tallies[o.name].add(
        chunk[spec.item_id][where],
        np.stack([np.ones(len(positive)), positive], axis=1),
      )
  return {name: tally.get() for name, tally in tallies.items()}


def baseline_metrics(
  objectives: Sequence[objectives_lib.Objective],
  spec: spec_lib.DatasetSpec,
  learned: dict[str, tuple[np.ndarray, np.ndarray]],
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  cold_items: np.ndarray | None = None,
) -> dict[str, float]:
  """Baseline metrics on `lists`, from what `learn` gathered."""
  predictions = {}
  out = {}
  for o in objectives:
    ids, sums = learned[o.name]
    if o.kind == "retrieval":
      popularity = _lookup(ids, sums[:, 1], catalogue[spec.item_id], 0.0)
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
    shows, hits = sums.sum(axis=0)
    # The training mean of the label (regression) or of its positives.
    mean = hits / shows if shows else 0.0
    if o.kind == "regression":
      score = np.full(lists[lists_lib.MASK].shape, mean)
    else:
      smoothed = (sums[:, 1] + _PRIOR_SHOWS * mean) / (
        sums[:, 0] + _PRIOR_SHOWS
      )
      score = _lookup(ids, smoothed, lists[spec.item_id], mean)
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
