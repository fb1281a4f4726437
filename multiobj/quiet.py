"""TensorFlow's start-up lines that say nothing on a CPU machine, hidden.

Importing TensorFlow 2.15 prints six to nine lines before anything else:
no CUDA driver (twice), cuDNN, cuFFT and cuBLAS "factories" registered twice
(an error-level line that is a known, harmless bug of the 2.15 wheels), no
TensorRT, oneDNN's note on round-off, and the CPU instructions the binary
could use. `install` makes the first import of TensorFlow in the process
hide exactly those lines, from TensorFlow's C++ side (file descriptor 2);
every other line written meanwhile is passed on, in order. The scripts
install it when run as `python -m experiments.NAME`, and so do a sweep's
helper workers (`studies/sweep/__main__.py`); a user who sets
TF_CPP_MIN_LOG_LEVEL chooses TensorFlow's own filter instead, and sees what
it lets through.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

NOISE = re.compile(
  r"Could not find cuda drivers on your machine"
  r"|Unable to register cu(DNN|FFT|BLAS) factory"
  r"|TF-TRT Warning: Could not find TensorRT"
  r"|oneDNN custom operations are on"
  r"|This TensorFlow binary is optimized to use available CPU instructions"
  r"|^To enable the following instructions: .* rebuild TensorFlow"
)


@contextlib.contextmanager
def filtered_stderr():
  """Holds what is written to file descriptor 2, then writes it back but
  the lines of `NOISE`."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      text = held.read().decode("utf-8", "replace")
      kept = [
        line
        for line in text.splitlines(keepends=True)
        if not NOISE.search(line)
      ]
      sys.stderr.write("".join(kept))
      sys.stderr.flush()


class _QuietFirstImport(importlib.abc.MetaPathFinder):
  """Finds `tensorflow` as usual, and runs its module under
  `filtered_stderr`; then steps aside."""

  def find_spec(self, name, path, target=None):
    if name != "tensorflow":
      return None
    sys.meta_path.remove(self)
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
      return spec
    run = spec.loader.exec_module

    def exec_module(module):
      with filtered_stderr():
        run(module)

    spec.loader.exec_module = exec_module
    return spec


def install() -> None:
  """Hides `NOISE` when TensorFlow is first imported (unless it already is,
  or TF_CPP_MIN_LOG_LEVEL is set)."""
  if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
    return
  if not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietFirstImport())
