"""Bad input fails early with one message naming the flag, column or row."""

import dataclasses

import numpy as np
from absl import flags
from absl.testing import absltest, flagsaver

import objectives
from experiments import common  # noqa: F401  (defines the flags)
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import loaders, synthetic, validation
from multiobj.prepare import resolve

FLAGS = flags.FLAGS
TINY = synthetic.SyntheticConfig(num_users=100, num_items=60, num_requests=200)
OBJECTIVES = objectives.select("retrieval,click,dwell,purchase")


def _parse(*args):
  with flagsaver.flagsaver():
    FLAGS(["train.py", "--model_dir=/tmp/unused", *args])


class FlagTest(absltest.TestCase):
  def test_flag_errors(self):
    cases = {
      "--objectives=clik:1": r"flag --objectives=clik:1: Unknown objective 'clik'\. "
      r"Known objectives: .*click, .*dwell, .*purchase, .*retrieval",
      "--objectives=click:abc": r"weight 'abc' of objective 'click' is not a number",
      "--losses=click:nope": r"--losses: Unknown loss 'nope'\. Known losses: approx_ndcg, bce",
      "--losses=dwell:bce": r"loss 'bce' serves binary\. Losses for regression objectives: huber, mse",
      "--weighting=fancy": r"Unknown weighting strategy 'fancy'\. Known weighting strategies: .*static",
      "--dataset=movielens": r"Unknown dataset 'movielens'\. Known datasets: .*synthetic",
      "--epochs=0": r"flag --epochs=0: 0 is not a positive integer",
      "--trunk_layers=64,x": r"layer width 'x' is not a positive integer",
      "--click_noise=1.5": r"flag --click_noise=1.5",
    }
    for arg, message in cases.items():
      with self.subTest(arg=arg):
        with self.assertRaisesRegex(flags.IllegalFlagValueError, message):
          _parse(arg)

  def test_good_flags_make_a_config(self):
    with flagsaver.flagsaver():
      FLAGS(
        [
          "train.py",
          "--model_dir=/tmp/m",
          "--objectives=click:2,dwell",
          "--losses=click:softmax",
        ]
      )
      config = common.config_from_flags()
    self.assertEqual(config.model_dir, "/tmp/m")
    # Objectives resolve against the dataset's own once it is loaded.
    resolved = resolve.resolve(
      config.prepare, synthetic.generate(TINY)
    ).objectives
    self.assertEqual([o.name for o in resolved], ["click", "dwell"])
    self.assertEqual(resolved[0].weight, 2.0)
    self.assertEqual(resolved[0].loss, "softmax")
    self.assertEqual(resolved[1].weight, 0.5)


class DataValidationTest(absltest.TestCase):
  def setUp(self):
    super().setUp()
    self.data = synthetic.generate(TINY)

  def _check(self, message):
    with self.assertRaisesRegex(ValueError, message):
      validation.check(self.data, OBJECTIVES)

  def test_valid_data_passes(self):
    validation.check(self.data, OBJECTIVES)

  def test_missing_label_column(self):
    del self.data.splits["valid"]["purchase"]
    self._check(
      r"Dataset 'synthetic', split 'valid': missing column 'purchase'"
    )

  def test_objective_label_not_in_dataset(self):
    share = objectives.Objective(
      name="share", kind="binary", label="shared", loss="bce"
    )
    with self.assertRaisesRegex(
      ValueError,
      r"Objective 'share' needs label column 'shared', which dataset 'synthetic' "
      r"does not have; its labels: click, dwell, purchase",
    ):
      validation.check(self.data, [share])

  def test_empty_split(self):
    self.data.splits["train"] = {
      k: v[:0] for k, v in self.data.splits["train"].items()
    }
    self._check(r"split 'train': the split is empty \(0 rows\)")

  def test_nan_feature(self):
    self.data.splits["train"]["age"][7] = np.nan
    self._check(
      r"split 'train': column 'age' has a non-finite value \(nan\) at row 7 \(1 such rows\)"
    )

  def test_negative_dwell(self):
    train = self.data.splits["train"]
    row = int(np.flatnonzero(train["click"] > 0)[2])
    train["dwell"][row] = -3.0
    self._check(
      rf"label 'dwell' of objective 'dwell' must be >= 0 \(it is learned as log1p\); "
      rf"row {row} has -3.0"
    )

  def test_nan_dwell(self):
    self.data.splits["test"]["dwell"][4] = np.nan
    self._check(
      r"split 'test': column 'dwell' has a non-finite value \(nan\) at row 4"
    )

  def test_binary_label_out_of_range(self):
    self.data.splits["train"]["click"][11] = 2.0
    self._check(
      r"label 'click' of objective 'retrieval' must be 0 or 1; row 11 has 2.0"
    )

  def test_missing_category_value(self):
    self.data.splits["train"]["country"][3] = None
    self._check(r"column 'country' has a missing value at row 3")

  def test_duplicate_catalogue_id(self):
    self.data.catalogue["item_id"][5] = self.data.catalogue["item_id"][2]
    self._check(
      r"catalogue: item id 2 appears more than once \(again at row 5\)"
    )


class TrainRejectsBadDataTest(absltest.TestCase):
  def test_error_surfaces_before_training(self):
    # A dataset registered the way users register theirs, with one NaN.
    @loaders.DATASETS.register("nan_synthetic")
    def _load(data_config, seed):
      del seed  # Unused.
      data = synthetic.generate(data_config.synthetic)
      data.splits["train"]["price"][0] = np.nan
      return data

    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(
      dataset="nan_synthetic", synthetic=TINY, objectives=tuple(OBJECTIVES)
    )
    with self.assertRaisesRegex(
      ValueError, r"column 'price' has a non-finite value \(nan\) at row 0"
    ):
      experiment.run(config)

  def test_config_errors(self):
    with self.assertRaisesRegex(ValueError, "epochs must be >= 1"):
      config_lib.TrainConfig(model_dir="x").replace(epochs=0)
    with self.assertRaisesRegex(ValueError, "Unknown weighting strategy 'x'"):
      config_lib.TrainConfig(model_dir="x").replace(weighting="x")
    config = config_lib.TrainConfig(model_dir="x")
    with self.assertRaises(dataclasses.FrozenInstanceError):
      config.fit.epochs = 2


if __name__ == "__main__":
  absltest.main()
