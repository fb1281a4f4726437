"""The vocabulary benchmark's two lookups (from the file, from a list) find
the same ids, so its timings compare like with like."""

import os

from absl.testing import absltest

from experiments import vocabulary_benchmark
from multiobj.prepare import vocabularies


class VocabularyBenchmarkTest(absltest.TestCase):
  def test_file_and_list_find_the_same_ids(self):
    folder = self.create_tempdir().full_path
    written = vocabularies.write(
      folder, "user_id", [f"u{i:010d}" for i in range(1_000)]
    )
    path = os.path.join(folder, written.file)
    for way in ("file", "list"):
      with self.subTest(way=way):
        found = vocabulary_benchmark._measure(path, way)
        # Probes u0 ... u1999, one apart: the first 1,000 are known.
        self.assertEqual((found["size"], found["found"]), (1_001, 1_000))


if __name__ == "__main__":
  absltest.main()
