"""Pictures of an evaluation: calibration curves and recall at every k.

Matplotlib with the Agg backend, so no display is needed.
"""

import os
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def calibration_curve(
  calibration: Mapping[str, Any], head: str, path: str
) -> str:
  """Predicted against observed rate per bin (`metrics.calibration`'s bins)
  with each rate's 95% interval and its count of predictions; the diagonal
  is perfect calibration."""
  bins = [b for b in calibration["bins"] if b["count"] > 0]
  predicted = np.array([b["mean_predicted"] for b in bins])
  observed = np.array([b["observed_rate"] for b in bins])
  low = np.array([b.get("observed_low", b["observed_rate"]) for b in bins])
  high = np.array([b.get("observed_high", b["observed_rate"]) for b in bins])
  counts = np.array([b["count"] for b in bins], np.float64)
  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  top = max(predicted.max(initial=0), high.max(initial=0), 1e-3) * 1.05
  ax.plot([0, top], [0, top], color="0.6", linestyle="--", label="perfect")
  ax.plot(predicted, observed, color="C0", linewidth=1)
  ax.errorbar(
    predicted,
    observed,
    yerr=[observed - low, high - observed],
    fmt="o",
    color="C0",
    capsize=2,
    markersize=4,
    label=f"{head} (95% interval)",
  )
  # Counts: in the title when the bins hold about as many (equal-count
  # bins), else above each bar.
  even = len(counts) and counts.max() <= 1.1 * counts.min()
  for x, y, n in zip(predicted, high, [] if even else counts, strict=False):
    ax.annotate(
      f"{n:,.0f}",
      (x, y),
      textcoords="offset points",
      xytext=(0, 3),
      ha="center",
      fontsize=6,
      color="0.3",
    )
  ax.set_xlim(0, top)
  ax.set_ylim(0, top)
  ax.set_xlabel("mean predicted probability")
  ax.set_ylabel("observed rate")
  ax.set_title(
    f"{head}: {len(bins)} bins of "
    f"{f'about {counts.mean():,.0f}' if even else 'n (above the bars)'} "
    f"predictions, ECE {calibration['ece']:.4f}\n"
    f"mean predicted {calibration['mean_prediction']:.4f}, "
    f"observed {calibration['mean_label']:.4f}",
    fontsize=10,
  )
  ax.legend(loc="upper left")
  return _save(fig, path)


def recall_curve(
  curves: Mapping[str, np.ndarray], path: str, title: str = ""
) -> str:
  """Recall at every k from 1, one line per curve (model, baseline)."""
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, recall in curves.items():
    ax.plot(np.arange(1, len(recall) + 1), recall, label=name)
  ax.set_xscale("log")
  ax.set_xlabel("k (items retrieved from the whole catalogue)")
  ax.set_ylabel("recall@k")
  ax.set_ylim(0, 1)
  ax.grid(True, which="both", alpha=0.3)
  ax.set_title(title)
  ax.legend(loc="upper left")
  return _save(fig, path)


def _save(fig, path):
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
