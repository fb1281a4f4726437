"""multiobj: multi-objective recommendation and ranking on TensorFlow."""

import ctypes
import os
import sys

__version__ = "0.1.0"


def _limit_malloc_arenas() -> None:
  """Two malloc arenas for the process (glibc's M_ARENA_MAX), before
  TensorFlow starts its threads.

  glibc gives threads that allocate at once arenas of their own; tf.data's
  threads free memory other threads allocated (the lists passing the
  shuffle buffer), which fragments the arenas, so a long epoch grows by
  tens of KB a step (7.1 GB after an epoch at 100M impressions). With two
  arenas the same pipeline stays flat: 851 to 921 MB over 3,000 steps,
  against 879 to 1,380 MB (docs/results/scale.md). Child processes
  (sweep trials, workers) inherit the setting through the environment.
  """
  os.environ.setdefault("MALLOC_ARENA_MAX", "2")
  if not sys.platform.startswith("linux"):
    return
  try:
    ctypes.CDLL("libc.so.6").mallopt(-8, int(os.environ["MALLOC_ARENA_MAX"]))
  except (OSError, AttributeError, ValueError):
    pass  # Not glibc: nothing to set.


_limit_malloc_arenas()
