"""TrainConfig: its slices, `replace`, config.json both ways, funnels."""

import dataclasses

from absl.testing import absltest, parameterized

import objectives
from multiobj import config as config_lib
from multiobj.data import synthetic


class SlicesTest(parameterized.TestCase):
  def test_replace_routes_each_field_to_its_slice(self):
    config = config_lib.TrainConfig(model_dir="d").replace(
      epochs=2,
      trunk="mmoe(experts=2)",
      hard_negatives=True,
      dataset="ml-100k",
      cold_start_items=0.1,
      seed=7,
    )
    self.assertEqual(config.fit.epochs, 2)
    self.assertEqual(config.model.trunk, "mmoe(experts=2)")
    self.assertTrue(config.retrieval.hard_negatives)
    self.assertEqual(config.data.dataset, "ml-100k")
    self.assertEqual(config.prepare.cold_start_items, 0.1)
    self.assertEqual(config.seed, 7)
    # The rest keeps its defaults.
    self.assertEqual(config.fit.batch_size, 128)
    self.assertEqual(config.model.embedding_dim, 32)

  def test_replace_takes_a_whole_slice_and_fields_of_it(self):
    config = config_lib.TrainConfig(model_dir="d").replace(
      model=config_lib.ModelConfig(embedding_dim=8), id_dropout=0.2
    )
    self.assertEqual(config.model.embedding_dim, 8)
    self.assertEqual(config.model.id_dropout, 0.2)

  def test_replace_names_an_unknown_field(self):
    with self.assertRaisesRegex(
      ValueError, "TrainConfig has no field 'epoch'; fields: .*epochs"
    ):
      config_lib.TrainConfig(model_dir="d").replace(epoch=2)

  def test_field_names_are_unique_across_slices(self):
    names = [
      f.name
      for cls in config_lib.SLICES.values()
      for f in dataclasses.fields(cls)
    ]
    self.assertEqual(len(names), len(set(names)))

  @parameterized.named_parameters(
    ("epochs", {"epochs": 0}, "epochs must be >= 1, got 0."),
    ("negatives", {"negatives": -1}, "negatives must be >= 0, got -1."),
    ("strategy", {"strategy": "tpu"}, "strategy must be one of default"),
    ("temperature", {"temperature": 0.0}, "temperature must be > 0"),
    ("propensity", {"propensity": "ips"}, "Unknown propensity method 'ips'"),
    ("weighting", {"weighting": "magic"}, "Unknown weighting strategy"),
    ("trunk syntax", {"trunk": "mmoe(("}, "--trunk: cannot read .mmoe"),
    ("funnel space", {"funnels": "purchase:click:esmm"}, "space 'esmm'"),
    (
      "seed",
      {"seed": -1},
      r"seed must be in \[0, 2\*\*32 - 1\] \(NumPy's range\), got -1\.",
    ),
    ("big seed", {"seed": 2**32}, "got 4294967296"),
    (
      "evaluate_split",
      {"evaluate_split": "validation"},
      "evaluate_split must be one of test, valid, got 'validation'.",
    ),
  )
  def test_bad_values_are_refused_where_set(self, changes, message):
    with self.assertRaisesRegex(ValueError, message):
      config_lib.TrainConfig(model_dir="d").replace(**changes)


