"""What a run writes: JSON results replace the old ones whole or not at all."""

import json
import os
from unittest import mock

from absl.testing import absltest

from multiobj.train import run_dir


class WriteJsonTest(absltest.TestCase):
  def test_nan_becomes_null(self):
    folder = self.create_tempdir().full_path
    run_dir.write_json(folder, "m.json", {"auc": float("nan"), "n": 3})
    with open(os.path.join(folder, "m.json")) as f:
      self.assertEqual(json.load(f), {"auc": None, "n": 3})

  def test_a_failed_write_keeps_the_old_file_whole(self):
    folder = self.create_tempdir().full_path
    run_dir.write_json(folder, "m.json", {"auc": 0.5})
    # The process dies while the file is written (here: the write fails).
    with mock.patch.object(os, "fsync", side_effect=OSError("disk full")):
      with self.assertRaisesRegex(OSError, "disk full"):
        run_dir.write_json(folder, "m.json", {"auc": 0.9})
    with open(os.path.join(folder, "m.json")) as f:
      self.assertEqual(json.load(f), {"auc": 0.5})
    self.assertEqual(os.listdir(folder), ["m.json"])


if __name__ == "__main__":
  absltest.main()
