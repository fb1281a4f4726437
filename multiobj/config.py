"""What one training run depends on: `TrainConfig`, in slices.

  data       which dataset, from where (`data.loaders.DataConfig`);
  prepare    what the run learns and how rows become lists: objectives,
             their weights, losses and funnels, sampled negatives, cold
             start, position-bias propensities;
  model      the towers, trunk and heads;
  retrieval  the retrieval task's candidates and temperature;
  fit        epochs, batches, optimizer, loss weighting, devices.

The experiment scripts build it from flags (`experiments/common.py`); tests
and users build it directly, e.g.

  config = TrainConfig(model_dir="runs/a").replace(epochs=2, trunk="mmoe")

Values are checked here, where they are set; names that live in registries
of higher layers (trunks) are checked before any data is read
(`train.fit.check`). Objectives may be given explicitly; by default they are
the dataset's own, selected and weighted by `objective_weights` (the
`--objectives` flag) and resolved against the dataset when it is prepared
(`prepare.resolve`). The resolved config is what `config.json` holds.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import loaders
from multiobj.data import synthetic as synthetic_lib

DataConfig = loaders.DataConfig
FUNNEL_SPACES = ("given", "entire")
PROPENSITY_METHODS = ("none", "randomized", "em", "file:PATH")
STRATEGIES = ("default", "mirrored", "multi_worker")
RETRIEVAL_CANDIDATES = dataset_lib.RETRIEVAL_CANDIDATES
SAMPLINGS = dataset_lib.SAMPLINGS
EVALUATE_SPLITS = ("test", "valid")
KEEP = ("best", "last")
DECAYS = ("none", "cosine")
SIMILARITIES = ("cosine", "dot")
BASELINES = ("all", "popularity")


def check_propensity_method(method: str) -> None:
  """Raises ValueError unless `method` is one of `PROPENSITY_METHODS`."""
  if method in ("none", "randomized", "em"):
    return
  if method.startswith("file:") and method[5:]:
    return
  raise ValueError(
    f"Unknown propensity method {method!r}; expected one of "
    f"{', '.join(PROPENSITY_METHODS)}."
  )


def parse_funnels(text: str) -> list[tuple[str, str, str]]:
  """Reads `name:given[:space],...` into (name, given, space) triples.

  `purchase:click` makes the objective `purchase` follow `click`, learned on
  the rows where `click` is positive (space "given"); `purchase:click:entire`
  trains the same product on every row (space "entire", ESMM).

  >>> parse_funnels("purchase:click,order:cart:entire")
  [('purchase', 'click', 'given'), ('order', 'cart', 'entire')]
  """
  funnels = []
  if not text:
    return funnels
  for name, rest in objectives_lib.parse_pairs(text, "--funnels"):
    given, _, space = (rest or "").partition(":")
    if not given:
      raise ValueError(
        f"--funnels: {name!r} names no objective it follows; write "
        "name:given or name:given:entire, e.g. purchase:click."
      )
    space = space or "given"
    if space not in FUNNEL_SPACES:
      raise ValueError(
        f"--funnels: {name}:{rest} has space {space!r}; expected one of "
        f"{', '.join(FUNNEL_SPACES)}."
      )
    funnels.append((name, given, space))
  return funnels


def _at_least(config, minimum, *names):
  for name in names:
    value = getattr(config, name)
    if value is not None and value < minimum:
      raise ValueError(f"{name} must be >= {minimum}, got {value}.")


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
  """What the run learns, and how the dataset's rows become its lists.

  Attributes:
    objectives: The objectives to train; empty for the dataset's own.
    objective_weights: `name[:weight],...` selecting and weighting among the
      objectives (the dataset's, else the registry's); empty for all of them.
    losses: `name:loss(params),...` loss overrides.
    funnels: `name:given[:space],...`: each binary objective `name` follows
      the binary objective `given` and is predicted as p(given) * p(name |
      given); space "given" (the default) learns p(name | given) on the rows
      where `given` is positive, "entire" trains the product on every row
      (ESMM). See `parse_funnels`.
    max_list_size: Longest impression list kept; longer ones are truncated.
    negatives: Sampled negatives per logged row, overriding the dataset's
      default; 0 turns sampling off. None keeps the dataset's.
    negative_sampling: "uniform" or "popularity", overriding the dataset's.
    cold_start_items: Share of catalogue items held out of training entirely
      (cold start); evaluation reports retrieval on them separately.
    propensity: How to get position-bias propensities for inverse-propensity
      weighting: "none", "randomized", "em" or "file:PATH" (see
      `prepare.propensity`). Weights the positives of every binary or
      listwise objective whose label is `propensity_label`.
    propensity_label: The label (clicks) propensities are estimated from;
      "" for the label of the first binary or listwise objective.
    max_ipw_weight: Cap of an inverse-propensity weight.
    cache_dir: Where the prepared lists are cached (`prepare/cache.py`);
      "" for the run directory's `prepared/`. Runs that share one (a sweep's
      trials) read the raw log once.
    shard_mb: Size of a shard of prepared lists, in megabytes.
    memory_mb: Memory budget of preparation: a described log expected to
      take more is prepared in pieces, out of core (`prepare/stream.py`).
  """

  objectives: tuple[objectives_lib.Objective, ...] = ()
  objective_weights: str = ""
  losses: str = ""
  funnels: str = ""
  max_list_size: int | None = None
  negatives: int | None = None
  negative_sampling: str | None = None
  cold_start_items: float = 0.0
  propensity: str = "none"
  propensity_label: str = ""
  max_ipw_weight: float = 10.0
  cache_dir: str = ""
  shard_mb: float = 64.0
  memory_mb: int = 4096

  def __post_init__(self):
    object.__setattr__(self, "objectives", tuple(self.objectives))
    _at_least(self, 0, "negatives")
    _at_least(self, 1, "max_list_size", "max_ipw_weight")
    _at_least(self, 1, "memory_mb")
    if not self.shard_mb > 0:
      raise ValueError(f"shard_mb must be > 0, got {self.shard_mb}.")
    if self.negative_sampling is not None:
      dataset_lib.NegativeSampling(distribution=self.negative_sampling)
    if not 0 <= self.cold_start_items < 1:
      raise ValueError(
        f"cold_start_items must be in [0, 1), got {self.cold_start_items}."
      )
    check_propensity_method(self.propensity)
    # Fail early on a typo in a parameter; a name may be one a dataset's
    # description defines, checked once it is loaded (`prepare.resolve`).
    if self.objective_weights:
      objectives_lib.select(
        self.objective_weights,
        self.losses,
        "",
        self.objectives,
        defer_unknown=not self.objectives,
      )
    parse_funnels(self.funnels)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Sizes of the model.

  Attributes:
    embedding_dim: Width of id and text embeddings and of tower outputs.
    tower_layers: Hidden ReLU widths of each tower.
    trunk_layers: ReLU widths of the shared ranking trunk.
    head_layers: Hidden ReLU widths of each head before its output unit.
    text_max_tokens: Vocabulary size of each text feature.
    text_length: Tokens kept per text value.
    id_dropout: Share of user and item ids replaced in training by the
      unknown-id bucket, so ids never seen in training (cold start) are
      served from the other features.
    trunk: The ranking trunk, a registered name with parameters, e.g.
      "mmoe(experts=4)" (see `model.trunks`).
    history_encoder: The sequence encoder of every history feature, with
      parameters, e.g. "self_attention(blocks=2,dropout=0.2)" (see
      `model.sequence`); "" keeps each feature's own (the description's).
    history_boost: Whether the histories the description boosts get their
      bonus (`model.boost`); False trains and ranks without it (an
      ablation).
    similarity: How the towers' embeddings are compared: "cosine" (each
      embedding of unit length; the temperature sets the scale) or "dot"
      (their dot product: an item's length can carry its popularity, as
      SASRec's shared embeddings do; use a temperature of about 1).
  """

  embedding_dim: int = 32
  tower_layers: tuple[int, ...] = (64,)
  trunk_layers: tuple[int, ...] = (128, 64)
  head_layers: tuple[int, ...] = (32,)
  text_max_tokens: int = 5000
  text_length: int = 12
  id_dropout: float = 0.0
  trunk: str = "shared_bottom"
  history_encoder: str = ""
  history_boost: bool = True
  similarity: str = "cosine"

  def __post_init__(self):
    for name in ("tower_layers", "trunk_layers", "head_layers"):
      object.__setattr__(self, name, tuple(int(w) for w in getattr(self, name)))
    _at_least(self, 1, "embedding_dim", "text_max_tokens", "text_length")
    if not self.trunk_layers:
      raise ValueError("trunk_layers needs at least one layer.")
    if not 0 <= self.id_dropout < 1:
      raise ValueError(f"id_dropout must be in [0, 1), got {self.id_dropout}.")
    objectives_lib.parse_call(self.trunk, "--trunk")
    if self.history_encoder:
      objectives_lib.parse_call(self.history_encoder, "--history_encoder")
    if self.similarity not in SIMILARITIES:
      raise ValueError(
        f"similarity must be one of {', '.join(SIMILARITIES)}, got "
        f"{self.similarity!r}."
      )