class DictTest(absltest.TestCase):
  def test_round_trip(self):
    config = config_lib.TrainConfig(model_dir="d").replace(
      objectives=tuple(objectives.select("retrieval,click")),
      synthetic=synthetic.SyntheticConfig(num_requests=100),
      tower_layers=(16, 8),
      uniform_negatives=3,
      funnels="purchase:click",
      epochs=4,
      evaluate_split="valid",
    )
    self.assertEqual(config_lib.TrainConfig.from_dict(config.to_dict()), config)
    # config.json written before runs could be evaluated on validation.
    older = config.to_dict()
    del older["evaluate_split"]
    self.assertEqual(
      config_lib.TrainConfig.from_dict(older).evaluate_split, "test"
    )

  def test_reads_the_flat_config_of_older_runs(self):
    # config.json as runs wrote it before the config had slices.
    click = objectives.get("click")
    flat = {
      "model_dir": "old",
      "objectives": [dataclasses.asdict(click)],
      "objective_weights": "",
      "losses": "",
      "dataset": "synthetic",
      "data_dir": "data",
      "dataset_spec": "",
      "synthetic": dataclasses.asdict(synthetic.SyntheticConfig()),
      "model": {
        "embedding_dim": 16,
        "tower_layers": [64],
        "trunk_layers": [128, 64],
        "head_layers": [32],
        "temperature": 0.1,
        "text_max_tokens": 5000,
        "text_length": 12,
        "id_dropout": 0.0,
        "trunk": "shared_bottom",
        "hard_negatives": True,
        "uniform_negatives": 0,
        "cross_replica_negatives": True,
      },
      "weighting": "static",
      "epochs": 5,
      "batch_size": 64,
      "learning_rate": 0.001,
      "max_list_size": None,
      "early_stopping": 0,
      "negatives": None,
      "negative_sampling": None,
      "cold_start_items": 0.0,
      "propensity": "none",
      "propensity_label": "click",
      "max_ipw_weight": 10.0,
      "purchase_space": "impression",
      "purchase_given": "click",
      "strategy": "default",
      "cpu_devices": 1,
      "seed": 3,
    }
    config = config_lib.TrainConfig.from_dict(flat)
    self.assertEqual(config.model_dir, "old")
    self.assertEqual(config.objectives, (click,))
    self.assertEqual(config.model.embedding_dim, 16)
    self.assertEqual(config.retrieval.temperature, 0.1)
    self.assertTrue(config.retrieval.hard_negatives)
    self.assertEqual(config.fit.epochs, 5)
    self.assertEqual(config.fit.batch_size, 64)
    self.assertEqual(config.data.data_dir, "data")
    self.assertEqual(config.seed, 3)

  def test_an_unresolved_flat_funnel_becomes_funnels(self):
    config = config_lib.TrainConfig(model_dir="d")
    flat = {
      k: v for k, v in config.to_dict().items() if k not in config_lib.SLICES
    }
    for name in config_lib.SLICES:
      if name != "model":
        flat.update(config.to_dict()[name])
    flat["model"] = {
      **config.to_dict()["model"],
      **config.to_dict()["retrieval"],
    }
    flat.update(purchase_space="entire", purchase_given="cart")
    self.assertEqual(
      config_lib.TrainConfig.from_dict(flat).prepare.funnels,
      "purchase:cart:entire",
    )


class FunnelsTest(absltest.TestCase):
  def test_parse(self):
    self.assertEqual(
      config_lib.parse_funnels("purchase:click, order:cart:entire"),
      [("purchase", "click", "given"), ("order", "cart", "entire")],
    )
    self.assertEqual(config_lib.parse_funnels(""), [])

  def test_a_funnel_names_what_it_follows(self):
    with self.assertRaisesRegex(ValueError, "'purchase' names no objective"):
      config_lib.parse_funnels("purchase")


if __name__ == "__main__":
  absltest.main()


class SequenceSettingsTest(absltest.TestCase):
  def test_bad_values_are_refused_naming_the_setting(self):
    for changes, message in (
      ({"similarity": "angle"}, "similarity must be one of cosine, dot"),
      ({"learning_rate_decay": "step"}, "learning_rate_decay must be one of"),
      ({"keep": "first"}, "keep must be one of best, last"),
      ({"candidates": "everything"}, "retrieval candidates must be one of"),
      ({"sampling": "zipf"}, "retrieval sampling must be one of"),
      ({"baselines": "none"}, "baselines must be one of all, popularity"),
      (
        {"candidates": "catalogue", "uniform_negatives": 4},
        "with candidates 'catalogue' they have none to add to",
      ),
    ):
      with self.subTest(changes=changes):
        with self.assertRaisesRegex(ValueError, message):
          config_lib.TrainConfig(model_dir="m").replace(**changes)

  def test_retrieval_left_to_the_data_is_filled_by_it_then_defaults(self):
    retrieval = config_lib.RetrievalConfig()
    self.assertEqual(
      retrieval.resolved({"candidates": "sampled", "samples": 64}),
      config_lib.RetrievalConfig(
        candidates="sampled", samples=64, sampling="popularity"
      ),
    )
    # What neither the run nor the data says is its default, recorded.
    self.assertEqual(
      retrieval.resolved({}), config_lib.RetrievalConfig(candidates="batch")
    )
    self.assertEqual(
      config_lib.RetrievalConfig(candidates="sampled").resolved({}),
      config_lib.RetrievalConfig(
        candidates="sampled", samples=1024, sampling="popularity"
      ),
    )
    mine = config_lib.RetrievalConfig(candidates="batch")
    self.assertEqual(mine.resolved({"candidates": "catalogue"}), mine)
