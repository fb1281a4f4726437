"""A training process killed with SIGKILL at each stage of a run: preparing
its data, between an epoch's checkpoint and its backup, at the start of the
evaluation, and between writing metrics.json's content and renaming it into
place. The same command run again finishes with the metrics of the run never
killed, and leaves nothing of the killed one behind.

The kill comes from inside the process, at a chosen call (a wrapper the test
puts around one function before the training starts), so each lands exactly
where it says; nothing is timed."""

import json
import os
import signal
import subprocess
import sys
import tempfile

from absl.testing import absltest, parameterized

from multiobj.train import run_dir

REPO = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
FLAGS = [
  "--synthetic_requests=800",
  "--synthetic_users=100",
  "--synthetic_items=60",
  "--epochs=3",
  "--batch_size=32",
  # Whether it stops early or not, a rerun must end as the run never
  # killed (a stopped run killed in evaluation trains no more epochs).
  "--early_stopping=1",
]

# Runs experiments.train with `owner.name` wrapped: its `call`-th call for
# which `when(args)` holds kills the process, before the call or after it.
_KILLER = """
import os, signal, sys
from absl import app
import tensorflow as tf
import multiobj.evaluate.report, multiobj.prepare.cache
owner = {owner}
original = getattr(owner, {name!r})
calls = [0]
def wrapped(*args, **kwargs):
  hit = ({when})(args)
  calls[0] += hit
  if hit and calls[0] == {call} and not {after}:
    os.kill(os.getpid(), signal.SIGKILL)
  out = original(*args, **kwargs)
  if hit and calls[0] == {call} and {after}:
    os.kill(os.getpid(), signal.SIGKILL)
  return out
setattr(owner, {name!r}, wrapped)
from experiments import train
sys.argv = ["train", *{flags!r}]
app.run(train.main)
"""

STAGES = {
  # The shards written, the cache not yet published.
  "preparation": ("multiobj.prepare.cache", "_finish", "lambda a: True", 1),
  # Epoch 2's checkpoint written; its backup not yet.
  "checkpoint": (
    "tf.train.CheckpointManager",
    "save",
    "lambda a: True",
    2,
    True,
  ),
  "evaluation": (
    "multiobj.evaluate.report",
    "evaluate",
    "lambda a: True",
    1,
  ),
  # metrics.json's content in its temporary file, not renamed into place.
  "results": (
    "os",
    "replace",
    "lambda a: str(a[1]).endswith('metrics.json')",
    1,
  ),
}


def _train(model_dir, *prefix):
  return subprocess.run(
    [sys.executable, *prefix, *([] if prefix else ["-m", "experiments.train"])]
    + ([] if prefix else [f"--model_dir={model_dir}", *FLAGS]),
    cwd=REPO,
    capture_output=True,
    text=True,
  )


def _metrics(model_dir):
  with open(os.path.join(model_dir, run_dir.METRICS)) as f:
    return json.load(f)["metrics"]


class StagesTest(parameterized.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    fresh = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    cls.reference = os.path.join(fresh, "whole")
    done = _train(cls.reference)
    assert done.returncode == 0, done.stderr[-3000:]

  @parameterized.named_parameters((name, name) for name in STAGES)
  def test_killed_then_rerun_ends_as_the_run_never_killed(self, stage):
    owner, name, when, call, *after = STAGES[stage]
    root = self.create_tempdir().full_path
    model_dir = os.path.join(root, "run")
    script = _KILLER.format(
      owner=owner,
      name=name,
      when=when,
      call=call,
      after=bool(after),
      flags=[f"--model_dir={model_dir}", *FLAGS],
    )
    killed = _train(model_dir, "-c", script)
    self.assertEqual(killed.returncode, -signal.SIGKILL, killed.stderr[-3000:])
    self.assertFalse(os.path.exists(os.path.join(model_dir, run_dir.METRICS)))
    done = _train(model_dir)
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    self.assertEqual(_metrics(model_dir), _metrics(self.reference))
    # Nothing of the killed process is left: no scratch folder of its
    # preparation, no temporary result, no backup.
    left = [
      os.path.join(folder, f)
      for folder, dirs, files in os.walk(root)
      for f in dirs + files
    ]
    self.assertEqual(
      [p for p in left if ".preparing-" in p or p.endswith(".tmp")], []
    )
    self.assertFalse(os.path.exists(os.path.join(model_dir, run_dir.BACKUP)))


if __name__ == "__main__":
  absltest.main()
