"""Reading a table file into NumPy columns: CSV/TSV, JSON lines, Parquet.

`read_table` returns a dict of equally long columns, the `dataset.Table` the
rest of the library works on. Types are inferred per column, the same way for
every format: int64 when every value is an integer, float64 when every value
is a number (an empty field or a null is NaN), else an object array of str
(a null is ""). Every problem is one `ValueError` that names the file and,
where it applies, the line and column.

  columns = readers.read_table("clicks.tsv")
  columns = readers.read_table("log.txt", delimiter=";", header=False,
                               columns=["user", "item", "click"])
"""

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

FORMATS = ("csv", "jsonl", "parquet")
EXTENSIONS = {
  ".csv": ("csv", ","),
  ".tsv": ("csv", "\t"),
  ".txt": ("csv", None),
  ".jsonl": ("jsonl", None),
  ".json": ("jsonl", None),
  ".parquet": ("parquet", None),
  ".pq": ("parquet", None),
}


def read_table(
  path: str,
  format: str | None = None,
  delimiter: str | None = None,
  header: bool = True,
  columns: Sequence[str] | None = None,
  encoding: str = "utf-8",
) -> dict[str, np.ndarray]:
  """Reads a table file into {column name: NumPy array}.

  Args:
    path: The file.
    format: "csv" (any delimiter; "tsv" is csv with a tab), "jsonl" (one
      flat JSON object per line) or "parquet"; by default from the
      extension: .csv, .tsv, .txt (needs `delimiter`), .jsonl, .json,
      .parquet, .pq.
    delimiter: For csv: the field separator; by default "," (tab for .tsv).
    header: For csv: whether the first line names the columns.
    columns: For csv: the column names, in file order. Required without a
      header; with one, they replace the header's names.
    encoding: For csv and jsonl: the text encoding (a UTF-8 byte-order mark
      is skipped).

  Returns:
    The columns, each int64, float64 or object (str).

  Raises:
    ValueError: naming the file (and line, column) for a missing or empty
      file, an unknown format, a row with the wrong number of fields,
      duplicate column names, or a line that is not a flat JSON object.
  """
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such file.")
  format, delimiter = _resolve_format(path, format, delimiter)
  if format != "csv" and (columns is not None or not header):
    raise ValueError(
      f"{path}: 'header' and 'columns' apply to csv files only; {format} "
      "files name their own columns."
    )
  if format == "parquet":
    table = _read_parquet(path)
  else:
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
      encoding = "utf-8-sig"
    try:
      with open(path, encoding=encoding, newline="") as f:
        if format == "csv":
          table = _read_csv(f, path, delimiter, header, columns)
        else:
          table = _read_jsonl(f, path)
    except UnicodeDecodeError as e:
      raise ValueError(
        f"{path}: cannot decode as {encoding}: {e.reason} at byte "
        f"{e.start}; set 'encoding'."
      ) from None
    except LookupError as e:
      raise ValueError(f"{path}: {e}.") from None
  if not table or not len(next(iter(table.values()))):
    raise ValueError(f"{path}: the file is empty (no data rows).")
  return table


def _resolve_format(path, format, delimiter):
  extension = os.path.splitext(path.lower())[1]
  if format is None:
    if extension not in EXTENSIONS:
      raise ValueError(
        f"{path}: cannot tell the format from the extension {extension!r}; "
        f"set format to one of {', '.join(FORMATS)} (or name the file "
        f"{', '.join(EXTENSIONS)})."
      )
    format, default = EXTENSIONS[extension]
    if extension == ".txt" and delimiter is None:
      raise ValueError(f"{path}: a .txt file needs an explicit delimiter.")
    delimiter = delimiter or default
  elif format == "tsv":
    format, delimiter = "csv", delimiter or "\t"
  elif format not in FORMATS:
    raise ValueError(
      f"{path}: unknown format {format!r}; expected one of "
      f"{', '.join(FORMATS)}, tsv."
    )
  if format == "csv":
    delimiter = delimiter or ("\t" if extension == ".tsv" else ",")
    if len(delimiter) != 1:
      raise ValueError(
        f"{path}: the delimiter must be one character, got {delimiter!r}."
      )
  return format, delimiter


