"""Feature preprocessing layers, built from the training split's statistics.

`FeatureEncoder` turns raw columns into one dense vector per row with Keras
preprocessing layers (StringLookup / IntegerLookup with an out-of-vocabulary
bucket, Normalization, TextVectorization) and embeddings, from the
vocabularies and moments preparation computed (`prepare/stats.py`). Values
never seen in training map to the out-of-vocabulary bucket, never to an
error.
"""

import random
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from multiobj.data import history as history_lib
from multiobj.data import spec as spec_lib
from multiobj.model import sequence
from multiobj.prepare import vocabularies
from multiobj.prepare.stats import (  # noqa: F401  (re-exported)
  FeatureStats,
  compute_stats,
  hash_bucket,
  transform,
)


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
    items: "FeatureEmbedding | None" = None,
    history_encoder: str = "",
    **kwargs,
  ):
    super().__init__(name=feature.name, **kwargs)
    self.feature = feature
    # What the exported model takes: integers for integer vocabularies (item
    # ids, positions), floats for numbers, else text.
    self.input_dtype = tf.string
    self.id_dropout = id_dropout if feature.kind == "id" else 0.0
    if self.id_dropout:
      # Draws of its own, their state a variable of the layer: a backup
      # holds it, so a resumed run drops the ids an uninterrupted one would.
      # Seeded from Python's generator, which the run's seed sets.
      self.draws = tf.random.Generator.from_seed(random.randrange(2**31))
    if feature.kind == "numeric":
      mean, variance = stats.moments[feature.name]
      if feature.transform == "none":
        mean, variance = 0.0, 1.0
      self.normalize = tf.keras.layers.Normalization(
        mean=mean, variance=max(variance, 1e-12)
      )
      self.width, self.input_dtype = 1, tf.float32
      return
    if feature.kind == "history":
      self._history_items(feature, items, history_encoder)
      return
    if feature.kind == "embedding":
      self._vectors(feature, stats, embedding_dim)
      return
    vocabulary, size, integers = stats.vocabulary(feature.name)
    if not size:
      vocabulary = ["[empty]"]  # A lookup needs one value.
    if feature.kind == "text":
      self.lookup = tf.keras.layers.TextVectorization(
        vocabulary=vocabulary, output_sequence_length=text_length
      )
      self.width = embedding_dim
      self.embedding = tf.keras.layers.Embedding(
        max(size, 1) + 2, self.width, mask_zero=True
      )
      return
    self.hash_buckets = feature.hash_buckets
    if self.hash_buckets:
      # Bucket 0 is the unknown id's, as a lookup's out-of-vocabulary one.
      size = self.hash_buckets + 1
      if stats.policies.get(feature.name, {}).get("integers"):
        self.input_dtype = tf.int64
    elif integers:
      self.lookup = tf.keras.layers.IntegerLookup(vocabulary=vocabulary)
      self.input_dtype = tf.int64
      size = self.lookup.vocabulary_size()
    else:
      self.lookup = tf.keras.layers.StringLookup(vocabulary=vocabulary)
      size = self.lookup.vocabulary_size()
    self.width = (
      embedding_dim
      if feature.kind == "id"
      else category_dim(size, embedding_dim)
    )
    self.embedding = tf.keras.layers.Embedding(size, self.width)

  def _history_items(self, feature, items, encoder):
    """A history feature's share of the candidate tower's item id
    embedding `items` (history and candidates in one space), its encoder
    (`encoder`, else the feature's own) and its behaviours."""
    if items is None:
      raise ValueError(
        f"History feature {feature.name!r} needs the candidate tower's item "
        "id embedding, which it shares."
      )
    self.items, self.width = items, items.width
    # Several labels: each event carries its behaviour (`item:label`).
    self.types = feature.built_from if len(feature.built_from) > 1 else ()
    if self.types:
      self.type_lookup = tf.keras.layers.StringLookup(
        vocabulary=list(self.types)
      )
    self.sequence = sequence.make(
      encoder or feature.encoder,
      items.width,
      feature.max_length + 1,
      len(self.types) + bool(self.types),  # One more: an unknown behaviour.
      feature.ordered,
      name="encoder",
    )

  def _vectors(self, feature, stats, embedding_dim):
    """An embedding feature's table: the ids (sorted; text ids as their
    64-bit fingerprints) and vectors, as variables (the checkpoint and the
    exported model keep them), a learnt vector for ids without one, and a
    projection to `embedding_dim`."""
    report = stats.policies[feature.name]
    count, width = report["vectors"], report["width"]
    self.integer_keys = report["integers"]
    if self.integer_keys:
      self.input_dtype = tf.int64
    ids, vectors = stats.vectors.get(
      feature.name, (np.zeros(count, np.int64), np.zeros((count, width)))
    )
    keys = np.asarray(ids if self.integer_keys else fingerprint(ids).numpy())
    order = np.argsort(keys, kind="stable")
    self.keys = tf.Variable(keys[order], trainable=False, name="keys")
    self.vectors = tf.Variable(
      np.asarray(vectors, np.float32)[order], trainable=False, name="vectors"
    )
    self.missing = tf.Variable(tf.zeros([width]), name="missing")
    self.project = tf.keras.layers.Dense(embedding_dim, name="project")
    self.width = embedding_dim

  def lookup_vectors(self, values: tf.Tensor) -> tf.Tensor:
    """An embedding feature's [N] key values to [N, width] vectors; the
    learnt `missing` vector for a key the file did not hold."""
    if self.integer_keys:
      keys = tf.cast(values, tf.int64)
    else:
      keys = fingerprint(
        values if values.dtype == tf.string else tf.strings.as_string(values)
      )
    # The file holds one vector at least (`vectors.read`).
    at = tf.minimum(tf.searchsorted(self.keys, keys), self.keys.shape[0] - 1)
    found = tf.gather(self.keys, at) == keys
    vectors = tf.gather(self.vectors, at)
    return tf.where(found[:, tf.newaxis], vectors, self.missing[tf.newaxis])

  def index(self, values: tf.Tensor) -> tf.Tensor:
    """Ids (or categories) to embedding rows; 0 for one out of the
    vocabulary."""
    if self.hash_buckets:
      return hash_bucket(values, self.hash_buckets)
    if isinstance(self.lookup, tf.keras.layers.IntegerLookup):
      if values.dtype != tf.string:
        return self.lookup(values)
      # Integer ids as text (a history's items): those written as an
      # integer (the reader's rule: `007` is 7), the others unknown.
      integer = tf.strings.regex_full_match(values, r"-?[0-9]{1,18}")
      ids = tf.strings.to_number(tf.where(integer, values, "0"), tf.int64)
      return tf.where(integer, self.lookup(ids), tf.zeros_like(ids))
    if values.dtype != tf.string:
      values = tf.strings.as_string(values)
    # A vocabulary file's line cannot be empty (`vocabularies.EMPTY`).
    return self.lookup(tf.where(values == "", vocabularies.EMPTY, values))

  def history(self, values: tf.Tensor) -> tf.RaggedTensor:
    """A history feature's [N] values to [N, (items), width] item
    embeddings, the last `max_length` of each row, oldest first."""
    items = self.items
    return tf.ragged.map_flat_values(
      lambda v: items.embedding(items.index(v)), self.parts(values)[0]
    )

  def parts(self, values):
    """([N, (k)] the item of each event, the last `max_length`; [N, (k)]
    each event's type: 1, or 1 + its behaviour, an unknown one last)."""
    parts = _split(values, self.feature.separator)
    parts = tf.ragged.boolean_mask(parts, parts != "")
    parts = parts[:, -self.feature.max_length :]
    if not self.types:
      return parts, tf.ones_like(parts, tf.int64)
    separator = history_lib.TYPE_SEPARATOR
    kind = tf.ragged.map_flat_values(
      tf.strings.regex_replace, parts, f"^.*{separator}", ""
    )
    parts = tf.ragged.map_flat_values(
      tf.strings.regex_replace, parts, f"{separator}[^{separator}]*$", ""
    )
    index = tf.ragged.map_flat_values(self.type_lookup, kind)
    unknown = tf.cast(len(self.types) + 1, index.dtype)
    return parts, tf.ragged.map_flat_values(
      lambda i: tf.where(i > 0, i, unknown), index
    )

  def encode(self, values: tf.Tensor, training=None) -> tf.Tensor:
    """A history's [N] values to its [N, width] encoding: the encoder's
    output after the last event (zeros for a history of none)."""
    parts, types = self.parts(values)
    index = tf.ragged.map_flat_values(self.items.index, parts)

    def right_aligned(ragged):  # Padding first, the last event last.
      dense = ragged[:, ::-1].to_tensor(0)[:, ::-1]
      return tf.pad(dense, [[0, 0], [1, 0]])  # A step even if all empty.

    index, types = right_aligned(index), right_aligned(types)
    steps = tf.shape(index)[1]
    # The last event at position max_length - 1, as a window's last query.
    # The last column (the last event) at max_length - 1; the padding
    # column added in front may fall below 0.
    positions = tf.maximum(self.feature.max_length - steps + tf.range(steps), 0)
    outputs = self.sequence(
      self.items.embedding(index),
      types,
      tf.broadcast_to(positions, tf.shape(index)),
      training=training,
    )
    some = tf.reduce_any(types > 0, axis=1, keepdims=True)
    if self.feature.ordered:
      last = outputs[:, -1]
    else:  # A set: pooled whatever its order (the encoder says how).
      last = self.sequence.pool_set(outputs, types)
    return tf.where(some, last, tf.zeros_like(last))

  def encode_slots(
    self, ids: tf.Tensor, types: tf.Tensor, mask: tf.Tensor, training=None
  ) -> tuple[tf.Tensor, tf.Tensor]:
    """For a window of one user's rows (`prepare/windows.py`): each slot's
    history encoding, from the events before it.

    Args:
      ids: [B, L] each slot's item id.
      types: [B, L] 0 for a slot that is no event of this history, else 1
        + its behaviour.
      mask: [B, L] the slots that are scored (the window's rows but a
        repeated first one).

    Returns:
      ([B, L, width] the encoding of the events before each slot, zeros for
      none; [B, L] whether a slot has an event before it).
    """
    shape = tf.shape(ids)
    index = tf.reshape(self.items.index(tf.reshape(ids, [-1])), shape)
    types = tf.cast(types, tf.int64)
    slot = tf.range(shape[1])
    # Right-aligned as a served history: a window's last slot at position
    # max_length (its query, the slot before, at max_length - 1).
    present = tf.logical_or(mask > 0, types > 0)
    length = 1 + tf.reduce_max(
      tf.where(present, slot[tf.newaxis], -1), axis=1, keepdims=True
    )
    positions = slot[tf.newaxis] + self.feature.max_length + 1 - length
    outputs = self.sequence(
      self.items.embedding(index), types, positions, training=training
    )
    # The last event before each slot: the number of events up to the slot
    # before it says which.
    event = types > 0
    before = tf.cumsum(tf.cast(event, tf.int32), axis=1, exclusive=True)
    where = tf.ragged.boolean_mask(
      tf.broadcast_to(slot[tf.newaxis], shape), event
    )
    last = tf.gather(
      tf.concat([tf.zeros([shape[0], 1], tf.int32), where.to_tensor(0)], 1),
      before,
      batch_dims=1,
    )
    prefix = before > 0
    encoded = tf.gather(outputs, last, batch_dims=1)
    return tf.where(prefix[..., tf.newaxis], encoded, 0.0), prefix

  def call(self, values: tf.Tensor, training=None) -> tf.Tensor:
    kind = self.feature.kind
    if kind == "embedding":
      return self.project(self.lookup_vectors(values))
    if kind == "history":
      return self.encode(values, training=training)
    if kind == "numeric":
      x = transform(self.feature, tf.cast(values, tf.float32))
      return self.normalize(x[:, tf.newaxis])
    if kind == "multi_category":
      parts = _split(values, self.feature.separator)
      return _mean(
        tf.ragged.map_flat_values(
          lambda v: self.embedding(self.index(v)), parts
        )
      )
    if kind == "text":
      tokens = self.lookup(values)
      vectors = self.embedding(tokens)
      mask = tf.cast(tokens > 0, vectors.dtype)[..., tf.newaxis]
      return tf.math.divide_no_nan(
        tf.reduce_sum(vectors * mask, axis=1), tf.reduce_sum(mask, axis=1)
      )
    index = self.index(values)
    if training and self.id_dropout > 0:
      # Index 0 is the out-of-vocabulary bucket.
      dropped = self.draws.uniform(tf.shape(index)) < self.id_dropout
      index = tf.where(dropped, tf.zeros_like(index), index)
    return self.embedding(index)


