"""The overhead benchmark's measurement runs both models on the same lists.

Its figures come from `python -m experiments.benchmark`; here, that one
measurement of each model trains (the plain model reads the derived
sampling-probability column, which it once lacked) and that both models have
the same number of parameters, as the README's comparison says.
"""

from absl.testing import absltest

from experiments import benchmark


class MeasureTest(absltest.TestCase):
  def test_both_models_train_on_the_same_lists(self):
    framework = benchmark._measure("framework", 300, 64, 2, 2)  # noqa: SLF001
    plain = benchmark._measure("plain", 300, 64, 2, 2)  # noqa: SLF001
    self.assertEqual(framework["parameters"], plain["parameters"])
    self.assertGreater(plain["rows_per_second"], 0)


if __name__ == "__main__":
  absltest.main()
