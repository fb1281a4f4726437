"""Reading table files into NumPy columns, on pyarrow: CSV/TSV, JSON lines,
Parquet; one file, a directory of them, or a glob.

`read_table` returns a dict of equally long columns, the `dataset.Table` the
rest of the library works on; `read_files` also says which file each row
came from. Pyarrow parses the files (CSV fields as text, JSON lines and
Parquet with their own types) and `infer.column` types each column on the
whole column: int64, float64 (NaN where a value is missing) or object str
("" where missing), the same rule for every format. Every problem is one
`ValueError` that names the file and, where it applies, the line and
column; when pyarrow refuses a file, the file is read again line by line
with Python's csv or json module, only to say where and why.

  columns = readers.read_table("clicks.tsv")
  columns = readers.read_table("log.txt", delimiter=";", header=False,
                               columns=["user", "item", "click"])
  columns = readers.read_table("logs/*.parquet")  # one table
"""

import dataclasses
import glob
import json
import os
from collections.abc import Sequence
from concurrent import futures

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from multiobj.data import infer, line_reader, user_items

FORMATS = ("csv", "jsonl", "parquet", "user_items", "json_object")
# Text of several values in one field, as a multi_category column holds
# them: how a json_object file's lists are joined.
LIST_SEPARATOR = "|"
EXTENSIONS = {
  ".csv": ("csv", ","),
  ".tsv": ("csv", "\t"),
  ".txt": ("csv", None),
  ".jsonl": ("jsonl", None),
  ".json": ("jsonl", None),
  ".parquet": ("parquet", None),
  ".pq": ("parquet", None),
}


@dataclasses.dataclass(frozen=True)
class Files:
  """Columns read from one file or several, and where each row came from.

  Attributes:
    columns: {name: [N] array}, the files' rows one after the other.
    paths: The files, in the order their rows come.
    starts: [len(paths)] the first row of each file in the columns.
  """

  columns: dict[str, np.ndarray]
  paths: tuple[str, ...]
  starts: np.ndarray

  def locate(self, row: int) -> tuple[str, int]:
    """(file, 1-based row within it) of the 0-based `row` of the columns."""
    k = int(np.searchsorted(self.starts, row, side="right")) - 1
    return self.paths[k], row - int(self.starts[k]) + 1


def read_table(
  path: str,
  format: str | None = None,
  delimiter: str | None = None,
  header: bool = True,
  columns: Sequence[str] | None = None,
  encoding: str = "utf-8",
) -> dict[str, np.ndarray]:
  """Reads a table file (or several, see `read_files`) into {name: array}.

  Args:
    path: The file; or a directory or a glob (`logs/*.parquet`) of files of
      one format and the same columns, read as one table in name order.
    format: "csv" (any delimiter; "tsv" is csv with a tab), "jsonl" (one
      flat JSON object per line), "parquet", "user_items" (one user a
      line, then the user's items: `user_items.py`) or "json_object" (one
      JSON object of key to value, a list of values joined by
      `LIST_SEPARATOR`: an item's attributes); by default from the
      extension: .csv, .tsv, .txt (needs `delimiter`), .jsonl, .json,
      .parquet, .pq.
    delimiter: For csv: the field separator; by default "," (tab for .tsv).
    header: For csv: whether the first line names the columns.
    columns: For csv: the column names, in file order. Required without a
      header; with one, they replace the header's names. For user_items:
      the user and item columns, and optionally one for the position of
      each item in its line; for json_object: the key and value columns.
    encoding: For csv and jsonl: the text encoding (a UTF-8 byte-order mark
      is skipped).

  Returns:
    The columns, each int64, float64 or object (str).

  Raises:
    ValueError: naming the file (and line, column) for a missing or empty
      file, an unknown format, a row with the wrong number of fields,
      duplicate column names, or a line that is not a flat JSON object.
  """
  return read_files(path, format, delimiter, header, columns, encoding).columns


