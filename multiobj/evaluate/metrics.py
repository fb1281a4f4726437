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
  # The positives' rank sum (ties given the mean of the ranks they span),
  # run by run of equal scores: exact (half-integers), and without an array
  # of every rank (AUC over millions of rows is evaluation's peak).
  order = np.argsort(scores, kind="mergesort")
  ordered = scores[order]
  positive = labels[order]
  del order
  starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
  del ordered
  ends = np.r_[starts[1:], len(positive)]
  rank_sum = np.dot(
    (starts + ends + 1) / 2.0, np.add.reduceat(positive, starts, dtype=np.int64)
  )
  return float((rank_sum - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


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
  # In place: each row's log(p) or log(1 - p), in one array.
  p = np.array(probabilities, dtype=np.float64)
  np.clip(p, eps, 1 - eps, out=p)
  np.subtract(1.0, p, out=p, where=~(np.asarray(labels) > 0))
  return float(-np.mean(np.log(p, out=p)))


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


def gauc(labels, scores, groups) -> tuple[float, dict[str, int]]:
  """Group AUC: the AUC of each group (user), weighted by its impressions.

  GAUC = sum_g n_g AUC_g / sum_g n_g over the groups g that hold both classes,
  n_g being the number of rows of g; ties count one half, as in `auc`. Groups
  with only positives or only negatives have no AUC and are skipped.

  Returns:
    (GAUC, {"groups": groups used, "skipped_single_class": groups skipped});
    GAUC is NaN when no group holds both classes.

  >>> gauc([1, 0, 1, 1, 0, 1], [.9, .1, .2, .5, .5, .3], [7, 7, 8, 8, 8, 9])
  (0.55, {'groups': 2, 'skipped_single_class': 1})
  """
  labels = np.asarray(labels) > 0
  scores = np.asarray(scores, dtype=np.float64)
  _, group = np.unique(np.asarray(groups), return_inverse=True)
  if not len(labels) == len(scores) == len(group):
    raise ValueError("labels, scores and groups must be equally long.")
  if not len(labels):
    return float("nan"), {"groups": 0, "skipped_single_class": 0}
  order = np.lexsort((scores, group))
  group, s, y = group[order], scores[order], labels[order]
  n = len(y)
  new_group = np.r_[True, group[1:] != group[:-1]]
  starts = np.flatnonzero(new_group | np.r_[True, s[1:] != s[:-1]])
  ends = np.r_[starts[1:], n]
  # Global mid-rank of each run of tied scores, less the group's offset.
  ranks = np.repeat((starts + ends + 1) / 2.0, ends - starts)
  group_starts = np.flatnonzero(new_group)
  gid = np.cumsum(new_group) - 1
  ranks -= group_starts[gid]
  size = np.diff(np.r_[group_starts, n])
  pos = np.bincount(gid, weights=y, minlength=len(size))
  rank_sum = np.bincount(gid, weights=ranks * y, minlength=len(size))
  neg = size - pos
  ok = (pos > 0) & (neg > 0)
  info = {"groups": int(ok.sum()), "skipped_single_class": int((~ok).sum())}
  if not ok.any():
    return float("nan"), info
  pos, neg, rank_sum, size = pos[ok], neg[ok], rank_sum[ok], size[ok]
  group_auc = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
  return float(np.sum(size * group_auc) / np.sum(size)), info


# The normal quantile of a two-sided 95% interval.
_Z95 = 1.959963984540054
# What `calibration` reports of each bin.
_BIN_KEYS = (
  "lower",
  "upper",
  "count",
  "mean_predicted",
  "observed_rate",
  "observed_low",
  "observed_high",
)


def wilson_interval(
  positives: np.ndarray, count: np.ndarray, z: float = _Z95
) -> tuple[np.ndarray, np.ndarray]:
  """Wilson's score interval of each rate positives / count (95% by
  default); NaN where count is 0."""
  k, n = np.asarray(positives, np.float64), np.asarray(count, np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    centre = (k + z * z / 2) / (n + z * z)
    half = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
  return (
    np.where(n > 0, centre - half, np.nan),
    np.where(n > 0, centre + half, np.nan),
  )


def calibration(
  labels, probabilities, num_bins: int = 10, strategy: str = "uniform"
) -> dict:
  """Reliability bins, expected calibration error and calibration ratio.

  With strategy "uniform", bin b holds the predictions p with
  b / B <= p < (b + 1) / B (the last bin also holds p = 1); with "quantile",
  the edges are quantiles of the predictions, so each bin holds about n / B
  of them, which suits rare events whose predictions all sit near 0. With n_b
  predictions in bin b, mean prediction p_b and observed positive rate o_b:

    ECE = sum_b (n_b / n) |o_b - p_b|
    calibration_ratio = mean(p) / mean(label)

  Labels count as positive when > 0. Empty bins are reported with count 0 and
  NaN means; they add nothing to ECE. The ratio is NaN without positives.
  Each bin's observed rate comes with its 95% Wilson score interval
  (`observed_low`, `observed_high`): with k positives of n, z = 1.96,
  (k + z^2/2 +- z sqrt(k (n - k) / n + z^2 / 4)) / (n + z^2); it stays
  inside [0, 1] and is honest for the few positives of rare events.

  Returns:
    {"ece", "calibration_ratio", "mean_prediction", "mean_label", "count",
     "bins": [{"lower", "upper", "count", "mean_predicted", "observed_rate",
     "observed_low", "observed_high"}]}.

  >>> c = calibration([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.4], num_bins=2)
  >>> round(c["ece"], 6), round(c["calibration_ratio"], 6)  # (.25 + .15) / 2
  (0.2, 1.1)
  """
  y = (np.asarray(labels) > 0).astype(np.float64)
  p = np.asarray(probabilities, dtype=np.float64)
  if num_bins < 1:
    raise ValueError(f"num_bins must be at least 1, got {num_bins}.")
  if not np.all((p >= 0) & (p <= 1)):
    raise ValueError("probabilities must lie in [0, 1] (and not be NaN).")
  if strategy == "uniform":
    edges = np.arange(num_bins + 1) / num_bins
  elif strategy == "quantile":
    edges = (
      np.quantile(p, np.arange(num_bins + 1) / num_bins)
      if len(p)
      else np.arange(2.0)
    )
    edges[0], edges[-1] = 0.0, 1.0
  else:
    raise ValueError(
      f"strategy must be 'uniform' or 'quantile', got {strategy!r}."
    )
  b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, num_bins - 1)
  count = np.bincount(b, minlength=num_bins)
  sum_p = np.bincount(b, weights=p, minlength=num_bins)
  sum_y = np.bincount(b, weights=y, minlength=num_bins)
  n = len(p)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_p, mean_y = sum_p / count, sum_y / count
    mean_prediction, mean_label = p.sum() / n, y.sum() / n
  low, high = wilson_interval(sum_y, count)
  columns = [
    c.tolist()
    for c in (edges[:-1], edges[1:], count, mean_p, mean_y, low, high)
  ]
  return {
    "ece": float(np.abs(sum_y - sum_p).sum() / n) if n else float("nan"),
    "calibration_ratio": (
      float(mean_prediction / mean_label) if y.any() else float("nan")
    ),
    "mean_prediction": float(mean_prediction),
    "mean_label": float(mean_label),
    "count": n,
    "bins": [
      dict(zip(_BIN_KEYS, row, strict=True))
      for row in zip(*columns, strict=True)
    ],
  }


def _tied_runs(labels, scores, valid):
  """Sorts each list with a positive by score; describes its runs of ties.

  Returns [M, L] arrays over the M lists with a valid positive: 1-based
  position, relevance, and for the run of tied scores holding each entry, the
  entries before it, its length, its positives and the positives before it.
  Invalid entries go last, in runs of their own.
  """
  valid = np.asarray(valid, dtype=bool)
  rel = (np.asarray(labels) > 0) & valid
  keep = rel.any(axis=1)
  rel, valid = rel[keep], valid[keep]
  scores = np.asarray(scores, dtype=np.float64)[keep]
  order = np.lexsort((-scores, ~valid), axis=-1)
  rel, valid, scores = (
    np.take_along_axis(x, order, axis=1) for x in (rel, valid, scores)
  )
  num_lists, size = rel.shape
  first = np.zeros_like(valid)
  first[:, 0] = True
  first[:, 1:] |= (scores[:, 1:] != scores[:, :-1]) | (
    valid[:, 1:] != valid[:, :-1]
  )
  starts = np.flatnonzero(first)
  run = np.cumsum(first.ravel()) - 1
  length = np.diff(np.r_[starts, num_lists * size])
  positives = np.add.reduceat(rel.ravel().astype(np.float64), starts)
  before = (np.cumsum(rel, axis=1) - rel).ravel()[starts]
  run_start = starts % size
  position = np.broadcast_to(np.arange(1, size + 1), rel.shape)
  per_run = (run_start, length, positives, before)
  return position, rel, *(x[run].reshape(rel.shape) for x in per_run)


def mean_reciprocal_rank(labels, scores, valid, k: int | None = None) -> float:
  """MRR@k over the lists with a positive (label > 0) among valid entries.

  MRR@k = mean over lists of 1 / rank of the first positive, 0 when that rank
  exceeds k (k = None: whole list). Ties count as their expectation over a
  random order of the tied entries, as `auc` counts ties one half: with m
  tied entries holding r positives and no positive ranked above them, the
  first positive is the j-th of the run with probability
  (r / m) prod_{i < j - 1} (m - r - i) / (m - 1 - i). Without ties this is
  `tfr.keras.metrics.MRRMetric(topn=k)` (which also averages in a 0 for
  every list without a positive). NaN when no list has a positive.

  >>> mean_reciprocal_rank([[0, 1, 0], [0, 1, 1]], [[3, 2, 1], [1, 1, 1]],
  ...                      [[1, 1, 1], [1, 1, 0]])  # (1/2 + (1/2 + 1/4)) / 2
  0.625
  """
  position, rel, start, length, positives, before = _tied_runs(
    labels, scores, valid
  )
  if not len(rel):
    return float("nan")
  k = rel.shape[1] if k is None else k
  in_run = (before == 0) & (positives > 0)
  j = position - start  # 1-based place within the run.
  # P(entry j of the run is negative | the j - 1 before it are).
  neg = np.where(
    in_run & (j < length),
    (length - positives - j + 1) / np.maximum(length - j, 1),
    1.0,
  )
  none_before = np.cumprod(np.c_[np.ones(len(rel)), neg[:, :-1]], axis=1)
  p_first = np.where(in_run, positives / length * none_before, 0.0)
  rr = np.sum(p_first * (position <= k) / position, axis=1)
  return float(np.mean(rr))


def mean_average_precision(
  labels, scores, valid, k: int | None = None
) -> float:
  """MAP@k over the lists with a positive (label > 0) among valid entries.

  AP@k = sum_{i <= k} P@i rel_i / R, with R the positives of the whole list
  (as TF-Ranking divides). With ties, the expectation over a random order of
  the tied entries: an entry j of a run of m tied entries holding r
  positives, with R_b positives ranked above the run, adds
  (r / m) (R_b + 1 + (j - 1)(r - 1) / (m - 1)) / i at list position i.
  Without ties this is `tfr.keras.metrics.MeanAveragePrecisionMetric(topn=k)`
  (which also averages in a 0 for every list without a positive). NaN when
  no list has a positive.

  >>> # Positives at ranks 1 and 3: (1/1 + 2/3) / 2.
  >>> mean_average_precision([[1, 0, 1]], [[3, 2, 1]], [[1, 1, 1]])
  0.8333333333333333
  """
  position, rel, start, length, positives, before = _tied_runs(
    labels, scores, valid
  )
  if not len(rel):
    return float("nan")
  k = rel.shape[1] if k is None else k
  j = position - start
  others = (j - 1) * (positives - 1) / np.maximum(length - 1, 1)
  hits = positives / length * (before + 1 + others)
  ap = np.sum(hits * (position <= k) / position, axis=1) / rel.sum(axis=1)
  return float(np.mean(ap))
