"""The picture of a sweep: pareto.png, the objectives of its trials."""

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from multiobj.studies.sweep import files
from multiobj.studies.sweep.space import Objective


def plot_front(
  rows: Sequence[Mapping[str, Any]],
  objectives: Sequence[Objective],
  path: str,
) -> str:
  """Pairwise scatter of the objectives over COMPLETE trials, the Pareto
  front in red and numbered (with two objectives, joined as a staircase);
  with one objective, the metric against the trial number."""
  done = [r for r in rows if r["state"] == "COMPLETE"]
  columns = [f"metric_{o.metric}" for o in objectives]
  if len(objectives) == 1:
    fig, ax = plt.subplots(figsize=(6, 4))
    up = objectives[0].maximize
    x = [r["number"] for r in done]
    y = [r[columns[0]] for r in done]
    best = list(itertools.accumulate(y, max if up else min))
    ax.scatter(x, y, color="0.5", label="trial")
    ax.step(x, best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(_axis_label(objectives[0]))
    ax.legend()
    axes = [ax]
  else:
    pairs = list(itertools.combinations(range(len(objectives)), 2))
    width = min(3, len(pairs))
    height = math.ceil(len(pairs) / width)
    fig, grid = plt.subplots(
      height, width, figsize=(4.3 * width, 4 * height), squeeze=False
    )
    axes = list(grid.flat)
    for ax in axes[len(pairs) :]:
      ax.set_visible(False)
    for ax, (i, j) in zip(axes, pairs, strict=False):  # Spare axes: hidden.
      directions = (objectives[i].maximize, objectives[j].maximize)
      _scatter_pair(
        ax,
        done,
        columns[i],
        columns[j],
        directions if len(pairs) == 1 else None,
      )
      ax.set_xlabel(_axis_label(objectives[i]))
      ax.set_ylabel(_axis_label(objectives[j]))
    axes[0].legend(loc="best", fontsize=8)
  front = sum(bool(r["pareto"]) for r in done)
  fig.suptitle(
    f"{front} Pareto-optimal of {len(done)} complete trials"
    if done
    else "No complete trial yet",
    fontsize=11,
  )
  for ax in axes:
    ax.grid(True, alpha=0.3)
  fig.tight_layout()
  with files.replacing(path, binary=True) as f:
    fig.savefig(f, format="png", dpi=100)
  plt.close(fig)
  return path


def _axis_label(objective):
  return f"{objective.metric} ({'higher' if objective.maximize else 'lower'} is better)"


def _scatter_pair(ax, rows, x, y, maximize):
  """One panel: the columns `x` against `y`, whose objectives go in the
  directions `maximize` (a pair, or None for no staircase)."""
  front = [r for r in rows if r["pareto"]]
  others = [r for r in rows if not r["pareto"]]
  ax.scatter(
    [r[x] for r in others],
    [r[y] for r in others],
    color="0.6",
    s=25,
    label="dominated",
  )
  ax.scatter(
    [r[x] for r in front],
    [r[y] for r in front],
    color="C3",
    edgecolor="black",
    s=45,
    zorder=3,
    label="Pareto front",
  )
  for r in front:
    ax.annotate(
      str(r["number"]),
      (r[x], r[y]),
      textcoords="offset points",
      xytext=(4, 4),
      fontsize=8,
    )
  if maximize and len(front) > 1:
    # The edge of the region the front dominates: with both objectives
    # maximised (signs flipped where minimised) and x increasing, y falls;
    # each step goes down from one point, then across to the next.
    sx, sy = (1 if up else -1 for up in maximize)
    points = sorted((sx * r[x], sy * r[y]) for r in front)
    corners = [points[0]]
    for (x0, _), (x1, y1) in itertools.pairwise(points):
      corners += [(x0, y1), (x1, y1)]
    ax.plot(
      [sx * c[0] for c in corners],
      [sy * c[1] for c in corners],
      color="C3",
      alpha=0.5,
    )
