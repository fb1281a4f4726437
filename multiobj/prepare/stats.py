"""Feature statistics from the training split: what preprocessing learns.

`compute_stats` reads the training rows once: the vocabulary of every id,
category and text feature and the mean and variance of every numeric one.
Preparation computes them (they are part of the prepared data, so a cached
log is never read again for them); the model's `FeatureEncoder`
(`model/features.py`) builds its layers from them. `FeatureStats.save`
writes them to the cache and beside the checkpoint (`feature_stats.json`,
and each vocabulary as a file, `vocabularies.py`), so a model is rebuilt
exactly from its directory.
"""

import dataclasses
import json
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from multiobj.data import dataset as dataset_lib
from multiobj.data import history
from multiobj.data import spec as spec_lib
from multiobj.data import vectors as vectors_lib
from multiobj.prepare import vocabularies as vocabularies_lib
from multiobj.prepare.vocabularies import VocabularyFile

FILE = "feature_stats.json"


@dataclasses.dataclass
class FeatureStats:
  """Vocabularies and moments of the features, from the training split.

  `policies` reports, for each feature with a vocabulary policy
  (`Feature.min_count`, `max_size`, `hash_buckets`), what it did to the
  training values (`vocabulary_report`); for each history feature its
  rows, the truncated and empty ones and the share of its items out of the
  item vocabulary; for each embedding feature its file's vectors, width and
  coverage of training. The run's data summary shows them (`reports`).

  A vocabulary is its values (lookup order: most frequent first) as
  computed, or, once saved, a `VocabularyFile` under `directory`.
  """

  vocabularies: dict[str, list[Any] | VocabularyFile]
  moments: dict[str, tuple[float, float]]
  policies: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
  # Each embedding feature's (sorted ids, vectors) (`vectors.read`). Not in
  # feature_stats.json: the model keeps them as variables, so a model
  # rebuilt from its directory gets them from its checkpoint.
  vectors: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(
    default_factory=dict
  )
  # Where the vocabulary files are ("" while none is on file).
  directory: str = ""

  def vocabulary(self, name: str) -> tuple[Any, int, bool]:
    """Feature `name`'s vocabulary as a Keras lookup takes it (its file's
    path, or the values with the empty one as `vocabularies.EMPTY`), its
    size, and whether it holds integers."""
    found = self.vocabularies[name]
    if isinstance(found, VocabularyFile):
      path = os.path.join(self.directory, found.file)
      return path, found.size, found.integers
    values, integers = vocabularies_lib.in_lookup_form(found)
    return values, len(values), integers

  def values(self, name: str) -> list[Any]:
    """Feature `name`'s vocabulary, in lookup order, read from its file if
    it is on one. For tools and tests: a model's lookup reads the file."""
    found = self.vocabularies[name]
    if not isinstance(found, VocabularyFile):
      return list(found)
    return vocabularies_lib.read(self.directory, found)

  def save(self, directory: str) -> "FeatureStats":
    """Writes feature_stats.json and every vocabulary's file to
    `directory`; returns these statistics reading their vocabularies from
    there. ValueError for a value a vocabulary file cannot hold."""
    files = {}
    for name, found in self.vocabularies.items():
      if isinstance(found, VocabularyFile):
        vocabularies_lib.copy(self.directory, found, directory)
        files[name] = found
      else:
        files[name] = vocabularies_lib.write(directory, name, found)
    saved = dataclasses.replace(self, vocabularies=files, directory=directory)
    described = {
      "vocabularies": {k: v.to_dict() for k, v in files.items()},
      "moments": self.moments,
      "policies": self.policies,
    }
    with open(os.path.join(directory, FILE), "w") as f:
      json.dump(described, f, indent=1, default=_json_default)
    return saved

  @classmethod
  def load(cls, directory: str) -> "FeatureStats":
    """What `save` wrote to `directory` (without the vectors). Runs of
    versions before vocabulary files kept each vocabulary as a list."""
    with open(os.path.join(directory, FILE)) as f:
      data = json.load(f)
    return cls(
      vocabularies={
        k: VocabularyFile(**v) if isinstance(v, dict) else v
        for k, v in data["vocabularies"].items()
      },
      moments={k: tuple(v) for k, v in data["moments"].items()},
      policies=data.get("policies", {}),
      directory=directory,
    )

  def reports(self) -> dict[str, dict[str, Any]]:
    """`policies` for metrics.json: {"vocabularies": what each policy
    did, "histories": each history's counts, "embeddings": each vector
    file's coverage}, told apart by their keys."""
    out = {"vocabularies": {}, "histories": {}, "embeddings": {}}
    for name, report in self.policies.items():
      if "truncated" in report:
        out["histories"][name] = report
      elif "width" in report:
        out["embeddings"][name] = report
      else:
        out["vocabularies"][name] = report
    return out


def _json_default(value):
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f"Not JSON serialisable: {value!r}")


