"""Training lists of a sequence log: windows of each user's events.

Where a history is trained at every position (`every_position`, SASRec's
and BERT4Rec's way), a training list is not one request but a window of
one user's rows in time order, one slot a row. The model encodes the
window's events causally and scores each slot's item from the events
before it (`model/sequence.py`), so one pass over a window trains every
prefix of it: the pairs training every row with its own history would
give, at the cost of one row.

A window holds up to `max_length + 1` rows, the most recent window of a
user ending at the user's last training row; each earlier one ends where
the next begins, that row in both (the later window's first slot is input
only: its mask is 0). So every event but the user's first is predicted
exactly once, from up to `max_length` events before it:

  events   e0 e1 e2 e3 e4 e5 e6 e7      max_length 3
  windows  [e0 e1] [e1 e2 e3 e4] [e4 e5 e6 e7]
  targets      e1      e2 e3 e4     e5 e6 e7

Each window's slots carry, per history feature trained at every position,
`EVENTS + name`: 0 for a row that is no event of it, else 1 + the index
of the row's last positive label among its `built_from` (its behaviour).
The history column of these lists is "": the slots are the history.
"""

import numpy as np
from absl import logging

from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.prepare import lists as lists_lib

# [lists, slots] per sequence feature: 0, or 1 + the event's behaviour.
EVENTS = "__events/"
# The window a row belongs to, as a list id.
WINDOW = "__window"
# A row repeated at the start of the window after its own (input only).
_REPEATED = "__repeated"


def to_lists(
  rows: dataset_lib.Table,
  spec: spec_lib.DatasetSpec,
  columns: list[str],
  max_list_size: int | None = None,
  where: str = "data",
) -> dataset_lib.Table:
  """The training lists of `rows`: windows of each user's rows where the
  spec has histories trained at every position, else `lists.to_lists`."""
  if not spec.sequences:
    return lists_lib.to_lists(rows, spec, columns, max_list_size, where)
  if spec.list_id:
    raise ValueError(
      f"{where}: histories trained at every position read each user's "
      f"rows as one sequence, and {spec.list_id!r} groups them into lists: "
      "set every_position to false."
    )
  length = spec.sequences[0].max_length + 1
  windowed = windows(rows, spec, length)
  own = windowed[_REPEATED] == 0  # Each row once.
  for feature in spec.sequences:
    none = int((windowed[EVENTS + feature.name][own] == 0).sum())
    if none:
      # Said, not silent: such rows take a slot of a window (a window
      # counts rows), so a window's slots hold fewer than max_length
      # events and their positions are not a served history's.
      logging.warning(
        "%s: %d of %d training rows are no event of history %r (none of "
        "%s positive); they take slots of its windows, which then hold "
        "fewer than %d events each. Build the history from a label every "
        "row has, or set its every_position to false.",
        where, none, int(own.sum()), feature.name,
        ", ".join(feature.built_from), feature.max_length,
      )  # fmt: skip
  keep = [*columns, *(EVENTS + f.name for f in spec.sequences), _REPEATED]
  lists = lists_lib.to_lists(
    windowed, spec.replace(list_id=WINDOW), keep, length, where
  )
  repeated = lists.pop(_REPEATED) > 0
  lists[lists_lib.MASK] = np.where(repeated, 0.0, lists[lists_lib.MASK])
  return lists


def windows(
  rows: dataset_lib.Table, spec: spec_lib.DatasetSpec, length: int
) -> dataset_lib.Table:
  """`rows` in windows of up to `length` rows of one user in time order
  (consecutive windows sharing a row), with the window as `WINDOW`, the
  repeated rows marked `_REPEATED`, and the `EVENTS` columns."""
  n = dataset_lib.num_rows(rows)
  if n == 0:
    raise ValueError(f"Dataset {spec.name!r}: no training rows.")
  _, user = np.unique(rows[spec.user_id], return_inverse=True)
  order = np.lexsort((np.arange(n), rows[spec.timestamp], user))
  counts = np.bincount(user)
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  sorted_user = user[order]
  # From the user's last row: 0 for it. Window w ends at from_end = w * step.
  from_end = starts[sorted_user] + counts[sorted_user] - 1 - np.arange(n)
  step = length - 1
  window = from_end // step
  # Each window's first row (from_end a multiple of step) opens the window
  # after it too, input only.
  shared = (from_end % step == 0) & (from_end > 0)
  index = np.concatenate([order, order[shared]])
  of_window = np.concatenate([window, window[shared] - 1])
  repeated = np.concatenate([np.zeros(n), np.ones(int(shared.sum()))])
  # Windows apart by user, then by their place in time.
  max_windows = int(window.max()) + 2
  key = np.concatenate([sorted_user, sorted_user[shared]]).astype(
    np.int64
  ) * max_windows + (max_windows - 1 - of_window)
  # Within a window, rows in time: the repeated row first.
  within = np.concatenate([np.arange(n), np.arange(n)[shared]]) - repeated * n
  arrange = np.lexsort((within, key))
  out = dataset_lib.take(rows, index[arrange])
  out[WINDOW] = key[arrange]
  out[_REPEATED] = repeated[arrange].astype(np.float32)
  for feature in spec.sequences:
    out[EVENTS + feature.name] = event_types(out, feature)
  return out


def event_types(rows: dataset_lib.Table, feature: spec_lib.Feature):
  """[N] 0 for a row that is no event of `feature`, else 1 + the index of
  its last positive label among the feature's `built_from`."""
  positive = np.stack([np.asarray(rows[b]) > 0 for b in feature.built_from])
  last = len(feature.built_from) - np.argmax(positive[::-1], axis=0)
  return np.where(positive.any(axis=0), last, 0).astype(np.int64)
