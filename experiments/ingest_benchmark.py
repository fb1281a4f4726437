"""Ingest speed: `readers.read_table` against pyarrow reading the same file.

`python -m experiments.benchmark --scale` runs it: for each size it writes an
impression log shaped like the synthetic one (ids, categories, numbers, a
title; 11 columns) as CSV, Parquet and JSON lines, then times reading each
file to NumPy columns with the library (pyarrow's parser, then every column
typed by the library's rule) and with pyarrow alone (its own parser and type
inference, to an Arrow table), best of a few runs each. For reference it
also times pyarrow alone followed by pyarrow's own conversion of every
column to NumPy (`ChunkedArray.to_numpy`), what a table of NumPy columns
costs without the library: a text column becomes one Python string a row.
"""

import json
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from multiobj.data import readers

FORMATS = ("csv", "parquet", "jsonl")
_WORDS = (
  "match goal league phone laptop recipe pasta beach flight stock market "
  "dress album film console sleep garden space"
).split()


def log(rows: int, seed: int = 0) -> pa.Table:
  """A log of `rows` impressions, 10 a request, with random values."""
  rng = np.random.default_rng(seed)
  titles = np.array(
    [" ".join(rng.choice(_WORDS, 6)) for _ in range(5000)], dtype=object
  )

  def choose(values):
    return np.asarray(values, dtype=object)[
      rng.integers(len(values), size=rows)
    ]

  return pa.table(
    {
      "request_id": np.arange(rows) // 10,
      "user_id": rng.integers(0, 100_000, rows),
      "country": choose(["US", "DE", "FR", "BR"]),
      "age": rng.integers(18, 80, rows).astype(np.float64),
      "item_id": rng.integers(0, 200_000, rows),
      "category": choose(["sports", "music", "travel"]),
      "price": np.round(rng.lognormal(3, 1, rows), 2),
      "title": titles[rng.integers(0, len(titles), rows)],
      "position": np.arange(rows) % 10 + 1,
      "click": (rng.random(rows) < 0.08).astype(np.float64),
      "dwell": np.round(rng.exponential(20, rows), 1),
    }
  )


def write(table: pa.Table, stem: str, formats: Sequence[str]) -> dict:
  """Writes `table` as `stem`.csv, .parquet, .jsonl; returns the paths."""
  paths = {}
  for format in formats:
    path = paths[format] = f"{stem}.{format}"
    if os.path.exists(path):
      continue
    if format == "csv":
      pa_csv.write_csv(table, path)
    elif format == "parquet":
      pq.write_table(table, path)
    else:
      with open(path, "w") as f:
        for batch in table.to_batches(100_000):
          columns = batch.to_pydict()
          names = list(columns)
          f.writelines(
            json.dumps(dict(zip(names, row, strict=True))) + "\n"
            for row in zip(*columns.values(), strict=True)
          )
  return paths


def _best(function, path, repeats):
  seconds = []
  for _ in range(repeats):
    started = time.perf_counter()
    function(path)
    seconds.append(time.perf_counter() - started)
  return min(seconds)


_ALONE = {
  "csv": pa_csv.read_csv,
  "parquet": pq.read_table,
  "jsonl": pa_json.read_json,
}


def _to_numpy(format: str) -> Callable[[str], list[np.ndarray]]:
  """pyarrow's reader of `format`, then pyarrow's NumPy of each column."""

  def read(path):
    return [c.to_numpy() for c in _ALONE[format](path).columns]

  return read


def run(
  sizes: Sequence[int],
  folder: str,
  formats: Sequence[str] = FORMATS,
  repeats: int = 3,
) -> list[dict]:
  """One row per (size, format): seconds and rows/s of both readers."""
  os.makedirs(folder, exist_ok=True)
  results = []
  for rows in sizes:
    paths = write(log(rows), os.path.join(folder, f"log_{rows}"), formats)
    for format, path in paths.items():
      alone = _best(_ALONE[format], path, repeats)
      ours = _best(readers.read_table, path, repeats)
      numpy = _best(_to_numpy(format), path, repeats)
      row = {
        "rows": rows,
        "format": format,
        "megabytes": os.path.getsize(path) / 2**20,
        "pyarrow_seconds": alone,
        "multiobj_seconds": ours,
        "pyarrow_to_numpy_seconds": numpy,
        "multiobj_rows_per_second": rows / ours,
        "ratio": ours / alone,
      }
      results.append(row)
      print(
        f"{rows:>11,} rows {format:8s} {row['megabytes']:8,.0f} MB  "
        f"pyarrow {alone:7.2f} s  multiobj {ours:7.2f} s "
        f"({rows / ours:>11,.0f} rows/s, {ours / alone:5.2f}x)  "
        f"pyarrow then NumPy {numpy:7.2f} s",
        flush=True,
      )
  return results
