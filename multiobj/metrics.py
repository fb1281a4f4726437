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


def calibration(labels, probabilities, num_bins: int = 10) -> dict:
  """Reliability bins, expected calibration error and calibration ratio.

  Bin b holds the predictions p with b / B <= p < (b + 1) / B (the last bin
  also holds p = 1). With n_b predictions in bin b, mean prediction p_b and
  observed positive rate o_b:

    ECE = sum_b (n_b / n) |o_b - p_b|
    calibration_ratio = mean(p) / mean(label)

  Labels count as positive when > 0. Empty bins are reported with count 0 and
  NaN means; they add nothing to ECE. The ratio is NaN without positives.

  Returns:
    {"ece", "calibration_ratio", "mean_prediction", "mean_label", "count",
     "bins": [{"lower", "upper", "count", "mean_predicted", "observed_rate"}]}.

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
  edges = np.arange(num_bins + 1) / num_bins
  b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, num_bins - 1)
  count = np.bincount(b, minlength=num_bins)
  sum_p = np.bincount(b, weights=p, minlength=num_bins)
  sum_y = np.bincount(b, weights=y, minlength=num_bins)
  n = len(p)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_p, mean_y = sum_p / count, sum_y / count
    mean_prediction, mean_label = p.sum() / n, y.sum() / n
  keys = ("lower", "upper", "count", "mean_predicted", "observed_rate")
  columns = [c.tolist() for c in (edges[:-1], edges[1:], count, mean_p, mean_y)]
  return {
    "ece": float(np.abs(sum_y - sum_p).sum() / n) if n else float("nan"),
    "calibration_ratio": (
      float(mean_prediction / mean_label) if y.any() else float("nan")
    ),
    "mean_prediction": float(mean_prediction),
    "mean_label": float(mean_label),
    "count": n,
    "bins": [
      dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)
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


def _slate_items(slates, num_items: int) -> tuple[np.ndarray, np.ndarray]:
  """Checks [num_users, k] item indices (-1 = no item); returns them, valid."""
  slates = np.asarray(slates)
  if slates.ndim != 2 or not np.issubdtype(slates.dtype, np.integer):
    raise ValueError(
      f"slates must be a 2-D int array, got {slates.dtype} "
      f"of shape {slates.shape}."
    )
  if slates.size and (slates.min() < -1 or slates.max() >= num_items):
    raise ValueError(f"slates hold indices outside [-1, {num_items}).")
  return slates, slates >= 0


def catalogue_coverage(slates, num_items: int) -> float:
  """Distinct recommended items / `num_items`; -1 entries are padding.

  >>> catalogue_coverage([[0, 1], [1, -1]], num_items=4)
  0.5
  """
  slates, valid = _slate_items(slates, num_items)
  seen = np.zeros(num_items, dtype=bool)
  seen[slates[valid]] = True
  return float(seen.sum() / num_items)


def intra_list_diversity(
  slates, item_categories=None, item_embeddings=None
) -> tuple[float, dict[str, int]]:
  """Mean over slates of the dissimilarity of their pairs of items.

  Pass exactly one of:
    item_categories: [num_items] labels; a pair is dissimilar when its
      categories differ, so a slate of n items scores
      1 - sum_c n_c (n_c - 1) / (n (n - 1)), n_c items in category c.
    item_embeddings: [num_items, D]; a pair scores its cosine distance
      1 - cos(e_i, e_j), so a slate scores
      1 - (||sum_i u_i||^2 - sum_i ||u_i||^2) / (n (n - 1)), u = e / ||e||;
      a zero embedding counts as similarity 0 (distance 1) to everything.

  Pairs are of slate positions: an item listed twice is a similar pair.
  Slates with fewer than two items have no pair and are left out.

  Returns:
    (diversity, {"slates": slates used, "skipped_short": slates left out});
    diversity is NaN when no slate has two items.

  >>> categories = [5, 5, 6, 6]  # Slate 1 pairs: 3, one of them same-category.
  >>> intra_list_diversity([[0, 1, 2], [3, -1, -1]], item_categories=categories)
  (0.6666666666666667, {'slates': 1, 'skipped_short': 1})
  """
  if (item_categories is None) == (item_embeddings is None):
    raise ValueError("Pass exactly one of item_categories, item_embeddings.")
  if item_categories is not None:
    _, codes = np.unique(np.asarray(item_categories), return_inverse=True)
    slates, valid = _slate_items(slates, len(codes))
    cats = np.sort(np.where(valid, codes[np.maximum(slates, 0)], -1), axis=1)
    first = np.ones_like(valid)
    first[:, 1:] = cats[:, 1:] != cats[:, :-1]
    starts = np.flatnonzero(first)
    length = np.diff(np.r_[starts, cats.size])
    real = cats.ravel()[starts] >= 0
    same = np.bincount(
      (starts // cats.shape[1])[real],
      weights=length[real] * (length[real] - 1.0),
      minlength=len(cats),
    )
  else:
    emb = np.asarray(item_embeddings, dtype=np.float64)
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norm, out=np.zeros_like(emb), where=norm > 0)
    slates, valid = _slate_items(slates, len(unit))
    nonzero = (norm[:, 0] > 0)[np.maximum(slates, 0)] & valid
    same = -nonzero.sum(axis=1).astype(np.float64)  # sum_i ||u_i||^2
    step = max(1, 2**22 // max(1, slates.shape[1] * emb.shape[1]))
    for i in range(0, len(slates), step):  # At most 2^22 floats at a time.
      rows = slice(i, i + step)
      u = unit[np.maximum(slates[rows], 0)] * valid[rows, :, None]
      same[rows] += np.square(u.sum(axis=1)).sum(axis=1)
  n = valid.sum(axis=1).astype(np.float64)
  ok = n >= 2
  info = {"slates": int(ok.sum()), "skipped_short": int((~ok).sum())}
  if not ok.any():
    return float("nan"), info
  return float(np.mean(1 - same[ok] / (n[ok] * (n[ok] - 1)))), info


def novelty(slates, item_popularity, num_users: int | None = None) -> float:
  """Mean self-information of the recommended items, in bits.

  novelty = mean over recommended items i of -log2(p_i), p_i = pop_i / U,
  where pop_i is the number of users who interacted with item i and U is
  `num_users` (default: the number of slates), as in Zhou et al. (2010) and
  Castells et al.'s self-information novelty. Items with zero popularity are
  floored at one user, p_i = 1 / U, the novelty of an item seen once. The
  mean runs over all valid (non -1) slate entries. NaN when there are none.

  >>> novelty([[0, 1], [2, -1]], item_popularity=[2, 1, 0], num_users=4)
  1.6666666666666667
  """
  pop = np.asarray(item_popularity, dtype=np.float64)
  slates, valid = _slate_items(slates, len(pop))
  num_users = len(slates) if num_users is None else num_users
  if pop.min(initial=0) < 0 or pop.max(initial=0) > num_users:
    raise ValueError(f"item_popularity must count users, in [0, {num_users}].")
  bits = np.log2(num_users) - np.log2(np.maximum(pop, 1.0))
  items = slates[valid]
  return float(bits[items].mean()) if items.size else float("nan")


def popularity_percentile(slates, item_popularity) -> float:
  """Mean popularity percentile of the recommended items, in [0, 1].

  An item's percentile is (rank - 1) / (num_items - 1), rank the 1-based
  rank of its popularity in the catalogue with ties given their average rank:
  0 is the least popular item, 1 the most popular, and equally popular items
  share a value (0.5 when all are equal). The mean runs over all valid
  (non -1) slate entries. NaN when there are none.

  >>> # Ranks 4, 2.5, 2.5, 1: percentiles 1, 1/2, 1/2, 0.
  >>> popularity_percentile([[0, 1], [2, -1]], item_popularity=[9, 1, 1, 0])
  0.6666666666666666
  """
  pop = np.asarray(item_popularity, dtype=np.float64)
  slates, valid = _slate_items(slates, len(pop))
  n = len(pop)
  pct = (average_ranks(pop) - 1) / (n - 1) if n > 1 else np.full(n, 0.5)
  items = slates[valid]
  return float(pct[items].mean()) if items.size else float("nan")
