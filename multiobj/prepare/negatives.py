"""Sampled negatives for logs that hold positives only.

Most public interaction logs record what users did, not what they were shown
and ignored. A pointwise head then needs negatives: for each logged row the
sampler adds `per_positive` catalogue items the user never interacted with,
drawn uniformly or by popularity^alpha, as extra slots of the row's list. The
negatives get label 0 for every label, the row's query and context features,
and their own candidate features from the catalogue; the column
`OBSERVED` tells logged slots (1) from sampled ones (0), so objectives
that only make sense on logged rows (a rating regression) skip the rest.
Training draws a fresh sample every epoch; evaluation draws once, with a
fixed seed.
"""

import dataclasses

import numpy as np
from absl import logging

from multiobj import config as config_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.prepare.lists import MASK

# [num_lists, list_size]: 1 for a logged row, 0 for a sampled negative.
OBSERVED = "__observed"

_REDRAWS = 20


def sampling_for(
  config: config_lib.PrepareConfig, data: dataset_lib.Dataset
) -> dataset_lib.NegativeSampling | None:
  """The dataset's negative sampling with the config's overrides applied."""
  if config.negatives == 0:
    return None
  sampling = data.negatives
  if config.negatives is not None or config.negative_sampling is not None:
    sampling = sampling or dataset_lib.NegativeSampling()
    changes = {}
    if config.negatives is not None:
      changes["per_positive"] = config.negatives
    if config.negative_sampling is not None:
      changes["distribution"] = config.negative_sampling
    sampling = dataclasses.replace(sampling, **changes)
  return sampling


class NegativeSampler:
  """Draws negatives from a catalogue, avoiding each user's own items.

  Args:
    sampling: How many negatives and from which distribution.
    spec: Names the item and user columns.
    catalogue: Items to draw from, with their candidate features.
    train_rows: The training rows: item popularity and the (user, item)
      pairs that may not be drawn as negatives.
    excluded_items: Ids never drawn (items held out for cold start).
  """

  def __init__(
    self,
    sampling: dataset_lib.NegativeSampling,
    spec: spec_lib.DatasetSpec,
    catalogue: dataset_lib.Table,
    train_rows: dataset_lib.Table,
    excluded_items: np.ndarray | None = None,
  ):
    self.sampling = sampling
    self.spec = spec
    self.catalogue = catalogue
    self.item_ids = catalogue[spec.item_id]
    self._order = np.argsort(self.item_ids, kind="stable")
    counts = np.bincount(
      self.item_index(train_rows[spec.item_id]), minlength=len(self.item_ids)
    ).astype(np.float64)
    if sampling.distribution == "uniform":
      weights = np.ones_like(counts)
    else:
      weights = counts**sampling.alpha
    if excluded_items is not None and len(excluded_items):
      weights[self.item_index(excluded_items)] = 0.0
    if weights.sum() <= 0:
      raise ValueError(
        f"Dataset {spec.name!r}: no catalogue item to sample negatives from."
      )
    self._cdf = np.cumsum(weights / weights.sum())
    self._users = np.unique(train_rows[spec.user_id]) if spec.user_id else None
    self._taken = self._pairs(train_rows)

  def item_index(self, ids: np.ndarray) -> np.ndarray:
    """Catalogue row of each id; ids not in the catalogue raise ValueError."""
    ids = np.asarray(ids)
    where = np.searchsorted(self.item_ids[self._order], ids)
    where = np.minimum(where, len(self._order) - 1)
    index = self._order[where]
    missing = self.item_ids[index] != ids
    if missing.any():
      raise ValueError(
        f"Dataset {self.spec.name!r}: item {ids[missing][0]!r} is not in the "
        "catalogue; every item of the rows needs its candidate features there."
      )
    return index

  def _user_index(self, users):
    if self._users is None:
      return np.zeros(len(users), np.int64)
    where = np.minimum(
      np.searchsorted(self._users, users), len(self._users) - 1
    )
    # Users unseen in training get -1: they have no pairs to avoid.
    return np.where(self._users[where] == users, where, -1)

  def _pairs(self, rows):
    users = (
      self._user_index(rows[self.spec.user_id]) if self.spec.user_id else None
    )
    items = self.item_index(rows[self.spec.item_id])
    if users is None:
      return np.empty(0, np.int64)
    return np.unique(users * len(self.item_ids) + items)

  def add(
    self,
    lists: dataset_lib.Table,
    seed: int,
    also_avoid: dataset_lib.Table | None = None,
  ) -> dataset_lib.Table:
    """Lists of one logged row each, extended by sampled negatives.

    Args:
      lists: [N, 1] lists (a log without impressions), from
        `lists.to_lists`.
      seed: Seed of the draw.
      also_avoid: More rows whose (user, item) pairs may not be drawn, e.g.
        the evaluation split's own positives.

    Returns:
      [N, 1 + per_positive] lists.
    """
    if lists[MASK].shape[1] != 1:
      raise ValueError(
        "Sampled negatives need a log without impression lists (one row a list); "
        f"dataset {self.spec.name!r} has lists of {lists[MASK].shape[1]}."
      )
    rng = np.random.default_rng(seed)
    n, k = len(lists[MASK]), self.sampling.per_positive
    positives = self.item_index(lists[self.spec.item_id][:, 0])
    users = (
      self._user_index(lists[self.spec.user_id]) if self.spec.user_id else None
    )
    taken = self._taken
    if also_avoid is not None and users is not None:
      taken = np.union1d(taken, self._pairs(also_avoid))
    draws = np.searchsorted(self._cdf, rng.random((n, k)), side="right")
    for _ in range(_REDRAWS):
      bad = draws == positives[:, None]
      if users is not None:
        keys = users[:, None] * len(self.item_ids) + draws
        bad |= (users[:, None] >= 0) & np.isin(keys, taken)
      if not bad.any():
        break
      draws[bad] = np.searchsorted(
        self._cdf, rng.random(int(bad.sum())), side="right"
      )
    else:
      logging.warning(
        "%d of %d sampled negatives are still a user's own item after %d redraws.",
        int(bad.sum()),
        bad.size,
        _REDRAWS,
      )
    return self._extend(lists, draws)

  def _extend(self, lists, draws):
    n, k = draws.shape
    candidate = {f.name for f in self.spec.features_of("candidate")}
    query = {f.name for f in self.spec.features_of("query")}
    out = {}
    for name, column in lists.items():
      if name in query:
        out[name] = column
      elif name in candidate:
        out[name] = np.concatenate(
          [column, self.catalogue[name][draws]], axis=1
        )
      elif name == MASK:
        out[name] = np.ones((n, 1 + k), column.dtype)
      elif name in self.spec.labels:
        out[name] = np.concatenate(
          [column, np.zeros((n, k), column.dtype)], axis=1
        )
      else:
        # Context and bookkeeping columns: the negatives share the request.
        out[name] = np.repeat(column, 1 + k, axis=1)
    out[OBSERVED] = np.concatenate(
      [np.ones((n, 1)), np.zeros((n, k))], axis=1
    ).astype(np.float32)
    return out
