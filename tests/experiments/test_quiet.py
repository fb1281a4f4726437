"""TensorFlow's CUDA and TensorRT start-up lines are hidden, nothing else; a
file that shadows the library is named; a script ends when its work is done."""

import os
import subprocess
import sys

from absl.testing import absltest


def _stderr(code: str, env: dict | None = None) -> str:
  return subprocess.run(
    [sys.executable, "-c", code],
    capture_output=True,
    text=True,
    check=True,
    env=env,
  ).stderr


class QuietTest(absltest.TestCase):
  def test_only_the_noise_is_dropped_in_order(self):
    code = (
      "import os, sys\n"
      "from multiobj import quiet\n"
      "with quiet.filtered_stderr():\n"
      "  os.write(2, b'E cuda_dnn.cc] Unable to register cuDNN factory: x\\n')\n"
      "  os.write(2, b'first kept\\n')\n"
      "  print('second kept', file=sys.stderr)\n"
      "  os.write(2, b'W py_utils.cc] TF-TRT Warning: Could not find "
      "TensorRT\\n')\n"
      "  os.write(2, b'third kept, no newline')\n"
    )
    self.assertEqual(
      _stderr(code), "first kept\nsecond kept\nthird kept, no newline"
    )

  def test_importing_tensorflow_after_install(self):
    code = (
      "from multiobj import quiet\n"
      "quiet.install()\n"
      "import tensorflow as tf\n"
      "print(tf.constant(2) + 1)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    text = _stderr(code, env)
    for line in ("cuDNN factory", "TensorRT", "cuda drivers", "oneDNN"):
      self.assertNotIn(line, text)


if __name__ == "__main__":
  absltest.main()


class ShadowTest(absltest.TestCase):
  def test_a_file_that_shadows_the_library_is_named(self):
    work = self.create_tempdir()
    work.create_file("objectives.py", "X = 1\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    done = subprocess.run(
      [sys.executable, "-m", "experiments.train", "--help"],
      cwd=work.full_path,
      capture_output=True,
      text=True,
      check=False,
      env={**os.environ, "PYTHONPATH": os.path.abspath(root)},
    )
    self.assertEqual(done.returncode, 1)
    self.assertIn(
      f"objectives: {os.path.join(work.full_path, 'objectives.py')}: "
      f"expected under {os.path.abspath(root)}. A file or folder of that "
      "name in the working directory or on PYTHONPATH shadows the library",
      done.stderr,
    )


class EndWhenDoneTest(absltest.TestCase):
  def test_output_log_and_exit_functions_are_not_lost(self):
    marker = os.path.join(self.create_tempdir().full_path, "atexit")
    code = (
      "import atexit, sys\n"
      "from absl import app, logging\n"
      "import experiments\n"
      f"atexit.register(lambda: open({marker!r}, 'w').write('ran'))\n"
      "def main(argv):\n"
      "  print('printed', end='')\n"
      "  logging.warning('logged')\n"
      "  return 3\n"
      "app.run(experiments.end_when_done(main))\n"
    )
    done = subprocess.run(
      [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    self.assertEqual(done.returncode, 3)
    self.assertEqual(done.stdout, "printed")
    self.assertIn("logged", done.stderr)
    with open(marker) as f:
      self.assertEqual(f.read(), "ran")
