"""The metrics table printed at the end of a run."""

from collections.abc import Mapping, Sequence
from typing import Any

import objectives as objectives_lib

BASELINE_NAMES = {
  "retrieval": "most popular",
  "binary": "item rate",
  "listwise": "item rate",
  "regression": "train mean",
}


def metrics_table(
  objectives: Sequence[objectives_lib.Objective],
  metrics: Mapping[str, float],
  baselines: Mapping[str, float] | None = None,
) -> str:
  """One row per metric: objective, metric, model value, baseline value."""
  baselines = baselines or {}
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
          _baseline_name(o, metric) if key in baselines else "",
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
