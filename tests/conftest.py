"""pytest set-up: absl flags count as parsed, TensorFlow stays quiet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402


def pytest_configure(config):
  del config  # Unused.
  # Scripts read flags; pytest never lets absl parse the command line.
  flags.FLAGS.mark_as_parsed()
  # As a script's --verbosity=0 does. Unset (-1), TensorFlow's SavedModel
  # writer, which silences logging for a moment, would restore it as
  # WARNING, and the tests after any export would see no INFO line.
  logging.set_verbosity(logging.INFO)


def pytest_collection_modifyitems(config, items):
  del config  # Unused.
  # tf.test.TestCase defines `test_session`, a helper pytest would report as
  # a skipped test in every module.
  items[:] = [item for item in items if item.name != "test_session"]