def _read_csv(f, path, delimiter, header, columns):
  reader = csv.reader(f, delimiter=delimiter, strict=True)
  names = None
  try:
    if header:
      names = next((row for row in reader if row), None)
      if names is None:
        raise ValueError(f"{path}: the file is empty (no header line).")
      if columns is not None:
        _check_width(path, reader.line_num, len(names), list(columns))
        names = list(columns)
    elif columns is None:
      raise ValueError(
        f"{path}: a file without a header needs 'columns' to name its fields."
      )
    else:
      names = list(columns)
    names = [n.strip() for n in names]
    _check_names(path, names)
    values = [[] for _ in names]
    for row in reader:
      if not row:
        continue  # A blank line, e.g. at the end.
      _check_width(path, reader.line_num, len(row), names)
      for column, value in zip(values, row, strict=True):
        column.append(value)
  except csv.Error as e:
    raise ValueError(f"{path}: line {reader.line_num}: {e}.") from None
  return {
    name: _infer(column) for name, column in zip(names, values, strict=False)
  }


def _check_width(path, line, width, names):
  if width != len(names):
    raise ValueError(
      f"{path}: line {line} has {width} fields; expected {len(names)} "
      f"({', '.join(names)})."
    )


def _check_names(path, names):
  if "" in names:
    raise ValueError(
      f"{path}: column {names.index('') + 1} of the header has no name."
    )
  duplicated = sorted({n for n in names if names.count(n) > 1})
  if duplicated:
    raise ValueError(
      f"{path}: the header names {', '.join(map(repr, duplicated))} more "
      "than once; rename them or give 'columns'."
    )


def _read_jsonl(f, path):
  values: dict[str, list[Any]] = {}
  count = 0
  for line_number, line in enumerate(f, start=1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: line {line_number}: {e.msg}.") from None
    if not isinstance(record, dict):
      raise ValueError(
        f"{path}: line {line_number} is not a JSON object; expected one "
        "object per line."
      )
    for name, value in record.items():
      if isinstance(value, dict | list):
        raise ValueError(
          f"{path}: line {line_number}, column {name!r}: nested value; "
          "fields must be flat (numbers, strings, booleans, null)."
        )
      # A column first seen late is null in the lines before.
      values.setdefault(name, [None] * count).append(value)
    count += 1
    for column in values.values():
      if len(column) < count:
        column.append(None)
  return {name: _infer(column) for name, column in values.items()}


def _read_parquet(path):
  import pyarrow as pa
  import pyarrow.parquet as pq

  try:
    table = pq.read_table(path)
  except (pa.ArrowInvalid, OSError) as e:
    raise ValueError(f"{path}: cannot read as parquet: {e}") from None
  _check_names(path, table.column_names)
  out = {}
  for name, column in zip(table.column_names, table.columns, strict=False):
    kind = column.type
    if pa.types.is_dictionary(kind):
      column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_nested(kind):
      raise ValueError(
        f"{path}: column {name!r} is nested ({kind}); fields must be flat."
      )
    if pa.types.is_temporal(kind):
      # Timestamps and dates as integers in their unit since the epoch.
      column = column.cast(pa.int64())
    out[name] = _infer(column.to_pylist())
  return out


def _infer(values: list[Any]) -> np.ndarray:
  """int64, float64 (NaN for missing) or object str, as the values allow."""
  array = np.empty(len(values), dtype=object)
  array[:] = values
  missing = np.array([v is None or v == "" for v in values], dtype=bool)
  present = array[~missing]
  if len(present):
    if not missing.any():
      try:
        return _as(present, np.int64)
      except OverflowError:
        return _as_text(array)  # Ids too long for int64 stay exact.
      except (TypeError, ValueError):
        pass
    try:
      numbers = _as(present, np.float64)
    except (TypeError, ValueError):
      return _as_text(array)
    out = np.full(len(values), np.nan)
    out[~missing] = numbers
    return out
  return _as_text(array)


def _as(values, dtype):
  # Python's int() and float() would also take 1.5 -> 1 and True -> 1.
  if dtype is np.int64 and any(isinstance(v, float) for v in values):
    raise ValueError("not integers")
  if any(isinstance(v, bool) for v in values):
    bools = [int(v) if isinstance(v, bool) else v for v in values]
    values = np.empty(len(values), dtype=object)
    values[:] = bools
  strings = [v for v in values if isinstance(v, str)]
  # int() and float() take "1_000"; a file means text by it.
  if any("_" in v for v in strings):
    raise ValueError("not numbers")
  if dtype is np.int64 and any(
    not v.strip().lstrip("+-").isdigit() for v in strings
  ):
    raise ValueError("not integers")
  return values.astype(dtype)


def _as_text(array):
  return np.asarray(
    ["" if v is None else _text(v) for v in array], dtype=object
  )


def _text(value):
  if isinstance(value, bool):
    return "true" if value else "false"
  return value if isinstance(value, str) else str(value)
