"""Sequence encoders: how the query tower reads a history of items.

An encoder reads a user's events oldest first, [B, T, W] item vectors (the
candidate tower's item embedding) with [B, T] their types (0 for a slot
that holds no event: padding, or a row that is no event of this history;
1 + the behaviour otherwise) and [B, T] their positions, and returns
[B, T, W]: at each slot, a summary of the events up to and including it,
never of a later one. So one pass gives the query of every prefix: the
history's own (its last slot), and, where a history is trained at every
position, the query that predicts each next event (`model.py`).

  mean            the mean of the events so far, order-free (the default,
                  and what a history was before encoders: its mean)
  gru             a GRU over the events (GRU4Rec, Hidasi et al., ICLR 2016)
  self_attention  causal self-attention in the SASRec shape (Kang and
                  McAuley, ICDM 2018): learned positions added to the
                  scaled items, `blocks` blocks each of layer norm,
                  `heads`-head attention to the events so far, a residual,
                  layer norm, a two-layer feed-forward network and a
                  residual, with `dropout`; a final layer norm

A history of several behaviours adds a learned vector per behaviour to its
items. A history that is a set (not in time order) has no positions, every
event attends to every other, and its encoding is the mean of its events'
outputs (`features.FeatureEmbedding.encode`); a GRU, which reads an order,
refuses one.

Register another with `@encoder_names.ENCODERS.register("name")` on a
subclass of `SequenceEncoder`, and name it in a description's `encoder` or
in `--history_encoder`.
"""

import tensorflow as tf

from multiobj.model import encoder_names

ENCODERS = encoder_names.ENCODERS


