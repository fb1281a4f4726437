"""What a run writes: JSON results replace the old ones whole or not at
all; one writer at a time; a directory holds one run, finished or not."""

import json
import os
import subprocess
import sys
import textwrap
from unittest import mock

import tensorflow as tf
from absl.testing import absltest

from multiobj import config as config_lib
from multiobj import extensions
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


class ModulesTest(absltest.TestCase):
  def test_a_module_that_cannot_be_imported_is_named(self):
    folder = self.create_tempdir().full_path
    run_dir.write_json(
      folder, run_dir.CONFIG, {"config": {}, "modules": ["no_such_module_x"]}
    )
    with self.assertRaisesRegex(
      ValueError,
      r"config.json modules: the run uses objectives, losses or other names "
      r"registered by the module 'no_such_module_x', which cannot be "
      r"imported \(No module named 'no_such_module_x'\)",
    ):
      run_dir.load_model(folder)

  def test_a_checkpoint_with_positional_feature_names_is_refused(self):
    # What an older version wrote: feature variables named by position.
    folder = self.create_tempdir().full_path
    encoder = tf.Module()
    encoder.encoders = [tf.Module()]
    encoder.encoders[0].embedding = tf.Variable(tf.zeros([3, 2]))
    path = tf.train.Checkpoint(model=encoder).write(
      os.path.join(folder, "ckpt-1")
    )
    with self.assertRaisesRegex(
      ValueError,
      r"ckpt-1: this checkpoint comes from an older multiobj, which named "
      r"feature variables by position \(model/encoders/0/embedding\); this "
      r"version names them by column and cannot restore it",
    ):
      run_dir.check_checkpoint(path)

  def test_the_library_s_own_registrations_are_not_recorded(self):
    config = config_lib.TrainConfig(model_dir="x").replace(
      trunk="mmoe", weighting="gradnorm"
    )
    self.assertEqual(extensions.modules_of(config), [])


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


class BeginTest(absltest.TestCase):
  def _used(self, config):
    """A directory holding a finished run of `config`."""
    folder = self.create_tempdir().full_path
    run_dir.write_json(folder, run_dir.CONFIG, {"config": config.to_dict()})
    os.makedirs(os.path.join(folder, run_dir.CHECKPOINTS))
    for name in (run_dir.METRICS, run_dir.HISTORY, run_dir.FEATURE_STATS):
      with open(os.path.join(folder, name), "w") as f:
        f.write("{}")
    os.makedirs(os.path.join(folder, "prepared"))
    return folder

  def test_a_rerun_starts_afresh_and_is_unfinished_until_it_ends(self):
    config = config_lib.TrainConfig(model_dir="d")
    folder = self._used(config)
    run_dir.check_finished(folder)
    run_dir.begin(folder, config.replace(cache_dir="elsewhere"))
    # The old run's outputs are gone; the prepared cache stays.
    self.assertEqual(os.listdir(folder), ["prepared"])
    run_dir.begin(folder, config)  # Nothing there: nothing to do.
    with self.assertRaisesWithLiteralMatch(
      ValueError, f"{folder}: no run here (no config.json)."
    ):
      run_dir.check_finished(folder)
    run_dir.write_json(folder, run_dir.CONFIG, {"config": config.to_dict()})
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      f"{folder} holds an unfinished run (no metrics.json: its training "
      "stopped before the end, or is still running); pass "
      "--allow_unfinished to use its last checkpoint anyway.",
    ):
      run_dir.check_finished(folder)

  def test_another_config_is_refused_unless_overwritten(self):
    folder = self._used(config_lib.TrainConfig(model_dir="d"))
    other = config_lib.TrainConfig(model_dir="d").replace(
      epochs=5, embedding_dim=16
    )
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      f"{folder} holds a run of another config (fit.epochs was 3, now 5; "
      "model.embedding_dim was 32, now 16). Pass --overwrite to replace it "
      "(its checkpoints, events and results are deleted), or give another "
      "--model_dir.",
    ):
      run_dir.begin(folder, other)
    run_dir.check_finished(folder)  # Untouched.
    run_dir.begin(folder, other.replace(overwrite=True))
    self.assertEqual(os.listdir(folder), ["prepared"])


if __name__ == "__main__":
  absltest.main()
