"""Describing a dataset: which column is what.

A `DatasetSpec` says, for each feature column, whose it is (the query, the
candidate, or the context of one impression) and what kind of value it holds;
which columns are labels, which one identifies items, users and impression
lists, and, on synthetic data, which column holds the ground-truth relevance.
Every dataset, built in or described by a user, goes through this one
description, so the model never needs code per dataset.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

ROLES = ("query", "candidate", "context")
FEATURE_KINDS = (
  "id",
  "category",
  "multi_category",
  "numeric",
  "text",
  "history",
  "embedding",
)
# The item key a dataset without item ids gets (`ITEM_KEY`, made from the
# candidate's features): it tells items apart (catalogue, per-item
# baselines) and is never a model input.
KEY = "key"
ITEM_KEY = "__item"
NUMERIC_TRANSFORMS = ("zscore", "log1p", "none")
# The kinds with a vocabulary of values, and so a vocabulary policy.
VOCABULARY_KINDS = ("id", "category", "multi_category")

# Later stages add columns of their own (the list mask, sampled-negative and
# retrieval bookkeeping), each named where it is made; their names start
# with this prefix, which datasets may not use.
RESERVED_PREFIX = "__"


@dataclasses.dataclass(frozen=True)
class Feature:
  """One input column.

  Attributes:
    name: Column name.
    role: "query" (the user and request: one value per impression list),
      "candidate" (the shown item) or "context" (this impression, e.g. its
      position).
    kind: "id" (high-cardinality identifier, embedded with `embedding_dim`),
      "category" (small vocabulary, smaller embedding), "multi_category"
      (several categories in one string, split on `separator`, embedded and
      averaged), "numeric" (a float), "text" (a short string, tokenised
      and pooled) or "history" (query side: the user's recent items, ids of
      the item_id column joined by `separator`, oldest first, embedded with
      the candidate tower's item embedding; `history.py`) or "embedding"
      (a precomputed vector from the file `vectors`, looked up by the value
      of the feature `vectors_key`; `vectors.py`).
    transform: For numerics: "zscore" (standardised with the training mean
      and variance), "log1p" (log1p, then standardised) or "none" (as is).
    separator: For multi_category and history features, what separates
      the values.
    max_length: For history features: the most recent items kept.
    built_from: For history features the framework builds from the log
      (`history.py`): the labels whose positive rows are the events (one,
      or several: the events then carry their behaviour, `item:label`);
      () for a history given as a column.
    ordered: For built histories: whether the events are in time order
      (the log has a timestamp or an order, and is split by the
      framework), else the user's training events as a set.
    encoder: For history features: how the query tower reads the items, a
      registered sequence encoder with parameters ("mean", "gru",
      "self_attention(blocks=2)"; `model/sequence.py`).
    every_position: For history features built in time order: training
      lists are windows of each user's events, and every event is
      predicted from the ones before it in one pass (`prepare/windows.py`).
    boost: For history features: the history's items get a learned bonus
      in the user's retrieval scores, so the items a user already
      interacted with stay reachable.
    vectors: For embedding features: the file of vectors (Parquet, or
      NumPy .npz), one per id...
    vectors_key: ...of this feature (an id or category of the same role,
      e.g. the item_id), whose value looks up the vector.
    normalize: For embedding features: L2-normalise the vectors.
    min_count: The vocabulary policy of id, category and multi_category
      features: values seen fewer times in training share the
      out-of-vocabulary bucket...
    max_size: ...and at most this many of the most frequent values are
      kept (0: all)...
    hash_buckets: ...or, when not 0, no vocabulary at all: values are
      hashed into this many buckets (collisions share an embedding; the
      run's data summary reports their rate).
    serving_value: For context features, the value used when the model ranks
      for serving, where the context of the logged impression does not exist
      (position 1 for the position feature). Evaluation of rankings uses it
      too, so the logged slot cannot leak the production ranker's order.
  """

  name: str
  role: str
  kind: str
  transform: str = "zscore"
  serving_value: Any = None
  separator: str = "|"
  min_count: int = 1
  max_size: int = 0
  hash_buckets: int = 0
  max_length: int = 50
  built_from: tuple[str, ...] = ()
  ordered: bool = True
  encoder: str = "mean"
  every_position: bool = False
  boost: bool = False
  vectors: str = ""
  vectors_key: str = ""
  normalize: bool = False

  def __post_init__(self):
    if isinstance(self.built_from, str):  # One label, or none ("").
      built = (self.built_from,) if self.built_from else ()
      object.__setattr__(self, "built_from", built)
    object.__setattr__(self, "built_from", tuple(self.built_from))
    if self.name.startswith(RESERVED_PREFIX) and self.kind != KEY:
      raise ValueError(
        f"Feature {self.name!r}: names starting with '__' are reserved."
      )
    if self.role not in ROLES:
      raise ValueError(
        f"Feature {self.name!r}: unknown role {self.role!r}; expected one of "
        f"{', '.join(ROLES)}."
      )
    if self.kind not in (*FEATURE_KINDS, KEY):
      raise ValueError(
        f"Feature {self.name!r}: unknown kind {self.kind!r}; expected one of "
        f"{', '.join(FEATURE_KINDS)}."
      )
    if self.transform not in NUMERIC_TRANSFORMS:
      raise ValueError(
        f"Feature {self.name!r}: unknown transform {self.transform!r}; "
        f"expected one of {', '.join(NUMERIC_TRANSFORMS)}."
      )
    if self.transform != "zscore" and self.kind != "numeric":
      raise ValueError(
        f"Feature {self.name!r}: transform {self.transform!r} applies to "
        "numeric features only."
      )
    self._check_vocabulary_policy()
    self._check_history()
    self._check_embedding()
    if self.role == "context" and self.serving_value is None:
      raise ValueError(
        f"Context feature {self.name!r} needs a serving_value: the value it "
        "takes when the model ranks outside the logged impression."
      )

  def _check_embedding(self):
    given = [
      k for k in ("vectors", "vectors_key", "normalize") if getattr(self, k)
    ]
    if self.kind != "embedding":
      if given:
        raise ValueError(
          f"Feature {self.name!r}: {given[0]} applies to embedding features "
          "only."
        )
      return
    if not (self.vectors and self.vectors_key):
      raise ValueError(
        f"Embedding feature {self.name!r} needs a file of vectors (vectors) "
        "and the feature whose value looks them up (vectors_key)."
      )

  def _check_history(self):
    if self.kind != "history":
      changed = [
        key
        for key, default in _HISTORY_DEFAULTS.items()
        if getattr(self, key) != default
      ]
      if changed:
        raise ValueError(
          f"Feature {self.name!r}: {changed[0]} applies to history features "
          "only."
        )
      return
    if self.every_position and not (self.built_from and self.ordered):
      raise ValueError(
        f"History feature {self.name!r}: every_position needs a history "
        "built from the log in time order (built_from, a timestamp or order "
        "column, a split the framework makes)."
      )
    if self.role != "query":
      raise ValueError(
        f"History feature {self.name!r}: a history is the user's, so its "
        f"role is 'query', not {self.role!r}."
      )
    if (
      isinstance(self.max_length, bool)
      or not isinstance(self.max_length, int)
      or self.max_length < 1
    ):
      raise ValueError(
        f"History feature {self.name!r}: max_length must be a positive "
        f"integer, got {self.max_length!r}."
      )

  def _check_vocabulary_policy(self):
    policy = {
      "min_count": (self.min_count, 1),
      "max_size": (self.max_size, 0),
      "hash_buckets": (self.hash_buckets, 0),
    }
    for key, (value, least) in policy.items():
      if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(
          f"Feature {self.name!r}: {key} must be an integer of at least "
          f"{least}, got {value!r}."
        )
    changed = [k for k, (value, default) in policy.items() if value != default]
    if changed and self.kind not in VOCABULARY_KINDS:
      raise ValueError(
        f"Feature {self.name!r}: {changed[0]} applies to "
        f"{', '.join(VOCABULARY_KINDS)} features only, not {self.kind}."
      )
    if self.hash_buckets and len(changed) > 1:
      raise ValueError(
        f"Feature {self.name!r}: hash_buckets keeps no vocabulary, so "
        f"{next(k for k in changed if k != 'hash_buckets')} has nothing to "
        "cut; give one or the other."
      )


# A history option's value on any other feature.
_HISTORY_DEFAULTS = {
  "max_length": 50,
  "built_from": (),
  "ordered": True,
  "encoder": "mean",
  "every_position": False,
  "boost": False,
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """Which column is what, for one dataset.

  Attributes:
    name: Dataset name, for reports.
    features: The input columns.
    labels: Label columns; objectives name the one they learn from.
    item_id: Column identifying the candidate; retrieval returns these ids.
      It must also be a candidate feature: an id or category, or, for a
      ranking-only log without item ids, the `KEY` feature `ITEM_KEY` the
      description loader derives from the candidate's features.
    user_id: Column identifying the user, or None.
    list_id: Column grouping rows into impression lists (one request showing
      several items), or None when every row is a list of its own.
    timestamp: Column ordering rows in time, or None.
    order_only: The timestamp column orders each user's events only (a
      position within the user), not events of different users: a split
      by time is refused.
    position: Column of the slot (1 = top) an item was shown at, or None;
      position-bias propensities are estimated over it.
    randomized: Column marking lists shown in random order (a randomisation
      bucket), or None.
    truth: Column of ground-truth relevance, on synthetic data only, or None.
  """

  name: str
  features: tuple[Feature, ...]
  labels: tuple[str, ...]
  item_id: str
  user_id: str | None = None
  list_id: str | None = None
  timestamp: str | None = None
  order_only: bool = False
  position: str | None = None
  randomized: str | None = None
  truth: str | None = None

  def __post_init__(self):
    object.__setattr__(self, "features", tuple(self.features))
    object.__setattr__(self, "labels", tuple(self.labels))
    names = [f.name for f in self.features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
      raise ValueError(
        f"Dataset {self.name!r}: features listed twice: {', '.join(duplicated)}."
      )
    overlap = sorted(set(names) & set(self.labels))
    if overlap:
      raise ValueError(
        f"Dataset {self.name!r}: columns both feature and label: "
        f"{', '.join(overlap)}."
      )
    item = self.feature(self.item_id) if self.item_id in names else None
    if item is None or item.role != "candidate":
      raise ValueError(
        f"Dataset {self.name!r}: item_id {self.item_id!r} must be one of the "
        "candidate features."
      )
    if not self.features_of("query"):
      raise ValueError(f"Dataset {self.name!r} has no query feature.")
    self._check_histories()
    self._check_embeddings()

  def _check_embeddings(self):
    for f in self.features:
      if f.kind != "embedding":
        continue
      key = next((g for g in self.features if g.name == f.vectors_key), None)
      if (
        key is None or key.role != f.role or key.kind not in ("id", "category")
      ):
        raise ValueError(
          f"Embedding feature {f.name!r}: vectors_key {f.vectors_key!r} must "
          f"be an id or category feature of the same role ({f.role})."
        )

  @property
  def looked_up(self) -> tuple[Feature, ...]:
    """The embedding features: in no file, their column a copy of their
    key's (`vectors.add_columns`), their vectors looked up in the model."""
    return tuple(f for f in self.features if f.kind == "embedding")

  def _check_histories(self):
    for f in self.features:
      if f.kind != "history":
        continue
      if not self.has_item_ids:
        raise ValueError(
          f"History feature {f.name!r}: a history holds item ids, and "
          f"dataset {self.name!r} has no item_id column."
        )
      for label in f.built_from:
        if label not in self.labels:
          raise ValueError(
            f"History feature {f.name!r}: built_from {label!r} is not a "
            f"label; labels: {', '.join(self.labels) or '(none)'}."
          )
      if f.built_from and not self.user_id:
        raise ValueError(
          f"History feature {f.name!r}: building a history from the log "
          "needs a user_id column (each user's events)."
        )
      if f.built_from and f.ordered and not self.timestamp:
        raise ValueError(
          f"History feature {f.name!r}: building a history in time order "
          "needs a timestamp or order column (without one, the history is "
          "the user's training events as a set: ordered false)."
        )
    lengths = {f.max_length for f in self.sequences}
    if len(lengths) > 1:
      raise ValueError(
        f"Dataset {self.name!r}: the histories trained at every position "
        f"({', '.join(f.name for f in self.sequences)}) read windows of one "
        f"user's events, so they need one max_length; got {sorted(lengths)}."
      )

  @property
  def sequences(self) -> tuple[Feature, ...]:
    """The history features trained at every position: training lists are
    windows of each user's events (`prepare/windows.py`)."""
    return tuple(f for f in self.features if f.every_position)

  @property
  def built(self) -> tuple[Feature, ...]:
    """The history features the framework builds from the log: in no
    file, added before the split (`history.add_built`)."""
    return tuple(f for f in self.features if f.built_from)

  def feature(self, name: str) -> Feature:
    for feature in self.features:
      if feature.name == name:
        return feature
    raise ValueError(
      f"Dataset {self.name!r} has no feature {name!r}; features: "
      f"{', '.join(f.name for f in self.features)}."
    )

  def features_of(self, role: str) -> tuple[Feature, ...]:
    return tuple(f for f in self.features if f.role == role)

  @property
  def has_item_ids(self) -> bool:
    """Whether items have ids of their own (not a key made of features)."""
    return self.feature(self.item_id).kind != KEY

  def columns(self) -> list[str]:
    """Every column the spec names, features first."""
    extra = [
      self.list_id,
      self.user_id,
      self.timestamp,
      self.position,
      self.randomized,
      self.truth,
    ]
    columns = [f.name for f in self.features] + list(self.labels)
    return columns + [c for c in extra if c and c not in columns]

  def replace(self, **changes: Any) -> "DatasetSpec":
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> "DatasetSpec":
    data = dict(data)
    data["features"] = tuple(Feature(**f) for f in data["features"])
    return cls(**data)


def check_columns(
  table: dict[str, Any], required: Sequence[str], where: str
) -> None:
  """Raises ValueError naming the first column of `required` not in `table`."""
  missing = [c for c in required if c not in table]
  if missing:
    raise ValueError(
      f"{where}: missing column {missing[0]!r}"
      + (f" (and {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
      + f"; columns present: {', '.join(sorted(table))}."
    )
