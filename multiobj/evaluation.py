"""Evaluation on a held-out split: every objective's metrics.

  retrieval   recall@K over the whole catalogue (`tfrs.metrics.FactorizedTopK`
              on a brute-force index of every catalogue item), one query per
              positive (query, item) pair.
  binary      AUC and log loss on the logged impressions; NDCG@K within each
              impression list (TF-Ranking's `NDCGMetric`) over the lists
              holding a positive; and on synthetic data truth_ndcg@K, NDCG@K
              of the same ranking against the ground-truth relevance.
  regression  RMSE and MAE where the objective applies, on the label's
              transformed scale (log1p seconds for dwell time).
  given       an objective that follows another (purchase given click) also
              reports `{name}_auc_given_{given}`: the AUC of p(name | given)
              on the rows where the given event happened.

Pointwise metrics (AUC, log loss, RMSE) score the model on the features that
were logged, position included: they measure how well a head predicts the
logged event. Rankings (NDCG) are produced as at serving, with every context
feature at its serving value, since ranking by the logged position would
replay the production ranker's order.

The same scoring functions serve the data-only baselines (`baselines.py`), so
model and baseline numbers are computed by one piece of code.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_ranking as tfr
import tensorflow_recommenders as tfrs
from absl import logging

import objectives as objectives_lib
from multiobj import metrics as metrics_lib
from multiobj import pipeline, schema
from multiobj.data import dataset as dataset_lib

# {objective name: {"logged": [N, L], "serving": [N, L]}}
Predictions = dict[str, dict[str, np.ndarray]]


def cutoff(metric: str) -> int:
  """The K of "ndcg@K"."""
  return int(metric.partition("@")[2])


def predict(
  model, lists: dataset_lib.Table, batch_size: int
) -> tuple[Predictions, np.ndarray]:
  """Runs the model over `lists`.

  Returns:
    (predictions of every ranking head on logged and on serving context,
     [num_lists, D] query embeddings).
  """

  @tf.function(reduce_retracing=True)
  def forward(batch):
    logged = model.predictions(model(batch, training=False))
    outputs = model(model.serving_inputs(batch), training=False)
    return logged, model.predictions(outputs), outputs["query_embedding"]

  chunks = []
  for batch in pipeline.make_dataset(lists, batch_size, shuffle=False, seed=0):
    chunks.append(tf.nest.map_structure(lambda t: t.numpy(), forward(batch)))
  logged, serving, query = (
    tf.nest.map_structure(
      lambda *xs: np.concatenate(xs), *[c[i] for c in chunks]
    )
    for i in range(3)
  )
  predictions = {
    name: {"logged": logged[name], "serving": serving[name]} for name in logged
  }
  return predictions, query


def applies(
  objective: objectives_lib.Objective, lists: dataset_lib.Table
) -> np.ndarray:
  """[N, L] slots where `objective` applies: valid, inside its mask, and,
  for regression, logged rather than sampled as a negative."""
  where = lists[schema.MASK] > 0
  if objective.mask:
    where = where & (lists[objective.mask] > 0)
  if objective.kind == "regression" and schema.OBSERVED in lists:
    where = where & (lists[schema.OBSERVED] > 0)
  return where


def ranking_metrics(
  objectives: Sequence[objectives_lib.Objective],
  spec: schema.DatasetSpec,
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
    where = applies(o, lists)
    labels = lists[o.label].astype(np.float64)
    if o.label_transform == "log1p":
      labels = np.log1p(np.maximum(labels, 0.0))
    logged = predictions[o.name]["logged"]
    serving = predictions[o.name]["serving"]
    for metric in o.metrics:
      key = f"{o.name}_{metric}"
      if metric == "auc":
        out[key] = metrics_lib.auc(labels[where], logged[where])
      elif metric == "gauc":
        users = np.broadcast_to(lists[spec.user_id][:, None], where.shape)
        out[key], details[key] = metrics_lib.gauc(
          labels[where], logged[where], users[where]
        )
      elif metric == "logloss":
        out[key] = metrics_lib.logloss(labels[where], logged[where])
      elif metric == "ece":
        calibration = metrics_lib.calibration(labels[where], logged[where])
        out[key] = calibration["ece"]
        # Equal-count bins show rare events, whose predictions sit near 0.
        details[f"{o.name}_calibration"] = metrics_lib.calibration(
          labels[where], logged[where], num_bins=15, strategy="quantile"
        )
      elif metric == "rmse":
        out[key] = metrics_lib.rmse(labels[where], logged[where])
      elif metric == "mae":
        out[key] = metrics_lib.mae(labels[where], logged[where])
      elif metric.startswith("ndcg@"):
        # Lists without a positive have no ideal ranking: leave them out.
        has_positive = ((labels > 0) & where).any(axis=1, keepdims=True)
        out[key] = ndcg(labels, serving, where & has_positive, cutoff(metric))
      elif metric.startswith(("mrr@", "map@")):
        function = {
          "mrr": metrics_lib.mean_reciprocal_rank,
          "map": metrics_lib.mean_average_precision,
        }[metric[:3]]
        out[key] = function(labels, serving, where, cutoff(metric))
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
          f"Objective {o.name!r}: metric {metric!r} is not computed here."
        )
    if o.given is not None and o.given in predictions:
      # The conditional model's own test (the CVR AUC of ESMM): p(o | given)
      # = p(o) / p(given), on the rows where the given event happened.
      given = next(g for g in objectives if g.name == o.given)
      rows = where & (lists[given.label] > 0)
      conditional = logged / np.maximum(
        predictions[o.given]["logged"], np.finfo(np.float32).tiny
      )
      out[f"{o.name}_auc_given_{o.given}"] = metrics_lib.auc(
        labels[rows], conditional[rows]
      )
  return out


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
  keep = valid.any(axis=1)
  if not keep.any():
    return float("nan")
  metric = tfr.keras.metrics.NDCGMetric(topn=k)
  y_true = np.where(valid, labels, -1.0)[keep]
  metric.update_state(
    tf.constant(y_true, tf.float32), tf.constant(scores[keep], tf.float32)
  )
  return float(metric.result().numpy())


def retrieval_metrics(
  objective: objectives_lib.Objective,
  query_embeddings: np.ndarray,
  true_item_ids: np.ndarray,
  catalogue_ids: np.ndarray,
  catalogue_embeddings: np.ndarray,
  cold_items: np.ndarray | None = None,
  batch_size: int = 1024,
) -> dict[str, float]:
  """recall@K of each positive pair's item among the whole catalogue.

  Args:
    objective: The retrieval objective; its metrics name the cutoffs.
    query_embeddings: [P, D], one row per positive pair.
    true_item_ids: [P] the item of each pair.
    catalogue_ids: [C] every candidate's id.
    catalogue_embeddings: [C, D].
    cold_items: Ids held out of training; the pairs of these items are
      also scored alone, as `<name>_recall@K_cold` (among the whole
      catalogue) and `<name>_recall@K_among_cold` (among the cold items).
  """
  out = _recall(
    objective,
    query_embeddings,
    true_item_ids,
    catalogue_ids,
    catalogue_embeddings,
    batch_size,
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
        batch_size,
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
        batch_size,
      )
      out.update({f"{k}_among_cold": v for k, v in recall.items()})
  return out


def _recall(
  objective,
  query_embeddings,
  true_item_ids,
  catalogue_ids,
  catalogue_embeddings,
  batch_size,
):
  ks = sorted({cutoff(m) for m in objective.metrics})
  k_max = min(max(ks), len(catalogue_ids))
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


def positive_pairs(
  objective: objectives_lib.Objective,
  spec: schema.DatasetSpec,
  lists: dataset_lib.Table,
) -> tuple[np.ndarray, np.ndarray]:
  """(list index, item id) of every positive slot of a retrieval objective."""
  positive = (lists[objective.label] > 0) & (lists[schema.MASK] > 0)
  rows, slots = np.nonzero(positive)
  return rows, lists[spec.item_id][rows, slots]


def embed_catalogue(
  model, catalogue: dataset_lib.Table, batch_size: int = 4096
):
  """[C, D] candidate-tower embeddings of every catalogue item."""
  names = [f.name for f in model.spec.features_of("candidate")]
  data = tf.data.Dataset.from_tensor_slices({n: catalogue[n] for n in names})
  tower = tf.function(model.candidate_tower, reduce_retracing=True)
  return np.concatenate([tower(b).numpy() for b in data.batch(batch_size)])


def scann_index(size: int, k: int, name: str | None = None):
  """An untrained `tfrs.layers.factorized_top_k.ScaNN` layer for `size` items.

  About sqrt(size) leaves; a tenth of them searched, or more so that the
  searched leaves hold 3k items on average; the 4k best candidates of the
  quantized search rescored exactly. Evaluation and export both use it, so
  the overlap that evaluation reports is the serving index's.
  """
  leaves = max(1, min(1000, int(np.sqrt(size))))
  searched = min(
    leaves, max(int(np.ceil(leaves / 10)), int(np.ceil(3 * k * leaves / size)))
  )
  return tfrs.layers.factorized_top_k.ScaNN(
    k=k,
    num_leaves=leaves,
    num_leaves_to_search=searched,
    num_reordering_candidates=min(size, 4 * k),
    name=name,
  )


def evaluate(
  model,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  batch_size: int = 256,
  cold_items: np.ndarray | None = None,
) -> dict[str, float]:
  """Every metric of every objective of `model` on `lists`; with
  `cold_items`, retrieval also on the pairs of those items alone."""
  predictions, query = predict(model, lists, batch_size)
  out = ranking_metrics(model.objective_list, model.spec, lists, predictions)
  objective = model.retrieval_objective
  if objective is not None:
    rows, items = positive_pairs(objective, model.spec, lists)
    out.update(
      retrieval_metrics(
        objective,
        query[rows],
        items,
        catalogue[model.spec.item_id],
        embed_catalogue(model, catalogue),
        cold_items,
      )
    )
  return out


def count(
  objectives: Sequence[objectives_lib.Objective], lists: dataset_lib.Table
) -> Mapping[str, int]:
  """How many lists, rows and positives each metric rests on."""
  valid = lists[schema.MASK] > 0
  out = {"lists": int(valid.any(axis=1).sum()), "rows": int(valid.sum())}
  for o in objectives:
    where = applies(o, lists)
    out[f"{o.name}_rows"] = int(where.sum())
    if o.kind != "regression":
      out[f"{o.name}_positives"] = int((where & (lists[o.label] > 0)).sum())
  return out
