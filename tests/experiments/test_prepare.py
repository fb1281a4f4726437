"""experiments/prepare.py: a cache written once, then reused or refreshed."""

import json
import os
import subprocess
import sys

from absl.testing import absltest

ROOT = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
SIZE = [
  "--synthetic_requests=400",
  "--synthetic_users=200",
  "--synthetic_items=100",
]


def _prepare(*flags):
  return subprocess.run(
    [sys.executable, "-m", "experiments.prepare", *flags],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )


class PrepareScriptTest(absltest.TestCase):
  def test_writes_then_reuses_then_names_what_changed(self):
    cache = os.path.join(self.create_tempdir().full_path, "cache")
    first = _prepare(f"--cache_dir={cache}", *SIZE)
    self.assertEqual(first.returncode, 0, first.stderr[-2000:])
    self.assertIn("no cache in", first.stderr)
    with open(os.path.join(cache, "manifest.json")) as f:
      manifest = json.load(f)
    self.assertEqual(manifest["splits"]["train"]["lists"], 320)
    self.assertIn("train 320 lists in 1 shards", first.stdout)

    again = _prepare(f"--cache_dir={cache}", *SIZE)
    self.assertEqual(again.returncode, 0, again.stderr[-2000:])
    self.assertIn("matches; nothing to do", again.stderr)

    seed = _prepare(f"--cache_dir={cache}", *SIZE, "--seed=3")
    self.assertEqual(seed.returncode, 0, seed.stderr[-2000:])
    self.assertIn("cache is stale: seed was 0, now 3", seed.stderr)

  def test_needs_a_cache_dir(self):
    result = _prepare(*SIZE)
    self.assertNotEqual(result.returncode, 0)
    self.assertIn("--cache_dir is required", result.stderr)


if __name__ == "__main__":
  absltest.main()
