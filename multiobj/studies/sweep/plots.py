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


# Where a label may go around its point (offset in points), nearest first.
_OFFSETS = (
  (4, 3),
  (4, -10),
  (-4, 3),
  (-4, -10),
  (4, 11),
  (-4, 11),
  (4, -18),
  (-4, -18),
  (10, -4),
  (-10, -4),
  (4, 19),
  (-4, 19),
  (4, -26),
  (-4, -26),
)


def label_points(ax, points, fontsize: float = 7) -> None:
  """Writes each (x, y, text, color) beside its point where it overlaps no
  label and no point already there (the first free place of `_OFFSETS`, in
  screen space); where none is free, at the least crowded one, with a line
  to its point. Every point is labelled, near ones included."""
  ax.autoscale_view()
  scale = ax.figure.dpi / 72  # Pixels a point.
  char, line = 0.62 * fontsize * scale, 1.2 * fontsize * scale
  at = ax.transData.transform([(p[0], p[1]) for p in points]) if points else []
  r = 4 * scale
  taken = [(px - r, py - r, px + r, py + r) for px, py in at]
  for (px, py), (x, y, text, color) in zip(at, points, strict=True):
    width = char * len(text)
    best, crowd = None, None
    for dx, dy in _OFFSETS:
      left = px + dx * scale - (width if dx < 0 else 0)
      box = (left, py + dy * scale, left + width, py + dy * scale + line)
      overlap = sum(_overlap(box, t) for t in taken)
      if crowd is None or overlap < crowd:
        best, crowd = (dx, dy, box), overlap
      if not overlap:
        break
    dx, dy, box = best
    far = crowd > 0 or abs(dy) > 11
    ax.annotate(
      text,
      (x, y),
      textcoords="offset points",
      xytext=(dx, dy),
      ha="right" if dx < 0 else "left",
      va="bottom",
      fontsize=fontsize,
      color=color,
      arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.5}
      if far
      else None,
    )
    taken.append(box)


def _overlap(a, b) -> float:
  """The area two (left, bottom, right, top) boxes share."""
  w = min(a[2], b[2]) - max(a[0], b[0])
  h = min(a[3], b[3]) - max(a[1], b[1])
  return w * h if w > 0 and h > 0 else 0.0


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
  ax.margins(0.08)  # Room for the labels at the edges.
  label_points(
    ax,
    [(r[x], r[y], str(r["number"]), "black") for r in front]
    + [(r[x], r[y], str(r["number"]), "0.45") for r in others],
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
