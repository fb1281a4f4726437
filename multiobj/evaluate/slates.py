"""Beyond-accuracy metrics of top-k slates: coverage, diversity, novelty,
popularity bias.

A slate is the list of items a model would show one user; `slates` is an int
array [num_users, k] of catalogue row indices, -1 padding a slate shorter than
k. No function builds a users x items matrix.
"""

import numpy as np

from multiobj.evaluate import metrics


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
  pct = (metrics.average_ranks(pop) - 1) / (n - 1) if n > 1 else np.full(n, 0.5)
  items = slates[valid]
  return float(pct[items].mean()) if items.size else float("nan")
