"""Trials forked from their worker, which imported TensorFlow once.

A trial is a process of its own, as before: a crash, a NaN or an
out-of-memory kill fails that trial only, and no TensorFlow state passes
from one trial to the next (the worker imports TensorFlow and the library
but runs nothing in it). What the fork saves is the seconds every new
process spends importing them. The child runs the training module as
`python -m` would, with its flags, output files and working directory; it
dies with its worker (PR_SET_PDEATHSIG). Linux only, and only from a worker
that has not run TensorFlow itself (`available`): else trials start as new
processes (`trial.py`).
"""

import ctypes
import importlib
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback

# What every trial imports first; the worker imports them once.
PRELOAD = (
  "tensorflow",
  "tensorflow_recommenders",
  "tensorflow_ranking",
  "multiobj.experiment",
  "multiobj.evaluate.report",
)


def available() -> bool:
  """Whether trials can be forked: on Linux, from a process whose
  TensorFlow runtime has not started (a notebook or a test that ran
  TensorFlow): the child would not have its thread pools and would hang on
  its first operation."""
  if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
    return False
  if "tensorflow" not in sys.modules:
    return True
  from tensorflow.python.eager import context  # noqa: PLC0415

  return not getattr(context.context(), "_initialized", True)


def preload() -> None:
  """Imports `PRELOAD` in this worker (once; later calls cost nothing)."""
  for name in PRELOAD:
    importlib.import_module(name)


class Forked:
  """The part of `subprocess.Popen` a worker uses, for a forked child."""

  def __init__(self, pid: int):
    self.pid = pid
    self.returncode = None

  def poll(self) -> int | None:
    if self.returncode is None:
      pid, status = os.waitpid(self.pid, os.WNOHANG)
      if pid:
        self.returncode = os.waitstatus_to_exitcode(status)
    return self.returncode

  def wait(self, timeout: float | None = None) -> int:
    give_up = None if timeout is None else time.monotonic() + timeout
    while self.poll() is None:
      if give_up is not None and time.monotonic() > give_up:
        raise subprocess.TimeoutExpired(str(self.pid), timeout)
      time.sleep(0.05)
    return self.returncode

  def terminate(self) -> None:
    self._signal(signal.SIGTERM)

  def kill(self) -> None:
    self._signal(signal.SIGKILL)

  def _signal(self, signum):
    if self.poll() is None:
      os.kill(self.pid, signum)


def start(module: str, args: list[str], workdir: str, stdout, stderr) -> Forked:
  """Forks a child that runs `python -m module args` in `workdir`, its
  output to the open files `stdout` and `stderr`."""
  preload()
  sys.stdout.flush()
  sys.stderr.flush()
  parent = os.getpid()
  pid = os.fork()
  if pid:
    return Forked(pid)
  code = 1
  try:
    code = _child(parent, module, args, workdir, stdout, stderr)
  except SystemExit as e:
    code = _exit_code(e.code)
  except BaseException:  # noqa: BLE001  Reported as Python would.
    traceback.print_exc()
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # No cleanup of the worker's state: it is not ours.


def _child(parent, module, args, workdir, stdout, stderr) -> int:
  try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (AttributeError, OSError):
    pass
  if os.getppid() != parent:
    return 1  # The worker died before the line above.
  # As in a new process: default signal handling, the module's folder
  # first on the path, the flags of the training's modules alone.
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  os.dup2(stdout.fileno(), 1)
  os.dup2(stderr.fileno(), 2)
  # New streams on the files (the worker's may be anything: a test's
  # capture), and absl's log handler writing to the new stderr.
  sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
  sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
  from absl import flags, logging  # noqa: PLC0415

  logging.get_absl_handler().python_handler.stream = sys.stderr
  # The worker's own script (experiments.sweep) defined flags a training
  # process never has (absl files them under sys.argv[0] as typed, a path
  # relative to the worker's folder or absolute); the others go back to
  # their defaults.
  main = getattr(sys.modules.get("__main__"), "__file__", None)
  gone = {
    f.name
    for key, defined in flags.FLAGS.flags_by_module_dict().items()
    if main and os.path.abspath(key) == os.path.abspath(main)
    for f in defined
  }
  for name in gone:
    delattr(flags.FLAGS, name)
  for name in flags.FLAGS:  # Validators over several flags, one of them gone.
    flag = flags.FLAGS[name]
    flag.validators = [v for v in flag.validators if not gone & set(_names(v))]
  os.chdir(workdir)
  sys.path.insert(0, workdir)
  flags.FLAGS.unparse_flags()
  sys.argv = [module, *args]
  runpy.run_module(module, run_name="__main__", alter_sys=True)
  return 0


def _names(validator) -> list[str]:
  """The flags an absl validator reads."""
  return getattr(validator, "flag_names", None) or [validator.flag_name]


def _exit_code(code) -> int:
  """The exit status of `sys.exit(code)`, its message printed as Python
  prints it."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code
  print(code, file=sys.stderr)
  return 1
