"""Table files in pieces (data/pieces.py): the pieces make up `read_table`'s
columns, know their first row, and name a bad line wherever it is."""

import csv
import json
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from absl.testing import absltest, parameterized

from multiobj.data import pieces, readers

N = 3000
# About 10 KB of file a piece: CSV and JSON lines files of 3,000 rows come
# in 7 to 15 pieces; Parquet pieces hold at least 1,024 rows.
BLOCK_MB = 0.01
WORDS = np.array(
  ["alpha", "héllo wörld", "日本語", "a, b", 'say "x"', "tab\there"],
  dtype=object,
)


def _columns(n=N, seed=0):
  """Columns that keep one type in any piece: row numbers (`id` is the
  row's number in its file), prices with cents, words."""
  rng = np.random.default_rng(seed)
  return {
    "id": np.arange(n, dtype=np.int64),
    "price": np.round(rng.random(n) * 100, 2) + 0.005,
    "name": WORDS[rng.integers(0, len(WORDS), n)],
  }


def _records(columns):
  """Each row as a dict of plain Python values."""
  return [
    {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
    for row in (
      dict(zip(columns, values, strict=True))
      for values in zip(*columns.values(), strict=True)
    )
  ]


def _write(path, columns, newline="\n"):
  kind = os.path.splitext(path)[1]
  if kind == ".parquet":
    pq.write_table(pa.table(columns), path)
  elif kind == ".jsonl":
    with open(path, "w", encoding="utf-8", newline="") as f:
      for record in _records(columns):
        f.write(json.dumps(record, ensure_ascii=False) + newline)
  else:
    delimiter = "\t" if kind == ".tsv" else ","
    with open(path, "w", encoding="utf-8", newline="") as f:
      writer = csv.writer(f, delimiter=delimiter, lineterminator=newline)
      writer.writerow(list(columns))
      writer.writerows(zip(*columns.values(), strict=True))
  return path


def _concat(got):
  return {k: np.concatenate([c[k] for _, _, c in got]) for k in got[0][2]}


class BatchesTest(parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def assertColumnsEqual(self, got, expected):
    self.assertEqual(list(got), list(expected))
    for name, column in expected.items():
      self.assertEqual(got[name].dtype, column.dtype, name)
      if column.dtype == object:
        self.assertTrue(all(type(v) is str for v in got[name].flat), name)
        np.testing.assert_array_equal(got[name], column, err_msg=name)
      else:
        np.testing.assert_array_equal(got[name], column, err_msg=name)

  def assertStartsRight(self, got, path):
    """Each piece names `path` and starts where the ones before it end, at
    the row its first `id` says."""
    start = 0
    for file, first, columns in got:
      self.assertEqual(file, path)
      self.assertEqual(first, start)
      self.assertEqual(columns["id"][0], first)
      start += len(columns["id"])
    self.assertEqual(start, N)

  @parameterized.named_parameters(
    ("csv", "t.csv", "\n", 7),
    ("csv_crlf", "t.csv", "\r\n", 7),
    ("tsv", "t.tsv", "\n", 7),
    ("jsonl", "t.jsonl", "\n", 15),
    ("jsonl_crlf", "t.jsonl", "\r\n", 15),
    ("parquet", "t.parquet", "\n", 3),
  )
  def test_pieces_make_up_the_table(self, name, newline, at_least):
    path = _write(os.path.join(self.folder, name), _columns(), newline)
    got = list(pieces.batches(path, block_mb=BLOCK_MB))
    self.assertGreaterEqual(len(got), at_least)
    self.assertStartsRight(got, path)
    whole = readers.read_table(path)
    self.assertColumnsEqual(_concat(got), whole)
    self.assertEqual(whole["id"].dtype, np.int64)
    self.assertEqual(whole["price"].dtype, np.float64)
    self.assertEqual(whole["name"].dtype, object)

  def test_one_piece_when_the_block_holds_the_file(self):
    path = _write(os.path.join(self.folder, "t.csv"), _columns())
    got = list(pieces.batches(path))
    self.assertLen(got, 1)
    self.assertEqual(got[0][:2], (path, 0))
    self.assertColumnsEqual(got[0][2], readers.read_table(path))

  def test_a_folder_of_parquet_files(self):
    folder = os.path.join(self.folder, "rows")
    os.makedirs(folder)
    # Three files of 1,500 rows; `id` counts rows within each file.
    paths = [
      _write(os.path.join(folder, f"part-{i}.parquet"), _columns(1500, seed=i))
      for i in range(3)
    ]
    got = list(pieces.batches(folder, block_mb=BLOCK_MB))
    # 1,024 + 476 rows from each file, in name order.
    self.assertEqual(
      [(file, start, len(c["id"])) for file, start, c in got],
      [(p, s, n) for p in paths for s, n in ((0, 1024), (1024, 476))],
    )
    for _, start, columns in got:
      self.assertEqual(columns["id"][0], start)
    self.assertColumnsEqual(_concat(got), readers.read_table(folder))

  def test_text_with_line_breaks_in_csv(self):
    # A quoted field may hold line breaks; read_table reads them, so must
    # the pieces, wherever a piece's block ends. (Not "\r\n" inside a
    # field: pyarrow 15's streaming reader drops the "\n" of one that a
    # block boundary splits; docs/scale.md names this limit.)
    columns = _columns()
    columns["name"] = np.array(
      [f"line {i}\nsecond line\nthird" for i in range(N)], dtype=object
    )
    path = _write(os.path.join(self.folder, "t.csv"), columns)
    whole = readers.read_table(path)
    self.assertEqual(whole["name"][5], "line 5\nsecond line\nthird")
    got = list(pieces.batches(path, block_mb=BLOCK_MB))
    self.assertGreater(len(got), 1)
    self.assertStartsRight(got, path)
    self.assertColumnsEqual(_concat(got), whole)

  def test_json_lines_that_mix_kinds(self):
    # `code` holds numbers and text in every piece: Python reads each piece.
    columns = _columns()
    columns["code"] = np.array(
      [i if i % 2 else f"c{i}" for i in range(N)], dtype=object
    )
    path = _write(os.path.join(self.folder, "t.jsonl"), columns)
    got = list(pieces.batches(path, block_mb=BLOCK_MB))
    self.assertGreater(len(got), 5)
    self.assertStartsRight(got, path)
    whole = readers.read_table(path)
    self.assertEqual(whole["code"][:3].tolist(), ["c0", "1", "c2"])
    self.assertColumnsEqual(_concat(got), whole)

  def test_json_lines_with_unicode_line_separators_in_text(self):
    # JSON strings may hold U+2028, U+2029 and U+0085 unescaped; they end
    # no line of a JSON lines file (only "\n" does). `code` mixes kinds, so
    # Python reads each piece, as it does the whole file.
    columns = _columns()
    columns["name"] = np.array(
      [f"a\u2028b\u2029c\x85d {i}" for i in range(N)], dtype=object
    )
    columns["code"] = np.array(
      [i if i % 2 else f"c{i}" for i in range(N)], dtype=object
    )
    path = _write(os.path.join(self.folder, "t.jsonl"), columns)
    whole = readers.read_table(path)
    self.assertEqual(whole["name"][7], "a\u2028b\u2029c\x85d 7")
    got = list(pieces.batches(path, block_mb=BLOCK_MB))
    self.assertStartsRight(got, path)
    self.assertColumnsEqual(_concat(got), whole)

  @parameterized.named_parameters(("lf", "\n"), ("crlf", "\r\n"))
  def test_a_bad_json_line_in_a_later_piece(self, newline):
    lines = [json.dumps(r) for r in _records(_columns())]
    lines.insert(100, "")  # A blank line counts as a line, not a row.
    lines[2500] = '{"id": 2499, "price": '  # Line 2501 of the file.
    path = os.path.join(self.folder, "t.jsonl")
    with open(path, "w", newline="") as f:
      f.write(newline.join(lines) + newline)
    read = []
    with self.assertRaisesRegex(
      ValueError, "^" + re.escape(path) + r": line 2501: Expecting value\.$"
    ):
      for piece in pieces.batches(path, block_mb=BLOCK_MB):
        read.append(piece)
    # Pieces before the bad one were read; they end before line 2501.
    self.assertGreater(len(read), 5)
    self.assertLess(read[-1][1] + len(read[-1][2]["id"]), 2500)

  def test_json_line_that_is_no_object(self):
    lines = [json.dumps(r) for r in _records(_columns())]
    lines[2000] = "[1, 2]"
    path = os.path.join(self.folder, "t.jsonl")
    with open(path, "w") as f:
      f.write("\n".join(lines) + "\n")
    with self.assertRaisesRegex(
      ValueError, "^" + re.escape(path) + r": line 2001 is not a JSON object"
    ):
      list(pieces.batches(path, block_mb=BLOCK_MB))

  @parameterized.named_parameters(
    ("jsonl", "e.jsonl", "", "the file is empty (no data rows)"),
    ("blank_jsonl", "e.jsonl", "\n\n", "the file is empty (no data rows)"),
    ("csv_header_only", "e.csv", "a,b\n", "the file is empty (no data rows)"),
    ("csv", "e.csv", "", "the file is empty (no header line)"),
  )
  def test_an_empty_file(self, name, text, message):
    path = os.path.join(self.folder, name)
    with open(path, "w") as f:
      f.write(text)
    with self.assertRaisesWithLiteralMatch(ValueError, f"{path}: {message}."):
      list(pieces.batches(path))

  def test_an_empty_parquet_file(self):
    path = os.path.join(self.folder, "e.parquet")
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)
    with self.assertRaisesWithLiteralMatch(
      ValueError, f"{path}: the file is empty (no data rows)."
    ):
      list(pieces.batches(path))


if __name__ == "__main__":
  absltest.main()