def _split(values, separator) -> tf.RaggedTensor:
  """[N] values joined by `separator` to [N, (parts)] text."""
  text = values if values.dtype == tf.string else tf.strings.as_string(values)
  return tf.strings.split(text, separator)


def _mean(vectors: tf.RaggedTensor) -> tf.Tensor:
  """[N, (k), W] to the mean over each row's k; a row of none is zeros."""
  return tf.math.divide_no_nan(
    tf.reduce_sum(vectors, axis=1),
    tf.cast(vectors.row_lengths(), vectors.dtype)[:, tf.newaxis],
  )


def fingerprint(ids):
  """Text ids to int64 keys (FarmHash64, 63 bits: sortable, and colliding
  once in about 10^19 pairs). NumPy or tensors in, a tensor out."""
  return tf.strings.to_hash_bucket_fast(ids, 2**63 - 1)


class FeatureEncoder(tf.keras.layers.Layer):
  """Encodes several columns and concatenates them: {name: [N]} -> [N, W]."""

  def __init__(
    self,
    features: Sequence[spec_lib.Feature],
    stats: FeatureStats,
    embedding_dim: int,
    text_length: int,
    id_dropout: float = 0.0,
    items: FeatureEmbedding | None = None,
    history_encoder: str = "",
    **kwargs,
  ):
    super().__init__(**kwargs)
    # An item key (a dataset without item ids) is never an input.
    features = [f for f in features if f.kind != spec_lib.KEY]
    self.feature_names = [f.name for f in features]
    # Keyed by column, so a checkpoint names each feature's variables
    # (`encoder/by_feature/user_id/embedding/embeddings`), not its position.
    self.by_feature = {
      f.name: FeatureEmbedding(
        f,
        stats,
        embedding_dim,
        text_length,
        id_dropout,
        items,
        history_encoder,
      )  # fmt: skip
      for f in features
    }
    self.width = sum(e.width for e in self.encoders)

  @property
  def encoders(self) -> list[FeatureEmbedding]:
    """The features' encoders, in the order of their columns."""
    return [self.by_feature[name] for name in self.feature_names]

  def call(self, features: dict[str, tf.Tensor], training=None) -> tf.Tensor:
    encoded = [
      e(features[e.feature.name], training=training) for e in self.encoders
    ]
    return tf.concat(encoded, axis=-1) if len(encoded) > 1 else encoded[0]
