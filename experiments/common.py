"""Flags shared by the experiment scripts, and the one function that turns
them into a `training.TrainConfig`. Nothing below `main` reads FLAGS."""

import importlib

from absl import flags

import objectives
from multiobj import blend as blend_lib
from multiobj import config as config_lib
from multiobj import data as data_lib
from multiobj import model as model_lib
from multiobj import propensity, training, trunks
from multiobj.data import synthetic


class _ModuleImporter(flags.ListParser):
  """Parses a comma-separated list of modules and imports each at once.

  Importing while the flag is parsed (absl runs validators only after every
  flag is parsed) registers the modules' objectives, losses, weighting
  strategies and datasets before --objectives and the others are checked,
  whatever the order of flags on the command line.
  """

  def parse(self, argument):
    modules = super().parse(argument)
    for name in modules:
      try:
        importlib.import_module(name)
      except ImportError as e:
        raise ValueError(f"cannot import {name!r}: {e}.") from None
    return modules

  def flag_type(self):
    return "comma-separated list of modules"


_OBJECTIVE_MODULES = flags.DEFINE(
  _ModuleImporter(),
  "objective_modules",
  [],
  "Python modules to import before the other flags are read, so the "
  "objectives, losses, weighting strategies and datasets they register can be "
  "named, e.g. my_pkg.my_objectives (importable from the working directory or "
  "PYTHONPATH).",
  serializer=flags.CsvListSerializer(","),
)
_DATASET = flags.DEFINE_string(
  "dataset",
  "synthetic",
  f"Dataset to train on; one of: {', '.join(data_lib.DATASETS.names())}.",
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir",
  config_lib.default_data_dir(),
  f"Folder of the real datasets, one subfolder each (${config_lib.DATA_DIR_VARIABLE} "
  "sets the default).",
)
_DATASET_SPEC = flags.DEFINE_string(
  "dataset_spec",
  "",
  "Path of a JSON dataset description (see docs/dataset_spec.md); implies --dataset=json.",
)
_OBJECTIVES = flags.DEFINE_string(
  "objectives",
  "",
  "Objectives to train and their loss weights, as name:weight pairs separated "
  "by commas (a name alone keeps its default weight); empty for the dataset's "
  f"own (synthetic: {training.DEFAULT_OBJECTIVES}). Registered: "
  f"{', '.join(objectives.names())}.",
)
_LOSSES = flags.DEFINE_string(
  "losses",
  "",
  "Loss overrides as objective:loss pairs, e.g. click:pairwise_logistic. "
  f"Registered losses: {', '.join(objectives.LOSSES.names())}.",
)
_WEIGHTING = flags.DEFINE_string(
  "weighting",
  "static",
  "Loss-weighting strategy between objectives, with parameters if any, e.g. "
  "dwa(temperature=1.0); one of: "
  f"{', '.join(objectives.WEIGHTINGS.names())}.",
)
_EPOCHS = flags.DEFINE_integer(
  "epochs", 3, "Passes over the training data.", lower_bound=1
)
_BATCH_SIZE = flags.DEFINE_integer(
  "batch_size",
  128,
  "Impression lists per batch (rows = lists x list size).",
  lower_bound=1,
)
_LEARNING_RATE = flags.DEFINE_float(
  "learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0
)
_EMBEDDING_DIM = flags.DEFINE_integer(
  "embedding_dim",
  32,
  "Width of id and text embeddings and tower outputs.",
  lower_bound=1,
)
_TOWER_LAYERS = flags.DEFINE_list(
  "tower_layers", ["64"], "Hidden layer widths of each tower, comma-separated."
)
_TRUNK_LAYERS = flags.DEFINE_list(
  "trunk_layers", ["128", "64"], "Layer widths of the shared ranking trunk."
)
_HEAD_LAYERS = flags.DEFINE_list(
  "head_layers",
  ["32"],
  "Hidden layer widths of each ranking head ('' for none).",
)
_ID_DROPOUT = flags.DEFINE_float(
  "id_dropout",
  0.0,
  "Share of user and item ids replaced in training by the unknown-id bucket, "
  "so that ids never seen in training (cold start) are served from content.",
  lower_bound=0.0,
  upper_bound=0.9,
)
_TEMPERATURE = flags.DEFINE_float(
  "temperature",
  0.05,
  "Retrieval softmax temperature on cosine similarity.",
  lower_bound=0.0,
)
_PROPENSITY = flags.DEFINE_string(
  "propensity",
  "none",
  "Inverse-propensity weighting of clicks for position bias: none; randomized "
  "(CTR ratios over randomised lists); em (TF-Ranking click EM); or "
  "file:PATH (CSV of position,propensity).",
)
_MAX_IPW_WEIGHT = flags.DEFINE_float(
  "max_ipw_weight",
  10.0,
  "Cap of an inverse-propensity weight.",
  lower_bound=1.0,
)
_EARLY_STOPPING = flags.DEFINE_integer(
  "early_stopping",
  0,
  "Stop after this many epochs without a better validation loss and keep the "
  "best epoch's weights; 0 trains every epoch.",
  lower_bound=0,
)
_NEGATIVES = flags.DEFINE_integer(
  "negatives",
  None,
  "Sampled negatives per logged row for logs of positives only; 0 turns "
  "sampling off; unset keeps the dataset's default.",
  lower_bound=0,
)
_NEGATIVE_SAMPLING = flags.DEFINE_enum(
  "negative_sampling",
  None,
  ["uniform", "popularity"],
  "How negatives are drawn: uniformly or by popularity^0.75; unset keeps the "
  "dataset's default.",
)
_COLD_START_ITEMS = flags.DEFINE_float(
  "cold_start_items",
  0.0,
  "Share of catalogue items held out of training entirely; retrieval on them "
  "is reported as *_cold.",
  lower_bound=0.0,
  upper_bound=0.9,
)
_TRUNK = flags.DEFINE_string(
  "trunk",
  "shared_bottom",
  "Ranking trunk between the shared input and the heads, with parameters if "
  "any: shared_bottom, mmoe(experts=4) or ple(shared_experts=2,task_experts=1) "
  "(one extraction level per --trunk_layers width); registered: "
  f"{', '.join(trunks.TRUNKS.names())}.",
)
_PURCHASE_SPACE = flags.DEFINE_enum(
  "purchase_space",
  "impression",
  list(config_lib.PURCHASE_SPACES),
  "How purchase is learned: impression (its own head on every impression), "
  "clicked (p(purchase | click) on clicked rows, predicted times p(click)) or "
  "entire (p(click) * p(purchase | click) trained on every impression, ESMM).",
)
_PURCHASE_GIVEN = flags.DEFINE_string(
  "purchase_given",
  "click",
  "The objective a purchase follows with --purchase_space=clicked|entire "
  "(e.g. cart on data without clicks).",
)
_HARD_NEGATIVES = flags.DEFINE_boolean(
  "hard_negatives",
  False,
  "Retrieval: score each clicked pair also against the batch's unclicked "
  "impressions (its own request's among them), with the mixture's logQ.",
)
_UNIFORM_NEGATIVES = flags.DEFINE_integer(
  "uniform_negatives",
  0,
  "Retrieval: catalogue items drawn uniformly per list each batch as extra "
  "negatives.",
  lower_bound=0,
)
_CROSS_REPLICA_NEGATIVES = flags.DEFINE_boolean(
  "cross_replica_negatives",
  True,
  "With several replicas, gather retrieval candidates across replicas so "
  "negatives come from the global batch (--nocross_replica_negatives keeps "
  "them per replica).",
)
_STRATEGY = flags.DEFINE_enum(
  "strategy",
  "default",
  list(config_lib.STRATEGIES),
  "tf.distribute strategy: default (one device), mirrored (local GPUs, or "
  "--cpu_devices logical CPUs) or multi_worker (machines listed in "
  "$TF_CONFIG; run the same command on each).",
)
_CPU_DEVICES = flags.DEFINE_integer(
  "cpu_devices",
  1,
  "Split the CPU into this many logical devices, so --strategy=mirrored runs "
  "several replicas without GPUs.",
  lower_bound=1,
)
_SEED = flags.DEFINE_integer(
  "seed", 0, "Seed of the model's initialisation and shuffling."
)
_MODEL_DIR = flags.DEFINE_string(
  "model_dir",
  None,
  "Directory of a training run: checkpoints, TensorBoard logs, metrics.json.",
)
# Flags of several scripts besides train.py, defined once here.
OUTPUT_DIR = flags.DEFINE_string(
  "output_dir", "", "Where a study or evaluation writes its results."
)
SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of a study's runs.")
BLEND = flags.DEFINE_string(
  "blend",
  "",
  "A value model over the heads: a weighted sum click:1,purchase:3 or an "
  "expression such as click*purchase^0.5*log1p(dwell) with + - * / ^ and "
  f"{', '.join(blend_lib.FUNCTIONS)}; regression heads enter on their "
  "label's scale (dwell in seconds).",
)

