"""From a table of rows to batches of impression lists.

The model trains on lists: one element is one request, holding the query
features once ([]) and the candidate, context and label columns for each shown
item ([list_size]), plus a mask of which slots hold an item. A batch stacks
`batch_size` lists. Pointwise heads see every valid slot; ranking losses and
metrics see the list; retrieval takes the positive slots as (query,
candidate) pairs. A dataset without impression lists gives lists of one row.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib

# [num_lists, list_size]: 1.0 where a slot holds a row, 0.0 for padding.
MASK = "__mask"


def columns_for(
  spec: spec_lib.DatasetSpec,
  objectives: Sequence[objectives_lib.Objective],
  with_truth: bool,
) -> list[str]:
  """The columns the model and its objectives read."""
  columns = [f.name for f in spec.features]
  for o in objectives:
    wanted = (o.label, o.mask, o.weight_column, *o.make_loss().required_columns)
    # Reserved columns ("__...") are computed here, not read.
    columns += [
      c
      for c in wanted
      if c and not c.startswith(spec_lib.RESERVED_PREFIX) and c not in columns
    ]
  # The user id lets sampled negatives avoid the user's own items.
  extra = [spec.position, spec.randomized, spec.user_id]
  if with_truth:
    extra.append(spec.truth)
  columns += [c for c in extra if c and c not in columns]
  return columns


def to_lists(
  rows: dataset_lib.Table,
  spec: spec_lib.DatasetSpec,
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
    The lists, with `MASK` added.
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
  lists = {MASK: valid.astype(np.float32)}
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
