"""Flags shared by the experiment scripts, and the one function that turns
them into a `config.TrainConfig`. Nothing below `main` reads FLAGS.

The flag holders are public (`common.EPOCHS.value`), so a script reads
another's flag through its holder, never by name."""

from absl import flags

import objectives
from experiments import (
  data_path_flags,
  deprecated_flags,
  run_flags,
  synthetic_flags,
)
from multiobj import config as config_lib
from multiobj.data import loaders, synthetic
from multiobj.model import encoder_names, trunk_names

DATASET = flags.DEFINE_string(
  "dataset",
  "synthetic",
  f"Dataset to train on; one of: {', '.join(loaders.DATASETS.names())}.",
)
DATA_DIR = flags.DEFINE_string(
  "data_dir",
  loaders.default_data_dir(),
  f"Folder of the real datasets, one subfolder each (${loaders.DATA_DIR_VARIABLE} "
  "sets the default).",
)
DATASET_SPEC = flags.DEFINE_string(
  "dataset_spec",
  "",
  "Path of a JSON dataset description (see docs/dataset_spec.md); implies --dataset=json.",
)
OBJECTIVES = flags.DEFINE_string(
  "objectives",
  "",
  "Objectives to train and their loss weights, as name:weight pairs separated "
  "by commas (a name alone keeps its default weight); empty for the dataset's "
  f"own (synthetic: {synthetic.DEFAULT_OBJECTIVES}). Registered: "
  f"{', '.join(objectives.names())}.",
)
LOSSES = flags.DEFINE_string(
  "losses",
  "",
  "Loss overrides as objective:loss pairs, e.g. click:pairwise_logistic. "
  f"Registered losses: {', '.join(objectives.LOSSES.names())}.",
)
WEIGHTING = flags.DEFINE_string(
  "weighting",
  "static",
  "Loss-weighting strategy between objectives, with parameters if any, e.g. "
  "dwa(temperature=1.0); one of: "
  f"{', '.join(objectives.WEIGHTINGS.names())}.",
)
EPOCHS = flags.DEFINE_integer(
  "epochs", 3, "Passes over the training data.", lower_bound=1
)
BATCH_SIZE = flags.DEFINE_integer(
  "batch_size",
  128,
  "Impression lists per batch (rows = lists x list size).",
  lower_bound=1,
)
LEARNING_RATE = flags.DEFINE_float(
  "learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0
)
LEARNING_RATE_DECAY = flags.DEFINE_enum(
  "learning_rate_decay",
  "none",
  list(config_lib.DECAYS),
  "none keeps --learning_rate; cosine lowers it along half a cosine to 0 at "
  "the last step of --epochs.",
)
EMBEDDING_DIM = flags.DEFINE_integer(
  "embedding_dim",
  32,
  "Width of id and text embeddings and tower outputs.",
  lower_bound=1,
)
TOWER_LAYERS = flags.DEFINE_list(
  "tower_layers", ["64"], "Hidden layer widths of each tower, comma-separated."
)
TRUNK_LAYERS = flags.DEFINE_list(
  "trunk_layers", ["128", "64"], "Layer widths of the shared ranking trunk."
)
HEAD_LAYERS = flags.DEFINE_list(
  "head_layers",
  ["32"],
  "Hidden layer widths of each ranking head ('' for none).",
)
ID_DROPOUT = flags.DEFINE_float(
  "id_dropout",
  0.0,
  "Share of user and item ids replaced in training by the unknown-id bucket, "
  "so that ids never seen in training (cold start) are served from content.",
  lower_bound=0.0,
  upper_bound=0.9,
)
TEMPERATURE = flags.DEFINE_float(
  "temperature",
  0.05,
  "Retrieval softmax temperature on cosine similarity.",
  lower_bound=0.0,
)
PROPENSITY = flags.DEFINE_string(
  "propensity",
  "none",
  "Inverse-propensity weighting of clicks for position bias: none; randomized "
  "(CTR ratios over randomised lists); em (TF-Ranking click EM); or "
  "file:PATH (CSV of position,propensity).",
)
PROPENSITY_LABEL = flags.DEFINE_string(
  "propensity_label",
  "click",
  "With --propensity: the label (clicks) propensities are estimated from, "
  "whose binary and listwise objectives are weighted; empty for the label of "
  "the first binary or listwise objective of the run.",
)
MAX_IPW_WEIGHT = flags.DEFINE_float(
  "max_ipw_weight",
  10.0,
  "Cap of an inverse-propensity weight.",
  lower_bound=1.0,
)
EARLY_STOPPING = flags.DEFINE_integer(
  "early_stopping",
  0,
  "Stop after this many epochs without a better --monitor value on the "
  "validation split; 0 trains every epoch.",
  lower_bound=0,
)
MONITOR = flags.DEFINE_string(
  "monitor",
  "auto",
  "The validation value the kept epoch is judged by: auto (for a run of "
  "retrieval objectives alone, the first one's NDCG at the first cutoff of "
  "the dataset's full-ranking protocol, else its recall at its largest "
  "cutoff; for a run with ranking heads, the validation loss), loss, or a "
  "metric's name as metrics.json gives it (retrieval_full_ndcg@10, "
  "click_auc).",
)
KEEP = flags.DEFINE_enum(
  "keep",
  "best",
  list(config_lib.KEEP),
  "Which epoch's weights the run keeps and evaluates: best (by --monitor on "
  "the validation split) or last.",
)
HISTORY_ENCODER = flags.DEFINE_string(
  "history_encoder",
  "",
  "Sequence encoder of every history feature, with parameters if any, e.g. "
  "self_attention(blocks=2,heads=1,dropout=0.2); empty keeps each feature's "
  "own (its description's encoder, else mean); registered: "
  f"{', '.join(encoder_names.ENCODERS.names())}.",
)
HISTORY_BOOST = flags.DEFINE_boolean(
  "history_boost",
  True,
  "Give the histories a description boosts their bonus in retrieval scores "
  "(--nohistory_boost trains and ranks without it).",
)
SIMILARITY = flags.DEFINE_enum(
  "similarity",
  "cosine",
  list(config_lib.SIMILARITIES),
  "How the towers' embeddings are compared: cosine (unit-length embeddings, "
  "scaled by --temperature) or dot (their dot product, the lengths free: "
  "an item's can carry its popularity; use --temperature=1).",
)
RETRIEVAL_CANDIDATES = flags.DEFINE_enum(
  "retrieval_candidates",
  None,
  list(config_lib.RETRIEVAL_CANDIDATES),
  "What each retrieval positive is scored against: batch (the batch's other "
  "positives, logQ-corrected), catalogue (every catalogue item: the full "
  "softmax) or sampled (--retrieval_samples items drawn each step); unset "
  "keeps the dataset's (a description's retrieval.candidates), else batch.",
)
RETRIEVAL_SAMPLES = flags.DEFINE_integer(
  "retrieval_samples",
  None,
  "Items drawn each step for --retrieval_candidates=sampled; unset keeps the "
  "dataset's, else 1024.",
  lower_bound=1,
)
RETRIEVAL_SAMPLING = flags.DEFINE_enum(
  "retrieval_sampling",
  None,
  list(config_lib.SAMPLINGS),
  "How --retrieval_candidates=sampled draws: uniform, or popularity (in "
  "proportion to training positives); unset keeps the dataset's, else "
  "popularity.",
)
NEGATIVES = flags.DEFINE_integer(
  "negatives",
  None,
  "Sampled negatives per logged row for logs of positives only; 0 turns "
  "sampling off; unset keeps the dataset's default.",
  lower_bound=0,
)
NEGATIVE_SAMPLING = flags.DEFINE_enum(
  "negative_sampling",
  None,
  ["uniform", "popularity"],
  "How negatives are drawn: uniformly or by popularity^0.75; unset keeps the "
  "dataset's default.",
)
COLD_START_ITEMS = flags.DEFINE_float(
  "cold_start_items",
  0.0,
  "Share of catalogue items held out of training entirely; retrieval on them "
  "is reported as *_cold.",
  lower_bound=0.0,
  upper_bound=0.9,
)
TRUNK = flags.DEFINE_string(
  "trunk",
  "shared_bottom",
  "Ranking trunk between the shared input and the heads, with parameters if "
  "any: shared_bottom, mmoe(experts=4) or ple(shared_experts=2,task_experts=1) "
  "(one extraction level per --trunk_layers width); registered: "
  f"{', '.join(trunk_names.TRUNKS.names())}.",
)
FUNNELS = flags.DEFINE_string(
  "funnels",
  "",
  "Objectives that follow another, as name:given[:space] separated by "
  "commas: name is predicted as p(given) * p(name | given), learned on the "
  "rows where given is positive (space given, the default) or on every row "
  "(space entire, ESMM); e.g. purchase:click or purchase:click:entire.",
)
HARD_NEGATIVES = flags.DEFINE_boolean(
  "hard_negatives",
  False,
  "Retrieval: score each clicked pair also against the batch's unclicked "
  "impressions (its own request's among them), with the mixture's logQ.",
)
UNIFORM_NEGATIVES = flags.DEFINE_integer(
  "uniform_negatives",
  0,
  "Retrieval: catalogue items drawn uniformly per list each batch as extra "
  "negatives.",
  lower_bound=0,
)
CROSS_REPLICA_NEGATIVES = flags.DEFINE_boolean(
  "cross_replica_negatives",
  True,
  "With several replicas, gather retrieval candidates across replicas so "
  "negatives come from the global batch (--nocross_replica_negatives keeps "
  "them per replica).",
)
STRATEGY = flags.DEFINE_enum(
  "strategy",
  "default",
  list(config_lib.STRATEGIES),
  "tf.distribute strategy: default (one device), mirrored (local GPUs, or "
  "--cpu_devices logical CPUs) or multi_worker (machines listed in "
  "$TF_CONFIG; run the same command on each).",
)
CPU_DEVICES = flags.DEFINE_integer(
  "cpu_devices",
  1,
  "Split the CPU into this many logical devices, so --strategy=mirrored runs "
  "several replicas without GPUs.",
  lower_bound=1,
)
SEED = flags.DEFINE_integer(
  "seed",
  0,
  "Seed of the model's initialisation and shuffling.",
  lower_bound=0,
  upper_bound=2**32 - 1,
)
EVALUATE_SPLIT = flags.DEFINE_enum(
  "evaluate_split",
  "test",
  ["test", "valid"],
  "The split metrics.json and the table report on. A sweep tunes with "
  "valid and never sees the test split; the chosen configuration then runs "
  "on test.",
)
BASELINES = flags.DEFINE_enum(
  "baselines",
  "all",
  list(config_lib.BASELINES),
  "Retrieval baselines evaluated beside the model: all (the most popular "
  "items, item-KNN and EASE^R, each tuned on validation; for several "
  "behaviours also fitted on all of them, and the user's own items: minutes "
  "on 10,000 items, kept in the prepared cache for later runs on it) or "
  "popularity (the most popular items alone).",
)
# The synthetic log's flags and the deprecated aliases are shared flags too
# (key flags of this module).
flags.adopt_module_key_flags(synthetic_flags)
flags.adopt_module_key_flags(data_path_flags)
flags.adopt_module_key_flags(deprecated_flags)
# A training run's directory and modules are training flags too (metrics.json
# records them, a sweep's trials may set them).
flags.declare_key_flag(run_flags.MODEL_DIR.name)
flags.declare_key_flag(run_flags.OBJECTIVE_MODULES.name)


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
  _check(
    lambda value: value
    and objectives.select(
      value,
      what="",
      available=_described_objectives(
        {
          "dataset_spec": flags.FLAGS["dataset_spec"].value,
          "data_dir": flags.FLAGS["data_dir"].value,
        }
      ),
    )
  ),
)
flags.register_validator("dataset", _check(loaders.DATASETS.get))
flags.register_validator(
  "weighting",
  _check(objectives.check_weighting),
)
flags.register_validator(
  "propensity", _check(config_lib.check_propensity_method)
)
flags.register_validator("funnels", _check(config_lib.parse_funnels))
flags.register_multi_flags_validator(
  ["funnels", "purchase_space", "purchase_given"],
  _check(
    lambda v: deprecated_flags.check_not_both(
      v["funnels"], v["purchase_space"], v["purchase_given"]
    )
  ),
)
flags.register_validator("trunk", _check(trunk_names.check))
flags.register_validator(
  "history_encoder",
  _check(lambda value: value and encoder_names.check(value)),
)
for _name in ("tower_layers", "trunk_layers", "head_layers"):
  flags.register_validator(_name, _check(_check_layers))