_SYNTHETIC_USERS = flags.DEFINE_integer(
  "synthetic_users",
  synthetic.SyntheticConfig.num_users,
  "Synthetic data: users.",
  lower_bound=1,
)
_SYNTHETIC_ITEMS = flags.DEFINE_integer(
  "synthetic_items",
  synthetic.SyntheticConfig.num_items,
  "Synthetic data: catalogue items.",
  lower_bound=1,
)
_SYNTHETIC_REQUESTS = flags.DEFINE_integer(
  "synthetic_requests",
  synthetic.SyntheticConfig.num_requests,
  "Synthetic data: impression lists (rows = requests x list size).",
  lower_bound=1,
)
_SYNTHETIC_LIST_SIZE = flags.DEFINE_integer(
  "synthetic_list_size",
  synthetic.SyntheticConfig.list_size,
  "Synthetic data: items shown per request.",
  lower_bound=1,
)
_CLICK_NOISE = flags.DEFINE_float(
  "click_noise",
  synthetic.SyntheticConfig.click_noise,
  "Synthetic data: expected share of clicks that are false positives, in [0, 1).",
  lower_bound=0.0,
  upper_bound=0.99,
)
_CLICKBAIT = flags.DEFINE_float(
  "clickbait",
  synthetic.SyntheticConfig.clickbait,
  "Synthetic data: how false-positive clicks fall, 0 uniformly (accidents) to "
  "1 in proportion to each item's bait (click-bait titles).",
  lower_bound=0.0,
  upper_bound=1.0,
)
_CONFLICT = flags.DEFINE_float(
  "click_purchase_conflict",
  synthetic.SyntheticConfig.click_purchase_conflict,
  "Synthetic data: c >= 0 makes click-bait items clicked more (relevance x "
  "bait^c) and bought less (purchase logit - 2c log bait); 0 for no conflict.",
  lower_bound=0.0,
)
_SYNTHETIC_SEED = flags.DEFINE_integer(
  "synthetic_seed",
  0,
  "Synthetic data: seed of the generator (--seed leaves the data as is).",
)
_POSITION_BIAS = flags.DEFINE_float(
  "position_bias",
  synthetic.SyntheticConfig.position_bias,
  "Synthetic data: examination exponent, P(examined | position p) = p^-eta.",
  lower_bound=0.0,
)


