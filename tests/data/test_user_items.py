"""The "user_items" and "json_object" formats of readers.read_table: the
files sequential and multi-behaviour papers publish, and each error."""

import os

import numpy as np
from absl.testing import absltest, parameterized

from multiobj.data import readers


class _Files(parameterized.TestCase):
  def _write(self, name, text):
    path = os.path.join(self.create_tempdir().full_path, name)
    with open(path, "w", encoding="utf-8", newline="") as f:
      f.write(text)
    return path


class UserItemsTest(_Files):
  def _read(self, text, columns=("user_id", "item_id", "position")):
    path = self._write("seq.txt", text)
    return readers.read_table(path, format="user_items", columns=columns)

  def test_one_row_a_user_and_item_with_its_position_in_the_line(self):
    # Spaces and tabs mixed, runs of them, blanks around a line, and a
    # Windows line end: all separate fields the same way.
    table = self._read("1 12\t7  31\r\n \t2 5 \n3\t\t8 8\n")
    self.assertEqual(list(table), ["user_id", "item_id", "position"])
    # By hand: user 1 has 12, 7, 31 at 0, 1, 2; user 2 has 5 at 0; user
    # 3 has 8 twice (a repeated item is two rows).
    np.testing.assert_array_equal(table["user_id"], [1, 1, 1, 2, 3, 3])
    np.testing.assert_array_equal(table["item_id"], [12, 7, 31, 5, 8, 8])
    np.testing.assert_array_equal(table["position"], [0, 1, 2, 0, 0, 1])
    for column in table.values():
      self.assertEqual(column.dtype, np.int64)

  def test_two_columns_give_no_position(self):
    table = self._read("4 1 2\n9 3\n", columns=["u", "i"])
    self.assertEqual(list(table), ["u", "i"])
    np.testing.assert_array_equal(table["u"], [4, 4, 9])
    np.testing.assert_array_equal(table["i"], [1, 2, 3])

  def test_a_random_file_matches_a_line_by_line_reading(self):
    rng = np.random.default_rng(0)
    lines, expected = [], {"u": [], "i": [], "p": []}
    for user in rng.permutation(200):
      items = rng.integers(-5, 10**12, rng.integers(1, 30))
      gaps = rng.choice([" ", "\t", "  ", " \t"], len(items))
      lines.append(
        str(user)
        + "".join(g + str(i) for g, i in zip(gaps, items, strict=True))
      )
      expected["u"] += [user] * len(items)
      expected["i"] += items.tolist()
      expected["p"] += list(range(len(items)))
    table = self._read("\n".join(lines) + "\n", columns=["u", "i", "p"])
    for name, values in expected.items():
      np.testing.assert_array_equal(table[name], values)

  def test_several_files_are_one_table(self):
    folder = self.create_tempdir()
    folder.create_file("a.txt", "1 10 11\n")
    folder.create_file("b.txt", "2 12\n")
    table = readers.read_table(
      os.path.join(folder.full_path, "*.txt"),
      format="user_items",
      columns=["u", "i", "p"],
    )
    np.testing.assert_array_equal(table["u"], [1, 1, 2])
    np.testing.assert_array_equal(table["p"], [0, 1, 0])

  @parameterized.named_parameters(
    (
      "empty_line",
      "1 2\n\n3 4\n",
      r"seq\.txt: line 2 is empty \(1 such line\); each line is a user id "
      "and then item ids, separated by spaces or tabs",
    ),
    (
      "blank_line",
      "1 2\n \t\n3 4\n",
      r"seq\.txt: line 2 is empty",
    ),
    (
      "user_without_item",
      "1 2\n3\n4 5\n6 \n",
      r"seq\.txt: line 2 holds a user but no item \(2 such lines\)",
    ),
    (
      "not_an_integer",
      "1 2\n3 4 x5 6\n7 8.0\n",
      r"seq\.txt: line 2 holds 'x5', not an integer id \(2 such lines\)",
    ),
    (
      "text_user",
      "u1 2\n",
      r"seq\.txt: line 1 holds 'u1', not an integer id",
    ),
    (
      "user_on_two_lines",
      "1 2\n5 6\n3 4\n5 7\n",
      r"seq\.txt: user 5 is on lines 2 and 4; a user_items file gives each "
      "user one line",
    ),
    (
      "same_user_written_otherwise",
      "7 2\n07 3\n",
      r"seq\.txt: user 7 is on lines 1 and 2",
    ),
    (
      "empty_file",
      "",
      r"seq\.txt: cannot read as user_items",
    ),
  )
  def test_errors_name_the_file_and_line(self, text, message):
    with self.assertRaisesRegex(ValueError, message):
      self._read(text)

  @parameterized.named_parameters(
    ("none", None, "None"),
    ("one", ["user_id"], r"\['user_id'\]"),
    ("four", ["u", "i", "p", "q"], r"\['u', 'i', 'p', 'q'\]"),
  )
  def test_columns_name_two_or_three_columns(self, columns, shown):
    with self.assertRaisesRegex(
      ValueError,
      r"seq\.txt: a user_items file needs 'columns' naming the user and "
      rf"item columns, .*; got {shown}\.",
    ):
      self._read("1 2\n", columns=columns)


