"""Reading a table file in pieces: a log of any size in bounded memory.

`batches` yields what `readers.read_files` would return, a piece of about
`block_mb` megabytes of file at a time, with the file and the row each piece
starts at (so a message can name the row of a bad value in a file of a
billion rows). The same parsers as `readers.py`: pyarrow's (CSV fields as
text, JSON lines and Parquet with their own types), Python's where pyarrow
cannot say which line is wrong.
"""

import os
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from multiobj.data import infer, line_reader, readers


def batches(
  path: str,
  format: str | None = None,
  delimiter: str | None = None,
  header: bool = True,
  columns: Sequence[str] | None = None,
  encoding: str = "utf-8",
  block_mb: float = 32,
) -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
  """`read_files`' table in pieces of about `block_mb` MB of file, so a log
  of any size is read in bounded memory: (file, 0-based row in that file of
  the piece's first row, columns). Each piece is typed on its own (one
  column may come as integers in one piece and text in another; the caller
  decides). Arguments as `read_table`."""
  for file in readers.expand(path):
    format_, delimiter_ = readers.resolve_format(file, format, delimiter)
    if format_ == "parquet":
      pieces = _parquet_pieces(file, block_mb)
    elif format_ in ("user_items", "json_object"):
      # The shapes papers publish their data in: read whole (a file of one
      # user a line is as long as the catalogue's users, not the log).
      pieces = iter(
        [readers.read_one(file, format_, None, header, columns, encoding)]
      )
    elif format_ == "csv":
      pieces = _csv_pieces(
        file, delimiter_, header, columns, encoding, block_mb
      )
    else:
      pieces = _jsonl_pieces(file, encoding, block_mb)
    start, names = 0, None
    for table in pieces:
      if names is None:
        names = table.column_names
      elif table.column_names != names and format_ != "jsonl":
        raise ValueError(f"{file}: columns change within the file.")
      yield file, start, readers.typed(file, table)
      start += table.num_rows
    if not start:
      raise ValueError(f"{file}: the file is empty (no data rows).")


def _parquet_pieces(path, block_mb):
  try:
    file = pq.ParquetFile(path, read_dictionary=readers.text_columns(path))
    readers.check_names(path, file.schema_arrow.names)
    rows = max(1, file.metadata.num_rows)
    size = max(1, os.path.getsize(path))
    # Parquet is compressed: about 4 bytes in memory per byte on disk.
    batch = max(1024, int(rows * block_mb * 2**20 / (4 * size)))
    for piece in file.iter_batches(batch_size=batch):
      yield pa.Table.from_batches([piece])
  except (pa.ArrowInvalid, OSError) as e:
    raise ValueError(f"{path}: cannot read as parquet: {e}") from None


def _csv_pieces(path, delimiter, header, columns, encoding, block_mb):
  names, skip = line_reader.csv_header(
    path, delimiter, header, columns, encoding
  )
  readers.check_names(path, names)
  keys = [f"f{i}" for i in range(len(names))]
  try:
    reader = pa_csv.open_csv(
      path,
      read_options=pa_csv.ReadOptions(
        column_names=keys,
        skip_rows=skip,
        encoding=readers.arrow_encoding(encoding),
        block_size=int(block_mb * 2**20),
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
    for piece in reader:
      yield pa.Table.from_batches([piece]).rename_columns(names)
  except pa.ArrowInvalid as e:
    line_reader.csv_problem(path, delimiter, names, skip, encoding)
    raise ValueError(f"{path}: cannot read as csv: {e}") from None


def _jsonl_pieces(path, encoding, block_mb):
  """Pieces of whole lines, each parsed by pyarrow (by Python where a
  column mixes kinds, or to say which line is wrong)."""
  block = int(block_mb * 2**20)
  python = readers.arrow_encoding(encoding) != "utf8"
  with open(path, "rb") as f:
    line = 1
    while True:
      chunk = f.read(block)
      if not chunk:
        return
      chunk += f.readline()  # Up to the end of a line.
      lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
      table = None
      if not python:
        try:
          table = pa_json.read_json(pa.BufferReader(chunk))
          if any(map(readers.needs_python, table.columns)):
            table = None
        except pa.ArrowInvalid:
          table = None
      if table is None:
        try:
          text = chunk.decode("utf-8-sig" if line == 1 else "utf-8")
        except UnicodeDecodeError as e:
          raise ValueError(
            f"{path}: cannot decode as {encoding}: {e.reason}."
          ) from None
        # JSON strings may hold U+2028 and the like: lines end at \n only.
        values = line_reader.jsonl_lines(path, text.split("\n"), line)
        table = pa.table({n: infer.python_values(v) for n, v in values.items()})
      if table.num_rows:
        yield table
      line += lines
