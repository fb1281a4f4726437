"""Columns a run derives from its statistics, added as its lists are read.

Prepared lists hold what was logged. Two columns depend on statistics of
the whole training split and on run settings, so they are added in the
tf.data pipeline, from small tables, rather than stored:

  SAMPLING_PROBABILITY  each training slot's item's probability among
                        retrieval candidates (`retrieval.candidates`), from
                        the [catalogue] table of those probabilities;
  IPW                   inverse-propensity weights (`propensity.weights`),
                        from the propensity of each position.

So a cache of lists serves runs that differ in these settings, and the
values are those `candidates.sampling_probability` and
`propensity.weights` give on the lists in memory, to the last bit.
"""

import numpy as np
import tensorflow as tf

from multiobj.prepare import propensity as propensity_lib
from multiobj.retrieval import candidates


def add(
  dataset: tf.data.Dataset,
  item_id: str,
  catalogue_ids: np.ndarray | None = None,
  probability: np.ndarray | None = None,
  propensities: tuple[float, ...] | None = None,
  position: str = "",
  label: str = "",
  max_weight: float = 10.0,
) -> tf.data.Dataset:
  """`dataset`'s batches with the derived columns its run needs.

  Args:
    dataset: Batches of lists.
    item_id: The item id column.
    catalogue_ids: [C] catalogue item ids, with...
    probability: ...[C] each one's sampling probability; None adds no
      SAMPLING_PROBABILITY. Slots of other ids (padding) get the smallest.
    propensities: Each position's propensity; None adds no IPW.
    position: The position column,...
    label: ...the label whose positives are weighted,...
    max_weight: ...and the cap of a weight.
  """
  table = None
  if probability is not None:
    keys = tf.constant(catalogue_ids)
    table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        keys, tf.constant(probability, tf.float32)
      ),
      default_value=float(probability.min()),
    )
  weights = None
  if propensities is not None:
    theta = np.asarray(propensities)
    weights = tf.constant(
      propensity_lib.weights(
        theta, np.arange(1, len(theta) + 1), np.ones(len(theta)), max_weight
      )
    )
  if table is None and weights is None:
    return dataset

  def derive(batch):
    batch = dict(batch)
    if table is not None:
      batch[candidates.SAMPLING_PROBABILITY] = table.lookup(batch[item_id])
    if weights is not None:
      index = tf.clip_by_value(
        tf.cast(batch[position], tf.int64), 1, len(propensities)
      )
      batch[propensity_lib.IPW] = tf.where(
        batch[label] > 0, tf.gather(weights, index - 1), 1.0
      )
    return batch

  return dataset.map(derive, num_parallel_calls=tf.data.AUTOTUNE)
