"""The grid runner's table cells."""

from absl.testing import absltest

from multiobj.studies import grid


class MeanStdTest(absltest.TestCase):
  def test_mean_and_sample_std(self):
    # mean 2, sample variance ((1)^2 + 0 + 1^2) / 2 = 1.
    self.assertEqual(grid.mean_std([1.0, 2.0, 3.0]), "2.0000 ± 1.0000")
    self.assertEqual(grid.mean_std([0.25]), "0.2500")

  def test_undefined_values_are_left_out(self):
    # A metric with nothing to score (NaN, or absent) is not a number to
    # average: Taobao's test split has no cart labels.
    self.assertEqual(grid.mean_std([float("nan")] * 3), "n/a")
    self.assertEqual(grid.mean_std([None, None]), "n/a")
    self.assertEqual(grid.mean_std([1.0, float("nan"), 3.0]), "2.0000 ± 1.4142")


if __name__ == "__main__":
  absltest.main()