class JsonObjectTest(_Files):
  def _read(self, text, columns=("item_id", "attributes")):
    path = self._write("items.json", text)
    return readers.read_table(path, format="json_object", columns=columns)

  def test_a_row_a_key_lists_joined(self):
    table = self._read(
      '{"10": ["brand_a", "cat_1", 7],\n "11": "cat_2",\n "12": 2.5,\n'
      ' "13": []}'
    )
    self.assertEqual(list(table), ["item_id", "attributes"])
    # Keys are typed like any column: integers here.
    np.testing.assert_array_equal(table["item_id"], [10, 11, 12, 13])
    self.assertEqual(
      list(table["attributes"]), ["brand_a|cat_1|7", "cat_2", "2.5", ""]
    )

  def test_numbers_are_a_numeric_column(self):
    table = self._read('{"a": 1, "b": 2.5, "c": -3}', columns=["k", "v"])
    self.assertEqual(list(table["k"]), ["a", "b", "c"])
    self.assertEqual(table["v"].dtype, np.float64)
    np.testing.assert_array_equal(table["v"], [1.0, 2.5, -3.0])

  def test_the_extension_alone_reads_json_lines(self):
    # A .json file is JSON lines unless the format says otherwise.
    path = self._write("rows.json", '{"a": 1}\n{"a": 2}\n')
    np.testing.assert_array_equal(readers.read_table(path)["a"], [1, 2])

  @parameterized.named_parameters(
    (
      "object_value",
      '{"1": ["a"], "2": {"x": 1}}',
      r"items\.json: key '2': expected a number, a string or a list of "
      r'them, got \{"x": 1\}',
    ),
    (
      "list_of_lists",
      '{"1": [["a", "b"]]}',
      r"items\.json: key '1': expected a number, a string or a list of "
      r'them, got \[\["a", "b"\]\]',
    ),
    (
      "null",
      '{"1": "a", "2": null}',
      r"items\.json: key '2': expected a number, a string .* got null",
    ),
    (
      "separator_in_a_list",
      '{"1": ["a", "b|c"]}',
      r"items\.json: key '1': a value holds '\|', which joins a list's "
      "values",
    ),
    (
      "a_list",
      '[{"1": "a"}]',
      r"items\.json: expected one JSON object of key to value, got a list",
    ),
    (
      "a_string",
      '"a"',
      r"items\.json: expected one JSON object of key to value, got a str",
    ),
    (
      "invalid_json",
      '{"1": "a",\n  "2": }\n',
      r"items\.json: line 2, column 8: Expecting value",
    ),
    (
      "empty_object",
      "{}",
      r"items\.json: the file is empty \(no data rows\)",
    ),
  )
  def test_errors_name_the_file(self, text, message):
    with self.assertRaisesRegex(ValueError, message):
      self._read(text)

  @parameterized.named_parameters(
    ("none", None, "None"),
    ("three", ["k", "v", "w"], r"\['k', 'v', 'w'\]"),
  )
  def test_columns_name_the_key_and_value(self, columns, shown):
    with self.assertRaisesRegex(
      ValueError,
      r"items\.json: a json_object file needs 'columns' naming its key and "
      rf"value columns .*; got {shown}\.",
    ):
      self._read('{"1": "a"}', columns=columns)


if __name__ == "__main__":
  absltest.main()
