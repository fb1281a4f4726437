"""From a table of rows to batches of impression lists.

The model trains on lists: one element is one request, holding the query
features once ([]) and the candidate, context and label columns for each shown
item ([list_size]), plus a mask of which slots hold an item. A batch stacks
`batch_size` lists. Pointwise heads see every valid slot; ranking losses and
metrics see the list; retrieval takes the positive slots as (query,
candidate) pairs. A dataset without impression lists gives lists of one row.
"""

import numpy as np
import tensorflow as tf

from multiobj import schema
from multiobj.data import dataset as dataset_lib


def to_lists(
  rows: dataset_lib.Table,
  spec: schema.DatasetSpec,
  columns: list[str],
  max_list_size: int | None = None,
  where: str = "data",
) -> dataset_lib.Table:
  """Groups rows into padded impression lists.

  Rows of one list keep their order in the table. Lists longer than
  `max_list_size` keep their first `max_list_size` rows.

  Args:
    rows: The table, one row per impression.
    spec: Its description; `spec.list_id` groups rows.
    columns: The columns to keep. Query features become [num_lists] arrays
      (they must not vary within a list); the others [num_lists, list_size].
    max_list_size: Longest list kept; defaults to the longest list.
    where: Names the table in error messages.

  Returns:
    The lists, with `schema.MASK` ([num_lists, list_size], 1.0 where a slot
    holds a row) added.
  """
  n = dataset_lib.num_rows(rows)
  if n == 0:
    raise ValueError(f"{where}: no rows.")
  if spec.list_id:
    ids = rows[spec.list_id]
    order = np.argsort(ids, kind="stable")
    _, starts, counts = np.unique(
      ids[order], return_index=True, return_counts=True
    )
  else:
    order = np.arange(n)
    starts, counts = order, np.ones(n, dtype=np.int64)
  size = int(counts.max()) if max_list_size is None else int(max_list_size)
  slot = np.arange(size)
  valid = slot[None, :] < counts[:, None]
  index = np.where(valid, order[np.minimum(starts[:, None] + slot, n - 1)], -1)

  query = {f.name for f in spec.features_of("query")}
  lists = {schema.MASK: valid.astype(np.float32)}
  for name in columns:
    column = rows[name]
    if name in query:
      first = column[index[:, 0]]
      gathered = column[np.maximum(index, 0)]
      varies = valid & (gathered != first[:, None])
      if varies.any():
        bad = int(np.argwhere(varies)[0, 0])
        raise ValueError(
          f"{where}: query feature {name!r} varies within list "
          f"{rows[spec.list_id][index[bad, 0]]!r} ({spec.list_id}); a query "
          "feature must be constant in a list. Declare it as a context feature."
        )
      lists[name] = first
    else:
      gathered = column[np.maximum(index, 0)]
      lists[name] = np.where(valid, gathered, _padding(column))
  return lists


def _padding(column: np.ndarray):
  if column.dtype.kind in "OUS":
    return ""
  return np.zeros((), dtype=column.dtype)


def make_dataset(
  lists: dataset_lib.Table,
  batch_size: int,
  shuffle: bool,
  seed: int,
  drop_remainder: bool = False,
) -> tf.data.Dataset:
  """Batches lists into a `tf.data.Dataset` of feature dicts.

  Shuffling happens each epoch over all lists (they fit in memory), with a
  seed, so runs repeat.
  """
  dataset = tf.data.Dataset.from_tensor_slices(lists)
  if shuffle:
    dataset = dataset.shuffle(
      dataset_lib.num_rows(lists), seed=seed, reshuffle_each_iteration=True
    )
  return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(
    tf.data.AUTOTUNE
  )


# `tfrs.layers.loss.SamplingProbablityCorrection` clips probabilities here.
_TFRS_MIN_PROBABILITY = 1e-6


def sampling_probability(
  lists: dataset_lib.Table,
  item_column: str,
  label: str,
  catalogue_ids: np.ndarray,
  hard_negatives: bool = False,
  uniform_per_list: int = 0,
  eligible: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Sampling probabilities of retrieval candidates, for logQ correction.

  The candidates of one batch are its positives (in-batch negatives are the
  other lists' positives), and optionally its unclicked impressions
  (`hard_negatives`) and `uniform_per_list` uniform draws from the eligible
  catalogue per list. An item's probability is proportional to how often it
  is expected among them, per list:

    q(j) = positives of j / lists + [hard] unclicked impressions of j /
           lists + uniform_per_list / eligible items.

  With positives alone this is each item's frequency among positives, the
  correction of the popularity bias of in-batch negatives (Yi et al., RecSys
  2019); with the others, the mixture proposal of mixed negative sampling
  (Yang et al., WWW 2020), so one logQ correction serves every column of the
  score matrix.

  Returns:
    ([num_lists, list_size] probability of each slot's item, [catalogue]
    probability of each catalogue item), normalised to sum to 1 over the
    catalogue unless that would put an item below TFRS's 1e-6 clip (then
    the most frequent item has 1); items that can never be a candidate get
    the smallest positive probability, so the log is finite.
  """
  valid = lists[schema.MASK] > 0
  positive = (lists[label] > 0) & valid
  n = len(valid)
  order = np.argsort(catalogue_ids, kind="stable")
  sorted_ids = catalogue_ids[order]
  # Each slot's catalogue row; ids not in the catalogue (padding) are -1.
  at = np.minimum(
    np.searchsorted(sorted_ids, lists[item_column]), len(order) - 1
  )
  row = np.where(sorted_ids[at] == lists[item_column], order[at], -1)

  def counts(where):
    rows = row[where & (row >= 0)]
    return np.bincount(rows, minlength=len(catalogue_ids)).astype(np.float64)

  expected = counts(positive) / n
  if hard_negatives:
    expected += counts(valid & ~positive) / n
  if uniform_per_list:
    if eligible is None:
      eligible = np.ones(len(catalogue_ids), bool)
    expected += np.where(eligible, uniform_per_list / eligible.sum(), 0.0)
  if not expected.any():
    expected = np.ones_like(expected)
  q = expected / expected.sum()
  q = np.where(q > 0, q, q[q > 0].min())
  if q.min() < _TFRS_MIN_PROBABILITY:
    # TFRS clips sampling probabilities below 1e-6, which the normalised q of
    # a large candidate mix reaches; a constant factor leaves logQ's effect
    # unchanged, so the most frequent item gets 1 instead. (Only then, so
    # runs whose q is above the clip keep their exact numbers.)
    q = q / q.max()
  slots = np.where(row >= 0, q[row], q.min())
  return slots.astype(np.float32), q.astype(np.float32)
