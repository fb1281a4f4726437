"""A trained model's report on a held-out split, and the table it prints.

`evaluate` scores every objective of a model on a held-out split of its data
(the test split, or validation when tuning: head metrics, recall@k over the
catalogue, the dataset's full-ranking protocol if it names one) beside the
data-only baselines, scored by the same code; `metrics_table` lays metrics and baselines out, one row a metric.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from absl import logging

from multiobj.data import dataset as dataset_lib
from multiobj.evaluate import baselines as baselines_lib
from multiobj.evaluate import (
  full_ranking,
  heads,
  neighbours,
  predictions,
  retrieval,
)
from multiobj.evaluate import memo as memo_lib
from multiobj.evaluate import served as served_lib
from multiobj.prepare import train_data as train_data_lib

# Test lists scored at most (beyond, an even sample). The baselines learn
# from every training list, read a chunk at a time.
TEST_LISTS = 200_000

BASELINE_NAMES = {
  "retrieval": full_ranking.POPULARITY,
  "binary": "item rate",
  "listwise": "item rate",
  "regression": "train mean",
}


class Section(Protocol):
  """The rows of one objective in the table: an `objectives.Objective`, or
  a `Rows` for a score that is none (a blend of the heads)."""

  name: str
  kind: str
  metrics: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Rows:
  """A section of the table that is no objective: its name, the kind whose
  baseline it stands beside, and its declared metrics (others that start
  with its name follow)."""

  name: str
  kind: str
  metrics: tuple[str, ...] = ()


def model_metrics(
  model,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  cold_items: np.ndarray | None = None,
  batch_size: int = 256,
  objectives: Sequence | None = None,
) -> dict[str, float]:
  """Every metric of every objective of `model` (or of `objectives`) on
  `lists`; with `cold_items`, retrieval also on the pairs of those items
  alone."""
  predicted, query = predictions.predict(model, lists, batch_size)
  return predicted_metrics(
    model, predicted, query, lists, catalogue, cold_items, objectives
  )


def predicted_metrics(
  model,
  predicted: predictions.Predictions,
  query: np.ndarray,
  lists: dataset_lib.Table,
  catalogue: dataset_lib.Table,
  cold_items: np.ndarray | None = None,
  objectives: Sequence | None = None,
) -> dict[str, float]:
  """`model_metrics` from the model's predictions on `lists` (which need
  their labels, ids and masks only), of the model's `objectives` (default
  every one)."""
  objectives = model.objective_list if objectives is None else objectives
  out = heads.head_metrics(objectives, model.spec, lists, predicted)
  objective = model.retrieval_objective
  if objective is not None and objective in objectives:
    rows, items = retrieval.positive_pairs(objective, model.spec, lists)
    ids = catalogue[model.spec.item_id]
    bonus = retrieval.bonus_scores(model, ids)
    out.update(
      retrieval.recall_at_k(
        objective,
        query[rows],
        items,
        ids,
        retrieval.catalogue_embeddings(model, catalogue),
        cold_items,
        bonus
        and (
          lambda pairs: bonus(
            {n: lists[n][rows[pairs]] for n in model.boost.names}
          )
        ),
      )
    )
  return out


def evaluate(
  model, data: train_data_lib.TrainData, split: str = "test"
) -> "Report":
  """The `Report` of `model` on `split` of its data ("test", or "valid"
  to tune on), with the dataset's full-ranking protocol if it names one. Each baseline is the
  strongest of those tried for its metric (retrieval: popularity, item-KNN
  and EASE^R, `neighbours.py`).

  Memory stays bounded whatever the log's size: the model is scored on all
  test lists, or beyond `TEST_LISTS` on an even sample of that many (every
  k-th list), and the baselines learn from every training list, read a
  chunk at a time without its features.
  Counts say how many lists, rows and positives each metric rests on.
  """
  catalogue, spec = data.data.catalogue, data.data.spec
  total = data.num_lists(split)
  stride = -(-total // TEST_LISTS)
  if stride > 1:
    logging.info(
      "Scoring an even sample of the %d %s lists (every %d-th).",
      total,
      split,
      stride,
    )
  # Streamed: of each batch only what the metrics read is kept.
  features = {f.name for f in spec.features} - {spec.item_id, spec.user_id}
  features -= {f.name for f in spec.features if f.boost}  # The bonus's.
  features -= {  # The history the served-history baselines read.
    f.name
    for o in data.config.objectives
    if o.kind == "retrieval" and (f := served_lib.feature(spec, o.label))
  }
  keep = [c for c in data.list_columns(split) if c not in features]
  predicted, query, lists = predictions.predict_dataset(
    model,
    data.eval_dataset(split, batch_size=256, stride=stride),
    keep,
    lists=-(-total // stride),
  )
  # Not the objectives whose labels the split lacks (a placeholder).
  objectives = data.data.scored(data.config.objectives, split)
  metrics = predicted_metrics(
    model, predicted, query, lists, catalogue, data.cold_items, objectives
  )
  baseline = baselines_lib.baseline_metrics(
    objectives,
    data.data.spec,
    baselines_lib.learn(objectives, spec, data.chunks("train", features=False)),
    lists,
    catalogue,
    cold_items=data.cold_items,
  )
  full, names, every = retrieval_baselines(
    model, data, objectives, lists, (split, stride), baseline
  )
  metrics.update(full)
  return Report(
    metrics, baseline, dict(heads.count(objectives, lists)), names, every
  )


@dataclasses.dataclass(frozen=True)
class Report:
  """`evaluate`'s results.

  Attributes:
    metrics: Every metric of the model.
    baselines: The same metrics of the strongest baseline tried for each.
    counts: Lists, rows and positives each metric rests on.
    baseline_names: Which baseline, where not the kind's usual one.
    retrieval_baselines: {baseline: its retrieval metrics} of every
      retrieval baseline tried: most popular, item-KNN, EASE^R.
  """

  metrics: dict[str, float]
  baselines: dict[str, float]
  counts: dict[str, int]
  baseline_names: dict[str, str]
  retrieval_baselines: dict[str, dict[str, float]]


def retrieval_baselines(model, data, objectives, lists, scored, baseline):
  """The full-ranking protocol's metrics on `lists`, of the split `scored`
  names (with the stride of its lists scored), and the retrieval baselines:
  item-KNN and EASE^R fitted, or read from the prepared cache where an
  earlier run on it kept them (`memo.Memo`). Where one beats the
  value in `baseline`, it replaces it there. Returns (the protocol's
  metrics, {metric: baseline name}, {baseline: its metrics})."""
  protocol = data.data.full_ranking
  memo = memo_lib.Memo(
    data.cache_dir,
    [
      [(o.name, o.kind, o.label, o.mask, o.metrics) for o in objectives],
      dataclasses.asdict(protocol) if protocol else None,
      *scored,
      data.config.baselines,
    ],
  )
  kept = memo.get()
  tried = []
  if kept is None and data.config.baselines == "all":
    tried = neighbours.fitted(data, objectives, lists)
  elif kept is None:
    logging.info(
      "Retrieval baselines: the most popular items only (--baselines=%s).",
      data.config.baselines,
    )
  full = full_ranking.protocol_metrics(
    model, data.data, tried, baselines=kept is None, split=scored[0]
  )
  if kept is not None:
    logging.info("Retrieval baselines: as an earlier run on this data found.")
    baseline.update(kept["values"])
    return full.metrics, kept["names"], kept["every"]
  names, every = _strongest(tried, baseline)
  baseline.update(full.baselines)
  names.update(full.names)
  for name, values in full.each.items():
    every.setdefault(name, {}).update(values)
  if tried or protocol is not None:  # Else nothing was fitted to keep.
    # What replaced or added a baseline: the winners and the protocol's.
    kept = {k: baseline[k] for k in (*names, *full.baselines)}
    memo.put({"values": kept, "names": names, "every": every})
  return full.metrics, names, every


def _strongest(tried, baseline):
  """Where a baseline of `tried` (`neighbours.Baseline`s) beats the one of a
  metric in `baseline`, it takes its place. Returns ({metric: the name of
  the baseline that did}, {baseline: its metrics}, popularity's first)."""
  if not tried:
    return {}, {}
  every = {
    BASELINE_NAMES["retrieval"]: {k: baseline[k] for k in tried[0].metrics}
  }
  names = {}
  for one in tried:
    every[one.name] = one.metrics
    for key, value in one.metrics.items():
      if key not in baseline or value > baseline[key]:
        baseline[key], names[key] = value, one.name
  return names, every


def metrics_table(
  objectives: Sequence[Section],
  metrics: Mapping[str, float],
  baselines: Mapping[str, float] | None = None,
  baseline_names: Mapping[str, str] | None = None,
) -> str:
  """One row per metric: objective, metric, model value, baseline value
  and which baseline (`baseline_names`, else the kind's usual one)."""
  baselines, named = baselines or {}, baseline_names or {}
  rows = [("objective", "metric", "model", "baseline", "")]
  names = [o.name for o in objectives]
  for o in objectives:
    for metric in _metric_names(o, metrics, names):
      key = f"{o.name}_{metric}"
      rows.append(
        (
          o.name,
          metric,
          _format(metrics.get(key)),
          _format(baselines.get(key)),
          named.get(key, _baseline_name(o, metric)) if key in baselines else "",
        )
      )
  widths = [max(len(r[i]) for r in rows) for i in range(5)]
  lines = []
  for i, row in enumerate(rows):
    cells = [
      row[0].ljust(widths[0]),
      row[1].ljust(widths[1]),
      row[2].rjust(widths[2]),
      row[3].rjust(widths[3]),
      row[4],
    ]
    lines.append("  ".join(cells).rstrip())
    if i == 0:
      lines.append("  ".join("-" * w for w in widths[:4]))
  return "\n".join(lines)


def _metric_names(objective, metrics, names):
  """The objective's declared metrics in order, then any other metric whose
  key starts with its name (full ranking, cold start), sorted."""
  declared = [
    m for m in objective.metrics if f"{objective.name}_{m}" in metrics
  ]
  prefix = f"{objective.name}_"
  # A key belongs to the longest objective name it starts with.
  longer = [n for n in names if n != objective.name and n.startswith(prefix)]
  extra = sorted(
    (
      key[len(prefix) :]
      for key in metrics
      if key.startswith(prefix)
      and not any(key.startswith(f"{n}_") for n in longer)
      and key[len(prefix) :] not in declared
    ),
    key=_natural,
  )
  return declared + extra


def _natural(metric):
  # recall@5 before recall@10.
  name, _, cutoff = metric.partition("@")
  number = "".join(c for c in cutoff if c.isdigit())
  return name, int(number) if number else 0, cutoff


def _baseline_name(objective, metric):
  # Full rankings and cold-start retrieval compare with popularity.
  if metric.startswith("full_") or metric.endswith(("_cold", "_among_cold")):
    return BASELINE_NAMES["retrieval"]
  return BASELINE_NAMES[objective.kind]


def _format(value: Any) -> str:
  if value is None:
    return "n/a"
  if value != value:  # NaN
    return "n/a"
  return f"{value:.4f}"
