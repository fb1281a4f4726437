"""The user's past items as a query feature, built from the log itself.

A `history` feature (docs/dataset_spec.md) is the user's items, ids of the
item_id column joined by the feature's separator, oldest first. A log may
give it as a column, or ask the framework to build it (`"built_from":
"click"`, or several labels: `["view", "cart", "buy"]`, whose events then
carry their behaviour, `item:label`, the last of its labels a row has
positive). A built history is one of two kinds:

  in time order  (the log has a timestamp or an order column, and the
                 framework splits it) each row's history is the items of
                 the user's events strictly before the row's impression
                 list began (its first row's time), the last `max_length`
                 of them. A row's own event, and every event of its list or
                 later, cannot be in its history, whichever split the row
                 falls in: a built history never holds the label it is
                 trained or scored on, nor the future. Events at the same
                 time as the list are left out too (a timestamp in days
                 cannot order them). Histories are built over the rows of
                 every split: a test row's history holds the user's earlier
                 events of any split, as a served request's history would.
  as a set       (no timestamp, or the split comes as files) each row's
                 history is the user's events of the training split, in
                 file order, but the row's own: what the user did that the
                 model may know, the way item-KNN and EASE^R read a user.

Everything works on whole columns (NumPy and pyarrow; no per-row Python).
`add_built` builds every row's history of one table (the synthetic log);
`add_to_splits` builds them for a split dataset, and only where a row needs
one: a history trained at every position (`every_position`) reads its
training events from the training lists themselves (`prepare/windows.py`),
so its training rows hold "" and only validation and test rows a history.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib

# Joins an event's item and its behaviour in a history of several labels.
TYPE_SEPARATOR = ":"


def add_built(
  rows: dict[str, np.ndarray], spec: spec_lib.DatasetSpec
) -> dict[str, np.ndarray]:
  """`rows` with a column for each history feature built from the log in
  time order, every row's."""
  if not spec.built:
    return rows
  rows = dict(rows)
  when = list_start(rows, spec)
  for feature in spec.built:
    items, events = event_items(rows, spec, feature)
    rows[feature.name] = build(
      rows[spec.user_id], when, items, events, feature.max_length,
      feature.separator,
    )  # fmt: skip
  return rows


def add_to_splits(
  splits: dict[str, dataset_lib.Table], spec: spec_lib.DatasetSpec
) -> dict[str, dataset_lib.Table]:
  """`splits` ({"train", "valid", "test"} tables) with a column for each
  built history: in time order over the rows of every split, or as the
  set of the user's training events; "" for the training rows of a
  history trained at every position."""
  if not spec.built:
    return splits
  names = list(splits)
  sizes = [dataset_lib.num_rows(splits[n]) for n in names]
  needed = [spec.user_id, spec.item_id, spec.timestamp, spec.list_id]
  needed += [label for f in spec.built for label in f.built_from]
  needed = list(dict.fromkeys(c for c in needed if c))
  rows = {c: np.concatenate([splits[n][c] for n in names]) for c in needed}
  split_of = np.repeat(np.arange(len(names)), sizes)
  train = split_of == names.index("train") if "train" in names else None
  out = {n: dict(t) for n, t in splits.items()}
  for feature in spec.built:
    items, events = event_items(rows, spec, feature)
    if feature.ordered:
      wanted = np.ones(len(split_of), bool)
      if feature.every_position and train is not None:
        wanted = ~train
      column = np.full(len(split_of), "", dtype=object)
      column[wanted] = build(
        rows[spec.user_id], list_start(rows, spec), items, events,
        feature.max_length, feature.separator, np.flatnonzero(wanted),
        ties_in_row_order=feature.every_position,
      )  # fmt: skip
    else:
      if train is None:
        raise ValueError(
          f"History {feature.name!r} is the user's training events, and "
          f"dataset {spec.name!r} has no training split."
        )
      column = build_sets(
        rows[spec.user_id], items, events & train, feature.max_length,
        feature.separator,
      )  # fmt: skip
    for k, name in enumerate(names):
      out[name][feature.name] = column[split_of == k]
  return out


