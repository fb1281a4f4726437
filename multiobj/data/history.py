"""The user's recent items as a query feature, built from the log itself.

A `history` feature (docs/dataset_spec.md) is the user's last items, ids of
the item_id column joined by the feature's separator, oldest first. A log
may give it as a column, or ask the framework to build it
(`"built_from": "click"`): each row's history is then the items of the
user's rows with that label positive whose time is strictly before the
row's impression list began (its first row's time), the last `max_length`
of them.

Strictly before the list: a row's own event, and every event of its list or
later, cannot be in its history, whichever split the row falls in; so a
built history never holds the label it is trained or scored on, nor the
future. Events at the same time as the list are left out too (a timestamp
in days cannot order them). Histories are built over all rows before the
split: a test row's history holds the user's earlier events of any split,
as a served request's history would.

`add_built` works on whole columns (NumPy and pyarrow; no per-row Python),
on the whole log in memory or on a partition that holds every row of its
users (the preparation in pieces partitions by user when a history is
built).
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from multiobj.data import spec as spec_lib


def add_built(
  rows: dict[str, np.ndarray], spec: spec_lib.DatasetSpec
) -> dict[str, np.ndarray]:
  """`rows` with a column for each history feature built from the log."""
  if not spec.built:
    return rows
  rows = dict(rows)
  when = list_start(rows, spec)
  for feature in spec.built:
    rows[feature.name] = build(
      users=rows[spec.user_id],
      when=when,
      items=rows[spec.item_id],
      events=rows[feature.built_from] > 0,
      max_length=feature.max_length,
      separator=feature.separator,
    )
  return rows


def list_start(rows: dict[str, np.ndarray], spec: spec_lib.DatasetSpec):
  """Each row's list's first time (the row's own without lists)."""
  time = np.asarray(rows[spec.timestamp])
  if not spec.list_id:
    return time
  _, inverse = np.unique(rows[spec.list_id], return_inverse=True)
  first = np.full(inverse.max(initial=-1) + 1, np.inf)
  np.minimum.at(first, inverse, time.astype(np.float64))
  return first[inverse]


def build(
  users: np.ndarray,
  when: np.ndarray,
  items: np.ndarray,
  events: np.ndarray,
  max_length: int,
  separator: str = "|",
) -> np.ndarray:
  """Each row's history: the items of the rows that are `events` of its
  user, at a time strictly before its `when`, oldest first (ties in the
  order of the rows), the last `max_length`, joined by `separator`.

  Args:
    users, when, items, events: [N] each row's user, time, item, and
      whether it is an event (a positive of the history's label).
    max_length: The most items a history keeps.
    separator: Joins them.

  Returns:
    [N] object array of strings ("" for no event before).
  """
  n = len(users)
  _, user = np.unique(users, return_inverse=True)
  times, time = np.unique(np.asarray(when, np.float64), return_inverse=True)
  # One sortable key per (user, time): users apart, times in order.
  key = user.astype(np.int64) * (len(times) + 1) + time
  event = np.flatnonzero(events)
  order = event[np.lexsort((event, key[event]))]
  event_keys = key[order]
  # Events of the row's user strictly before its time end at `end`; the
  # user's first event is at `begin`.
  end = np.searchsorted(event_keys, key, side="left")
  begin = np.searchsorted(event_keys, user.astype(np.int64) * (len(times) + 1))
  start = np.maximum(begin, end - max_length)
  lengths = end - start
  offsets = np.zeros(n + 1, np.int64)
  np.cumsum(lengths, out=offsets[1:])
  within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
  taken = order[np.repeat(start, lengths) + within]
  values = pa.array(np.asarray(items)[taken]).cast(pa.string())
  lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
  joined = pc.binary_join(lists, separator)
  return joined.to_numpy(zero_copy_only=False).astype(object)


def parse(
  column: np.ndarray, separator: str, max_length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """A history column's lengths and the items the model keeps of it (any
  column of values joined by a separator: multi_category's too).

  Returns:
    ([N] each row's number of items (empty parts are no item), the items
    of the last `max_length` of each row (all of them for None),
    flattened, as text).
  """
  text = pa.array(np.asarray(column).astype(str).astype(object), pa.string())
  parts = pc.split_pattern(text, separator)
  values = pc.list_flatten(parts)
  parent = pc.list_parent_indices(parts).to_numpy()
  present = pc.not_equal(values, "").to_numpy(zero_copy_only=False)
  values = values.filter(pa.array(present)).to_numpy(zero_copy_only=False)
  parent = parent[present]
  lengths = np.bincount(parent, minlength=len(text))
  # Position from the end of its row: 0 for the newest item.
  if max_length is not None:
    after = np.cumsum(lengths)[parent] - np.arange(len(parent)) - 1
    values = values[after < max_length]
  return lengths, values.astype(object)
