"""pytest set-up: absl flags count as parsed, TensorFlow stays quiet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402


def pytest_configure(config):
  del config  # Unused.
  # Scripts read flags; pytest never lets absl parse the command line.
  flags.FLAGS.mark_as_parsed()


def pytest_collection_modifyitems(config, items):
  del config  # Unused.
  # tf.test.TestCase defines `test_session`, a helper pytest would report as
  # a skipped test in every module.
  items[:] = [item for item in items if item.name != "test_session"]