def compute_stats(
  spec: spec_lib.DatasetSpec, rows: dataset_lib.Table, text_max_tokens: int
) -> FeatureStats:
  """Reads vocabularies and moments of every feature from `rows`.

  Id and category vocabularies are ordered by frequency, then value. Text
  vocabularies keep the `text_max_tokens` most frequent tokens of the
  distinct texts (each title counted once, however often it was shown).
  """
  counter = Counter(spec, text_max_tokens)
  counter.add(rows)
  return counter.result()


class Counter:
  """`compute_stats` over rows that come in pieces (a log read out of
  core): counts of every value, and (count, mean, squared deviations) of
  every numeric feature merged piece by piece (Chan et al.'s update), so memory grows
  with the vocabularies, not the rows. One piece gives exactly
  `compute_stats`' figures."""

  def __init__(self, spec: spec_lib.DatasetSpec, text_max_tokens: int):
    self.spec, self.text_max_tokens = spec, text_max_tokens
    self._counts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    self._moments: dict[str, tuple[int, float, float]] = {}
    self._texts: dict[str, np.ndarray] = {}
    self._histories: dict[str, dict[str, int]] = {}

  def add(self, rows: dataset_lib.Table) -> None:
    """Counts the features of `rows`."""
    for feature in self.spec.features:
      column, name = rows[feature.name], feature.name
      if feature.kind == spec_lib.KEY:
        continue  # Never an input: no vocabulary.
      if feature.kind in ("id", "category", "multi_category"):
        if feature.kind == "multi_category":
          column = _split_values(column, feature.separator)
          if not len(column):
            continue  # No value in this piece.
        values, counts = _value_counts(column)
        if name in self._counts:
          values, counts = _merge(self._counts[name], (values, counts))
        self._counts[name] = (values, counts)
      elif feature.kind == "history":
        self._add_history(feature, column)
      elif feature.kind == "embedding":
        continue  # Its key's values, counted there.
      elif feature.kind == "numeric":
        x = transform(feature, column.astype(np.float64))
        piece = (len(x), float(x.mean()), float(x.var()))
        if name in self._moments:
          piece = _combine(self._moments[name], piece)
        self._moments[name] = piece
      elif feature.kind == "text":
        texts = np.unique(column.astype(str))
        if name in self._texts:
          texts = np.union1d(self._texts[name], texts)
        self._texts[name] = texts

  def _add_history(self, feature, column):
    """Rows, truncated and empty histories, and the items kept, counted."""
    lengths, values = history.parse(
      column, feature.separator, feature.max_length
    )
    if len(feature.built_from) > 1:  # `item:label`: the items alone.
      values = history.items_of(values)
    counts = self._histories.setdefault(
      feature.name, {"rows": 0, "truncated": 0, "empty": 0, "items": 0}
    )
    counts["rows"] += len(lengths)
    counts["truncated"] += int((lengths > feature.max_length).sum())
    counts["empty"] += int((lengths == 0).sum())
    counts["items"] += len(values)
    if len(values):
      found = _value_counts(values)
      if feature.name in self._counts:
        found = _merge(self._counts[feature.name], found)
      self._counts[feature.name] = found

  def _history_report(self, feature, vocabularies) -> dict[str, Any]:
    """`_add_history`'s counts, and the share of the kept items out of
    the item vocabulary (under hashing, none is: every id has a row)."""
    empty = {"rows": 0, "truncated": 0, "empty": 0, "items": 0}
    report = dict(self._histories.get(feature.name, empty))
    item = self.spec.feature(self.spec.item_id)
    if feature.name in self._counts and not item.hash_buckets:
      values, counts = self._counts[feature.name]
      known = np.isin(
        values.astype(str), np.asarray(vocabularies[item.name]).astype(str)
      )
      report["items_out_of_vocabulary"] = float(
        counts[~known].sum() / max(counts.sum(), 1)
      )
    return report

  def result(self) -> FeatureStats:
    vocabularies, moments, policies = {}, {}, {}
    for feature in self.spec.features:
      name = feature.name
      if feature.kind == "history":
        continue  # The items' vocabulary; reported below.
      if feature.kind == "multi_category" and name not in self._counts:
        vocabularies[name] = [""]  # No value at all, as `compute_stats`.
      elif name in self._counts:
        values, counts = self._counts[name]
        order = np.argsort(-counts, kind="stable")
        values, counts = values[order], counts[order]
        if _has_policy(feature):
          policies[name] = vocabulary_report(feature, values, counts)
          values = values[: policies[name].get("kept", 0)]
        vocabularies[name] = [_plain(v) for v in values]
      elif name in self._moments:
        _, mean, var = self._moments[name]
        moments[name] = (mean, var)
      elif name in self._texts:
        vocabularies[name] = _text_vocabulary(
          self._texts[name], self.text_max_tokens
        )
    found = {}
    for feature in self.spec.features:
      if feature.kind == "history":
        policies[feature.name] = self._history_report(feature, vocabularies)
      elif feature.kind == "embedding":
        found[feature.name], policies[feature.name] = self._vectors(feature)
    return FeatureStats(vocabularies, moments, policies, found)

  def _vectors(self, feature):
    """An embedding feature's file read, and what it covers of training."""
    values, counts = self._counts.get(
      feature.vectors_key, (np.zeros(0, np.int64), np.zeros(0, np.int64))
    )
    integers = values.dtype.kind in "iu"
    ids, vectors = vectors_lib.read(feature, integers)
    typed = values if integers else values.astype(str).astype(object)
    covered = np.isin(typed, ids)
    return (ids, vectors), {
      "vectors": int(len(ids)),
      "width": int(vectors.shape[1]),
      "integers": bool(integers),
      "occurrences_without_vector": float(
        counts[~covered].sum() / max(int(counts.sum()), 1)
      ),
    }


