"""The strongest simple retrieval baselines: EASE^R and item-KNN.

Neural recommenders often lose to a tuned item-KNN or to EASE^R (Dacrema
et al., RecSys 2019; Steck, WWW 2019), so every retrieval metric is also
reported for them, scored by the same rule as the towers. Both learn from
the training positives of the retrieval objective's label, a 0/1 matrix X
of users by catalogue items:

  EASE^R    B = I - P / diag(P), P = (X'X + lambda I)^-1 (Steck's closed
            form, no item its own neighbour); a user's scores are x_u B.
            It needs a dense items x items matrix and its inverse: above
            `MAX_EASE_ITEMS` items it is skipped, and the log says so.
  item-KNN  cosine similarity of the items' columns of X, each item's `k`
            most similar kept (sparse); a user's scores are x_u S.

Each chooses its one parameter (lambda, k) on the validation split by the
retrieval objective's recall at its largest cutoff, then scores the test
split: for each positive (list, item) pair, whether the item is among the
top K of the whole catalogue for the list's user, as `recall_at_k` does for
the towers. A user with no training positive gets the most popular items
(popularity only breaks ties, far below any other score). Where the query
is an ordered history, each is also scored from the history served with
each pair (`served.py`).
"""

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import tensorflow as tf
from absl import logging

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.evaluate import retrieval
from multiobj.evaluate import served as served_lib
from multiobj.prepare import lists as lists_lib

LAMBDAS = (10.0, 100.0, 500.0, 1000.0, 3000.0, 10000.0, 30000.0)
NEIGHBOURS = (10, 50, 100, 200, 500, 1000, 2000)
# EASE^R's items x items float32 matrix takes 4 n^2 bytes (1.6 GB at
# 20,000 items) and its inversion n^3 operations (minutes on 2 cores).
MAX_EASE_ITEMS = 20_000
# item-KNN's cosine matrix is dense up to this many items (100 MB).
DENSE_KNN_ITEMS = 5_000
# Validation pairs a parameter is chosen on, at most (an even sample).
VALID_PAIRS = 5_000
# Scores held at once: [users, items] float32 of about 256 MB.
SCORES = 64_000_000

ScoresFn = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Interactions:
  """The training positives as a users x items 0/1 matrix.

  Attributes:
    users: Sorted user ids, one per row of `matrix`.
    matrix: CSR [users, items], items in catalogue order.
  """

  users: np.ndarray
  matrix: sp.csr_matrix

  def rows_of(self, user_ids: np.ndarray) -> np.ndarray:
    """Each user's row, or -1 for a user with no training positive."""
    if not len(self.users):
      return np.full(len(user_ids), -1)
    where = np.minimum(
      np.searchsorted(self.users, user_ids), len(self.users) - 1
    )
    return np.where(self.users[where] == user_ids, where, -1)

  def vectors(self, user_ids: np.ndarray) -> sp.csr_matrix:
    """[len(user_ids), items] of those users (zero rows for unknown ones)."""
    rows = self.rows_of(user_ids)
    out = self.matrix[np.maximum(rows, 0)]
    return sp.diags((rows >= 0).astype(np.float32)) @ out


def interactions(
  spec: spec_lib.DatasetSpec,
  label: str | Sequence[str],
  chunks: Iterable[dataset_lib.Table],
  catalogue_ids: np.ndarray,
) -> Interactions:
  """The (user, item) pairs of training slots whose `label` (or any of
  several) is positive, read a chunk of lists at a time."""
  users, items = pairs(spec, label, chunks, catalogue_ids)
  unique, row = np.unique(users, return_inverse=True)
  matrix = sp.csr_matrix(
    (np.ones(len(row), np.float32), (row.reshape(-1), items)),
    shape=(len(unique), len(catalogue_ids)),
  )
  matrix.data[:] = 1.0  # A pair seen twice counts once.
  return Interactions(unique, matrix)


