"""A run's peak memory and start, measured per run."""

import time
from unittest import mock

import numpy as np
import tensorflow as tf

from multiobj.train import callbacks, resources


def _can_reset() -> bool:
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
  except OSError:
    return False
  return resources.status_mb("VmHWM") > 0


class PeakTest(tf.test.TestCase):
  def test_the_peak_of_a_run_forgets_what_an_earlier_one_held(self):
    if not _can_reset():
      self.skipTest("The kernel's peak-RSS mark cannot be reset here.")
    held = np.ones(400 * 2**20 // 8)  # 400 MB, every page touched.
    del held
    earlier = resources.peak_rss_mb()
    resources.reset_peak()
    now = resources.status_mb("VmRSS")
    self.assertGreater(earlier, now + 300)
    # The mark restarts from what the process holds now.
    self.assertLess(resources.peak_rss_mb(), now + 100)


class StartTest(tf.test.TestCase):
  def test_the_first_run_counts_from_the_process_start_a_later_from_its_own(
    self,
  ):
    process = callbacks.process_start()
    if process is None:
      self.skipTest("/proc does not give the process's start here.")
    with mock.patch.object(resources, "_RUNS_STARTED", 0):
      self.assertAlmostEqual(resources.start_run(), process, delta=1.0)
      before = time.time()
      later = resources.start_run()
      self.assertBetween(later, before, time.time())
      self.assertGreater(later, process)


if __name__ == "__main__":
  tf.test.main()
