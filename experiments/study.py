"""A study `experiments/reproduce.py` runs: a dataset, its variants
(TrainConfig changes), the metrics of its table, and its epochs."""

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Study:
  dataset: str
  # Variant name: TrainConfig changes (`TrainConfig.replace`).
  variants: dict[str, dict[str, Any]]
  metrics: tuple[str, ...]
  epochs: int
  batch_size: int = 128
  changes: dict[str, Any] = dataclasses.field(default_factory=dict)
  # Called with the data folder before the runs: writes what they read
  # beside the data (an encoder's vectors).
  setup: Callable[[str], None] | None = None
  # The split does not depend on the seed (files, leave-one-out), so
  # neither do item-KNN and EASE^R: the first seed's run fits them and the
  # other seeds' runs only the most popular items (minutes saved per seed
  # on 12,000 items); the table shows the first seed's.
  baselines_once: bool = False
