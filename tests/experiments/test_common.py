"""Flags to config: every slice gets its flags; --funnels and its
deprecated aliases."""

from absl import flags
from absl.testing import absltest, flagsaver

from experiments import common

FLAGS = flags.FLAGS


def _config(*args):
  with flagsaver.flagsaver():
    FLAGS(["train.py", "--model_dir=/tmp/m", *args])
    return common.config_from_flags()


class ConfigFromFlagsTest(absltest.TestCase):
  def test_each_flag_reaches_its_slice(self):
    config = _config(
      "--dataset=ml-100k",
      "--cold_start_items=0.1",
      "--propensity=em",
      "--propensity_label=is_click",
      "--trunk=mmoe(experts=2)",
      "--uniform_negatives=4",
      "--nocross_replica_negatives",
      "--epochs=5",
      "--weighting=dwa",
      "--synthetic_requests=100",
      "--seed=3",
    )
    self.assertEqual(config.data.dataset, "ml-100k")
    self.assertEqual(config.data.synthetic.num_requests, 100)
    self.assertEqual(config.prepare.cold_start_items, 0.1)
    self.assertEqual(config.prepare.propensity_label, "is_click")
    self.assertEqual(config.model.trunk, "mmoe(experts=2)")
    self.assertEqual(config.retrieval.uniform_negatives, 4)
    self.assertFalse(config.retrieval.cross_replica_negatives)
    self.assertEqual((config.fit.epochs, config.fit.weighting), (5, "dwa"))
    self.assertEqual(config.seed, 3)

  def test_a_seed_out_of_numpys_range_names_the_flag(self):
    with self.assertRaisesRegex(
      flags.IllegalFlagValueError,
      r"flag --seed=-1: -1 is not an integer in the range \[0, 4294967295\]",
    ):
      _config("--seed=-1")

  def test_funnels(self):
    self.assertEqual(
      _config("--funnels=purchase:click:entire").prepare.funnels,
      "purchase:click:entire",
    )
    with self.assertRaisesRegex(
      flags.IllegalFlagValueError, "space 'esmm'; expected one of given"
    ):
      _config("--funnels=purchase:click:esmm")

  def test_deprecated_purchase_flags_become_funnels(self):
    cases = {
      ("--purchase_space=clicked",): "purchase:click",
      ("--purchase_space=entire",): "purchase:click:entire",
      ("--purchase_space=clicked", "--purchase_given=cart"): "purchase:cart",
      ("--purchase_space=impression",): "",
    }
    for args, funnels in cases.items():
      with self.subTest(args=args):
        with self.assertLogs(level="WARNING") as logs:
          self.assertEqual(_config(*args).prepare.funnels, funnels)
        self.assertIn("deprecated: use", logs.output[0])

  def test_funnels_and_their_deprecated_alias_are_refused_together(self):
    with self.assertRaisesRegex(
      flags.IllegalFlagValueError, "deprecated aliases of --funnels"
    ):
      _config("--funnels=purchase:click", "--purchase_space=entire")


if __name__ == "__main__":
  absltest.main()