def _check(validate):
  """Wraps a library check so its ValueError becomes a flag error."""

  def checker(value):
    try:
      validate(value)
    except ValueError as e:
      raise flags.ValidationError(str(e)) from None
    return True

  return checker


def _check_layers(value):
  for width in value:
    if not (width.isdigit() and int(width) > 0):
      raise ValueError(f"layer width {width!r} is not a positive integer.")


flags.register_validator(
  "objectives",
  _check(lambda value: value and objectives.select(value, what="")),
)
flags.register_validator("dataset", _check(data_lib.DATASETS.get))
flags.register_validator(
  "weighting",
  _check(lambda value: objectives.get_weighting(value, {"task": 1.0})),
)
flags.register_validator("propensity", _check(propensity.check_method))
flags.register_validator("trunk", _check(trunks.check))
for _name in ("tower_layers", "trunk_layers", "head_layers"):
  flags.register_validator(_name, _check(_check_layers))


def _check_losses(values):
  # The objectives may be the dataset's, known only once it is loaded: check
  # here what can be, every loss name and parameter.
  if values["objectives"]:
    objectives.select(values["objectives"], values["losses"], "")
  elif values["losses"]:
    for objective, loss in objectives.parse_pairs(values["losses"], "--losses"):
      if loss is None:
        raise ValueError("--losses: an entry names no loss (objective:loss).")
      name, params = objectives.parse_call(loss, "--losses")
      try:
        if objective in objectives.OBJECTIVES:
          kind = objectives.get(objective).kind
          objectives.objective.check_loss(objective, kind, name)
        objectives.get_loss(name, **params)
      except ValueError as e:
        raise ValueError(f"--losses: {e}") from None


