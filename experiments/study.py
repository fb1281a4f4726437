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
