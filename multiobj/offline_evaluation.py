"""The full offline evaluation of a trained run, beyond the training report.

`evaluate(config)` reloads a run from its directory, rebuilds the evaluation
split exactly as training did, and scores:

  ranking heads   AUC, GAUC (per user, impression-weighted), log loss,
                  expected calibration error, NDCG@5/10, MRR@10, MAP@10
                  within impression lists, NDCG@10 against the ground truth
                  (synthetic data); RMSE and MAE for regression heads;
  value model     the same ranking metrics for one score blending the heads
                  (`--blend`), against every binary label, so the trade-off
                  of a blend is visible next to each head's own;
  retrieval       per-user recall and hit rate at several k over the whole
                  catalogue, exact and through ScaNN (with its overlap with
                  exact search and both latencies), and the slates' coverage,
                  diversity, novelty and popularity;
  full ranking    the dataset's own protocol, when it names one.

Every metric sits beside its data-only baseline. It writes eval.json (every
number, with GAUC's skipped users and the calibration bins), eval.md (the
table) and, if asked, PNG plots: a calibration curve per binary head and
recall@k against k.
"""

import dataclasses
import json
import os
from typing import Any

import numpy as np

import objectives as objectives_lib
from multiobj import (
  baselines,
  evaluation,
  full_ranking,
  plots,
  preparation,
  report,
  retrieval_evaluation,
  training,
)
from multiobj import (
  blend as blend_lib,
)
from multiobj import slates as slates_lib
from multiobj.data import load as load_dataset

FULL_METRICS = {
  "binary": (
    "auc",
    "gauc",
    "logloss",
    "ece",
    "ndcg@5",
    "ndcg@10",
    "mrr@10",
    "map@10",
    "truth_ndcg@10",
  ),
  "listwise": (
    "auc",
    "gauc",
    "ndcg@5",
    "ndcg@10",
    "mrr@10",
    "map@10",
    "truth_ndcg@10",
  ),
  "regression": ("rmse", "mae"),
}
BLEND_METRICS = ("auc", "ndcg@10", "mrr@10")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  """What to evaluate and how.

  Attributes:
    model_dir: A finished training run.
    split: The split to evaluate on.
    blend: A value model over the heads (`multiobj.blend`), or "".
    ks: Cutoffs of retrieval recall and hit rate.
    slate_k: Length of the slates scored for diversity and novelty.
    scann: Also retrieve through ScaNN.
    plots: Write PNG plots.
    output_dir: Where eval.json, eval.md and plots go; default
      `<model_dir>/eval`.
  """

  model_dir: str
  split: str = "test"
  blend: str = ""
  ks: tuple[int, ...] = (1, 5, 10, 20, 50, 100)
  slate_k: int = 10
  scann: bool = True
  plots: bool = True
  output_dir: str = ""

  def __post_init__(self):
    object.__setattr__(self, "ks", tuple(sorted({int(k) for k in self.ks})))
    if not self.ks or self.ks[0] < 1:
      raise ValueError(f"ks must be positive integers, got {self.ks}.")
    if self.slate_k < 2:
      raise ValueError(
        f"slate_k must be >= 2 (diversity needs pairs), got {self.slate_k}."
      )


def natural_scale(
  model, predictions: evaluation.Predictions, context: str
) -> dict[str, np.ndarray]:
  """Each head's predictions on its label's own scale (probabilities;
  seconds rather than log1p seconds), the inputs of a blend."""
  out = {}
  for o in model.ranking_objectives:
    value = predictions[o.name][context]
    out[o.name] = np.expm1(value) if o.label_transform == "log1p" else value
  return out


def blend_metrics(model, blend, lists, predictions) -> dict[str, float]:
  """Ranking metrics of the blended score against every binary label."""
  scores = {
    context: blend(natural_scale(model, predictions, context))
    for context in ("logged", "serving")
  }
  blended = {}
  targets = [
    o for o in model.ranking_objectives if o.kind in ("binary", "listwise")
  ]
  for o in targets:
    blended[f"blend_{o.name}"] = {
      "logged": scores["logged"],
      "serving": scores["serving"],
    }
  # The ground truth does not depend on the label: score it once.
  truth = ("truth_ndcg@10",) if model.spec.truth else ()
  objectives = [
    dataclasses.replace(
      o,
      name=f"blend_{o.name}",
      kind="listwise",
      loss="softmax",
      metrics=BLEND_METRICS + (truth if i == 0 else ()),
    )
    for i, o in enumerate(targets)
  ]
  return evaluation.ranking_metrics(objectives, model.spec, lists, blended)


