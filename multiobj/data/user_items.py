"""Files of one user a line, as sequential and multi-behaviour papers publish
them (SASRec, S3-Rec, MB-CGCN): `user item item ...`, the fields separated
by spaces or tabs, the items in the user's order.

`read` turns such a file into a table of one row a (user, item) pair, with
the item's position in its line (0 for the first) when a third column name
is given: the order within the user, for a log without timestamps.

  1 12 7 31      ->   user_id item_id position
  2 5                 1       12      0
                      1       7       1
                      1       31      2
                      2       5       0

Ids must be integers, a line must hold a user and at least one item, and a
user has one line; anything else is a ValueError naming the file and line.
Everything runs on whole columns with pyarrow: no Python per line.
"""

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

# A field separator no text line holds: each line is read whole.
_WHOLE_LINE = "\x1f"
_INTEGER = r"^[+-]?[0-9]+$"


def read(path: str, columns: Sequence[str], encoding: str = "utf8") -> pa.Table:
  """The (user, item[, position]) rows of the file at `path`.

  Args:
    path: The file.
    columns: Names of the user and item columns, and optionally of the
      position column.
    encoding: The text encoding, as pyarrow names it ("utf8").

  Raises:
    ValueError: naming the file and line of an empty line, a line with a
      user but no item, a field that is not an integer, or a user on two
      lines; or for `columns` of the wrong length.
  """
  if columns is None or len(columns) not in (2, 3):
    raise ValueError(
      f"{path}: a user_items file needs 'columns' naming the user and item "
      "columns, and optionally a third for each item's position in its line "
      f'(e.g. ["user_id", "item_id", "position"]); got {columns!r}.'
    )
  lines = _lines(path, encoding)
  fields = pc.split_pattern_regex(pc.utf8_trim_whitespace(lines), r"\s+")
  counts = pc.list_value_length(fields).to_numpy()
  blank = pc.equal(pc.utf8_trim_whitespace(lines), "").to_numpy(
    zero_copy_only=False
  )
  if blank.any():
    _fail(path, np.flatnonzero(blank), "is empty")
  if (counts < 2).any():
    _fail(path, np.flatnonzero(counts < 2), "holds a user but no item")
  tokens = pc.list_flatten(fields)
  integer = pc.match_substring_regex(tokens, _INTEGER).to_numpy(
    zero_copy_only=False
  )
  if not integer.all():
    line = pc.list_parent_indices(fields).to_numpy()[~integer]
    value = tokens.filter(pa.array(~integer))[0].as_py()
    _fail(path, line, f"holds {value!r}, not an integer id")
  try:
    values = pc.cast(
      pc.replace_substring_regex(tokens, r"^\+", ""), pa.int64()
    ).to_numpy()
  except pa.ArrowInvalid:  # Digits beyond int64.
    big = np.array([len(t.lstrip("+-")) > 18 for t in tokens.to_pylist()])
    line = pc.list_parent_indices(fields).to_numpy()[big]
    value = tokens.filter(pa.array(big))[0].as_py()
    _fail(path, line, f"holds {value!r}, an integer beyond 64 bits")
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  users = values[starts]
  _check_one_line_each(path, users)
  is_item = np.ones(len(values), bool)
  is_item[starts] = False
  per_line = counts - 1
  out = {
    columns[0]: np.repeat(users, per_line),
    columns[1]: values[is_item],
  }
  if len(columns) == 3:
    line_start = np.repeat(np.cumsum(per_line) - per_line, per_line)
    out[columns[2]] = np.arange(int(per_line.sum())) - line_start
  return pa.table(out)


def _lines(path: str, encoding: str) -> pa.Array:
  try:
    table = pa_csv.read_csv(
      path,
      read_options=pa_csv.ReadOptions(column_names=["line"], encoding=encoding),
      parse_options=pa_csv.ParseOptions(
        delimiter=_WHOLE_LINE, quote_char=False, ignore_empty_lines=False
      ),
      convert_options=pa_csv.ConvertOptions(
        column_types={"line": pa.string()}, strings_can_be_null=False
      ),
    )
  except pa.ArrowInvalid as e:
    raise ValueError(f"{path}: cannot read as user_items: {e}") from None
  if not table.num_rows:
    raise ValueError(f"{path}: the file is empty (no data rows).")
  return table["line"].combine_chunks()


def _check_one_line_each(path, users):
  unique, first, counts = np.unique(
    users, return_index=True, return_counts=True
  )
  if (counts > 1).any():
    user = unique[counts > 1][0]
    a, b = np.flatnonzero(users == user)[:2]
    raise ValueError(
      f"{path}: user {user} is on lines {a + 1} and {b + 1}; a user_items "
      "file gives each user one line."
    )


def _fail(path, lines, what):
  count = len(np.unique(lines))
  raise ValueError(
    f"{path}: line {int(lines[0]) + 1} {what} ({count} such "
    f"line{'s' * (count > 1)}); each line is a user id and then item ids, "
    "separated by spaces or tabs."
  )