@dataclasses.dataclass(frozen=True)
class RetrievalConfig:
  """The retrieval task: its candidates and temperature.

  Attributes:
    temperature: Softmax temperature on cosine similarities.
    candidates: What each positive is scored against: "batch" (the batch's
      other positives, TFRS's in-batch softmax), "catalogue" (every
      catalogue item: the full softmax) or "sampled" (`samples` items
      drawn from the catalogue each step, by `sampling`, logQ-corrected);
      "" for the dataset's choice (a description's `retrieval`), else
      "batch".
    samples: Items drawn a step for "sampled"; 0 for the dataset's, else
      1024.
    sampling: How they are drawn: "uniform" or "popularity" (in proportion
      to the items' training positives); "" for the dataset's, else
      popularity.
    hard_negatives: Each positive is also scored against the batch's
      unclicked impressions (its own request's among them).
    uniform_negatives: Catalogue items drawn uniformly per list, as extra
      negatives (0 for none).
    cross_replica_negatives: With several replicas, gather candidates across
      replicas, so negatives come from the global batch.
  """

  temperature: float = 0.05
  candidates: str = ""
  samples: int = 0
  sampling: str = ""
  hard_negatives: bool = False
  uniform_negatives: int = 0
  cross_replica_negatives: bool = True

  def __post_init__(self):
    if self.temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {self.temperature}.")
    _at_least(self, 0, "uniform_negatives", "samples")
    if self.candidates not in ("", *RETRIEVAL_CANDIDATES):
      raise ValueError(
        f"retrieval candidates must be one of "
        f"{', '.join(RETRIEVAL_CANDIDATES)}, got {self.candidates!r}."
      )
    if self.sampling not in ("", *SAMPLINGS):
      raise ValueError(
        f"retrieval sampling must be one of {', '.join(SAMPLINGS)}, got "
        f"{self.sampling!r}."
      )
    extra = self.hard_negatives or self.uniform_negatives
    if self.candidates in ("catalogue", "sampled") and extra:
      raise ValueError(
        f"hard_negatives and uniform_negatives add to the batch's candidates; "
        f"with candidates {self.candidates!r} they have none to add to."
      )

  def resolved(self, defaults: Mapping[str, Any]) -> "RetrievalConfig":
    """This config with what it leaves to the dataset (`defaults`, a
    description's `retrieval`) filled in, and what neither says set to its
    default ("batch"; for "sampled", 1024 drawn by popularity), so that the
    run's config records what trained."""
    candidates = self.candidates or defaults.get("candidates", "") or "batch"
    sampled = candidates == "sampled"
    return dataclasses.replace(
      self,
      candidates=candidates,
      samples=self.samples
      or defaults.get("samples", 0)
      or (1024 if sampled else 0),
      sampling=(
        self.sampling
        or defaults.get("sampling", "")
        or ("popularity" if sampled else "")
      ),
    )


