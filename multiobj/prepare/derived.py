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
`propensity.weights` give on the lists in memory, to the last bit. Logs of
positives only draw new negatives each epoch in memory; `add_draw_columns`
adds both columns to each draw there.
"""

import numpy as np
import tensorflow as tf

from multiobj import config as config_lib
from multiobj.data import dataset as dataset_lib
from multiobj.prepare import lists as lists_lib
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

  @tf.autograph.experimental.do_not_convert
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

  return dataset.map(derive, num_parallel_calls=2)


def add_draw_columns(
  lists: dataset_lib.Table,
  config: config_lib.TrainConfig,
  data: dataset_lib.Dataset,
  eligible: np.ndarray,
  propensities: tuple[float, ...] | None,
) -> np.ndarray | None:
  """Adds to a draw of training lists the columns that depend on it: each
  slot's retrieval sampling probability and the inverse-propensity weights.
  Returns each catalogue item's sampling probability (None without a
  retrieval objective)."""
  q = None
  retrieval = [o for o in config.objectives if o.kind == "retrieval"]
  if retrieval:
    valid = lists[lists_lib.MASK] > 0
    item_id = data.spec.item_id
    slots, q = candidates.sampling_probability(
      valid,
      (lists[retrieval[0].label] > 0) & valid,
      lists[item_id],
      data.catalogue[item_id],
      config.retrieval.hard_negatives,
      config.retrieval.uniform_negatives,
      eligible,
    )
    lists[candidates.SAMPLING_PROBABILITY] = slots
  if propensities is not None:
    _add_weights(lists, config, data.spec, propensities)
  return q


def _add_weights(table, config, spec, propensities):
  table[propensity_lib.IPW] = propensity_lib.weights(
    np.asarray(propensities),
    table[spec.position],
    table[config.prepare.propensity_label],
    config.prepare.max_ipw_weight,
  )
