"""Plain NumPy metrics with exact tie handling.

Ranking metrics within lists (NDCG) come from TF-Ranking and retrieval
metrics from TFRS; these are the pointwise ones, computed exactly rather than
with Keras' threshold-bucket approximation, which is coarse for rare positives
such as purchases.
"""

import numpy as np


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve; tied scores count one half.

  Equals the probability that a random positive outscores a random negative.
  Returns NaN when `labels` hold only one class.

  >>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
  0.75
  >>> auc(np.array([0, 1]), np.array([0.5, 0.5]))
  0.5
  """
  labels = np.asarray(labels) > 0
  scores = np.asarray(scores, dtype=np.float64)
  num_pos = int(labels.sum())
  num_neg = len(labels) - num_pos
  if num_pos == 0 or num_neg == 0:
    return float("nan")
  ranks = average_ranks(scores)
  return float(
    (ranks[labels].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg)
  )


def average_ranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks of `x`, ties given the mean of the ranks they span."""
  order = np.argsort(x, kind="mergesort")
  sorted_x = x[order]
  # Start of each run of equal values, and the run each element falls in.
  starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
  ends = np.r_[starts[1:], len(x)]
  run = np.repeat(np.arange(len(starts)), ends - starts)
  ranks = np.empty(len(x), dtype=np.float64)
  ranks[order] = (starts[run] + ends[run] + 1) / 2.0
  return ranks


def logloss(
  labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7
) -> float:
  """Mean binary cross entropy of probabilities (clipped to [eps, 1 - eps]).

  >>> round(logloss(np.array([1, 0]), np.array([0.5, 0.5])), 6)  # log 2
  0.693147
  """
  y = (np.asarray(labels) > 0).astype(np.float64)
  p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
  return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def rmse(labels: np.ndarray, predictions: np.ndarray) -> float:
  """Root mean squared error.

  >>> rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0]))  # sqrt(25 / 2)
  3.5355339059327378
  """
  d = np.asarray(labels, np.float64) - np.asarray(predictions, np.float64)
  return float(np.sqrt(np.mean(d**2)))


def mae(labels: np.ndarray, predictions: np.ndarray) -> float:
  """Mean absolute error.

  >>> mae(np.array([0.0, 0.0]), np.array([3.0, -4.0]))
  3.5
  """
  d = np.asarray(labels, np.float64) - np.asarray(predictions, np.float64)
  return float(np.mean(np.abs(d)))
