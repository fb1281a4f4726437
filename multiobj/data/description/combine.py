"""`rows` given as several tables: one table of rows, events or merged.

A multi-behaviour log often comes as one file per behaviour (buy.txt,
cart.txt, each of (user, item) pairs); each table of `rows` says the labels
it holds as constants (`"labels": {"buy": 1, "cart": 0}`). `rows` puts the
tables one after the other, each row an event; with the description's
`"merge": true`, the rows of one (list, user, item, timestamp), those of
them the description has, become one row whose labels are the largest of
theirs (a pair both carted and bought is both), its other columns the
first row's.
"""

import numpy as np

from multiobj.data import dataset as dataset_lib


def check_kinds(check, pieces) -> None:
  """Refuses tables of `pieces` [(table entry, columns)] whose columns
  hold different kinds of values (integers in one, text in another)."""
  (first_entry, first), *others = pieces
  for entry, part in others:
    for name, column in part.items():
      if _kind(column) != _kind(first[name]):
        check.fail(
          entry["at"],
          f"{entry['path']}: column {name!r} holds {_kind(column)}, but "
          f"{first_entry['at']} ({first_entry['path']}) holds "
          f"{_kind(first[name])} there; the tables of rows must agree.",
        )


def rows(pieces, labels, spec, merge: bool) -> dataset_lib.Table:
  """The tables of `pieces` [(table entry, columns)] as one (their kinds
  checked by `check_kinds`), merged if `merge`."""
  first, others = pieces[0][1], pieces[1:]
  table = (
    first
    if not others
    else {n: np.concatenate([p[n] for _, p in pieces]) for n in first}
  )
  if not merge:
    return table
  return merged(table, spec, [c["name"] for c in labels])


def merged(
  table: dataset_lib.Table, spec, labels: list[str]
) -> dataset_lib.Table:
  """One row per (list, user, item, timestamp): each label the largest of
  the group's, every other column its first row's; groups in the order of
  their first rows."""
  keys = [
    c for c in (spec.list_id, spec.user_id, spec.item_id, spec.timestamp) if c
  ]
  codes = np.stack(
    [np.unique(table[k], return_inverse=True)[1] for k in keys], axis=1
  )
  _, first, group = np.unique(
    codes, axis=0, return_index=True, return_inverse=True
  )
  group = group.reshape(-1)
  order = np.argsort(first, kind="stable")  # Groups by their first row.
  rank = np.empty(len(order), np.int64)
  rank[order] = np.arange(len(order))
  out = {name: column[first[order]] for name, column in table.items()}
  for name in labels:
    largest = np.full(len(first), -np.inf, np.float64)
    np.maximum.at(largest, rank[group], table[name])
    out[name] = largest.astype(table[name].dtype)
  return out


def _kind(column: np.ndarray) -> str:
  return {"i": "integers", "u": "integers", "f": "numbers"}.get(
    column.dtype.kind, "text"
  )
