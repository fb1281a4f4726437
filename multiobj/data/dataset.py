"""A dataset in memory: a spec, split tables of rows, and the item catalogue.

A table is a dict of equally long NumPy columns, one row per impression. The
catalogue holds one row per item (its id and candidate features): retrieval
ranks the whole catalogue, not only the items that happen to be in a split.
A dataset also names the objectives its labels feed, and, when its rows are
positives only, how to sample negatives for them.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import objectives as objectives_lib
from multiobj.data import spec as spec_lib

NEGATIVE_DISTRIBUTIONS = ("uniform", "popularity")
# What a retrieval positive is scored against (`config.RetrievalConfig`),
# and how sampled candidates are drawn.
RETRIEVAL_CANDIDATES = ("batch", "catalogue", "sampled")
SAMPLINGS = ("uniform", "popularity")


@dataclasses.dataclass(frozen=True)
class NegativeSampling:
  """Negatives for logs of positives only (no impressions).

  Each logged row gets `per_positive` items the user never interacted with
  in training, drawn uniformly or in proportion to popularity^alpha (item
  counts in training), drawn anew each epoch; their labels are all 0.

  Attributes:
    per_positive: Negatives per logged row.
    distribution: "uniform" or "popularity".
    alpha: Exponent of popularity (0.75 as in word2vec; 0 is uniform).
  """

  per_positive: int = 4
  distribution: str = "popularity"
  alpha: float = 0.75

  def __post_init__(self):
    if self.per_positive < 1:
      raise ValueError(
        f"negatives per positive must be >= 1, got {self.per_positive}."
      )
    if self.distribution not in NEGATIVE_DISTRIBUTIONS:
      raise ValueError(
        f"Unknown negative sampling {self.distribution!r}; expected one of "
        f"{', '.join(NEGATIVE_DISTRIBUTIONS)}."
      )
    if self.alpha < 0:
      raise ValueError(
        f"negative sampling alpha must be >= 0, got {self.alpha}."
      )


Table = dict[str, np.ndarray]

SCORERS = ("all", "retrieval")


@dataclasses.dataclass(frozen=True)
class FullRanking:
  """The full-ranking protocol: every test user ranks the whole catalogue,
  the items of their rows in `mask` hidden; Recall, NDCG, Precision and
  Hit rate at each of `ks`, beside the sampled evaluation.

  Attributes:
    ks: The cutoffs.
    mask: Splits whose (user, item) pairs are hidden from each user's
      ranking (the items they already interacted with).
    mask_label: Hide only the rows of `mask` with this label positive
      (training purchases, not carts); None: every row.
    scorer: "retrieval" ranks with the towers only; "all" also with each
      binary head learning from the truth label.
    candidates: "catalogue" ranks every item; "given" only each test
      user's rows of the test split (its positives and the negatives the
      file gives with them: NCF's 1 + 99 candidates, say).
  """

  ks: tuple[int, ...] = (10, 20)
  mask: tuple[str, ...] = ("train",)
  mask_label: str | None = None
  scorer: str = "all"
  candidates: str = "catalogue"

  def __post_init__(self):
    object.__setattr__(self, "ks", tuple(int(k) for k in self.ks))
    object.__setattr__(self, "mask", tuple(self.mask))
    if not self.ks or min(self.ks) < 1:
      raise ValueError(f"ks must be cutoffs >= 1, got {list(self.ks)}.")
    if self.candidates not in ("catalogue", "given"):
      raise ValueError(
        f"unknown candidates {self.candidates!r}; expected catalogue or given."
      )
    if self.scorer not in SCORERS:
      raise ValueError(
        f"unknown scorer {self.scorer!r}; expected one of {', '.join(SCORERS)}."
      )
    unknown = sorted(set(self.mask) - {"train", "valid", "test"})
    if unknown:
      raise ValueError(
        f"mask names {', '.join(unknown)}; expected splits among train, "
        "valid, test."
      )


@dataclasses.dataclass
class Dataset:
  """Attributes:
  spec: Which column is what.
  splits: "train", "valid" (optional) and "test" tables of rows.
  catalogue: One row per item: its id and candidate features.
  objectives: The objectives the labels feed by default, with their
    columns; `--objectives` selects and weighs among them.
  negatives: How to sample negatives, for logs of positives only.
  info: Free-form facts about the data (source, protocol), for reports.
  full_ranking: The full-ranking protocol of its papers, if it has one
    (evaluated beside the sampled metrics).
  absent: {split: labels} a split does not have (a test file holding only
    purchases has no carts): their rows hold 0 there, which no loss, metric
    or early stopping reads.
  retrieval: The retrieval candidates the data suits, {"candidates",
    "samples", "sampling"} as far as it says (a description's
    `retrieval`); a run's flags override them.
  """

  spec: spec_lib.DatasetSpec
  splits: dict[str, Table]
  catalogue: Table
  objectives: tuple[objectives_lib.Objective, ...] = ()
  negatives: NegativeSampling | None = None
  info: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  full_ranking: FullRanking | None = None
  absent: Mapping[str, tuple[str, ...]] = dataclasses.field(
    default_factory=dict
  )
  retrieval: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def scored(
    self, objectives: Sequence[objectives_lib.Objective], split: str
  ) -> list[objectives_lib.Objective]:
    """The `objectives` a split can score: their label (and mask) present."""
    missing = set(self.absent.get(split, ()))
    return [
      o for o in objectives if o.label not in missing and o.mask not in missing
    ]

  def split(self, name: str) -> Table:
    if name not in self.splits:
      raise ValueError(
        f"Dataset {self.spec.name!r} has no split {name!r}; splits: "
        f"{', '.join(self.splits)}."
      )
    return self.splits[name]

  def summary(self) -> dict[str, dict[str, float]]:
    """Rows, lists and the mean of each label, per split (not of a label
    the split lacks: `absent`)."""
    out = {}
    for name, table in self.splits.items():
      info = {"rows": num_rows(table)}
      if self.spec.list_id:
        info["lists"] = len(np.unique(table[self.spec.list_id]))
      for label in self.spec.labels:
        if label not in self.absent.get(name, ()):
          info[f"mean_{label}"] = float(np.mean(table[label]))
      out[name] = info
    out["catalogue"] = {"items": num_rows(self.catalogue)}
    return out


def num_rows(table: Table) -> int:
  return len(next(iter(table.values()))) if table else 0


def take(table: Table, index: np.ndarray) -> Table:
  return {name: column[index] for name, column in table.items()}


def catalogue_from_rows(
  spec: spec_lib.DatasetSpec,
  tables: list[Table],
  where: str,
  conflicts: str = "error",
) -> Table:
  """One row per item id of `tables`: the id and candidate features.

  Args:
    spec: Names the item id and candidate features.
    tables: Rows holding them.
    where: Names the rows in error messages.
    conflicts: When a candidate feature varies for one item: "error", or
      "first" to keep the item's first row (in the order of `tables`).
  """
  names = [f.name for f in spec.features_of("candidate")]
  rows = {n: np.concatenate([t[n] for t in tables]) for n in names}
  ids = rows[spec.item_id]
  _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
  if conflicts == "error":
    for name in names:
      value, once = rows[name], rows[name][first][inverse]
      if (value != once).any():
        r = int(np.argmax(value != once))
        raise ValueError(
          f"{where}: candidate feature {name!r} varies for item {ids[r]!r} "
          f"({once[r]!r}, {value[r]!r}); give a catalogue of items or make it "
          "a context feature."
        )
  return take(rows, first)