flags.register_multi_flags_validator(
  ["objectives", "losses"], _check(_check_losses)
)


def config_from_flags() -> training.TrainConfig:
  """The `TrainConfig` the shared flags describe."""
  return training.TrainConfig(
    model_dir=_MODEL_DIR.value,
    objective_weights=_OBJECTIVES.value,
    losses=_LOSSES.value,
    dataset="json" if _DATASET_SPEC.value else _DATASET.value,
    data_dir=_DATA_DIR.value,
    dataset_spec=_DATASET_SPEC.value,
    early_stopping=_EARLY_STOPPING.value,
    negatives=_NEGATIVES.value,
    negative_sampling=_NEGATIVE_SAMPLING.value,
    cold_start_items=_COLD_START_ITEMS.value,
    synthetic=synthetic.SyntheticConfig(
      num_users=_SYNTHETIC_USERS.value,
      num_items=_SYNTHETIC_ITEMS.value,
      num_requests=_SYNTHETIC_REQUESTS.value,
      list_size=_SYNTHETIC_LIST_SIZE.value,
      click_noise=_CLICK_NOISE.value,
      clickbait=_CLICKBAIT.value,
      position_bias=_POSITION_BIAS.value,
      click_purchase_conflict=_CONFLICT.value,
      seed=_SYNTHETIC_SEED.value,
    ),
    model=model_lib.ModelConfig(
      embedding_dim=_EMBEDDING_DIM.value,
      tower_layers=tuple(int(w) for w in _TOWER_LAYERS.value),
      trunk_layers=tuple(int(w) for w in _TRUNK_LAYERS.value),
      head_layers=tuple(int(w) for w in _HEAD_LAYERS.value),
      temperature=_TEMPERATURE.value,
      id_dropout=_ID_DROPOUT.value,
      trunk=_TRUNK.value,
      hard_negatives=_HARD_NEGATIVES.value,
      uniform_negatives=_UNIFORM_NEGATIVES.value,
      cross_replica_negatives=_CROSS_REPLICA_NEGATIVES.value,
    ),
    purchase_space=_PURCHASE_SPACE.value,
    purchase_given=_PURCHASE_GIVEN.value,
    strategy=_STRATEGY.value,
    cpu_devices=_CPU_DEVICES.value,
    weighting=_WEIGHTING.value,
    propensity=_PROPENSITY.value,
    max_ipw_weight=_MAX_IPW_WEIGHT.value,
    epochs=_EPOCHS.value,
    batch_size=_BATCH_SIZE.value,
    learning_rate=_LEARNING_RATE.value,
    seed=_SEED.value,
  )


def flag_values() -> dict:
  """Values of the flags defined here, for metrics.json."""
  return {
    f.name: f.value for f in flags.FLAGS.get_key_flags_for_module(__name__)
  }
