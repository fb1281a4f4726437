"""The Python API's checks of its own arguments (the README's example runs
it end to end, tests/test_readme.py)."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from absl.testing import absltest

from multiobj import api

DESCRIPTION = {"name": "t", "columns": [{"name": "user", "role": "user_id"}]}


class ApiTest(absltest.TestCase):
  def test_rows_need_a_description(self):
    with self.assertRaisesRegex(
      ValueError, "rows need a description of their columns"
    ):
      api.fit(self.create_tempdir().full_path, rows={"user": np.arange(3)})

  def test_rows_of_another_kind_are_named(self):
    with self.assertRaisesRegex(
      ValueError,
      "rows: expected a pyarrow Table, a pandas DataFrame or a dict of "
      "arrays, got list.",
    ):
      api.fit(self.create_tempdir().full_path, DESCRIPTION, rows=[1, 2])

  def test_a_table_in_memory_becomes_the_description_s_file(self):
    folder = self.create_tempdir().full_path
    for rows in ({"user": np.arange(3)}, pa.table({"user": np.arange(3)})):
      path = api._description_file(folder, DESCRIPTION, rows)  # noqa: SLF001
      with open(path) as f:
        written = json.load(f)
      self.assertEqual(written["columns"], DESCRIPTION["columns"])
      self.assertEqual(
        pq.read_table(written["rows"]["path"]).to_pydict(), {"user": [0, 1, 2]}
      )
      self.assertEqual(
        written["rows"]["path"],
        os.path.abspath(os.path.join(folder, "input", "rows.parquet")),
      )

  def test_a_description_file_without_rows_is_used_as_it_is(self):
    self.assertEqual(
      api._description_file("runs/x", "my.json", None),  # noqa: SLF001
      "my.json",
    )


if __name__ == "__main__":
  absltest.main()