def evaluate(config: EvaluationConfig) -> dict[str, Any]:
  """Evaluates `config.model_dir`; writes and returns eval.json's content."""
  model, run = training.load_model(config.model_dir)
  data = load_dataset(run)
  prepared = preparation.prepare(data, run)
  if config.split not in prepared.lists:
    raise ValueError(
      f"{config.model_dir}: dataset {data.spec.name!r} has no split "
      f"{config.split!r}; splits: {', '.join(prepared.lists)}."
    )
  lists, train = prepared.lists[config.split], prepared.lists["train"]
  spec = prepared.data.spec
  objectives = [
    dataclasses.replace(o, metrics=_available(FULL_METRICS[o.kind], spec))
    for o in model.ranking_objectives
  ]
  predictions, query = evaluation.predict(model, lists, 256)
  details: dict[str, Any] = {}
  metrics = evaluation.ranking_metrics(
    objectives, spec, lists, predictions, details
  )
  retrieval_objectives = [
    o for o in [model.retrieval_objective] if o is not None
  ]
  baseline = baselines.evaluate(
    retrieval_objectives + objectives,
    spec,
    train,
    lists,
    prepared.data.catalogue,
  )
  blend = None
  if config.blend:
    blend = blend_lib.Blend.parse(
      config.blend, [o.name for o in model.ranking_objectives]
    )
    metrics.update(blend_metrics(model, blend, lists, predictions))
  curves = {}
  if model.retrieval_objective is not None:
    catalogue = prepared.data.catalogue
    popularity, users = retrieval_evaluation.popularity(
      spec, train, model.retrieval_objective.label, catalogue[spec.item_id]
    )
    retrieval, extra = retrieval_evaluation.evaluate(
      model,
      lists,
      catalogue,
      popularity,
      users,
      config.ks,
      config.slate_k,
      config.scann,
    )
    metrics.update(retrieval)
    details["retrieval_users"] = extra["users"]
    # The training report's recall@k, over (query, positive) pairs.
    rows, items = evaluation.positive_pairs(
      model.retrieval_objective, spec, lists
    )
    metrics.update(
      evaluation.retrieval_metrics(
        model.retrieval_objective,
        query[rows],
        items,
        catalogue[spec.item_id],
        evaluation.embed_catalogue(model, catalogue),
      )
    )
    popular, curves = _popular_retrieval(
      model, lists, catalogue, popularity, users, config
    )
    baseline.update(popular)
    curves = {"model": extra["recall_at_k"], **curves}
  full, full_baseline = full_ranking.evaluate(model, prepared.data)
  metrics.update(full)
  baseline.update(full_baseline)

  shown = list(objectives)
  if model.retrieval_objective is not None:
    shown.insert(0, model.retrieval_objective)
  if blend is not None:
    shown.append(
      objectives_lib.Objective(
        name="blend", kind="listwise", label="-", loss="softmax"
      )
    )
  table = report.metrics_table(shown, metrics, baseline)
  output = config.output_dir or os.path.join(config.model_dir, "eval")
  os.makedirs(output, exist_ok=True)
  written = (
    _plots(config, output, details, curves, data.spec.name)
    if config.plots
    else []
  )
  result = {
    "metrics": metrics,
    "baselines": baseline,
    "details": details,
    "counts": evaluation.count(objectives, lists),
    "blend": str(blend) if blend else None,
    "split": config.split,
    "config": dataclasses.asdict(config),
    "plots": written,
  }
  with open(os.path.join(output, "eval.json"), "w") as f:
    json.dump(training.plain(result), f, indent=1, allow_nan=False)
  with open(os.path.join(output, "eval.md"), "w") as f:
    f.write(
      f"Evaluation of {config.model_dir} on split {config.split!r}.\n\n```\n{table}\n```\n"
    )
  result["table"] = table
  return result


def _available(metrics, spec):
  # Without users or ground truth, GAUC and truth NDCG have nothing to use.
  return tuple(
    m
    for m in metrics
    if not (m == "gauc" and not spec.user_id)
    and not (m.startswith("truth_") and not spec.truth)
  )


def _popular_retrieval(model, lists, catalogue, popularity, num_users, config):
  """The popularity baseline of per-user retrieval: everyone gets the most
  popular items; its recall, hit rate and slate metrics."""
  spec = model.spec
  users = retrieval_evaluation.UserQueries(
    spec, lists, model.retrieval_objective.label, catalogue[spec.item_id]
  )
  k = min(max(max(config.ks), config.slate_k), len(popularity))
  # Ties (items never positive) broken at random, not by catalogue order.
  jitter = 1e-3 * np.random.default_rng(0).random(len(popularity))
  order = np.argsort(-(popularity + jitter), kind="stable")[:k]
  top = np.broadcast_to(order, (len(users.users), k))
  prefix = f"{model.retrieval_objective.name}_"
  metrics = retrieval_evaluation.recall_and_hits(
    top, users.positives, [c for c in config.ks if c <= k], prefix
  )
  slates = top[:, : config.slate_k]
  at = f"@{config.slate_k}"
  metrics[f"{prefix}coverage{at}"] = slates_lib.catalogue_coverage(
    slates, len(popularity)
  )
  metrics[f"{prefix}novelty{at}"] = slates_lib.novelty(
    slates, popularity, num_users
  )
  metrics[f"{prefix}popularity_percentile{at}"] = (
    slates_lib.popularity_percentile(slates, popularity)
  )
  curve = retrieval_evaluation.recall_and_hits(
    top, users.positives, range(1, k + 1), ""
  )
  recall = np.array([curve[f"user_recall@{c}"] for c in range(1, k + 1)])
  return metrics, {"most popular": recall}


def _plots(config, output, details, curves, dataset):
  written = []
  for key, calibration in details.items():
    if key.endswith("_calibration") and calibration["count"]:
      head = key[: -len("_calibration")]
      written.append(
        plots.calibration_curve(
          calibration, head, os.path.join(output, f"calibration_{head}.png")
        )
      )
  if curves:
    title = f"{dataset}, split {config.split}"
    written.append(
      plots.recall_curve(curves, os.path.join(output, "recall_at_k.png"), title)
    )
  return written
