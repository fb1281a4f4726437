"""readers.read_table: every format, type inference, and each error."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from absl.testing import absltest, parameterized

from multiobj.data import infer, readers


class ReadTableTest(parameterized.TestCase):
  def _write(self, name, text, encoding="utf-8"):
    path = os.path.join(self.create_tempdir().full_path, name)
    with open(path, "w", encoding=encoding, newline="") as f:
      f.write(text)
    return path

  def test_csv_with_header_infers_types(self):
    path = self._write(
      "t.csv", "id,price,name,code\n1,2.5,a,007\n2,,b,12\n3,4,c,1_000\n"
    )
    table = readers.read_table(path)
    self.assertEqual(list(table), ["id", "price", "name", "code"])
    self.assertEqual(table["id"].dtype, np.int64)
    np.testing.assert_array_equal(table["id"], [1, 2, 3])
    # An empty numeric field is NaN; the column becomes float64.
    self.assertEqual(table["price"].dtype, np.float64)
    np.testing.assert_array_equal(table["price"], [2.5, np.nan, 4.0])
    self.assertEqual(table["name"].dtype, object)
    self.assertEqual(list(table["name"]), ["a", "b", "c"])
    # "1_000" is not an integer to a CSV reader (Python's int() says 1000).
    self.assertEqual(list(table["code"]), ["007", "12", "1_000"])

  def test_integers_too_long_for_int64_stay_text(self):
    path = self._write("t.csv", "id\n123456789012345678901234\n5\n")
    self.assertEqual(
      list(readers.read_table(path)["id"]), ["123456789012345678901234", "5"]
    )

  def test_columns_typed_on_every_value_not_the_first_ones(self):
    # 1,200 integers, then: a number with a point, a missing value, or text
    # (the reader tries integers first when the first 1,000 values are).
    ints = [str(i % 7) for i in range(1200)]
    rows = zip(
      ints + ["2.5"], ints + [""], ints + ["x"], ints + ["12"], strict=True
    )
    path = self._write(
      "t.csv", "f,nan,text,int\n" + "".join(",".join(r) + "\n" for r in rows)
    )
    table = readers.read_table(path)
    expected = np.array([i % 7 for i in range(1200)], np.float64)
    np.testing.assert_array_equal(table["f"], np.append(expected, 2.5))
    np.testing.assert_array_equal(table["nan"], np.append(expected, np.nan))
    self.assertEqual(list(table["text"]), ints + ["x"])
    self.assertEqual(table["int"].dtype, np.int64)
    np.testing.assert_array_equal(table["int"], np.append(expected, 12))

  def test_hex_and_nan_payloads_are_text_after_many_numbers(self):
    # Pyarrow's casts read "0x10" as 16 and "nan(1)" as NaN; the rule
    # reads them as text, wherever in the column they come.
    ints = [str(i % 7) for i in range(1200)]
    rows = zip(ints + ["0x10"], ints + ["nan(1)"], strict=True)
    path = self._write(
      "t.csv", "hex,nan\n" + "".join(",".join(r) + "\n" for r in rows)
    )
    table = readers.read_table(path)
    self.assertEqual(list(table["hex"]), ints + ["0x10"])
    self.assertEqual(list(table["nan"]), ints + ["nan(1)"])

  def test_parquet_text_of_many_row_groups(self):
    # Parquet text is read as dictionaries, one per row group: the columns
    # equal the decoded values, typed on the values the rows hold.
    path = os.path.join(self.create_tempdir().full_path, "t.parquet")
    numbers = ["7", None, "12", "3"] * 5
    text = ["b", "a", None, ""] * 5
    pq.write_table(pa.table({"n": numbers, "t": text}), path, row_group_size=3)
    table = readers.read_table(path)
    expected = [np.nan if v is None else float(v) for v in numbers]
    np.testing.assert_array_equal(table["n"], expected)
    self.assertEqual(list(table["t"]), ["b", "a", "", ""] * 5)
    pq.write_table(pa.table({"n": ["7", "12"] * 4}), path, row_group_size=3)
    table = readers.read_table(path)
    self.assertEqual(table["n"].dtype, np.int64)
    np.testing.assert_array_equal(table["n"], [7, 12] * 4)

  def test_a_dictionary_is_typed_on_the_values_its_rows_hold(self):
    # An entry no row uses ("x") does not make the numbers text.
    values = pa.DictionaryArray.from_arrays(
      pa.array([0, 2, None, 0], pa.int32()), pa.array(["7", "x", "12"])
    )
    np.testing.assert_array_equal(
      infer.column(values), [7.0, 12.0, np.nan, 7.0]
    )
    text = pa.DictionaryArray.from_arrays(
      pa.array([1, 1, 0], pa.int32()), pa.array(["a", "b"])
    )
    self.assertEqual(list(infer.column(text)), ["b", "b", "a"])
    # Chunks of 8-bit indices whose dictionaries, together, need more.
    chunks = [
      pa.array([f"{c}{i}" for i in range(100)]).dictionary_encode()
      for c in "ab"
    ]
    chunks = [c.cast(pa.dictionary(pa.int8(), pa.string())) for c in chunks]
    column = infer.column(pa.chunked_array(chunks))
    self.assertEqual(list(column[98:102]), ["a98", "a99", "b0", "b1"])

  def test_csv_without_header(self):
    path = self._write("t.csv", "1,a\n2,b\n")
    table = readers.read_table(path, header=False, columns=["n", "s"])
    np.testing.assert_array_equal(table["n"], [1, 2])
    self.assertEqual(list(table["s"]), ["a", "b"])

  def test_columns_replace_a_header(self):
    path = self._write("t.csv", "x,x\n1,2\n")
    table = readers.read_table(path, columns=["a", "b"])
    np.testing.assert_array_equal(table["b"], [2])

  def test_tsv_from_the_extension(self):
    path = self._write("t.tsv", "a\tb\n1\thello, world\n")
    table = readers.read_table(path)
    self.assertEqual(list(table["b"]), ["hello, world"])

  @parameterized.named_parameters(
    ("semicolon_txt", "t.txt", ";", None),
    ("pipe_csv", "t.dat", "|", "csv"),
  )
  def test_other_delimiters(self, name, delimiter, format):
    path = self._write(name, f"a{delimiter}b\n1{delimiter}x\n")
    table = readers.read_table(path, format=format, delimiter=delimiter)
    np.testing.assert_array_equal(table["a"], [1])
    self.assertEqual(list(table["b"]), ["x"])

  def test_quoted_fields_keep_delimiters_quotes_and_newlines(self):
    path = self._write(
      "t.csv",
      'id,title\n1,"Hello, world"\n2,"say ""hi"""\n3,"two\nlines"\n',
    )
    table = readers.read_table(path)
    self.assertEqual(
      list(table["title"]), ["Hello, world", 'say "hi"', "two\nlines"]
    )

  def test_utf8_byte_order_mark_is_skipped(self):
    path = self._write("t.csv", "\ufeffid\n1\n")
    self.assertEqual(list(readers.read_table(path)), ["id"])

  def test_other_encodings(self):
    path = self._write("t.csv", "name\ncafé\n", encoding="latin-1")
    table = readers.read_table(path, encoding="latin-1")
    self.assertEqual(list(table["name"]), ["café"])

  def test_json_lines(self):
    lines = [
      {"user": "u1", "item": 3, "click": True, "price": 1.5},
      {"user": "u2", "item": 4, "click": False, "extra": "x"},
      {"user": "u3", "item": 5, "click": True, "price": 2},
    ]
    path = self._write(
      "t.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n"
    )
    table = readers.read_table(path)
    self.assertEqual(list(table["user"]), ["u1", "u2", "u3"])
    self.assertEqual(table["item"].dtype, np.int64)
    # Booleans are 0/1; a key missing from a line is null.
    np.testing.assert_array_equal(table["click"], [1, 0, 1])
    np.testing.assert_array_equal(table["price"], [1.5, np.nan, 2.0])
    self.assertEqual(list(table["extra"]), ["", "x", ""])

  def test_parquet(self):
    path = os.path.join(self.create_tempdir().full_path, "t.parquet")
    pq.write_table(
      pa.table(
        {
          "id": pa.array([1, 2, 3], pa.int32()),
          "score": pa.array([0.5, None, 1.0]),
          "name": pa.array(["a", None, "c"]),
          "flag": pa.array([True, False, True]),
          "kind": pa.array(["x", "y", "x"]).dictionary_encode(),
        }
      ),
      path,
    )
    table = readers.read_table(path)
    np.testing.assert_array_equal(table["id"], [1, 2, 3])
    self.assertEqual(table["id"].dtype, np.int64)
    np.testing.assert_array_equal(table["score"], [0.5, np.nan, 1.0])
    self.assertEqual(list(table["name"]), ["a", "", "c"])
    np.testing.assert_array_equal(table["flag"], [1, 0, 1])
    self.assertEqual(list(table["kind"]), ["x", "y", "x"])

  def test_errors(self):
    folder = self.create_tempdir().full_path

    def write(name, text):
      path = os.path.join(folder, name)
      with open(path, "wb") as f:
        f.write(text)
      return path

    cases = [
      (os.path.join(folder, "nope.csv"), {}, r"nope\.csv: no such file"),
      (write("empty.csv", b""), {}, r"empty\.csv: the file is empty"),
      (write("head.csv", b"a,b\n"), {}, r"head\.csv: the file is empty"),
      (
        write("width.csv", b"a,b\n1,2\n3\n"),
        {},
        r"width\.csv: line 3 has 1 fields; expected 2 \(a, b\)",
      ),
      (
        write("dup.csv", b"a,b,a\n1,2,3\n"),
        {},
        r"dup\.csv: the header names 'a' more than once",
      ),
      (
        write("t.xls", b"a\n1\n"),
        {},
        r"t\.xls: cannot tell the format from the extension '\.xls'; set "
        r"format to one of csv, jsonl, parquet, user_items, json_object, tsv "
        r"\(or name the file",
      ),
      (
        write("t2.csv", b"a\n1\n"),
        {"format": "xls"},
        r"t2\.csv: unknown format 'xls'; expected one of csv, jsonl, parquet",
      ),
      (
        write("t.txt", b"a\n1\n"),
        {},
        r"t\.txt: a \.txt file needs an explicit",
      ),
      (
        write("nohead.csv", b"1,2\n"),
        {"header": False},
        r"nohead\.csv: a file without a header needs 'columns'",
      ),
      (
        write("bytes.csv", b"a\n\xff\n"),
        {},
        r"bytes\.csv: cannot decode as utf-8",
      ),
      (
        write("nested.jsonl", b'{"a": 1}\n{"a": {"b": 2}}\n'),
        {},
        r"nested\.jsonl: line 2, column 'a': nested value",
      ),
      (
        write("list.jsonl", b"[1, 2]\n"),
        {},
        r"list\.jsonl: line 1 is not a JSON object",
      ),
      (
        write("broken.jsonl", b'{"a": 1}\n{"a": \n'),
        {},
        r"broken\.jsonl: line 2: Expecting value",
      ),
      (
        write("bad.parquet", b"not parquet"),
        {},
        r"bad\.parquet: cannot read as parquet",
      ),
    ]
    for path, kwargs, message in cases:
      with self.subTest(path=os.path.basename(path)):
        with self.assertRaisesRegex(ValueError, message):
          readers.read_table(path, **kwargs)


