"""The scratch folder of a preparation killed midway is removed by the next
preparation in the same place; one whose preparation runs is kept."""

import os
import signal
import subprocess
import sys

from absl.testing import absltest

from multiobj.prepare import scratch

REPO = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)


class ScratchTest(absltest.TestCase):
  def setUp(self):
    super().setUp()
    self.parent = self.create_tempdir().full_path

  def test_a_killed_preparations_folder_is_removed(self):
    # A process that starts preparing, writes a file and is killed.
    killed = subprocess.run(
      [
        sys.executable,
        "-c",
        "import os, signal\n"
        "from multiobj.prepare import scratch\n"
        f"held = scratch.folder({self.parent!r})\n"
        "path = held.__enter__()\n"
        "open(os.path.join(path, 'train-00000.tfrecord'), 'w').write('x')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n",
      ],
      cwd=REPO,
      capture_output=True,
      text=True,
    )
    self.assertEqual(killed.returncode, -signal.SIGKILL, killed.stderr)
    (left,) = os.listdir(self.parent)
    self.assertTrue(left.startswith(scratch.PREFIX))
    with scratch.folder(self.parent) as live:
      # The dead one went; this one is held while it is in use.
      self.assertEqual(os.listdir(self.parent), [os.path.basename(live)])
      self.assertEqual(scratch.remove_abandoned(self.parent), [])
      self.assertTrue(os.path.isdir(live))
    # And removed when done.
    self.assertEqual(os.listdir(self.parent), [])

  def test_folders_not_of_a_preparation_stay(self):
    os.makedirs(os.path.join(self.parent, "cache"))
    # Being created or sealed: no lock file to judge it by.
    os.makedirs(os.path.join(self.parent, scratch.PREFIX + "new"))
    self.assertEqual(scratch.remove_abandoned(self.parent), [])
    self.assertCountEqual(
      os.listdir(self.parent), ["cache", scratch.PREFIX + "new"]
    )

  def test_seal_removes_the_lock_file_the_cache_must_not_hold(self):
    with scratch.folder(self.parent) as path:
      self.assertEqual(os.listdir(path), [".writer"])
      scratch.seal(path)
      self.assertEqual(os.listdir(path), [])
      # Sealed, it is no longer judged, so never removed as abandoned.
      self.assertEqual(scratch.remove_abandoned(self.parent), [])


if __name__ == "__main__":
  absltest.main()