def read_files(
  path: str,
  format: str | None = None,
  delimiter: str | None = None,
  header: bool = True,
  columns: Sequence[str] | None = None,
  encoding: str = "utf-8",
) -> Files:
  """`read_table`'s columns, with the file each row came from."""
  paths = expand(path)
  tables = [
    read_one(p, format, delimiter, header, columns, encoding) for p in paths
  ]
  for other, table in zip(paths[1:], tables[1:], strict=True):
    if table.column_names != tables[0].column_names:
      raise ValueError(
        f"{other}: columns {', '.join(table.column_names)} differ from "
        f"{paths[0]}'s {', '.join(tables[0].column_names)}; the files of "
        f"{path} must hold the same columns."
      )
  table = pa.concat_tables(tables, promote_options="permissive")
  starts = np.cumsum([0] + [t.num_rows for t in tables[:-1]])
  return Files(typed(path, table), tuple(paths), starts)


def typed(path: str, table: pa.Table) -> dict[str, np.ndarray]:
  """Each column of `table` typed by `infer.column`, on as many threads as
  pyarrow uses: its compute functions let go of the GIL, and a column of
  10M rows takes 0.1 s to 0.4 s to type, so typing them one after the other
  took longer than parsing the file."""

  def one(name):
    try:
      return infer.column(table[name])
    except infer.NestedError as e:
      raise ValueError(f"{path}: column {name!r} is {e}.") from None

  names = table.column_names
  workers = max(1, min(len(names), pa.cpu_count()))
  with futures.ThreadPoolExecutor(workers) as pool:
    return dict(zip(names, pool.map(one, names), strict=True))


def expand(path: str) -> list[str]:
  """The files `path` names: itself, a directory's files, a glob's."""
  if os.path.isfile(path):
    return [path]
  if os.path.isdir(path):
    paths = sorted(
      os.path.join(path, name)
      for name in os.listdir(path)
      if not name.startswith((".", "_"))
      and os.path.isfile(os.path.join(path, name))
    )
  elif glob.has_magic(path):
    paths = sorted(p for p in glob.glob(path) if os.path.isfile(p))
  else:
    raise ValueError(f"{path}: no such file.")
  if not paths:
    raise ValueError(f"{path}: no file matches.")
  return paths


def read_one(path, format, delimiter, header, columns, encoding) -> pa.Table:
  """One file as an Arrow table (`read_table` types its columns)."""
  format, delimiter = resolve_format(path, format, delimiter)
  if format == "user_items":
    return user_items.read(path, columns, arrow_encoding(encoding))
  if format == "json_object":
    return _read_json_object(path, columns, encoding)
  if format != "csv" and (columns is not None or not header):
    raise ValueError(
      f"{path}: 'header' and 'columns' apply to csv files only; {format} "
      "files name their own columns."
    )
  if format == "parquet":
    table = _read_parquet(path)
  elif format == "csv":
    table = _read_csv(path, delimiter, header, columns, encoding)
  else:
    table = _read_jsonl(path, encoding)
  if not table.num_columns or not table.num_rows:
    raise ValueError(f"{path}: the file is empty (no data rows).")
  return table


def resolve_format(path, format, delimiter):
  extension = os.path.splitext(path.lower())[1]
  if format is None:
    if extension not in EXTENSIONS:
      raise ValueError(
        f"{path}: cannot tell the format from the extension {extension!r}; "
        f"set format to one of {', '.join(FORMATS)}, tsv (or name the file "
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


def _read_csv(path, delimiter, header, columns, encoding):
  """Every field as text; the header (names, lines) read by Python."""
  names, skip = line_reader.csv_header(
    path, delimiter, header, columns, encoding
  )
  check_names(path, names)
  keys = [f"f{i}" for i in range(len(names))]
  try:
    table = pa_csv.read_csv(
      path,
      read_options=pa_csv.ReadOptions(
        column_names=keys, skip_rows=skip, encoding=arrow_encoding(encoding)
      ),
      parse_options=pa_csv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True
      ),
      convert_options=pa_csv.ConvertOptions(
        column_types={k: pa.string() for k in keys},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
      ),
    )
  except pa.ArrowInvalid as e:
    # The line-by-line reader says where (a row of the wrong width, bytes
    # that do not decode); pyarrow's message is the last resort.
    line_reader.csv_problem(path, delimiter, names, skip, encoding)
    raise ValueError(f"{path}: cannot read as csv: {e}") from None
  return table.rename_columns(names)


