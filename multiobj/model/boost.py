"""Items a user already interacted with, kept reachable by retrieval.

A two-tower model scores an item by one dot product with one query vector:
it cannot put all of a user's 50 viewed items near the top at once, and on
multi-behaviour logs the next purchase is most often one of them (80% of
Tmall's test purchases were viewed before; item-KNN and EASE^R win there
by scoring a user's own items high through their similarity with
themselves). A history feature with `"boost": true` adds a learned bonus to
the retrieval score of each item in it, one per history feature:

  score(u, i) = q_u . c_i + sum_h beta_h [i in history_h(u)]

on the towers' scale (cosine similarities, divided by the temperature in
training's softmax, as the dot products are), in training (each positive
pair's candidates) and wherever the towers rank for a user (evaluation,
the exported retrieval). On that scale a step of the optimizer moves a
bonus as much as it moves a similarity. So the query tower still
generalises to items the user never saw, and the user's own items compete
with them on a learned footing, e.g. a viewed item against a new one.
"""

from collections.abc import Sequence

import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.retrieval import candidates as candidates_lib


class HistoryBoost(tf.keras.layers.Layer):
  """The bonus of the items in each boosted history.

  Args:
    features: The boosted history features.
    encoders: Their `features.FeatureEmbedding`s (which parse the values).
    integer_ids: Whether item ids are integers (else text).
  """

  def __init__(
    self,
    features: Sequence[spec_lib.Feature],
    encoders: dict,
    integer_ids: bool,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.names = [f.name for f in features]
    self.encoders = encoders
    self.integer_ids = integer_ids
    self.bonus = self.add_weight(
      name="bonus", shape=[len(self.names)], initializer="zeros"
    )

  def keys(self, values: tf.Tensor, name: str) -> tf.RaggedTensor:
    """A history's [N] values -> [N, (k)] its items as int64 keys, as
    `candidates.id_key` makes them of item ids."""
    parts = self.encoders[name].parts(values)[0]
    if not self.integer_ids:
      return tf.ragged.map_flat_values(candidates_lib.id_key, parts)
    integer = tf.strings.regex_full_match(parts.flat_values, r"-?[0-9]{1,18}")
    ids = tf.strings.to_number(
      tf.where(integer, parts.flat_values, "-1"), tf.int64
    )
    return parts.with_flat_values(ids)

  def keys_of(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.RaggedTensor]:
    """{boosted history: [N, (k)] its items' keys} of a batch's queries."""
    return {name: self.keys(batch[name], name) for name in self.names}

  def against(
    self, keys: dict[str, tf.RaggedTensor], candidate_keys: tf.Tensor
  ) -> tf.Tensor:
    """[P, C] the bonus of each of C candidates (`candidate_keys`, int64)
    for each of P queries, the keys of their histories `keys` (`keys_of`)."""
    total = 0.0
    for k, name in enumerate(self.names):
      held = keys[name].to_tensor(-(2**62))
      member = tf.reduce_any(
        tf.equal(held[:, :, tf.newaxis], candidate_keys[tf.newaxis, None]),
        axis=1,
      )
      total += self.bonus[k] * tf.cast(member, tf.float32)
    return total

  def own(self, keys: dict[str, tf.RaggedTensor], own: tf.Tensor) -> tf.Tensor:
    """[P] the bonus of each query's own candidate (`own` [P], int64)."""
    total = 0.0
    for k, name in enumerate(self.names):
      held = keys[name].to_tensor(-(2**62))
      member = tf.reduce_any(tf.equal(held, own[:, tf.newaxis]), axis=1)
      total += self.bonus[k] * tf.cast(member, tf.float32)
    return total

  def over(
    self, keys: dict[str, tf.RaggedTensor], rows_of, size: int
  ) -> tf.Tensor:
    """[P, size] the bonus of every item of a catalogue of `size` for each
    of P queries (`keys`, `keys_of`); `rows_of` maps [N] int64 keys to
    their rows (-1 for none)."""
    total = 0.0
    for k, name in enumerate(self.names):
      held = keys[name]
      rows = rows_of(held.flat_values)
      query = held.value_rowids()
      found = rows >= 0
      index = tf.stack(
        [tf.boolean_mask(query, found), tf.boolean_mask(rows, found)], axis=1
      )
      count = held.nrows(out_type=tf.int64)
      hits = tf.scatter_nd(
        index, tf.ones(tf.shape(index)[:1]), tf.stack([count, size])
      )
      total += self.bonus[k] * tf.minimum(hits, 1.0)
    return total
