"""What one training run depends on: `TrainConfig`.

The experiment scripts build it from flags (`experiments/common.py`); tests
and users build it directly. Objectives may be given explicitly; by default
they are the dataset's own, selected and weighted by `objective_weights` (the
`--objectives` flag) and resolved against the dataset when it is loaded
(`preparation.resolve`). The resolved config is what `config.json` holds.
"""

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import objectives as objectives_lib
from multiobj import model as model_lib
from multiobj import propensity as propensity_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import synthetic as synthetic_lib

DATA_DIR_VARIABLE = "MULTIOBJ_DATA"
PURCHASE_SPACES = ("impression", "clicked", "entire")
STRATEGIES = ("default", "mirrored", "multi_worker")


def default_data_dir() -> str:
  """Where real datasets live: $MULTIOBJ_DATA, else ../shared/data."""
  return os.environ.get(DATA_DIR_VARIABLE, os.path.join("..", "shared", "data"))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything one training run depends on.

  Attributes:
    model_dir: Where checkpoints, summaries and metrics go.
    objectives: The objectives to train; empty for the dataset's own.
    objective_weights: `name[:weight],...` selecting and weighting among the
      objectives (the dataset's, else the registry's); empty for all of them.
    losses: `name:loss(params),...` loss overrides.
    dataset: Name of a registered dataset loader.
    data_dir: Folder holding the real datasets, one subfolder each.
    dataset_spec: Path of a JSON dataset description, for dataset "json".
    synthetic: Size and behaviour of the synthetic dataset.
    model: Sizes of the model.
    weighting: Loss-weighting strategy, with parameters if any.
    epochs: Passes over the training lists.
    batch_size: Impression lists per batch (rows = lists x list size).
    learning_rate: Adam's learning rate.
    max_list_size: Longest impression list kept; longer ones are truncated.
    negatives: Sampled negatives per logged row, overriding the dataset's
      default; 0 turns sampling off. None keeps the dataset's.
    negative_sampling: "uniform" or "popularity", overriding the dataset's.
    cold_start_items: Share of catalogue items held out of training entirely
      (cold start); evaluation reports retrieval on them separately.
    early_stopping: Stop when the validation loss has not improved for this
      many epochs and keep the weights of the best epoch; 0 trains every
      epoch and keeps the last.
    propensity: How to get position-bias propensities for inverse-propensity
      weighting: "none", "randomized", "em" or "file:PATH" (see
      `propensity.py`). Weights clicks of every binary or listwise objective
      whose label is `propensity_label`.
    propensity_label: The click column propensities are estimated from.
    max_ipw_weight: Cap of an inverse-propensity weight.
    purchase_space: How the "purchase" objective is learned:
      "impression" (a head of its own on every impression), "clicked"
      (p(purchase | click) on clicked rows, predicted as p(click) *
      p(purchase | click)) or "entire" (the same product trained on every
      impression, ESMM). Needs "purchase" and `purchase_given` objectives
      unless "impression".
    purchase_given: The binary objective a purchase follows ("click"; on
      data without clicks, e.g. "cart").
    strategy: The `tf.distribute` strategy: "default" (one device),
      "mirrored" (every local GPU, or the CPU split into `cpu_devices`) or
      "multi_worker" (several machines, described by $TF_CONFIG).
    cpu_devices: Logical CPU devices to split the CPU into (> 1 lets a
      mirrored strategy run several replicas without GPUs); 1 leaves it.
    seed: Seeds TensorFlow, NumPy, Python, the shuffling and the sampled
      negatives (not the synthetic data, which has its own seed).
  """

  model_dir: str
  objectives: tuple[objectives_lib.Objective, ...] = ()
  objective_weights: str = ""
  losses: str = ""
  dataset: str = "synthetic"
  data_dir: str = dataclasses.field(default_factory=default_data_dir)
  dataset_spec: str = ""
  synthetic: synthetic_lib.SyntheticConfig = synthetic_lib.SyntheticConfig()
  model: model_lib.ModelConfig = model_lib.ModelConfig()
  weighting: str = "static"
  epochs: int = 3
  batch_size: int = 128
  learning_rate: float = 1e-3
  max_list_size: int | None = None
  early_stopping: int = 0
  negatives: int | None = None
  negative_sampling: str | None = None
  cold_start_items: float = 0.0
  propensity: str = "none"
  propensity_label: str = "click"
  max_ipw_weight: float = 10.0
  purchase_space: str = "impression"
  purchase_given: str = "click"
  strategy: str = "default"
  cpu_devices: int = 1
  seed: int = 0

  def __post_init__(self):
    object.__setattr__(self, "objectives", tuple(self.objectives))
    if self.epochs < 1:
      raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
    if self.batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
    if not self.learning_rate > 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
    if self.early_stopping < 0:
      raise ValueError(
        f"early_stopping must be >= 0, got {self.early_stopping}."
      )
    if self.negatives is not None and self.negatives < 0:
      raise ValueError(f"negatives must be >= 0, got {self.negatives}.")
    if self.negative_sampling is not None:
      dataset_lib.NegativeSampling(distribution=self.negative_sampling)
    if not 0 <= self.cold_start_items < 1:
      raise ValueError(
        f"cold_start_items must be in [0, 1), got {self.cold_start_items}."
      )
    if self.max_ipw_weight < 1:
      raise ValueError(
        f"max_ipw_weight must be >= 1, got {self.max_ipw_weight}."
      )
    for name, choices in (
      ("purchase_space", PURCHASE_SPACES),
      ("strategy", STRATEGIES),
    ):
      if getattr(self, name) not in choices:
        raise ValueError(
          f"{name} must be one of {', '.join(choices)}, got "
          f"{getattr(self, name)!r}."
        )
    if self.cpu_devices < 1:
      raise ValueError(f"cpu_devices must be >= 1, got {self.cpu_devices}.")
    # Fail early on a typo in a name or a parameter.
    objectives_lib.get_weighting(self.weighting, {"task": 1.0})
    propensity_lib.check_method(self.propensity)
    if self.objective_weights:
      objectives_lib.select(
        self.objective_weights, self.losses, "", self.objectives
      )

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
    data = dict(data)
    data["objectives"] = tuple(
      objectives_lib.Objective(**o) for o in data["objectives"]
    )
    data["synthetic"] = synthetic_lib.SyntheticConfig(**data["synthetic"])
    data["model"] = model_lib.ModelConfig(**data["model"])
    return cls(**data)
