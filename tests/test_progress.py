"""Progress lines of long loops."""

from unittest import mock

from absl.testing import absltest

from multiobj import progress


class ProgressTest(absltest.TestCase):
  def test_a_line_says_how_far_and_how_long_is_left(self):
    p = progress.Progress("Full ranking", 400, "users")
    p.step(100)
    self.assertEqual(
      p.line(30.0),
      "Full ranking: 100 of 400 users (25%), 30 s, about 90 s left.",
    )
    unknown = progress.Progress("Predictions", None, "batches")
    unknown.step(3)
    self.assertEqual(unknown.line(2.0), "Predictions: 3 batches, 2 s.")

  def test_logs_only_once_every_period(self):
    with mock.patch.object(progress.logging, "info") as info:
      p = progress.Progress("Loop", 10, "steps", every=3600)
      for _ in range(10):
        p.step()
      info.assert_not_called()
      p = progress.Progress("Loop", 10, "steps", every=0)
      p.step()
      info.assert_called_once()
      self.assertStartsWith(info.call_args[0][1], "Loop: 1 of 10 steps (10%), ")


if __name__ == "__main__":
  absltest.main()
