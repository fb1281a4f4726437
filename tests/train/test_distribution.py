"""Training under tf.distribute: mirrored equality and two workers on
localhost. Each runs in fresh processes: devices and collectives are set up
once per process."""

import json
import os
import socket
import subprocess
import sys

import tensorflow as tf

from multiobj.train import distribution

# The repository's root, where `python -m tests...` and `experiments...` run.
ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def _run_check(*args):
  result = subprocess.run(
    [sys.executable, "-m", "tests.train.mirrored_check", *args],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [x for x in result.stdout.splitlines() if x.startswith("{")]
  return (
    [json.loads(x) for x in lines]
    if "--both" in args
    else json.loads(lines[-1])
  )


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class MirroredTest(tf.test.TestCase):
  def test_global_batch_loss_and_step_equal_single_device(self):
    # Two replicas of 8 lists each, candidates gathered across replicas,
    # with MMoE, entire-space purchase, hard and uniform negatives.
    result = _run_check()
    self.assertEqual(result["replicas"], 2)
    self.assertEqual(result["lists_per_replica"], [8, 8])
    for task, loss in result["single"].items():
      self.assertAllClose(result["mirrored"][task], loss, rtol=1e-5, msg=task)
    # One SGD step moves weights by up to ~20; both runs land together.
    self.assertGreater(result["largest_step"], 1.0)
    self.assertLess(result["weight_difference"], 1e-4)

  def test_without_gathering_negatives_are_per_replica(self):
    result = _run_check("--nogather")
    single, mirrored = result["single"], result["mirrored"]
    # Each replica's softmax sees only its own candidates: another loss...
    self.assertGreater(abs(mirrored["retrieval"] - single["retrieval"]), 0.05)
    # ...while the pointwise heads are unaffected.
    for task in ("click", "dwell", "purchase"):
      self.assertAllClose(mirrored[task], single[task], rtol=1e-5, msg=task)
    self.assertGreater(result["weight_difference"], 1e-3)

  def test_two_strategies_in_one_process(self):
    # A grid trains several multi-replica models in one process: without
    # distinct collective keys per strategy, the second one's collectives
    # collide with the first's ("Collective instance ... expected type").
    gathered, per_replica = _run_check("--both")
    self.assertLess(gathered["weight_difference"], 1e-4)
    self.assertGreater(
      abs(
        per_replica["mirrored"]["retrieval"]
        - per_replica["single"]["retrieval"]
      ),
      0.05,
    )


class MultiWorkerTest(tf.test.TestCase):
  def _two_workers(self, model_dir, *flags):
    """Runs experiments.train on two workers on localhost; their outputs."""
    scratch = os.path.join(self.get_temp_dir(), "scratch")
    os.makedirs(scratch, exist_ok=True)
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
      env = dict(
        os.environ,
        TMPDIR=scratch,
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_CONFIG=json.dumps(
          {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
          }
        ),
      )
      processes.append(
        subprocess.Popen(
          [
            sys.executable,
            "-m",
            "experiments.train",
            f"--model_dir={model_dir}",
            "--strategy=multi_worker",
            "--synthetic_requests=600",
            "--synthetic_users=300",
            "--synthetic_items=200",
            "--epochs=1",
            "--batch_size=32",
            *flags,
          ],
          cwd=ROOT,
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.STDOUT,
          text=True,
        )
      )
    # Each worker runs to its end (the chief, which evaluates, may end
    # first); the others are killed only if one fails or hangs.
    outputs = []
    try:
      for process in processes:
        outputs.append(process.communicate(timeout=300)[0])
        self.assertEqual(process.returncode, 0, outputs[-1][-3000:])
    finally:
      for p in processes:
        if p.poll() is None:
          p.kill()
    # The other worker's scratch directory is gone.
    self.assertEqual(os.listdir(scratch), [])
    return outputs

  def test_two_workers_on_localhost_each_read_their_own_shards(self):
    # (One test, for two worker processes cost half a minute.)
    # A cache of several training shards, prepared once for both workers.
    cache = os.path.join(self.get_temp_dir(), "cache")
    size = [
      "--synthetic_requests=600",
      "--synthetic_users=300",
      "--synthetic_items=200",
    ]
    prepared = subprocess.run(
      [
        sys.executable, "-m", "experiments.prepare", f"--cache_dir={cache}",
        "--shard_mb=0.02", *size,
      ],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    self.assertEqual(prepared.returncode, 0, prepared.stderr[-3000:])
    with open(os.path.join(cache, "manifest.json")) as f:
      train = json.load(f)["splits"]["train"]
    lists = [s["lists"] for s in train["shards"]]
    self.assertGreaterEqual(len(lists), 2)
    model_dir = os.path.join(self.get_temp_dir(), "shards_run")
    outputs = self._two_workers(model_dir, f"--cache_dir={cache}")
    # Each worker reads every other shard; an epoch is as many steps as the
    # worker with fewer lists has (16 lists a step each: 32 between two).
    steps = min(sum(lists[0::2]), sum(lists[1::2])) // 16
    for out in outputs:
      self.assertIn(
        f"each worker reads its own shards, {steps} steps an epoch", out
      )
      self.assertIn("Prepared data: reusing the cache", out)
    self.assertIn("Worker done after 1 epochs", outputs[1])
    # One set of checkpoints, written by the chief, one epoch (which is
    # the best epoch too).
    checkpoints = sorted(os.listdir(os.path.join(model_dir, "checkpoints")))
    self.assertEqual(
      checkpoints,
      [
        "best.data-00000-of-00001",
        "best.index",
        "checkpoint",
        "ckpt-1.data-00000-of-00001",
        "ckpt-1.index",
      ],
    )
    with open(os.path.join(model_dir, "metrics.json")) as f:
      metrics = json.load(f)
    self.assertEqual(metrics["replicas"], 2)
    self.assertLen(metrics["history"]["loss"], 1)
    self.assertTrue(0 < metrics["metrics"]["click_auc"] < 1)

  def test_multi_worker_needs_tf_config(self):
    saved = os.environ.pop("TF_CONFIG", None)
    try:
      with self.assertRaisesRegex(
        ValueError, r"--strategy=multi_worker needs \$TF_CONFIG"
      ):
        distribution.make_strategy("multi_worker")
      os.environ["TF_CONFIG"] = "{cluster"
      with self.assertRaisesRegex(ValueError, r"\$TF_CONFIG is not valid JSON"):
        distribution.make_strategy("multi_worker")
    finally:
      os.environ.pop("TF_CONFIG", None)
      if saved is not None:
        os.environ["TF_CONFIG"] = saved