def arrow_encoding(encoding):
  normal = encoding.replace("_", "-").lower()
  return "utf8" if normal in ("utf-8", "utf8", "utf-8-sig") else encoding


def _read_jsonl(path, encoding):
  """Pyarrow's reader; the Python one where a column mixes kinds (numbers
  and text), or to say which line is wrong."""
  if arrow_encoding(encoding) == "utf8":
    try:
      table = pa_json.read_json(path)
      if not any(map(needs_python, table.columns)):
        return table
    except pa.ArrowInvalid:
      pass
  values = line_reader.jsonl_columns(path, encoding)
  return pa.table({n: infer.python_values(v) for n, v in values.items()})


def needs_python(column: pa.ChunkedArray) -> bool:
  """Whether pyarrow's JSON reader read a column the rule reads otherwise:
  nested values (an error to report by line), or integers too long for
  int64, which it reads as floats and the rule keeps as exact text."""
  if pa.types.is_nested(column.type):
    return True
  if pa.types.is_floating(column.type):
    values = column.to_numpy()
    whole = np.isfinite(values) & (values == np.round(values))
    return bool(np.any(np.abs(values[whole]) >= 2.0**63))
  return False


def _read_json_object(path, columns, encoding):
  """A file of one JSON object, {key: value}: a row a key. A value is a
  number, a string, or a list of them (joined by `LIST_SEPARATOR`, for a
  multi_category column)."""
  if columns is None or len(columns) != 2:
    raise ValueError(
      f"{path}: a json_object file needs 'columns' naming its key and value "
      f'columns (e.g. ["item_id", "attributes"]); got {columns!r}.'
    )
  found = line_reader.json_object(path, encoding)
  keys, values = [], []
  for key, value in found.items():
    parts = value if isinstance(value, list) else [value]
    if not all(
      isinstance(p, str | int | float) and not isinstance(p, bool)
      for p in parts
    ):
      raise ValueError(
        f"{path}: key {key!r}: expected a number, a string or a list of "
        f"them, got {json.dumps(value)[:80]}."
      )
    text = [str(p) for p in parts]
    if any(LIST_SEPARATOR in t for t in text) and isinstance(value, list):
      raise ValueError(
        f"{path}: key {key!r}: a value holds {LIST_SEPARATOR!r}, which joins "
        "a list's values."
      )
    keys.append(key)
    values.append(LIST_SEPARATOR.join(text))
  if not keys:
    raise ValueError(f"{path}: the file is empty (no data rows).")
  return pa.table({columns[0]: keys, columns[1]: values})


def _read_parquet(path):
  try:
    table = pq.read_table(path, read_dictionary=text_columns(path))
  except (pa.ArrowInvalid, OSError) as e:
    raise ValueError(f"{path}: cannot read as parquet: {e}") from None
  check_names(path, table.column_names)
  return table


def text_columns(path: str) -> list[str]:
  """A Parquet file's text columns, read as dictionaries: Parquet stores
  them so, and `infer.column` then makes one string per distinct value."""
  schema = pq.read_schema(path)
  return [
    f.name
    for f in schema
    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
  ]


def check_names(path: str, names: Sequence[str]) -> None:
  """Raises ValueError for an unnamed column or a name given twice."""
  if "" in names:
    raise ValueError(
      f"{path}: column {list(names).index('') + 1} of the header has no name."
    )
  duplicated = sorted({n for n in names if list(names).count(n) > 1})
  if duplicated:
    raise ValueError(
      f"{path}: the header names {', '.join(map(repr, duplicated))} more "
      "than once; rename them or give 'columns'."
    )
