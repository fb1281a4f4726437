"""Feature preprocessing: statistics from the training split, then layers.

`compute_stats` reads the training rows once: the vocabulary of every id,
category and text feature and the mean and variance of every numeric one.
The stats are saved beside the checkpoint (`feature_stats.json`), so a model
is rebuilt exactly from its directory. `FeatureEncoder` turns raw columns into
one dense vector per row with Keras preprocessing layers (StringLookup /
IntegerLookup with an out-of-vocabulary bucket, Normalization,
TextVectorization) and embeddings. Values never seen in training map to the
out-of-vocabulary bucket, never to an error.
"""

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib


@dataclasses.dataclass
class FeatureStats:
  """Vocabularies and moments of the features, from the training split."""

  vocabularies: dict[str, list[Any]]
  moments: dict[str, tuple[float, float]]

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=1, default=_json_default)

  @classmethod
  def from_json(cls, text: str) -> "FeatureStats":
    data = json.loads(text)
    return cls(
      vocabularies=data["vocabularies"],
      moments={k: tuple(v) for k, v in data["moments"].items()},
    )


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
  vocabularies, moments = {}, {}
  for feature in spec.features:
    column = rows[feature.name]
    if feature.kind in ("id", "category", "multi_category"):
      if feature.kind == "multi_category":
        column = _split_values(column, feature.separator)
      values, counts = np.unique(column, return_counts=True)
      order = np.argsort(-counts, kind="stable")
      vocabularies[feature.name] = [_plain(v) for v in values[order]]
    elif feature.kind == "numeric":
      x = _transform(feature, column.astype(np.float64))
      moments[feature.name] = (float(x.mean()), float(x.var()))
    elif feature.kind == "text":
      vocabularies[feature.name] = _text_vocabulary(column, text_max_tokens)
  return FeatureStats(vocabularies, moments)


def _split_values(column, separator):
  values = [
    v for text in column.astype(str) for v in text.split(separator) if v
  ]
  return np.asarray(values or [""], dtype=object)


def _plain(value):
  return value.item() if isinstance(value, np.generic) else value


def _transform(feature, x):
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


def category_dim(cardinality: int, embedding_dim: int) -> int:
  """Embedding width for a small vocabulary (fastai's rule, capped)."""
  return min(embedding_dim, max(4, round(1.6 * cardinality**0.56)))


class FeatureEmbedding(tf.keras.layers.Layer):
  """One raw column [N] to a dense [N, width] encoding.

  `id_dropout` is the share of id values replaced, in training only, by the
  out-of-vocabulary bucket: the bucket then learns what an unknown id looks
  like and the tower learns to lean on the other features, which is what an
  item or user never seen in training gets at serving (cold start).
  """

  def __init__(
    self,
    feature: spec_lib.Feature,
    stats: FeatureStats,
    embedding_dim: int,
    text_length: int,
    id_dropout: float = 0.0,
    **kwargs,
  ):
    super().__init__(name=feature.name, **kwargs)
    self.feature = feature
    self.id_dropout = id_dropout if feature.kind == "id" else 0.0
    if feature.kind == "numeric":
      mean, variance = stats.moments[feature.name]
      if feature.transform == "none":
        mean, variance = 0.0, 1.0
      self.normalize = tf.keras.layers.Normalization(
        mean=mean, variance=max(variance, 1e-12)
      )
      self.width = 1
      return
    vocabulary = stats.vocabularies[feature.name]
    if feature.kind == "text":
      self.lookup = tf.keras.layers.TextVectorization(
        vocabulary=vocabulary or ["[empty]"], output_sequence_length=text_length
      )
      size = len(vocabulary or ["[empty]"]) + 2
      self.width = embedding_dim
      self.embedding = tf.keras.layers.Embedding(
        size, self.width, mask_zero=True
      )
      return
    if vocabulary and isinstance(vocabulary[0], int | np.integer):
      self.lookup = tf.keras.layers.IntegerLookup(
        vocabulary=np.asarray(vocabulary, dtype=np.int64)
      )
    else:
      self.lookup = tf.keras.layers.StringLookup(
        vocabulary=[str(v) for v in vocabulary] or ["[empty]"]
      )
    size = self.lookup.vocabulary_size()
    self.width = (
      embedding_dim
      if feature.kind == "id"
      else category_dim(size, embedding_dim)
    )
    self.embedding = tf.keras.layers.Embedding(size, self.width)

  def call(self, values: tf.Tensor, training=None) -> tf.Tensor:
    kind = self.feature.kind
    if kind == "numeric":
      x = _transform(self.feature, tf.cast(values, tf.float32))
      return self.normalize(x[:, tf.newaxis])
    if kind == "multi_category":
      parts = tf.strings.split(
        tf.strings.as_string(values) if values.dtype != tf.string else values,
        self.feature.separator,
      )
      vectors = tf.ragged.map_flat_values(
        lambda v: self.embedding(self.lookup(v)), parts
      )
      # The mean over each row's values; a row with none encodes as zeros.
      return tf.math.divide_no_nan(
        tf.reduce_sum(vectors, axis=1),
        tf.cast(parts.row_lengths(), vectors.dtype)[:, tf.newaxis],
      )
    if kind == "text":
      tokens = self.lookup(values)
      vectors = self.embedding(tokens)
      mask = tf.cast(tokens > 0, vectors.dtype)[..., tf.newaxis]
      return tf.math.divide_no_nan(
        tf.reduce_sum(vectors * mask, axis=1), tf.reduce_sum(mask, axis=1)
      )
    if (
      isinstance(self.lookup, tf.keras.layers.StringLookup)
      and values.dtype != tf.string
    ):
      values = tf.strings.as_string(values)
    index = self.lookup(values)
    if training and self.id_dropout > 0:
      # Index 0 is the lookup's out-of-vocabulary bucket.
      dropped = tf.random.uniform(tf.shape(index)) < self.id_dropout
      index = tf.where(dropped, tf.zeros_like(index), index)
    return self.embedding(index)


class FeatureEncoder(tf.keras.layers.Layer):
  """Encodes several columns and concatenates them: {name: [N]} -> [N, W]."""

  def __init__(
    self,
    features: Sequence[spec_lib.Feature],
    stats: FeatureStats,
    embedding_dim: int,
    text_length: int,
    id_dropout: float = 0.0,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.feature_names = [f.name for f in features]
    self.encoders = [
      FeatureEmbedding(f, stats, embedding_dim, text_length, id_dropout)
      for f in features
    ]
    self.width = sum(e.width for e in self.encoders)

  def call(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
    encoded = [e(features[e.feature.name]) for e in self.encoders]
    return tf.concat(encoded, axis=-1) if len(encoded) > 1 else encoded[0]
