"""The two towers of retrieval: features in, one unit-length embedding out."""

from collections.abc import Sequence

import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.model import features as features_lib


def mlp(units: Sequence[int], name: str, activate_last: bool = True):
  """Dense ReLU layers; the last one linear unless `activate_last`."""
  layers = []
  for i, width in enumerate(units):
    last = i == len(units) - 1
    activation = "relu" if (activate_last or not last) else None
    layers.append(tf.keras.layers.Dense(width, activation=activation))
  return tf.keras.Sequential(layers, name=name)


class Tower(tf.keras.layers.Layer):
  """Encodes one side (query or candidate) into an L2-normalised embedding.

  Args:
    features: The features of this side.
    stats: Their vocabularies and moments.
    embedding_dim: Width of id and text embeddings and of the output.
    hidden_layers: Widths of the ReLU layers between encoding and output.
    text_length: Tokens kept per text value.
    id_dropout: Share of ids replaced by the unknown-id bucket in training
      (see `features.FeatureEmbedding`).
    items: The candidate tower's item id embedding, which the query tower's
      history features share.
    history_encoder: The sequence encoder of every history feature
      (`sequence.py`), overriding the description's; "" keeps theirs.
    normalize: Whether embeddings have unit length (cosine similarities);
      else their dot products are the scores.

  Call args:
    inputs: {feature name: [N] tensor}.

  Returns:
    [N, embedding_dim] embeddings, by default of unit length, so dot
    products are cosine similarities and the retrieval temperature sets
    their scale. The ranking
    trunk also reads the feature encoding underneath (`encoder`, then
    `embed`), so heads see raw features such as price, not only the
    compressed embedding.
  """

  def __init__(
    self,
    features: Sequence[spec_lib.Feature],
    stats: features_lib.FeatureStats,
    embedding_dim: int,
    hidden_layers: Sequence[int],
    text_length: int,
    id_dropout: float = 0.0,
    items: features_lib.FeatureEmbedding | None = None,
    history_encoder: str = "",
    normalize: bool = True,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.normalize = normalize
    self.encoder = features_lib.FeatureEncoder(
      features,
      stats,
      embedding_dim,
      text_length,
      id_dropout,
      items,
      history_encoder,
      name="features",
    )
    self.dense = mlp(
      [*hidden_layers, embedding_dim], "dense", activate_last=False
    )

  def embed(self, encoding: tf.Tensor) -> tf.Tensor:
    """[N, encoder.width] feature encoding -> [N, embedding_dim] embedding
    (of unit length for cosine similarities)."""
    embedded = self.dense(encoding)
    if not self.normalize:
      return embedded
    return tf.math.l2_normalize(embedded, axis=-1)

  def call(self, inputs: dict[str, tf.Tensor], training=None) -> tf.Tensor:
    return self.embed(self.encoder(inputs, training=training))
