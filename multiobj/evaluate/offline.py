"""The full offline evaluation of a trained run, beyond the training report.

`evaluate_run(config)` reloads a run from its directory, reads the evaluation
split from the run's prepared cache (preparing it as training did if the
cache is gone), and scores, on all of its lists or beyond
`report.TEST_LISTS` an even sample of them, as the training report does:

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
import os
from typing import Any

import numpy as np
from absl import logging

from multiobj.data import dataset as dataset_lib
from multiobj.evaluate import baselines as baselines_lib
from multiobj.evaluate import heads, plots, report, retrieval
from multiobj.evaluate import predictions as predictions_lib
from multiobj.prepare import cache
from multiobj.serve import blend as blend_lib
from multiobj.train import run_dir

# Training lists the per-user popularity (users with a positive of each
# item, for novelty and the popularity baseline) is counted on, at most:
# distinct (user, item) pairs do not fold into per-item sums as the other
# baselines' counts do (`baselines.learn`), so beyond this, an even sample.
POPULARITY_LISTS = 500_000

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
    blend: A value model over the heads (`multiobj.serve.blend`), or "".
    ks: Cutoffs of retrieval recall and hit rate.
    slate_k: Length of the slates scored for diversity and novelty.
    scann: Also retrieve through ScaNN.
    plots: Write PNG plots.
    output_dir: Where eval.json, eval.md and plots go; default
      `<model_dir>/eval`.
    allow_unfinished: Evaluate the last checkpoint of a run that did not
      finish; otherwise such a run is refused.
  """

  model_dir: str
  split: str = "test"
  blend: str = ""
  ks: tuple[int, ...] = (1, 5, 10, 20, 50, 100)
  slate_k: int = 10
  scann: bool = True
  plots: bool = True
  output_dir: str = ""
  allow_unfinished: bool = False

  def __post_init__(self):
    object.__setattr__(self, "ks", tuple(sorted({int(k) for k in self.ks})))
    if not self.ks or self.ks[0] < 1:
      raise ValueError(f"ks must be positive integers, got {self.ks}.")
    if self.slate_k < 2:
      raise ValueError(
        f"slate_k must be >= 2 (diversity needs pairs), got {self.slate_k}."
      )


def natural_scale(
  model, predictions: predictions_lib.Predictions, context: str
) -> dict[str, np.ndarray]:
  """Each head's predictions on its label's own scale (probabilities;
  seconds rather than log1p seconds), the inputs of a blend."""
  out = {}
  for o in model.ranking_objectives:
    value = predictions[o.name][context]
    out[o.name] = np.expm1(value) if o.label_transform == "log1p" else value
  return out


def blend_metrics(model, blend, lists, predictions) -> dict[str, float]:
  """Ranking metrics of the blended score against every binary label,
  named `blend_{label's objective}_{metric}`."""
  scores = {
    context: blend(natural_scale(model, predictions, context))
    for context in ("logged", "serving")
  }
  targets = [
    o for o in model.ranking_objectives if o.kind in ("binary", "listwise")
  ]
  # The ground truth does not depend on the label: score it once.
  truth = ("truth_ndcg@10",) if model.spec.truth else ()
  out = {}
  for i, o in enumerate(targets):
    out.update(
      heads.score(
        f"blend_{o.name}",
        BLEND_METRICS + (truth if i == 0 else ()),
        heads.labels_of(o, lists),
        heads.applies(o, lists),
        scores,
        model.spec,
        lists,
        {},
      )
    )
  return out