def event_items(
  rows: dict[str, np.ndarray],
  spec: spec_lib.DatasetSpec,
  feature: spec_lib.Feature,
) -> tuple[np.ndarray, np.ndarray]:
  """([N] each row's item as a history holds it (text; `item:label` for a
  history of several labels), [N] whether the row is an event of it)."""
  labels = feature.built_from
  positive = np.stack([np.asarray(rows[b]) > 0 for b in labels])
  events = positive.any(axis=0)
  items = pa.array(np.asarray(rows[spec.item_id])).cast(pa.string())
  if len(labels) > 1:
    # The last of its labels a row has positive: the furthest behaviour.
    last = len(labels) - 1 - np.argmax(positive[::-1], axis=0)
    kind = pa.array(np.asarray(labels, dtype=object)[last], pa.string())
    items = pc.binary_join_element_wise(items, kind, TYPE_SEPARATOR)
  return items.to_numpy(zero_copy_only=False).astype(object), events


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
  rows: np.ndarray | None = None,
  ties_in_row_order: bool = False,
) -> np.ndarray:
  """Each row's history: the items of the rows that are `events` of its
  user, at a time strictly before its `when`, oldest first (ties in the
  order of the rows), the last `max_length`, joined by `separator`.
  With `ties_in_row_order`, an event at the row's own time counts as
  before it when its row comes first: the order in which a history
  trained at every position reads its windows (`prepare/windows.py`), so
  that what is served holds what was trained on.

  Args:
    users, when, items, events: [N] each row's user, time, item, and
      whether it is an event (a positive of the history's label).
    max_length: The most items a history keeps.
    separator: Joins them.
    rows: The rows whose history is wanted (all of them for None); the
      events are those of every row.

  Returns:
    [len(rows)] object array of strings ("" for no event before).
  """
  _, user = np.unique(users, return_inverse=True)
  times, time = np.unique(np.asarray(when, np.float64), return_inverse=True)
  # One sortable key per (user, time): users apart, times in order.
  key = user.astype(np.int64) * (len(times) + 1) + time
  event = np.flatnonzero(events)
  order = event[np.lexsort((event, key[event]))]
  event_keys = key[order]
  if ties_in_row_order:  # Each row's rank in (user, time, row) order.
    rank = np.empty(len(key), np.int64)
    rank[np.lexsort((np.arange(len(key)), key))] = np.arange(len(key))
    event_rank = rank[order]
  if rows is not None:
    key, user = key[rows], user[rows]
  # Events of the row's user strictly before it end at `end`; the user's
  # first event is at `begin`.
  if ties_in_row_order:
    wanted = rank if rows is None else rank[rows]
    end = np.searchsorted(event_rank, wanted, side="left")
  else:
    end = np.searchsorted(event_keys, key, side="left")
  begin = np.searchsorted(event_keys, user.astype(np.int64) * (len(times) + 1))
  start = np.maximum(begin, end - max_length)
  return _joined(np.asarray(items)[order], start, end - start, separator)


def build_sets(
  users: np.ndarray,
  items: np.ndarray,
  events: np.ndarray,
  max_length: int,
  separator: str = "|",
) -> np.ndarray:
  """Each row's history as a set: the items of the `events` rows of its
  user, in the rows' order, but the row's own, the last `max_length`,
  joined by `separator`.

  Args:
    users, items: [N] each row's user and item.
    events: [N] whether the row is an event (the user's training rows of
      the history's labels).
    max_length: The most items a history keeps.
    separator: Joins them.
  """
  _, user = np.unique(users, return_inverse=True)
  event = np.flatnonzero(events)
  order = event[np.argsort(user[event], kind="stable")]
  sorted_users = user[order]
  begin = np.searchsorted(sorted_users, user, side="left")
  end = np.searchsorted(sorted_users, user, side="right")
  # An event row leaves itself out: its position among its user's events.
  own = np.full(len(users), -1, np.int64)
  own[order] = np.arange(len(order))
  lengths = end - begin - (own >= 0)
  start = np.maximum(0, lengths - max_length)  # Within what is kept.
  kept = lengths - start
  offsets = np.zeros(len(users) + 1, np.int64)
  np.cumsum(kept, out=offsets[1:])
  within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], kept)
  at = np.repeat(begin, kept) + np.repeat(start, kept) + within
  # Past the row's own event, one further on.
  at += (np.repeat(own, kept) >= 0) & (at >= np.repeat(own, kept))
  return _lists(np.asarray(items)[order][at], kept, separator)


def _joined(items_in_order, start, lengths, separator):
  """Each row's `lengths[r]` items of `items_in_order` from `start[r]`,
  joined by `separator`."""
  offsets = np.zeros(len(lengths) + 1, np.int64)
  np.cumsum(lengths, out=offsets[1:])
  within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
  taken = items_in_order[np.repeat(start, lengths) + within]
  return _lists(taken, lengths, separator)


def _lists(values, lengths, separator):
  offsets = np.zeros(len(lengths) + 1, np.int64)
  np.cumsum(lengths, out=offsets[1:])
  values = pa.array(values).cast(pa.string())
  lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
  joined = pc.binary_join(lists, separator)
  return joined.to_numpy(zero_copy_only=False).astype(object)


def items_of(values: np.ndarray) -> np.ndarray:
  """The items of a typed history's values (`item:label`), as text."""
  text = pa.array(np.asarray(values).astype(str).astype(object), pa.string())
  items = pc.replace_substring_regex(text, TYPE_SEPARATOR + "[^:]*$", "")
  return items.to_numpy(zero_copy_only=False).astype(object)


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
