"""The ingest benchmark's logs read back exactly, in every format."""

import numpy as np
from absl.testing import absltest

from experiments import ingest_benchmark
from multiobj.data import readers


class IngestBenchmarkTest(absltest.TestCase):
  def test_every_format_reads_back_the_log(self):
    folder = self.create_tempdir().full_path
    rows = ingest_benchmark.run([2_000], folder, repeats=1)
    self.assertEqual(
      [r["format"] for r in rows], list(ingest_benchmark.FORMATS)
    )
    expected = ingest_benchmark.log(2_000)
    for row in rows:
      with self.subTest(format=row["format"]):
        table = readers.read_table(f"{folder}/log_2000.{row['format']}")
        self.assertEqual(list(table), expected.column_names)
        for name in expected.column_names:
          want = expected[name].to_numpy(zero_copy_only=False)
          got = table[name]
          if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want)
          else:
            self.assertEqual(got.tolist(), want.tolist(), name)

  def test_the_numpy_reference_converts_every_column(self):
    # pyarrow's reader, then its own NumPy columns: the same values, text
    # as one Python string a row.
    folder = self.create_tempdir().full_path
    (row,) = ingest_benchmark.run([500], folder, ["parquet"], repeats=1)
    self.assertGreater(row["pyarrow_to_numpy_seconds"], 0.0)
    columns = ingest_benchmark._to_numpy("parquet")(f"{folder}/log_500.parquet")
    expected = ingest_benchmark.log(500)
    self.assertLen(columns, expected.num_columns)
    for got, name in zip(columns, expected.column_names, strict=True):
      self.assertEqual(got.tolist(), expected[name].to_pylist(), name)
    self.assertEqual(
      columns[expected.column_names.index("title")].dtype, object
    )


if __name__ == "__main__":
  absltest.main()
