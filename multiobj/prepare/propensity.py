"""Position-bias propensities and inverse-propensity weights.

A click at position k happened only if the user looked at slot k; with
examination probability theta_k, clicks under-represent low slots. Weighting
each click by 1 / theta_k (Joachims et al. 2017) gives a loss whose
expectation is the loss on relevance, as if every slot were seen. Only the
ratios theta_k / theta_1 matter, so propensities are reported relative to
position 1.

Three ways to get them, chosen by `--propensity`:

  randomized   CTR at each position over the lists of a randomisation bucket
               (items shown in random order, so relevance does not depend on
               position), divided by the CTR at position 1. Needs the
               dataset's `randomized` column.
  em           Regression EM with TF-Ranking's `ClickEMLoss` (Wang et al.,
               WSDM 2018): clicks = examination(position) x relevance(item),
               fitted on the training lists; theta_k = sigmoid(exam_k) /
               sigmoid(exam_1). Needs no randomisation.
  file:PATH    A CSV file of `position,propensity` rows.
"""

import csv
import os

import numpy as np
import tensorflow as tf
import tensorflow_ranking as tfr
from absl import logging

from multiobj.config import check_propensity_method
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.prepare.lists import MASK

# [num_lists, list_size]: the inverse-propensity weight of each slot.
IPW = "__inverse_propensity_weight"

_EM_STEPS = 1000


def estimate(
  method: str,
  lists: dataset_lib.Table,
  spec: spec_lib.DatasetSpec,
  label: str,
  seed: int = 0,
) -> np.ndarray:
  """Propensity of each position 1..K relative to position 1.

  Args:
    method: "randomized", "em" or "file:PATH".
    lists: Training lists, with the position and label columns.
    spec: Names the position (and randomisation) columns.
    label: The click column.
    seed: Seeds the EM fit.

  Returns:
    [K] array, entry k-1 for position k, entry 0 equal to 1.
  """
  check_propensity_method(method)
  if not spec.position:
    raise ValueError(
      f"--propensity={method} needs the dataset's position column; dataset "
      f"{spec.name!r} declares none."
    )
  valid = lists[MASK] > 0
  position = lists[spec.position].astype(np.int64)
  clicks = lists[label] > 0
  num_positions = int(position[valid].max())
  if method == "randomized":
    theta = _randomized(lists, spec, valid, position, clicks, num_positions)
  elif method == "em":
    theta = _click_em(lists, spec, valid, position, clicks, num_positions, seed)
  else:
    theta = _from_file(method[5:], num_positions)
  logging.info(
    "Propensities by position (%s): %s", method, np.round(theta, 4).tolist()
  )
  return theta


def weights(
  theta: np.ndarray,
  positions: np.ndarray,
  labels: np.ndarray,
  max_weight: float,
) -> np.ndarray:
  """1 / theta at each clicked slot (capped at `max_weight`), 1 elsewhere.

  Capping bounds the variance that a few clicks at rarely seen slots would
  otherwise bring (clipped IPS; Strehl et al. 2010).
  """
  index = np.clip(positions.astype(np.int64), 1, len(theta)) - 1
  inverse = np.minimum(1.0 / np.maximum(theta[index], 1e-12), max_weight)
  return np.where(labels > 0, inverse, 1.0).astype(np.float32)


def _randomized(lists, spec, valid, position, clicks, num_positions):
  if not spec.randomized or spec.randomized not in lists:
    raise ValueError(
      f"--propensity=randomized needs a column marking randomised lists; dataset "
      f"{spec.name!r} has none (spec.randomized). Use --propensity=em instead."
    )
  bucket = valid & (lists[spec.randomized] > 0)
  shows = np.bincount(position[bucket], minlength=num_positions + 1)[1:]
  hits = np.bincount(position[bucket & clicks], minlength=num_positions + 1)[1:]
  if shows.min() == 0 or hits[0] == 0:
    raise ValueError(
      "--propensity=randomized: the randomised lists have no impressions at some "
      f"position or no click at position 1 (impressions by position: {shows.tolist()})."
    )
  ctr = hits / shows
  return ctr / ctr[0]


def _click_em(lists, spec, valid, position, clicks, num_positions, seed):
  tf.keras.utils.set_random_seed(seed)
  items = lists[spec.item_id]
  vocabulary, item_index = np.unique(items[valid], return_inverse=True)
  item_ids = np.zeros(items.shape, np.int64)
  item_ids[valid] = item_index
  exam = tf.Variable(tf.zeros([num_positions + 1]), name="exam_logits")
  relevance = tf.Variable(tf.zeros([len(vocabulary)]), name="relevance_logits")
  loss_fn = tfr.keras.losses.ClickEMLoss()
  optimizer = tf.keras.optimizers.Adam(0.05)
  labels = tf.constant(np.where(valid, clicks.astype(np.float32), -1.0))
  data = tf.data.Dataset.from_tensor_slices((labels, position, item_ids))
  data = data.shuffle(len(position), seed=seed).repeat().batch(1024)

  @tf.function
  def step(y, pos, item):
    with tf.GradientTape() as tape:
      logits = tf.stack(
        [tf.gather(exam, pos), tf.gather(relevance, item)], axis=-1
      )
      loss = loss_fn(y, logits)
    gradients = tape.gradient(loss, [exam, relevance])
    optimizer.apply_gradients(zip(gradients, [exam, relevance], strict=True))
    return loss

  # Enough steps for the fixed point on any size of data (about 4 epochs of
  # the default synthetic log).
  for batch in data.take(_EM_STEPS):
    step(*batch)
  theta = tf.sigmoid(exam).numpy()[1:]
  return theta / theta[0]


def _from_file(path, num_positions):
  if not os.path.exists(path):
    raise ValueError(f"--propensity=file:{path}: no such file.")
  theta = {}
  with open(path, newline="") as f:
    for line, row in enumerate(csv.reader(f), start=1):
      if not row or row[0].strip().lower() == "position":
        continue
      try:
        position, value = int(row[0]), float(row[1])
      except (ValueError, IndexError):
        raise ValueError(
          f"{path}, line {line}: expected 'position,propensity', got {','.join(row)!r}."
        ) from None
      if not 0 < value <= 1 or position < 1:
        raise ValueError(
          f"{path}, line {line}: need position >= 1 and 0 < propensity <= 1, "
          f"got {position}, {value}."
        )
      theta[position] = value
  missing = [k for k in range(1, num_positions + 1) if k not in theta]
  if missing:
    raise ValueError(f"{path}: no propensity for positions {missing}.")
  values = np.array([theta[k] for k in range(1, num_positions + 1)])
  return values / values[0]