@dataclasses.dataclass(frozen=True)
class FitConfig:
  """How the model is fitted.

  Attributes:
    epochs: Passes over the training lists.
    batch_size: Impression lists per batch (rows = lists x list size).
    learning_rate: Adam's learning rate.
    learning_rate_decay: "none" keeps it; "cosine" lowers it along half a
      cosine, to 0 at the last step of the last epoch (Loshchilov and
      Hutter's schedule, without restarts): a high rate early, and the
      plateau a constant one stalls at left behind.
    early_stopping: Stop when the monitored validation value has not
      improved for this many epochs; 0 trains every epoch.
    monitor: The validation value the best epoch is judged by: "auto" (for
      a run of retrieval objectives alone, the first one's NDCG of the
      full-ranking protocol, else its recall at its largest cutoff; for a
      run with ranking heads, the validation loss), "loss", or a metric's
      name (`evaluate.validation`).
    keep: Which epoch's weights the run keeps: "best" (the best monitored
      value) or "last". Without a validation split, the last.
    weighting: Loss-weighting strategy, with parameters if any.
    strategy: The `tf.distribute` strategy: "default" (one device),
      "mirrored" (every local GPU, or the CPU split into `cpu_devices`) or
      "multi_worker" (several machines, described by $TF_CONFIG).
    cpu_devices: Logical CPU devices to split the CPU into (> 1 lets a
      mirrored strategy run several replicas without GPUs); 1 leaves it.
    shuffle_buffer: Training lists shuffled together; a log with fewer
      lists is shuffled whole each epoch. Memory grows with it, not with
      the log.
    overwrite: Replace a run of another config in the model directory
      (its checkpoints, events and results are deleted); without it, such
      a directory is refused.
    checkpoint_every_steps: Besides each epoch's end, back the run up every
      this many training steps (an interrupted run resumes from the last
      backup, mid-epoch too); 0 backs up at each epoch's end only.
  """

  epochs: int = 3
  batch_size: int = 128
  learning_rate: float = 1e-3
  learning_rate_decay: str = "none"
  early_stopping: int = 0
  monitor: str = "auto"
  keep: str = "best"
  weighting: str = "static"
  strategy: str = "default"
  cpu_devices: int = 1
  shuffle_buffer: int = 100_000
  overwrite: bool = False
  checkpoint_every_steps: int = 0

  def __post_init__(self):
    _at_least(self, 1, "epochs", "batch_size", "cpu_devices", "shuffle_buffer")
    _at_least(self, 0, "early_stopping", "checkpoint_every_steps")
    if not self.learning_rate > 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
    if self.learning_rate_decay not in DECAYS:
      raise ValueError(
        f"learning_rate_decay must be one of {', '.join(DECAYS)}, got "
        f"{self.learning_rate_decay!r}."
      )
    if self.keep not in KEEP:
      raise ValueError(
        f"keep must be one of {', '.join(KEEP)}, got {self.keep!r}."
      )
    if not self.monitor:
      raise ValueError("monitor must be auto, loss or a metric's name.")
    if self.strategy not in STRATEGIES:
      raise ValueError(
        f"strategy must be one of {', '.join(STRATEGIES)}, got "
        f"{self.strategy!r}."
      )
    objectives_lib.check_weighting(self.weighting)


