"""What a run writes: JSON results replace the old ones whole or not at all."""

import json
import os
import subprocess
import sys
import textwrap
from unittest import mock

from absl.testing import absltest

from multiobj import config as config_lib
from multiobj.train import fit, run_dir


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


_HOLD = textwrap.dedent(
  """
  import sys
  from multiobj.train import run_dir
  run_dir.Lock(sys.argv[1])
  print("locked", flush=True)
  sys.stdin.read()  # Holds the lock until its stdin closes, or it is killed.
  """
)


class LockTest(absltest.TestCase):
  def test_a_second_writer_is_refused_until_the_first_dies(self):
    folder = self.create_tempdir().full_path
    holder = subprocess.Popen(
      [sys.executable, "-c", _HOLD, folder],
      stdin=subprocess.PIPE,
      stdout=subprocess.PIPE,
      text=True,
    )
    self.addCleanup(holder.kill)
    self.assertEqual(holder.stdout.readline(), "locked\n")
    with self.assertRaisesRegex(
      run_dir.RunInUseError,
      f"^{folder} is in use by another run \\(pid {holder.pid} on .+ since "
      r".+\); wait for it to end, or give another --model_dir\.$",
    ):
      run_dir.Lock(folder)
    # A training on that directory stops before it touches anything.
    with open(os.path.join(folder, run_dir.HISTORY), "w") as f:
      f.write('{"epoch": 1}\n')
    with self.assertRaises(run_dir.RunInUseError):
      fit.fit(config_lib.TrainConfig(model_dir=folder))
    with open(os.path.join(folder, run_dir.HISTORY)) as f:
      self.assertEqual(f.read(), '{"epoch": 1}\n')
    holder.kill()  # However it dies, the OS releases its lock.
    holder.wait()
    lock = run_dir.Lock(folder)
    self.assertIs(run_dir.Lock(folder), lock)  # This process holds it.
    lock.release()
    run_dir.Lock.release_held(folder)  # Nothing held: nothing to do.


if __name__ == "__main__":
  absltest.main()
