"""Metrics of the ranking heads on evaluation lists.

  binary      AUC and log loss on the logged impressions (GAUC per user,
              ECE and its calibration bins on request); NDCG@K, MRR@K and
              MAP@K within each impression list (NDCG from TF-Ranking's
              `NDCGMetric`) over the lists holding a positive; and on
              synthetic data truth_ndcg@K, NDCG@K of the same ranking
              against the ground-truth relevance.
  regression  RMSE and MAE where the objective applies, on the label's
              transformed scale (log1p seconds for dwell time).
  given       an objective that follows another (purchase given click) also
              reports `{name}_auc_given_{given}`: the AUC of p(name | given)
              on the rows where the given event happened.

Pointwise metrics read the predictions on logged features, rankings those at
serving context (`predictions.py`). The same `score` serves the data-only
baselines (`baselines.py`) and a blend of the heads (`offline.py`), so every
number beside another was computed by one piece of code.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_ranking as tfr
from absl import logging

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.evaluate import metrics as metrics_lib
from multiobj.evaluate.predictions import Predictions
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import negatives

# Lists whose NDCG is computed at once.
_NDCG_LISTS = 16_384


def cutoff(metric: str) -> int:
  """The K of "ndcg@K"."""
  return int(metric.partition("@")[2])


def applies(
  objective: objectives_lib.Objective, lists: dataset_lib.Table
) -> np.ndarray:
  """[N, L] slots where `objective` applies: valid, inside its mask, and,
  for regression, logged rather than sampled as a negative."""
  where = lists[lists_lib.MASK] > 0
  if objective.mask:
    where = where & (lists[objective.mask] > 0)
  if objective.kind == "regression" and negatives.OBSERVED in lists:
    where = where & (lists[negatives.OBSERVED] > 0)
  return where


def labels_of(
  objective: objectives_lib.Objective, lists: dataset_lib.Table
) -> np.ndarray:
  """[N, L] labels of `objective` on the scale it learns (log1p seconds)."""
  labels = lists[objective.label].astype(np.float64)
  if objective.label_transform == "log1p":
    labels = np.log1p(np.maximum(labels, 0.0))
  return labels


def head_metrics(
  objectives: Sequence[objectives_lib.Objective],
  spec: spec_lib.DatasetSpec,
  lists: dataset_lib.Table,
  predictions: Predictions,
  details: dict[str, Any] | None = None,
) -> dict[str, float]:
  """Metrics of every non-retrieval objective, from [N, L] predictions.

  Args:
    objectives: Their `metrics` say what to compute.
    spec: Names the user and truth columns.
    lists: The evaluation lists.
    predictions: Each objective's predictions on logged and serving context.
    details: If given, receives what a number alone does not say: how many
      users GAUC skipped, the calibration bins behind ECE.
  """
  details = {} if details is None else details
  out = {}
  for o in objectives:
    if o.kind == "retrieval":
      continue
    where, labels = applies(o, lists), labels_of(o, lists)
    out.update(
      score(
        o.name,
        o.metrics,
        labels,
        where,
        predictions[o.name],
        spec,
        lists,
        details,
      )
    )
    given = next((g for g in objectives if g.name == o.given), None)
    if given is not None and o.given in predictions:
      # The conditional model's own test (the CVR AUC of ESMM): p(o | given)
      # = p(o) / p(given), on the rows where the given event happened (not
      # scored where the split lacks the given label: `given` is None).
      rows = where & (lists[given.label] > 0)
      conditional = predictions[o.name]["logged"] / np.maximum(
        predictions[o.given]["logged"], np.finfo(np.float32).tiny
      )
      out[f"{o.name}_auc_given_{o.given}"] = metrics_lib.auc(
        labels[rows], conditional[rows]
      )
  return out


def score(
  name: str,
  metrics: Sequence[str],
  labels: np.ndarray,
  where: np.ndarray,
  prediction: Mapping[str, np.ndarray],
  spec: spec_lib.DatasetSpec,
  lists: dataset_lib.Table,
  details: dict[str, Any],
) -> dict[str, float]:
  """`{name}_{metric}` of one score against `labels` on the slots `where`.

  Args:
    name: Prefix of the metrics' keys.
    metrics: What to compute ("auc", "ndcg@10", ...).
    labels: [N, L] labels.
    where: [N, L] slots that count.
    prediction: {"logged": [N, L], "serving": [N, L]} scores.
    spec: Names the user and truth columns.
    lists: The evaluation lists (users, ground truth).
    details: Receives GAUC's skipped users and the calibration bins.
  """
  logged, serving = prediction["logged"], prediction["serving"]
  for context, scores in prediction.items():
    bad = where & ~np.isfinite(scores)
    if bad.any():
      row = int(np.flatnonzero(bad.any(axis=1))[0])
      raise ValueError(
        f"{name}: {int(bad.sum())} of {int(where.sum())} {context} scores "
        f"are NaN or infinite (the first in list {row}, "
        f"{scores[row][bad[row]][0]}); metrics would rank them arbitrarily. "
        "A model whose weights diverged, non-finite inputs, or a blend that "
        "overflows give such scores."
      )
  pointwise = {
    "auc": metrics_lib.auc,
    "logloss": metrics_lib.logloss,
    "rmse": metrics_lib.rmse,
    "mae": metrics_lib.mae,
  }
  listwise = {
    "mrr": metrics_lib.mean_reciprocal_rank,
    "map": metrics_lib.mean_average_precision,
  }
  out = {}
  for metric in metrics:
    key = f"{name}_{metric}"
    if metric in pointwise:
      out[key] = pointwise[metric](labels[where], logged[where])
    elif metric == "gauc":
      users = np.broadcast_to(lists[spec.user_id][:, None], where.shape)
      out[key], details[key] = metrics_lib.gauc(
        labels[where], logged[where], users[where]
      )
    elif metric == "ece":
      calibration = metrics_lib.calibration(labels[where], logged[where])
      out[key] = calibration["ece"]
      # Equal-count bins show rare events, whose predictions sit near 0.
      details[f"{name}_calibration"] = metrics_lib.calibration(
        labels[where], logged[where], num_bins=15, strategy="quantile"
      )
    elif metric.startswith("ndcg@"):
      # Lists without a positive have no ideal ranking: leave them out.
      has_positive = ((labels > 0) & where).any(axis=1, keepdims=True)
      out[key] = ndcg(labels, serving, where & has_positive, cutoff(metric))
    elif metric[:4] in ("mrr@", "map@"):
      out[key] = listwise[metric[:3]](labels, serving, where, cutoff(metric))
    elif metric.startswith("truth_ndcg@"):
      if not spec.truth:
        logging.info(
          "%s skipped: dataset %r has no ground truth.", key, spec.name
        )
        continue
      truth = lists[spec.truth].astype(np.float64)
      out[key] = ndcg(truth, serving, where, cutoff(metric))
    else:
      raise ValueError(
        f"Objective {name!r}: metric {metric!r} is not computed here."
      )
  return out


@tf.autograph.experimental.do_not_convert  # Eager; converting: 0.5 s.
def ndcg(
  labels: np.ndarray, scores: np.ndarray, valid: np.ndarray, k: int
) -> float:
  """Mean NDCG@k over the lists with a valid entry (TF-Ranking's metric).

  Args:
    labels: [N, L] graded relevance (gain 2^label - 1).
    scores: [N, L] scores; higher ranks first.
    valid: [N, L] entries that take part; lists with none are left out.
    k: Cutoff.
  """
  keep = np.flatnonzero(valid.any(axis=1))
  if not len(keep):
    return float("nan")
  metric = tfr.keras.metrics.NDCGMetric(topn=k)
  # A chunk of lists at a time: TensorFlow keeps the memory its largest
  # call took (at 200,000 lists, 80 MB more a metric than chunks hold).
  for start in range(0, len(keep), _NDCG_LISTS):
    rows = keep[start : start + _NDCG_LISTS]
    y_true = np.where(valid[rows], labels[rows], -1.0)
    metric.update_state(
      tf.constant(y_true, tf.float32), tf.constant(scores[rows], tf.float32)
    )
  return float(metric.result().numpy())


def count(
  objectives: Sequence[objectives_lib.Objective], lists: dataset_lib.Table
) -> Mapping[str, int]:
  """How many lists, rows and positives each metric rests on."""
  valid = lists[lists_lib.MASK] > 0
  out = {"lists": int(valid.any(axis=1).sum()), "rows": int(valid.sum())}
  for o in objectives:
    where = applies(o, lists)
    out[f"{o.name}_rows"] = int(where.sum())
    if o.kind != "regression":
      out[f"{o.name}_positives"] = int((where & (lists[o.label] > 0)).sum())
  return out
