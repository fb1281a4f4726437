"""absl-flag scripts: each turns flags into a config and calls the library.

Run as a script (`python -m experiments.NAME`), a script restarts itself
once with MALLOC_ARENA_MAX=2 in its environment, before anything else is
imported: glibc reads that setting when the process starts, and with its
default (an arena per busy thread) tf.data's threads fragment the heap, so
a long epoch grows by tens of KB a step (see `multiobj/__init__.py`).
Imported (by tests, or by your code), nothing happens.
"""

import os
import sys


def _restart_with_two_arenas() -> None:
  argv = getattr(sys, "orig_argv", None)
  if (
    os.environ.get("MALLOC_ARENA_MAX")
    or not sys.platform.startswith("linux")
    or not argv
    or "-m" not in argv
  ):
    return
  module = (
    argv[argv.index("-m") + 1] if argv.index("-m") + 1 < len(argv) else ""
  )
  if module.startswith("experiments."):
    os.environ["MALLOC_ARENA_MAX"] = "2"
    os.execv(sys.executable, argv)


_restart_with_two_arenas()
