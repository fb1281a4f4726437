"""absl-flag scripts: each turns flags into a config and calls the library.

Run as a script (`python -m experiments.NAME`), a script restarts itself
once with MALLOC_ARENA_MAX=2 in its environment, before anything else is
imported: glibc reads that setting when the process starts, and with its
default (an arena per busy thread) tf.data's threads fragment the heap, so
a long epoch grows by tens of KB a step (see `multiobj/__init__.py`).
It also stops at once if a file or folder named `multiobj` or `objectives`
shadows the library, and hides TensorFlow's start-up lines about CUDA and
TensorRT on a CPU machine (`multiobj/quiet.py`). Imported (by tests, or by your
code), nothing happens. `end_when_done` ends a script's process once its
work is written.
"""

import atexit
import logging
import os
import sys


def _script() -> str:
  """The module run as `python -m experiments.NAME`, or ""."""
  argv = getattr(sys, "orig_argv", None) or []
  if "-m" not in argv or argv.index("-m") + 1 >= len(argv):
    return ""
  module = argv[argv.index("-m") + 1]
  return module if module.startswith("experiments.") else ""


def _restart_with_two_arenas() -> None:
  if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
    return
  os.environ["MALLOC_ARENA_MAX"] = "2"
  os.execv(sys.executable, sys.orig_argv)


def end_when_done(main):
  """`main`, for `app.run`, ending the process as soon as it returns.

  Python's own exit then tears TensorFlow's threads and modules down, which
  took 1.3 s to 1.5 s after the work was done and written (the tutorial
  protocol's run, `docs/results/performance.md`). By then every file of the
  run is closed (results synced, checkpoints and event files closed), so
  this runs the exit functions, flushes the streams and the log, and leaves.
  An error (an exception, a flag error) ends the process as usual.
  """

  def run(argv):
    code = main(argv)
    atexit._run_exitfuncs()  # noqa: SLF001  What a normal exit runs first.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0)

  return run


def shadowed(root: str) -> list[str]:
  """The library's packages that would be imported from outside `root`
  (a file or folder of the same name earlier on the path), each as
  "name: where"."""
  from importlib import util  # noqa: PLC0415

  out = []
  for name in ("multiobj", "objectives"):
    spec = util.find_spec(name)
    origin = os.path.abspath(spec.origin) if spec and spec.origin else None
    if origin is None or not origin.startswith(os.path.join(root, name, "")):
      out.append(f"{name}: {origin or 'not found'}")
  return out


def _refuse_shadowed() -> None:
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  wrong = shadowed(root)
  if wrong:
    sys.exit(
      f"{'; '.join(wrong)}: expected under {root}. A file or folder of that "
      "name in the working directory or on PYTHONPATH shadows the library; "
      "rename it, or run from another directory."
    )


if _script():
  _restart_with_two_arenas()
  _refuse_shadowed()
  from multiobj import quiet  # noqa: E402

  quiet.install()
