"""item-KNN and EASE^R reading what the model reads: each query's served
history (an ordered `history` feature), not the user's training items.

Where a split is cut by time, the model's query holds every event before
the row, validation's and the split's earlier ones included, while a
user's training row of X stops at the cut; and in leave-one-out the
validation item, the user's newest before the test one, is in the model's
history only. These baselines score x_h W instead, x_h the 0/1 vector of
the items of the row's history (its last `max_length`, as the model keeps
them) and W the same item-KNN or EASE^R weights learnt from training, so
that a model that wins has not won by reading more.
"""

import numpy as np
import scipy.sparse as sp

from multiobj.data import history as history_lib
from multiobj.data import spec as spec_lib

SUFFIX = "served history"


def feature(spec: spec_lib.DatasetSpec, label: str) -> spec_lib.Feature | None:
  """The first ordered history of the query built from `label`'s events,
  or None."""
  for f in spec.features_of("query"):
    if f.kind == "history" and f.ordered and label in f.built_from:
      return f
  return None


class Vectors:
  """A history column's values to [N, items] 0/1 vectors of catalogue
  rows (items not in the catalogue left out)."""

  def __init__(self, history: spec_lib.Feature, catalogue_ids: np.ndarray):
    self.history = history
    text = np.asarray(catalogue_ids).astype(str).astype(object)
    self._order = np.argsort(text, kind="stable")
    self._sorted = text[self._order]
    self.num_items = len(text)

  def __call__(self, values: np.ndarray) -> sp.csr_matrix:
    f = self.history
    lengths, items = history_lib.parse(values, f.separator, f.max_length)
    counts = np.minimum(lengths, f.max_length)
    row = np.repeat(np.arange(len(counts)), counts)
    items = history_lib.items_of(items)
    where = np.minimum(
      np.searchsorted(self._sorted, items), max(len(self._sorted) - 1, 0)
    )
    known = self._sorted[where] == items
    out = sp.csr_matrix(
      (
        np.ones(known.sum(), np.float32),
        (row[known], self._order[where][known]),
      ),
      shape=(len(counts), self.num_items),
    )
    out.data[:] = 1.0  # An item seen twice counts once, as in X.
    return out
