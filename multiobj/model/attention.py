"""Target attention over the user's history, for the ranking heads (DIN).

Retrieval cannot know the candidate when it embeds the query, so the query
tower pools a history as the mean of its items. A ranking head scores a
known candidate, and a history matters to it through the items like this
candidate: Deep Interest Network (Zhou et al., KDD 2018) weighs each history
item by a small network of the item and the candidate (their embeddings,
difference and product) and sums the items by those weights. The weights
here are a softmax over the history's items (as most implementations since
DIN, which left them unnormalised); an empty history gives zeros.
"""

import tensorflow as tf

from multiobj.model import towers


class TargetAttention(tf.keras.layers.Layer):
  """[B, (T), D] history items and [B, L, D] candidates -> [B, L, D]: the
  history as each candidate of the list sees it.

  Args:
    units: Widths of the scoring network's hidden ReLU layers.
  """

  def __init__(self, units=(32,), **kwargs):
    super().__init__(**kwargs)
    self.score = towers.mlp([*units, 1], "score", activate_last=False)

  def call(self, history: tf.RaggedTensor, candidates: tf.Tensor) -> tf.Tensor:
    items = history.to_tensor()  # [B, T, D], zeros after each row's end.
    present = tf.sequence_mask(history.row_lengths(), tf.shape(items)[1])
    shape = tf.concat(
      [tf.shape(candidates)[:2], tf.shape(items)[1:2], tf.shape(items)[2:]],
      axis=0,
    )
    h = tf.broadcast_to(items[:, tf.newaxis], shape)  # [B, L, T, D]
    c = tf.broadcast_to(candidates[:, :, tf.newaxis], shape)
    logits = self.score(tf.concat([h, c, h - c, h * c], axis=-1))[..., 0]
    present = tf.broadcast_to(present[:, tf.newaxis], tf.shape(logits))
    logits = tf.where(present, logits, tf.float32.min)
    weights = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    weights *= tf.cast(present, weights.dtype)
    weights = tf.math.divide_no_nan(
      weights, tf.reduce_sum(weights, axis=-1, keepdims=True)
    )
    return tf.einsum("blt,btd->bld", weights, items)