def pairs(
  spec: spec_lib.DatasetSpec,
  label: str | Sequence[str],
  chunks: Iterable[dataset_lib.Table],
  catalogue_ids: np.ndarray,
  of: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """(user ids, catalogue rows of the items) of the slots of the lists in
  `chunks` whose `label` (or any of several) is positive (items not in the
  catalogue left out); with `of`, that column's value of each slot in
  place of the user id (a served history, which stands for its user)."""
  order = np.argsort(catalogue_ids, kind="stable")
  sorted_ids = catalogue_ids[order]
  labels = [label] if isinstance(label, str) else list(label)
  users, items = [], []
  for chunk in chunks:
    positive = np.any([chunk[b] > 0 for b in labels], axis=0)
    rows, slots = np.nonzero(positive & (chunk[lists_lib.MASK] > 0))
    ids = chunk[spec.item_id][rows, slots]
    where = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    known = sorted_ids[where] == ids
    column = chunk[of] if of else _per_list(chunk[spec.user_id])
    value = column[rows] if column.ndim == 1 else column[rows, slots]
    users.append(value[known])
    items.append(order[where][known])
  if not users:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  return np.concatenate(users), np.concatenate(items)


def _per_list(column: np.ndarray) -> np.ndarray:
  """A query column of lists, [N] or [N, L], as one value a list."""
  return column if column.ndim == 1 else column[:, 0]


def ease(x: sp.csr_matrix, lam: float) -> np.ndarray:
  """EASE^R's [items, items] weights for one regularisation `lam`."""
  return ease_family(x)(lam)


def ease_family(x: sp.csr_matrix) -> Callable[[float], np.ndarray]:
  """lambda -> EASE^R's weights, from one Gram matrix X'X. Each lambda
  inverts X'X + lambda I (symmetric positive definite) from its Cholesky
  factor with LAPACK's potrf and potri in single precision: n^3 / 2
  multiply-adds, against n^3 for a Cholesky solve against the identity,
  and 3.6 times faster than the same in double precision (4,000 items: 1.7
  s against 6.3 s), whose inverse it matches to 4e-7 of its largest entry
  (counts in X'X are exact in float32 up to 2^24 users, and lambda >= 10
  keeps the matrix well conditioned). Besides the Gram matrix, a lambda
  holds one more items x items float32 matrix, worked in place."""
  gram = (x.T @ x).toarray().astype(np.float32)

  def weights(lam: float) -> np.ndarray:
    # Column-major, so that LAPACK works on it in place, not on a copy.
    a = np.array(gram, order="F")
    a[np.diag_indices_from(a)] += lam
    factor, info = scipy.linalg.lapack.spotrf(a, lower=1, overwrite_a=1)
    if info == 0:
      p, info = scipy.linalg.lapack.spotri(factor, lower=1, overwrite_c=1)
    if info != 0:  # Not positive definite: only if lambda <= 0.
      raise ValueError(f"EASE^R: X'X + {lam:g} I cannot be inverted.")
    del a, factor
    _mirror_lower(p)
    return _weights(p)

  return weights


def _mirror_lower(p: np.ndarray, block: int = 1024) -> None:
  """Copies the lower triangle of the square `p` onto its upper one (potri
  fills the lower only), a band of `block` rows at a time: no index arrays
  or copies of the whole matrix."""
  n = len(p)
  for start in range(0, n, block):
    stop = min(start + block, n)
    p[start:stop, stop:] = p[stop:, start:stop].T
    square = p[start:stop, start:stop]
    square[...] = np.tril(square) + np.tril(square, -1).T


def _weights(p: np.ndarray) -> np.ndarray:
  """B = I - P / diag(P), no item its own neighbour, as float32 (`p` is
  overwritten)."""
  diagonal = np.diag(p).copy()
  p /= -diagonal[None, :]
  p[np.diag_indices_from(p)] = 0.0
  return p.astype(np.float32, copy=False)


def item_knn(x: sp.csr_matrix, k: int) -> sp.csr_matrix:
  """Cosine similarities of the items, each item's column keeping its `k`
  largest (no item its own neighbour)."""
  return item_knn_family(x)(k)


def item_knn_family(x: sp.csr_matrix) -> Callable[[int], sp.csr_matrix]:
  """k -> item-KNN's weights, from one cosine matrix: dense, each k a
  partial sort of its columns, up to `DENSE_KNN_ITEMS` items; beyond,
  sparse, its entries ranked within their column once."""
  n = x.shape[1]
  if n <= DENSE_KNN_ITEMS:
    gram = (x.T @ x).toarray().astype(np.float32)
    norms = np.sqrt(np.diag(gram)).copy()
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    cosine = gram * inverse[:, None] * inverse[None, :]
    np.fill_diagonal(cosine, 0.0)  # No item its own neighbour.

    def dense(k: int) -> sp.csr_matrix:
      if k >= n:
        return sp.csr_matrix(cosine)
      # Each column's k largest: those not below its k-th largest value.
      kth = -np.partition(-cosine, k - 1, axis=0)[k - 1]
      kept = np.where(cosine >= kth[None, :], cosine, 0.0)
      return sp.csr_matrix(kept)

    return dense
  gram = (x.T @ x).tocoo()
  norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
  off = gram.row != gram.col  # No item its own neighbour.
  rows, cols = gram.row[off], gram.col[off]
  values = (gram.data[off] / (norms[rows] * norms[cols])).astype(np.float32)
  order = np.lexsort((-values, cols))  # By column, most similar first.
  rows, cols, values = rows[order], cols[order], values[order]
  starts = np.searchsorted(cols, np.arange(x.shape[1]))
  rank = np.arange(len(cols)) - starts[cols]

  def weights(k: int) -> sp.csr_matrix:
    kept = rank < k
    return sp.csr_matrix(
      (values[kept], (rows[kept], cols[kept])), shape=(x.shape[1],) * 2
    )

  return weights


def pair_recall(
  scores_of: ScoresFn,
  user_ids: np.ndarray,
  true_items: np.ndarray,
  ks: Sequence[int],
  num_items: int,
) -> dict[int, float]:
  """{k: share of the (user, item) pairs whose item is among the user's top
  k of all items}; `true_items` are catalogue rows, `scores_of(users)` gives
  [len(users), items] scores. Each user is scored once, however many pairs
  are theirs."""
  k_max = min(max(ks), num_items)
  users, of_pair = np.unique(user_ids, return_inverse=True)
  top = np.empty((len(users), k_max), np.int64)
  batch = max(1, SCORES // max(1, num_items))
  for start in range(0, len(users), batch):
    scores = scores_of(users[start : start + batch])
    top[start : start + batch] = tf.math.top_k(scores, k_max).indices.numpy()
  found = top[of_pair.reshape(-1)] == true_items[:, None]
  return {
    k: float(found[:, :k].any(axis=1).sum()) / max(1, len(user_ids)) for k in ks
  }


def scorer(data: Interactions, weights, vectors=None) -> ScoresFn:
  """Scores x_u W of the users, [users, items] float32, plus a popularity
  term far below any other score (1e-6 of it at most): it only breaks
  ties, so that a user with no training positive gets the most popular
  items, not the first of the catalogue. With `vectors` (`served.Vectors`)
  it scores histories' values instead of user ids: x_h W."""
  counts = np.asarray(data.matrix.sum(axis=0), np.float64).ravel()
  tie = (1e-6 * counts / max(counts.max(initial=0.0), 1.0)).astype(np.float32)

  def scores_of(user_ids):
    x = data.vectors(user_ids) if vectors is None else vectors(user_ids)
    product = x @ weights
    dense = product.toarray() if sp.issparse(product) else product
    return np.asarray(dense, np.float32) + tie

  return scores_of


@dataclasses.dataclass(frozen=True)
class Baseline:
  """One fitted baseline: its name with the value chosen, its test metrics,
  and its scores (for other protocols, e.g. full ranking): of user ids, or
  of the values of the history feature `reads` where it names one."""

  name: str
  metrics: dict[str, float]
  scores_of: ScoresFn
  reads: str | None = None


def baselines(
  objective: objectives_lib.Objective,
  data: Interactions,
  valid: tuple[np.ndarray, np.ndarray] | None,
  test: tuple[np.ndarray, np.ndarray],
  behaviours: Interactions | None = None,
  served: tuple[served_lib.Vectors, tuple | None, tuple] | None = None,
) -> list[Baseline]:
  """item-KNN and EASE^R, each with its value chosen on `valid`, scored on
  `test` as `<objective>_recall@K`; `valid` and `test` are (user ids,
  catalogue rows of their positive items), one pair each. Without a
  validation split the middle of each grid is used.

  With `behaviours` (the positives of every behaviour a multi-behaviour
  run learns from: views and carts beside purchases), each is also fitted
  on them, and a baseline ranks the user's own items of any behaviour
  first, by popularity, then the rest by popularity ("own items"): what
  a shop's "buy it again" shelf does, and the heuristic a model of such a
  log must beat.

  With `served` (the history's `served.Vectors`, and the validation and
  test pairs as (history values, items)), each is also scored on the
  history served with each pair, with the weights learnt from training
  (`served`)."""
  ks = sorted({retrieval.cutoff(m) for m in objective.metrics})
  num_items = data.matrix.shape[1]
  sources = {"": data}
  if behaviours is not None:
    sources[", every behaviour"] = behaviours
  out = []
  for suffix, source in sources.items():
    for name, (what, grid, make) in _makers(source.matrix).items():
      choice, weights = _choose(
        name + suffix, make, grid, source, valid, ks[-1], num_items
      )
      out.append(
        _scored(
          f"{name} ({what}={choice:g}{suffix})",
          scorer(source, weights),
          objective,
          test,
          ks,
          num_items,
        )
      )
      if served is None or suffix:
        continue
      vectors, served_valid, served_test = served
      choice, weights = _choose(
        f"{name} ({served_lib.SUFFIX})",
        make,
        grid,
        source,
        served_valid,
        ks[-1],
        num_items,
        vectors,
      )
      scored = _scored(
        f"{name} ({what}={choice:g}, {served_lib.SUFFIX})",
        scorer(source, weights, vectors),
        objective,
        served_test,
        ks,
        num_items,
      )
      out.append(dataclasses.replace(scored, reads=vectors.history.name))
  if behaviours is not None:
    own = sp.identity(num_items, dtype=np.float32, format="csr")
    out.append(
      _scored(
        "own items", scorer(behaviours, own), objective, test, ks, num_items
      )
    )
  return out


def _makers(matrix):
  """{name: (parameter, grid, value -> weights)} of the baselines."""
  num_items = matrix.shape[1]
  makers = {"item-KNN": ("k", NEIGHBOURS, item_knn_family(matrix))}
  if num_items <= MAX_EASE_ITEMS:
    makers["EASE^R"] = ("lambda", LAMBDAS, ease_family(matrix))
  else:
    logging.info(
      "EASE^R skipped: %d items would take a %.1f GB items x items matrix "
      "(at most %d items).",
      num_items,
      4 * num_items**2 / 2**30,
      MAX_EASE_ITEMS,
    )
  return makers


def _scored(name, scores_of, objective, test, ks, num_items) -> Baseline:
  recall = pair_recall(scores_of, *test, ks, num_items)
  metrics = {f"{objective.name}_recall@{k}": r for k, r in recall.items()}
  return Baseline(name, metrics, scores_of)


def _choose(name, make, grid, data, valid, k, num_items, vectors=None):
  """(the grid value with the best validation recall@k, its weights), on
  at most `VALID_PAIRS` validation pairs (an even sample beyond)."""
  if valid is None:
    value = grid[len(grid) // 2]
    return value, make(value)
  stride = -(-len(valid[0]) // VALID_PAIRS)
  valid = (valid[0][::stride], valid[1][::stride])
  best = None
  for value in grid:
    weights = make(value)
    scores_of = scorer(data, weights, vectors)
    recall = pair_recall(scores_of, *valid, [k], num_items)[k]
    logging.info(
      "%s: validation recall@%d %.4f at %g (%d pairs).",
      name,
      k,
      recall,
      value,
      len(valid[0]),
    )
    if best is None or recall > best[0]:
      best = (recall, value, weights)
  return best[1], best[2]


def fitted(data, objectives, lists) -> list[Baseline]:
  """item-KNN and EASE^R for the first retrieval objective among
  `objectives` (none without one, or without users), learnt from the
  training rows of `data` (a `TrainData`: the dataset's where it keeps
  them, else its training lists), chosen on its validation lists and
  scored on the test `lists`. Where the rows hold other behaviours (0/1
  labels beside the objective's: views and carts beside purchases), also
  learnt from every behaviour's positives, with the user's own items
  (`baselines`)."""
  spec = data.data.spec
  found = [o for o in objectives if o.kind == "retrieval"]
  if not found or not spec.user_id:
    return []
  objective = found[0]
  ids = data.data.catalogue[spec.item_id]
  rows = data.data.splits.get("train")

  def training():
    if rows is not None:
      yield _as_lists(rows, spec)
    else:
      yield from data.chunks("train", features=False)

  learned = interactions(spec, objective.label, training(), ids)
  labels = [objective.label] + [
    b for b in _behaviours(spec, rows) if b != objective.label
  ]
  behaviours = None
  if len(labels) > 1:
    behaviours = interactions(spec, labels, training(), ids)
    if behaviours.matrix.nnz == learned.matrix.nnz:
      behaviours = None  # The same pairs: nothing more to learn from.
  valid = served_valid = None
  splits = data.shards if data.shards is not None else data.lists
  has_valid = "valid" in splits and data.num_lists("valid")
  if has_valid:
    valid = pairs(
      spec, objective.label, data.chunks("valid", features=False), ids
    )
  test = pairs(spec, objective.label, [lists], ids)
  served = None
  history = served_lib.feature(spec, objective.label)
  if history is not None:
    if has_valid:  # About `VALID_PAIRS`: every k-th list, its features read.
      stride = -(-data.num_lists("valid") // VALID_PAIRS)
      chunks = data.chunks("valid", stride=stride)
      served_valid = pairs(spec, objective.label, chunks, ids, history.name)
    served_test = pairs(spec, objective.label, [lists], ids, history.name)
    served = (served_lib.Vectors(history, ids), served_valid, served_test)
  return baselines(objective, learned, valid, test, behaviours, served)


def _behaviours(spec, rows) -> list[str]:
  """The labels of the training rows that mark behaviours (0 or 1)."""
  if rows is None:
    return []
  return [b for b in spec.labels if np.isin(np.unique(rows[b]), (0, 1)).all()]


def _as_lists(rows, spec) -> dataset_lib.Table:
  """A table of rows as lists of one row each, as `pairs` reads them."""
  lists = {spec.user_id: rows[spec.user_id], spec.item_id: rows[spec.item_id]}
  lists = {k: v[:, np.newaxis] for k, v in lists.items()}
  lists[spec.user_id] = rows[spec.user_id]
  for label in spec.labels:
    lists[label] = rows[label][:, np.newaxis]
  lists[lists_lib.MASK] = np.ones((len(rows[spec.item_id]), 1), np.float32)
  return lists