def _described_objectives(values) -> tuple:
  """The objectives a JSON description defines for its labels (read, not
  its data), which --objectives may name beside the registered ones; ()
  without one, or for a description the loader will refuse later."""
  if not values["dataset_spec"]:
    return ()
  from multiobj.data.description import loader  # noqa: PLC0415

  try:
    return loader.parse(values["dataset_spec"], values["data_dir"])[1][
      "objectives"
    ]
  except ValueError:
    return ()


def _check_losses(values):
  # The objectives may be the dataset's, known only once it is loaded: check
  # here what can be, every loss name and parameter.
  if values["objectives"]:
    objectives.select(
      values["objectives"], values["losses"], "", _described_objectives(values)
    )
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
  ["objectives", "losses", "dataset_spec", "data_dir"], _check(_check_losses)
)


def config_from_flags() -> config_lib.TrainConfig:
  """The `TrainConfig` the shared flags describe."""
  return config_lib.TrainConfig(
    model_dir=run_flags.MODEL_DIR.value,
    data=config_lib.DataConfig(
      dataset="json" if DATASET_SPEC.value else DATASET.value,
      data_dir=DATA_DIR.value,
      dataset_spec=DATASET_SPEC.value,
      synthetic=synthetic_flags.config_from_flags(),
    ),
    prepare=config_lib.PrepareConfig(
      objective_weights=OBJECTIVES.value,
      losses=LOSSES.value,
      funnels=deprecated_flags.funnels(FUNNELS.value),
      negatives=NEGATIVES.value,
      negative_sampling=NEGATIVE_SAMPLING.value,
      cold_start_items=COLD_START_ITEMS.value,
      propensity=PROPENSITY.value,
      propensity_label=PROPENSITY_LABEL.value,
      max_ipw_weight=MAX_IPW_WEIGHT.value,
      cache_dir=data_path_flags.CACHE_DIR.value,
      shard_mb=data_path_flags.SHARD_MB.value,
      memory_mb=data_path_flags.PREPARE_MEMORY_MB.value,
    ),
    model=config_lib.ModelConfig(
      embedding_dim=EMBEDDING_DIM.value,
      tower_layers=tuple(int(w) for w in TOWER_LAYERS.value),
      trunk_layers=tuple(int(w) for w in TRUNK_LAYERS.value),
      head_layers=tuple(int(w) for w in HEAD_LAYERS.value),
      id_dropout=ID_DROPOUT.value,
      trunk=TRUNK.value,
      history_encoder=HISTORY_ENCODER.value,
      history_boost=HISTORY_BOOST.value,
      similarity=SIMILARITY.value,
    ),
    retrieval=config_lib.RetrievalConfig(
      temperature=TEMPERATURE.value,
      candidates=RETRIEVAL_CANDIDATES.value or "",
      samples=RETRIEVAL_SAMPLES.value or 0,
      sampling=RETRIEVAL_SAMPLING.value or "",
      hard_negatives=HARD_NEGATIVES.value,
      uniform_negatives=UNIFORM_NEGATIVES.value,
      cross_replica_negatives=CROSS_REPLICA_NEGATIVES.value,
    ),
    fit=config_lib.FitConfig(
      epochs=EPOCHS.value,
      batch_size=BATCH_SIZE.value,
      learning_rate=LEARNING_RATE.value,
      learning_rate_decay=LEARNING_RATE_DECAY.value,
      early_stopping=EARLY_STOPPING.value,
      monitor=MONITOR.value,
      keep=KEEP.value,
      weighting=WEIGHTING.value,
      strategy=STRATEGY.value,
      cpu_devices=CPU_DEVICES.value,
      shuffle_buffer=data_path_flags.SHUFFLE_BUFFER.value,
      overwrite=run_flags.OVERWRITE.value,
      checkpoint_every_steps=run_flags.CHECKPOINT_EVERY_STEPS.value,
    ),
    seed=SEED.value,
    evaluate_split=EVALUATE_SPLIT.value,
    baselines=BASELINES.value,
  )


def flag_values() -> dict:
  """Values of the flags defined here, for metrics.json."""
  return {
    f.name: f.value for f in flags.FLAGS.get_key_flags_for_module(__name__)
  }