class SequenceEncoder(tf.keras.layers.Layer):
  """Base class: [B, T, W] items, [B, T] types and positions -> [B, T, W].

  Args:
    width: W, the items' width and the output's.
    positions: How many positions there are (a history's max_length + 1).
    types: Behaviours the events carry (0 or 1 for one).
    ordered: Whether the events are in time order (else a set).
  """

  def __init__(
    self,
    width: int,
    positions: int,
    types: int = 0,
    ordered: bool = True,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.width, self.positions, self.ordered = width, positions, ordered
    self.type_embedding = None
    if types > 1:
      self.type_embedding = tf.keras.layers.Embedding(
        types + 1, width, name="types"
      )

  def typed(self, items: tf.Tensor, types: tf.Tensor) -> tf.Tensor:
    """`items` with their behaviour's vector added (for several)."""
    if self.type_embedding is None:
      return items
    return items + self.type_embedding(types)

  def call(self, items, types, positions, training=False) -> tf.Tensor:
    raise NotImplementedError

  def pool_set(self, outputs: tf.Tensor, types: tf.Tensor) -> tf.Tensor:
    """[B, T, W] outputs of a set's events (in no meaningful order) -> [B,
    W] its encoding: the mean of the events' outputs, whatever their order
    (zeros for an empty set)."""
    event = tf.cast(types > 0, outputs.dtype)[..., tf.newaxis]
    return tf.math.divide_no_nan(
      tf.reduce_sum(outputs * event, axis=1), tf.reduce_sum(event, axis=1)
    )


@ENCODERS.register("mean")
class Mean(SequenceEncoder):
  """The mean of the events so far: at the last slot, the history's mean."""

  def call(self, items, types, positions, training=False):
    del positions, training  # Order-free.
    event = tf.cast(types > 0, items.dtype)[..., tf.newaxis]
    total = tf.cumsum(self.typed(items, types) * event, axis=1)
    return tf.math.divide_no_nan(total, tf.cumsum(event, axis=1))

  def pool_set(self, outputs, types):
    # The last slot's running mean is the mean of the whole set (the mean
    # of the running means would weigh the first events most).
    del types
    return outputs[:, -1]


@ENCODERS.register("gru")
class GRU(SequenceEncoder):
  """A GRU over the events; a slot that is no event carries the state."""

  def __init__(self, width, positions, types=0, ordered=True, **kwargs):
    super().__init__(width, positions, types, ordered, **kwargs)
    if not ordered:
      raise ValueError(
        "gru reads events in order, and this history is a set (built "
        "without a timestamp or order, or from a split given as files): use "
        "mean or self_attention."
      )
    self.gru = tf.keras.layers.GRU(width, return_sequences=True)

  def call(self, items, types, positions, training=False):
    del positions  # The order is the recurrence's.
    return self.gru(self.typed(items, types), mask=types > 0, training=training)


@ENCODERS.register("self_attention")
class SelfAttention(SequenceEncoder):
  """Causal self-attention, SASRec's blocks.

  Args:
    blocks: Attention blocks.
    heads: Attention heads (the width must divide by them).
    dropout: Dropout rate of the items, attention and feed-forward layers.
  """

  def __init__(
    self,
    width,
    positions,
    types=0,
    ordered=True,
    blocks: int = 2,
    heads: int = 1,
    dropout: float = 0.2,
    **kwargs,
  ):
    super().__init__(width, positions, types, ordered, **kwargs)
    if blocks < 1 or heads < 1 or width % heads:
      raise ValueError(
        f"self_attention needs blocks >= 1 and heads >= 1 dividing the width "
        f"{width}; got blocks={blocks}, heads={heads}."
      )
    if not 0 <= dropout < 1:
      raise ValueError(f"self_attention dropout must be in [0, 1): {dropout}.")
    self.position_embedding = (
      tf.keras.layers.Embedding(positions, width, name="positions")
      if ordered
      else None
    )
    self.dropout = tf.keras.layers.Dropout(dropout)
    self.blocks = [_Block(width, heads, dropout) for _ in range(blocks)]
    self.norm = tf.keras.layers.LayerNormalization(epsilon=1e-8)

  def call(self, items, types, positions, training=False):
    event = types > 0
    keep = tf.cast(event, items.dtype)[..., tf.newaxis]
    x = self.typed(items * self.width**0.5, types)
    if self.position_embedding is not None:
      x += self.position_embedding(tf.minimum(positions, self.positions - 1))
    x = self.dropout(x, training=training) * keep
    steps = tf.shape(items)[1]
    causal = tf.linalg.band_part(tf.ones([steps, steps], tf.bool), -1, 0)
    if not self.ordered:  # A set: every event sees every other.
      causal = tf.ones([steps, steps], tf.bool)
    mask = tf.logical_and(causal[tf.newaxis], event[:, tf.newaxis, :])
    for block in self.blocks:
      x = block(x, mask, training=training) * keep
    return self.norm(x)


class _Block(tf.keras.layers.Layer):
  """One SASRec block: Q = LN(x); x = Q + attention(Q, x); y = LN(x);
  x = y + FFN(y) (the residuals from the normalised inputs, as SASRec's)."""

  def __init__(self, width, heads, dropout, **kwargs):
    super().__init__(**kwargs)
    self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=1e-8)
    self.attention = tf.keras.layers.MultiHeadAttention(
      heads, width // heads, dropout=dropout
    )
    self.feed_norm = tf.keras.layers.LayerNormalization(epsilon=1e-8)
    self.inner = tf.keras.layers.Dense(width, activation="relu")
    self.outer = tf.keras.layers.Dense(width)
    self.dropout = tf.keras.layers.Dropout(dropout)

  def call(self, x, mask, training=False):
    query = self.attention_norm(x)
    x = query + self.attention(query, x, attention_mask=mask, training=training)
    y = self.feed_norm(x)
    hidden = self.dropout(self.inner(y), training=training)
    return y + self.dropout(self.outer(hidden), training=training)


def make(
  text: str, width: int, positions: int, types: int, ordered: bool, name: str
) -> SequenceEncoder:
  """The encoder `text` names (`name(key=value,...)`), built."""
  cls, params = encoder_names.resolve(text, f"encoder of {name!r}")
  return cls(width, positions, types, ordered, name=name, **params)