SLICES = {
  "data": DataConfig,
  "prepare": PrepareConfig,
  "model": ModelConfig,
  "retrieval": RetrievalConfig,
  "fit": FitConfig,
}
# Each field of a slice, to its slice: names are unique across slices.
_SLICE_OF = {
  f.name: name for name, cls in SLICES.items() for f in dataclasses.fields(cls)
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything one training run depends on.

  Attributes:
    model_dir: Where checkpoints, summaries and metrics go.
    data: Which dataset, from where.
    prepare: What the run learns; how rows become lists.
    model: Sizes of the model.
    retrieval: The retrieval task's candidates.
    fit: Epochs, batches, optimizer, weighting, devices.
    seed: Seeds TensorFlow, NumPy, Python, the shuffling, random splits and
      the sampled negatives (not the synthetic data, which has its own).
    evaluate_split: The split metrics.json reports on: "test", or "valid"
      for tuning (a sweep chooses on validation and never sees the test).
    baselines: The retrieval baselines evaluated beside the model: "all"
      (the most popular items, item-KNN and EASE^R tuned on validation, and
      for several behaviours these on every behaviour and the user's own
      items; minutes on a catalogue of 10,000 items, kept for later runs on
      the same prepared data) or "popularity" (the most popular items
      alone: seconds).
  """

  model_dir: str
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  prepare: PrepareConfig = PrepareConfig()
  model: ModelConfig = ModelConfig()
  retrieval: RetrievalConfig = RetrievalConfig()
  fit: FitConfig = FitConfig()
  seed: int = 0
  evaluate_split: str = "test"
  baselines: str = "all"

  def __post_init__(self):
    if not 0 <= self.seed < 2**32:
      raise ValueError(
        f"seed must be in [0, 2**32 - 1] (NumPy's range), got {self.seed}."
      )
    if self.baselines not in BASELINES:
      raise ValueError(
        f"baselines must be one of {', '.join(BASELINES)}, got "
        f"{self.baselines!r}."
      )
    if self.evaluate_split not in EVALUATE_SPLITS:
      raise ValueError(
        f"evaluate_split must be one of {', '.join(EVALUATE_SPLITS)}, got "
        f"{self.evaluate_split!r}."
      )

  def replace(self, **changes: Any) -> "TrainConfig":
    """A copy with `changes`, each a field of TrainConfig or of one slice:
    `config.replace(epochs=2, trunk="mmoe")` changes fit and model."""
    unknown = sorted(set(changes) - set(_SLICE_OF) - _TOP_FIELDS)
    if unknown:
      raise ValueError(
        f"TrainConfig has no field {unknown[0]!r}; fields: "
        f"{', '.join(sorted(_TOP_FIELDS | set(_SLICE_OF)))}."
      )
    top = {k: v for k, v in changes.items() if k in _TOP_FIELDS}
    for name in SLICES:
      own = {k: v for k, v in changes.items() if _SLICE_OF.get(k) == name}
      if own:
        base = top.get(name, getattr(self, name))
        top[name] = dataclasses.replace(base, **own)
    return dataclasses.replace(self, **top)

  @property
  def objectives(self) -> tuple[objectives_lib.Objective, ...]:
    """The objectives (resolved ones once the data is prepared)."""
    return self.prepare.objectives

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
    """The config `to_dict` wrote; also reads the flat config.json of runs
    made before the config had slices."""
    data = dict(data)
    if "fit" not in data:
      return _from_flat(data)
    prepare = dict(data["prepare"])
    prepare["objectives"] = tuple(
      objectives_lib.Objective(**o) for o in prepare["objectives"]
    )
    synthetic = synthetic_lib.SyntheticConfig(**data["data"]["synthetic"])
    return cls(
      model_dir=data["model_dir"],
      data=DataConfig(**{**data["data"], "synthetic": synthetic}),
      prepare=PrepareConfig(**prepare),
      model=ModelConfig(**data["model"]),
      retrieval=RetrievalConfig(**data["retrieval"]),
      fit=FitConfig(**data["fit"]),
      seed=data["seed"],
      evaluate_split=data.get("evaluate_split", "test"),
      baselines=data.get("baselines", "all"),
    )


_TOP_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def _from_flat(data: dict[str, Any]) -> TrainConfig:
  flat = dict(data)
  # The earlier purchase_space and purchase_given are a funnel; a resolved
  # config.json has it in its objectives already (`given`).
  space = flat.pop("purchase_space", "impression")
  given = flat.pop("purchase_given", "click")
  resolved = any(o.get("given") for o in flat["objectives"])
  if space != "impression" and not resolved:
    flat["funnels"] = f"purchase:{given}" + (":entire" * (space == "entire"))
  model = dict(flat.pop("model"))
  for name in [f.name for f in dataclasses.fields(RetrievalConfig)]:
    if name in model:
      flat[name] = model.pop(name)
  flat.update(model)
  flat["objectives"] = tuple(
    objectives_lib.Objective(**o) for o in flat["objectives"]
  )
  flat["synthetic"] = synthetic_lib.SyntheticConfig(**flat["synthetic"])
  return TrainConfig(model_dir=flat.pop("model_dir")).replace(**flat)
