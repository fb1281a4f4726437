"""Faults injected into real training processes (`python -m experiments.train`):
killed with SIGKILL after its second epoch or mid-epoch, then run again (it
resumes to the run never killed); a second training started on a directory
in use; a diverging learning rate.
Nothing is timed: each wait is on a condition (a file's content, a
process's exit)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import tensorflow as tf
from absl.testing import absltest

from multiobj.train import run_dir

REPO = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
FLAGS = (
  "--synthetic_requests=2000",
  "--synthetic_users=200",
  "--synthetic_items=100",
  "--epochs=4",
  "--batch_size=32",
  # State beyond the weights a resumed run must restore: the early
  # stopper's (the best epoch's weights; with a patience of 3 it cannot stop
  # within 4 epochs), the id dropout's random draws, and DWA's weights,
  # which follow each epoch's mean losses (mid-epoch, the running means).
  "--early_stopping=3",
  "--id_dropout=0.1",
  "--weighting=dwa",
)


def _command(model_dir, *extra):
  return [
    sys.executable,
    "-m",
    "experiments.train",
    f"--model_dir={model_dir}",
    *FLAGS,
    *extra,
  ]


def _start(model_dir, *extra):
  return subprocess.Popen(
    _command(model_dir, *extra),
    cwd=REPO,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
  )


def _run(model_dir, *extra):
  return subprocess.run(
    _command(model_dir, *extra), cwd=REPO, capture_output=True, text=True
  )


def _wait_for(condition, process):
  """Waits until `condition()` holds; fails if `process` ends first."""
  while not condition():
    if process.poll() is not None:
      raise AssertionError(
        f"the training ended (exit {process.returncode}) before the "
        f"condition held:\n{process.stderr.read()[-3000:]}"
      )
    time.sleep(0.05)


def _lines(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [line for line in f.read().splitlines() if line]


def _metrics(model_dir):
  with open(os.path.join(model_dir, run_dir.METRICS)) as f:
    return json.load(f)["metrics"]


class KillTest(absltest.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    fresh = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    cls.reference = os.path.join(fresh, "whole")
    done = _run(cls.reference)
    assert done.returncode == 0, done.stderr[-3000:]

  def test_killed_after_an_epoch_resumes_to_the_same_run(self):
    model_dir = os.path.join(self.create_tempdir().full_path, "run")
    history = os.path.join(model_dir, run_dir.HISTORY)
    process = _start(model_dir)
    # Two epochs logged: the first is backed up (the backup follows the log).
    _wait_for(lambda: len(_lines(history)) >= 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Killed: the directory says the run is unfinished.
    self.assertFalse(os.path.exists(os.path.join(model_dir, run_dir.METRICS)))
    with self.assertRaisesRegex(ValueError, "holds an unfinished run"):
      run_dir.check_finished(model_dir)
    # The same command again resumes after the last epoch backed up, and
    # ends as the run never killed does.
    done = _run(model_dir)
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    self.assertRegex(done.stderr, r"Resuming after epoch [1-3] \(")
    self.assertFalse(os.path.exists(os.path.join(model_dir, run_dir.BACKUP)))
    epochs = [json.loads(line)["epoch"] for line in _lines(history)]
    self.assertEqual(epochs, [1, 2, 3, 4])
    self.assertEqual(_metrics(model_dir), _metrics(self.reference))

  def test_killed_mid_epoch_resumes_at_the_step_backed_up(self):
    model_dir = os.path.join(self.create_tempdir().full_path, "run")
    # 50 steps an epoch, a backup every 7: never at an epoch's last step
    # within these 4 epochs, so every backup but the epochs' own is mid-epoch.
    process = _start(model_dir, "--checkpoint_every_steps=7")

    def backed_up_mid_epoch():
      try:
        epoch, batch = run_dir.backup_position(model_dir)
      except (ValueError, tf.errors.OpError):  # Being written.
        return False
      return epoch >= 1 and 0 <= batch < 49

    _wait_for(backed_up_mid_epoch, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _run(model_dir, "--checkpoint_every_steps=7")
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    # Where it resumed depends on when the kill landed; either way the run
    # ends as the one never killed.
    self.assertRegex(
      done.stderr, r"Resuming (in epoch [2-4] after step \d+|after epoch \d)"
    )
    history = os.path.join(model_dir, run_dir.HISTORY)
    epochs = [json.loads(line)["epoch"] for line in _lines(history)]
    self.assertEqual(epochs, [1, 2, 3, 4])
    self.assertEqual(_metrics(model_dir), _metrics(self.reference))

  def test_a_second_training_on_a_directory_in_use_is_refused(self):
    model_dir = os.path.join(self.create_tempdir().full_path, "run")
    lock = os.path.join(model_dir, run_dir.LOCK)
    first = _start(model_dir)
    _wait_for(
      lambda: os.path.exists(lock) and f"pid {first.pid} " in open(lock).read(),
      first,
    )
    second = _run(model_dir)
    self.assertNotEqual(second.returncode, 0)
    self.assertIn(
      f"{model_dir} is in use by another run (pid {first.pid} on ",
      second.stderr,
    )
    # The first training is untouched: it finishes as if alone.
    self.assertEqual(first.wait(), 0, first.stderr.read()[-3000:])
    self.assertEqual(_metrics(model_dir), _metrics(self.reference))

  def test_a_diverging_run_exits_with_an_error_and_no_result(self):
    model_dir = os.path.join(self.create_tempdir().full_path, "run")
    done = _run(model_dir, "--learning_rate=1e30")
    self.assertEqual(done.returncode, 1)
    self.assertRegex(
      done.stderr,
      r"DivergenceError: Training diverged at epoch 1, step \d+: the loss "
      r"of .+ is not finite\. No result was written\.",
    )
    self.assertFalse(os.path.exists(os.path.join(model_dir, run_dir.METRICS)))


if __name__ == "__main__":
  absltest.main()