class ManyFilesTest(absltest.TestCase):
  def _folder(self, files):
    folder = self.create_tempdir().full_path
    for name, text in files.items():
      with open(os.path.join(folder, name), "w") as f:
        f.write(text)
    return folder

  def test_a_glob_and_a_directory_are_one_table_in_name_order(self):
    folder = self._folder(
      {"b.csv": "id,x\n3,c\n", "a.csv": "id,x\n1,a\n2,b\n", "notes.md": "-"}
    )
    files = readers.read_files(os.path.join(folder, "*.csv"))
    np.testing.assert_array_equal(files.columns["id"], [1, 2, 3])
    self.assertEqual(list(files.columns["x"]), ["a", "b", "c"])
    self.assertEqual(files.locate(2), (os.path.join(folder, "b.csv"), 1))
    self.assertEqual(files.locate(1), (os.path.join(folder, "a.csv"), 2))
    os.remove(os.path.join(folder, "notes.md"))
    table = readers.read_table(folder)
    np.testing.assert_array_equal(table["id"], [1, 2, 3])

  def test_types_are_inferred_over_every_file(self):
    # Integers in one file and a decimal in the other: one float column.
    folder = self._folder({"a.csv": "v\n1\n2\n", "b.csv": "v\n2.5\n"})
    table = readers.read_table(os.path.join(folder, "*.csv"))
    self.assertEqual(table["v"].dtype, np.float64)
    np.testing.assert_array_equal(table["v"], [1.0, 2.0, 2.5])

  def test_files_with_other_columns_are_refused(self):
    folder = self._folder({"a.csv": "id,x\n1,a\n", "b.csv": "id,y\n2,b\n"})
    with self.assertRaisesRegex(
      ValueError, r"b\.csv: columns id, y differ from .*a\.csv's id, x"
    ):
      readers.read_table(os.path.join(folder, "*.csv"))

  def test_a_glob_matching_nothing(self):
    with self.assertRaisesRegex(
      ValueError, r"nothing/\*\.csv: no file matches"
    ):
      readers.read_table(
        os.path.join(self.create_tempdir().full_path, "nothing", "*.csv")
      )


class JsonLinesFallbackTest(absltest.TestCase):
  def test_a_column_of_numbers_and_text_is_text(self):
    # Pyarrow refuses a column that changes kind; the Python reader reads it.
    path = os.path.join(self.create_tempdir().full_path, "t.jsonl")
    with open(path, "w") as f:
      f.write('{"a": 1, "b": true}\n{"a": "x", "b": 2}\n{"b": null}\n')
    table = readers.read_table(path)
    self.assertEqual(list(table["a"]), ["1", "x", ""])
    np.testing.assert_array_equal(table["b"], [1.0, 2.0, np.nan])


if __name__ == "__main__":
  absltest.main()