def _has_policy(feature):
  return feature.min_count != 1 or feature.max_size or feature.hash_buckets


def vocabulary_report(
  feature: spec_lib.Feature, values: np.ndarray, counts: np.ndarray
) -> dict[str, Any]:
  """What `feature`'s vocabulary policy does to the training values
  `values` (distinct, most frequent first) seen `counts` times each.

  With `min_count` and `max_size`: the distinct values, how many are kept
  (the first `kept` of `values`) and the share of training occurrences that
  fall in the out-of-vocabulary bucket. With `hash_buckets`: the share of
  distinct values whose bucket another value shares (`collision_rate`), and
  the share of training occurrences of those values.
  """
  total = max(int(counts.sum()), 1)
  report = {"distinct": int(len(values))}
  if feature.hash_buckets:
    buckets = hash_bucket(values, feature.hash_buckets)
    _, inverse, sizes = np.unique(
      buckets, return_inverse=True, return_counts=True
    )
    shared = sizes[inverse] > 1
    return {
      **report,
      "hash_buckets": feature.hash_buckets,
      # What the encoder takes (no vocabulary says it): integers or text.
      "integers": bool(values.dtype.kind in "iu"),
      "collision_rate": float(shared.mean()) if len(values) else 0.0,
      "occurrences_colliding": float(counts[shared].sum() / total),
    }
  kept = int((counts >= feature.min_count).sum())
  if feature.max_size:
    kept = min(kept, feature.max_size)
  return {
    **report,
    "min_count": feature.min_count,
    "max_size": feature.max_size,
    "kept": kept,
    "occurrences_out_of_vocabulary": float(counts[kept:].sum() / total),
  }


def hash_bucket(values, buckets: int):
  """Each value's bucket, 1 to `buckets` (0 is left for an unknown or
  dropped id), as the model's encoder hashes it: FarmHash64 of its text
  (integers in decimal, as TF writes them), modulo `buckets`. NumPy in,
  NumPy out; tensors in, a tensor out."""
  if isinstance(values, np.ndarray):
    if not len(values):
      return np.zeros(0, np.int64)
    if values.dtype.kind in "iu":
      values = values.astype(np.int64)
    else:
      values = values.astype(str).astype(object)
    return hash_bucket(tf.constant(values), buckets).numpy()
  if values.dtype != tf.string:
    values = tf.strings.as_string(values)
  return tf.strings.to_hash_bucket_fast(values, buckets) + 1


def _value_counts(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """`np.unique(column, return_counts=True)`; text is counted by pyarrow
  (ten times faster than sorting Python strings), then the distinct values
  sorted as NumPy sorts them."""
  if column.dtype.kind != "O" or not len(column):
    return np.unique(column, return_counts=True)
  try:
    found = pc.value_counts(pa.array(column, type=pa.string()))
  except (pa.ArrowInvalid, pa.ArrowTypeError):
    return np.unique(column, return_counts=True)  # Not all text.
  values = found.field("values").to_numpy(zero_copy_only=False)
  counts = found.field("counts").to_numpy().astype(np.int64)
  order = np.argsort(values)
  return values[order], counts[order]


def _merge(a, b):
  """Counts of values (sorted, unique) `a` and `b` added."""
  values = np.concatenate([a[0], b[0]])
  counts = np.concatenate([a[1], b[1]])
  unique, inverse = np.unique(values, return_inverse=True)
  return unique, np.bincount(inverse, weights=counts).astype(np.int64)


def _combine(a, b):
  """(count, mean, variance) of two pieces together."""
  (na, ma, va), (nb, mb, vb) = a, b
  n = na + nb
  delta = mb - ma
  m2 = va * na + vb * nb + delta**2 * na * nb / n
  return n, ma + delta * nb / n, m2 / n


def _split_values(column, separator):
  """Every non-empty value of a multi_category column, flattened."""
  return history.parse(column, separator)[1]


def _plain(value):
  return value.item() if isinstance(value, np.generic) else value


def transform(feature, x):
  """A numeric feature's `transform` on NumPy or TF values."""
  # The standardisation of "zscore" and "log1p" is the Normalization layer's.
  if feature.transform == "log1p":
    if isinstance(x, np.ndarray):
      return np.log1p(np.maximum(x, 0.0))
    return tf.math.log1p(tf.maximum(x, 0.0))
  return x


def _text_vocabulary(column, max_tokens):
  layer = tf.keras.layers.TextVectorization(max_tokens=max_tokens + 2)
  layer.adapt(np.unique(column.astype(str)), batch_size=4096)
  return layer.get_vocabulary(include_special_tokens=False)[:max_tokens]