def evaluate_run(config: EvaluationConfig) -> dict[str, Any]:
  """Evaluates `config.model_dir`; writes and returns eval.json's content
  (with "table", the printed table, besides)."""
  if not config.allow_unfinished:
    run_dir.check_finished(config.model_dir)
  if config.blend:  # Its syntax and constants, before the model loads.
    blend_lib.Blend.parse(config.blend, None)
  model, run = run_dir.load_model(config.model_dir)
  data, lists, train, total = _lists(config, run)
  spec = data.data.spec
  objectives = [
    dataclasses.replace(o, metrics=_available(FULL_METRICS[o.kind], spec))
    for o in model.ranking_objectives
  ]
  predictions, query = predictions_lib.predict(model, lists, 256)
  details: dict[str, Any] = {}
  metrics = heads.head_metrics(objectives, spec, lists, predictions, details)
  retrieval_objectives = [
    o for o in [model.retrieval_objective] if o is not None
  ]
  baseline = baselines_lib.baseline_metrics(
    retrieval_objectives + objectives,
    spec,
    baselines_lib.learn(
      retrieval_objectives + objectives,
      spec,
      data.chunks("train", features=False),
    ),
    lists,
    data.data.catalogue,
  )
  blend = None
  if config.blend:
    blend = blend_lib.Blend.parse(
      config.blend, [o.name for o in model.ranking_objectives]
    )
    metrics.update(blend_metrics(model, blend, lists, predictions))
  curves = {}
  if model.retrieval_objective is not None:
    curves = _retrieval(
      model, data.data, lists, train, config, query, metrics, baseline, details
    )
  full, names, every = _strong_baselines(
    model, data, lists, config.split, total, baseline
  )
  metrics.update(full)

  shown = [*retrieval_objectives, *objectives]
  if blend is not None:
    shown.append(report.Rows(name="blend", kind="listwise"))
  table = report.metrics_table(shown, metrics, baseline, names)
  output = config.output_dir or os.path.join(config.model_dir, "eval")
  os.makedirs(output, exist_ok=True)
  written = (
    _plots(config, output, details, curves, spec.name) if config.plots else []
  )
  result = {
    "metrics": metrics,
    "baselines": baseline,
    "baseline_names": names,
    "retrieval_baselines": every,
    "details": details,
    "counts": heads.count(objectives, lists),
    "lists": {"scored": dataset_lib.num_rows(lists), "of": total},
    "blend": str(blend) if blend else None,
    "split": config.split,
    "config": dataclasses.asdict(config),
    "plots": written,
  }
  run_dir.write_json(output, "eval.json", result)
  with open(os.path.join(output, "eval.md"), "w") as f:
    f.write(
      f"Evaluation of {config.model_dir} on split {config.split!r}.\n\n```\n{table}\n```\n"
    )
  result["table"] = table
  return result


def _strong_baselines(model, data, lists, split, total, baseline):
  """item-KNN and EASE^R as training's report found them (kept in the
  prepared cache), or fitted now, each replacing the baseline of a metric
  in `baseline` it beats, and the full-ranking protocol's metrics:
  `report.retrieval_baselines` on the `lists` of `split` (of `total`)."""
  return report.retrieval_baselines(
    model,
    data,
    data.data.scored(data.config.objectives, split),
    lists,
    (split, -(-total // report.TEST_LISTS)),
    baseline,
  )


def _lists(config, run):
  """The run's prepared data, the lists of `config.split` scored (an even
  sample beyond `report.TEST_LISTS`), the training lists per-user
  popularity is counted on (beyond `POPULARITY_LISTS`, a sample, without
  features) and how many lists the split holds."""
  data = cache.prepared(
    run,
    run.prepare.cache_dir or os.path.join(config.model_dir, run_dir.PREPARED),
  )
  if config.split not in data.lists:
    raise ValueError(
      f"{config.model_dir}: dataset {data.data.spec.name!r} has no split "
      f"{config.split!r}; splits: {', '.join(data.lists)}."
    )
  total = data.num_lists(config.split)
  lists = data.sample(config.split, report.TEST_LISTS)
  if dataset_lib.num_rows(lists) < total:
    logging.info(
      "Scoring an even sample of %d of the %d %s lists.",
      dataset_lib.num_rows(lists),
      total,
      config.split,
    )
  train = data.sample("train", POPULARITY_LISTS, features=False)
  return data, lists, train, total


def _retrieval(
  model, data, lists, train, config, query, metrics, baseline, details
):
  """Adds per-user and per-pair retrieval metrics on `lists`, and the
  popularity baseline's (learnt from the `train` lists); returns the recall
  curves to plot."""
  spec, catalogue = data.spec, data.catalogue
  objective = model.retrieval_objective
  popularity, users = retrieval.popularity(
    spec, train, objective.label, catalogue[spec.item_id]
  )
  embeddings = retrieval.catalogue_embeddings(model, catalogue)
  found, extra = retrieval.user_metrics(
    model,
    lists,
    catalogue,
    popularity,
    users,
    config.ks,
    config.slate_k,
    config.scann,
    embeddings,
  )
  metrics.update(found)
  details["retrieval_users"] = extra["users"]
  # The training report's recall@k, over (query, positive) pairs.
  rows, items = retrieval.positive_pairs(objective, spec, lists)
  metrics.update(
    retrieval.recall_at_k(
      objective,
      query[rows],
      items,
      catalogue[spec.item_id],
      embeddings,
    )
  )
  popular, curves = baselines_lib.popular_user_metrics(
    spec,
    objective,
    lists,
    catalogue,
    popularity,
    users,
    config.ks,
    config.slate_k,
  )
  baseline.update(popular)
  return {"model": extra["recall_at_k"], **curves}


def _available(metrics, spec):
  # Without users or ground truth, GAUC and truth NDCG have nothing to use.
  return tuple(
    m
    for m in metrics
    if not (m == "gauc" and not spec.user_id)
    and not (m.startswith("truth_") and not spec.truth)
  )


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
