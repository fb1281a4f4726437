"""Reading a text table line by line with Python's csv and json modules.

Pyarrow reads the files (`readers.py`); this reads what it cannot say: a CSV
header and the lines it spans, the line and reason of a file pyarrow
refuses (a row of the wrong width, bytes that do not decode), and JSON lines
whose columns mix numbers and text, or that are wrong somewhere. Each pass
is linear in the file: a column first seen late is filled once, not per
line.
"""

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any


def _open(path, encoding):
  if encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
    encoding = "utf-8-sig"  # Skips a byte-order mark.
  try:
    return open(path, encoding=encoding, newline=""), encoding
  except LookupError as e:
    raise ValueError(f"{path}: {e}.") from None


def _decode_error(path, encoding, e):
  return ValueError(
    f"{path}: cannot decode as {encoding}: {e.reason} at byte {e.start}; "
    "set 'encoding'."
  )


def csv_header(
  path: str,
  delimiter: str,
  header: bool,
  columns: Sequence[str] | None,
  encoding: str,
) -> tuple[list[str], int]:
  """(column names, lines before the first data row)."""
  if not header:
    if columns is None:
      raise ValueError(
        f"{path}: a file without a header needs 'columns' to name its fields."
      )
    return [c.strip() for c in columns], 0
  f, encoding = _open(path, encoding)
  with f:
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    try:
      names = next((row for row in reader if row), None)
    except UnicodeDecodeError as e:
      raise _decode_error(path, encoding, e) from None
    except csv.Error as e:
      raise ValueError(f"{path}: line {reader.line_num}: {e}.") from None
    if names is None:
      raise ValueError(f"{path}: the file is empty (no header line).")
    if columns is not None:
      _check_width(path, reader.line_num, len(names), list(columns))
      names = list(columns)
    return [n.strip() for n in names], reader.line_num


def csv_problem(
  path: str, delimiter: str, names: Sequence[str], skip: int, encoding: str
) -> None:
  """Raises ValueError for the first line of the data rows that is wrong."""
  f, encoding = _open(path, encoding)
  with f:
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    try:
      for _ in range(skip):
        next(f)
      for row in reader:
        if row:  # A blank line, e.g. at the end, is no row.
          _check_width(path, skip + reader.line_num, len(row), names)
    except UnicodeDecodeError as e:
      raise _decode_error(path, encoding, e) from None
    except csv.Error as e:
      raise ValueError(f"{path}: line {skip + reader.line_num}: {e}.") from None


def _check_width(path, line, width, names):
  if width != len(names):
    raise ValueError(
      f"{path}: line {line} has {width} fields; expected {len(names)} "
      f"({', '.join(names)})."
    )


def jsonl_columns(path: str, encoding: str) -> dict[str, list[Any]]:
  """{column: value of each line}, a key missing from a line being None.

  Raises:
    ValueError: naming the line (and column) that is not valid JSON, not an
      object, or holds a nested value.
  """
  f, encoding = _open(path, encoding)
  with f:
    try:
      return jsonl_lines(path, f, 1)
    except UnicodeDecodeError as e:
      raise _decode_error(path, encoding, e) from None


def jsonl_lines(
  path: str, lines: Iterable[str], first: int
) -> dict[str, list[Any]]:
  """`jsonl_columns` of some lines of `path`, the first being line `first`."""
  values: dict[str, list[Any]] = {}
  count = 0
  for number, line in enumerate(lines, start=first):
    if not line.strip():
      continue
    record = _record(path, number, line)
    for name, value in record.items():
      if name not in values:
        # A column first seen late is null in the lines before.
        values[name] = [None] * count
      values[name].append(value)
    count += 1
    for column in values.values():
      if len(column) < count:
        column.append(None)
  return values


def _record(path, number, line):
  try:
    record = json.loads(line)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: line {number}: {e.msg}.") from None
  if not isinstance(record, dict):
    raise ValueError(
      f"{path}: line {number} is not a JSON object; expected one object per "
      "line."
    )
  for name, value in record.items():
    if isinstance(value, dict | list):
      raise ValueError(
        f"{path}: line {number}, column {name!r}: nested value; fields must "
        "be flat (numbers, strings, booleans, null)."
      )
  return record


def json_object(path: str, encoding: str) -> dict[str, Any]:
  """The one JSON object a file holds.

  Raises:
    ValueError: naming the file, and the line and column of invalid JSON,
      or saying what the file holds instead of an object.
  """
  f, encoding = _open(path, encoding)
  with f:
    try:
      found = json.load(f)
    except UnicodeDecodeError as e:
      raise _decode_error(path, encoding, e) from None
    except json.JSONDecodeError as e:
      raise ValueError(
        f"{path}: line {e.lineno}, column {e.colno}: {e.msg}."
      ) from None
    except RecursionError:
      raise ValueError(f"{path}: JSON nested too deeply to read.") from None
  if not isinstance(found, dict):
    raise ValueError(
      f"{path}: expected one JSON object of key to value, got a "
      f"{type(found).__name__}."
    )
  return found
