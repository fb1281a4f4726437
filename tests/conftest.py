"""pytest set-up: absl flags count as parsed, TensorFlow stays quiet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402


def pytest_configure(config):
  del config  # Unused.
  # Scripts read flags; pytest never lets absl parse the command line.
  flags.FLAGS.mark_as_parsed()
