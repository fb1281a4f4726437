"""The retrieval candidates of a batch, and their sampling probabilities.

Each positive (query, item) pair of a batch is scored against a mix of
candidates, all corrected by one logQ (the log of each candidate's sampling
probability, subtracted from its logit):

  in-batch       the batch's positive items: each pair's own is its label,
                 the others' are its negatives (another positive of the same
                 list is never a negative);
  hard           with `hard_negatives`, every unclicked impression of the
                 batch, its own request's among them;
  uniform        with `uniform_negatives=N`, N catalogue items per list drawn
                 uniformly (cold-start items excluded) in the tf.data
                 pipeline, anew each batch;
  cross-replica  under a strategy with several replicas and
                 `cross_replica_negatives`, the candidates of every replica.

Candidates with the positive's item id are removed (accidental hits, TFRS).

Three places use this module: the data preparation computes the slots'
sampling probabilities (`sampling_probability`, numpy) and adds the uniform
draws to each batch (`with_uniform_draws`, tf.data); the retrieval task
assembles the mix inside the train step (`mix`).
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from multiobj.config import RetrievalConfig

# [num_lists, list_size]: the sampling probability of each slot's item.
SAMPLING_PROBABILITY = "__sampling_probability"
# Uniform draws a batch carries: UNIFORM + a candidate feature's name holds
# [batch, count] values, UNIFORM_PROBABILITY their sampling probabilities.
UNIFORM = "__uniform/"
UNIFORM_PROBABILITY = "__uniform_probability"

# `tfrs.layers.loss.SamplingProbablityCorrection` clips probabilities here.
_TFRS_MIN_PROBABILITY = 1e-6


def sampling_probability(
  valid: np.ndarray,
  positive: np.ndarray,
  item_ids: np.ndarray,
  catalogue_ids: np.ndarray,
  hard_negatives: bool = False,
  uniform_per_list: int = 0,
  eligible: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Sampling probabilities of retrieval candidates, for logQ correction.

  The candidates of one batch are its positives (in-batch negatives are the
  other lists' positives), and optionally its unclicked impressions
  (`hard_negatives`) and `uniform_per_list` uniform draws from the eligible
  catalogue per list. An item's probability is proportional to how often it
  is expected among them, per list:

    q(j) = positives of j / lists + [hard] unclicked impressions of j /
           lists + uniform_per_list / eligible items.

  With positives alone this is each item's frequency among positives, the
  correction of the popularity bias of in-batch negatives (Yi et al., RecSys
  2019); with the others, the mixture proposal of mixed negative sampling
  (Yang et al., WWW 2020), so one logQ correction serves every column of the
  score matrix.

  Args:
    valid: [num_lists, list_size] slots holding an item.
    positive: [num_lists, list_size] positive slots (within `valid`).
    item_ids: [num_lists, list_size] each slot's item id.
    catalogue_ids: [C] every catalogue item's id.
    hard_negatives: Unclicked impressions are candidates too.
    uniform_per_list: Uniform draws per list.
    eligible: [C] items uniform draws may pick; default all.

  Returns:
    ([num_lists, list_size] probability of each slot's item, [catalogue]
    probability of each catalogue item), normalised to sum to 1 over the
    catalogue unless that would put an item below TFRS's 1e-6 clip (then
    the most frequent item has 1); items that can never be a candidate get
    the smallest positive probability, so the log is finite.
  """
  positives, unclicked, row = candidate_counts(
    valid, positive, item_ids, catalogue_ids
  )
  q = item_probability(
    positives, unclicked, len(valid), hard_negatives, uniform_per_list, eligible
  )
  slots = np.where(row >= 0, q[row], q.min())
  return slots.astype(np.float32), q.astype(np.float32)


def candidate_counts(
  valid: np.ndarray,
  positive: np.ndarray,
  item_ids: np.ndarray,
  catalogue_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """([C] positives of each catalogue item, [C] its unclicked impressions,
  [num_lists, list_size] each slot's catalogue row, -1 for none): what
  `item_probability` needs, summable over pieces of a log."""
  order = np.argsort(catalogue_ids, kind="stable")
  sorted_ids = catalogue_ids[order]
  # Each slot's catalogue row; ids not in the catalogue (padding) are -1.
  at = np.minimum(np.searchsorted(sorted_ids, item_ids), len(order) - 1)
  row = np.where(sorted_ids[at] == item_ids, order[at], -1)

  def counts(where):
    rows = row[where & (row >= 0)]
    return np.bincount(rows, minlength=len(catalogue_ids)).astype(np.float64)

  return counts(positive), counts(valid & ~positive), row


def item_probability(
  positives: np.ndarray,
  unclicked: np.ndarray,
  lists: int,
  hard_negatives: bool = False,
  uniform_per_list: int = 0,
  eligible: np.ndarray | None = None,
) -> np.ndarray:
  """[C] each catalogue item's probability among retrieval candidates, from
  its counts over `lists` training lists (`sampling_probability`)."""
  expected = positives / lists
  if hard_negatives:
    expected += unclicked / lists
  if uniform_per_list:
    if eligible is None:
      eligible = np.ones(len(positives), bool)
    expected += np.where(eligible, uniform_per_list / eligible.sum(), 0.0)
  if not expected.any():
    expected = np.ones_like(expected)
  q = expected / expected.sum()
  q = np.where(q > 0, q, q[q > 0].min())
  if q.min() < _TFRS_MIN_PROBABILITY:
    # TFRS clips sampling probabilities below 1e-6, which the normalised q of
    # a large candidate mix reaches; a constant factor leaves logQ's effect
    # unchanged, so the most frequent item gets 1 instead. (Only then, so
    # runs whose q is above the clip keep their exact numbers.)
    q = q / q.max()
  return q


def with_uniform_draws(
  dataset: tf.data.Dataset,
  candidates: dict[str, np.ndarray],
  probability: np.ndarray,
  count: int,
  seed: int,
) -> tf.data.Dataset:
  """Adds to each batch `count` items per list, drawn uniformly anew each
  batch from `candidates` (the eligible catalogue rows' candidate features,
  in the dtypes of the batches) with their sampling `probability`."""
  columns = {name: tf.constant(column) for name, column in candidates.items()}
  size = len(probability)
  probability = tf.constant(probability)
  seeds = tf.data.Dataset.random(
    seed=seed, rerandomize_each_iteration=True
  ).batch(2)
  lists = next(iter(columns))  # Any candidate column has [batch, list].

  @tf.autograph.experimental.do_not_convert
  def add(batch, seed):
    shape = [tf.shape(batch[lists])[0], count]
    drawn = tf.random.stateless_uniform(
      shape, seed, maxval=size, dtype=tf.int64
    )
    batch = dict(batch)
    for name, column in columns.items():
      batch[UNIFORM + name] = tf.gather(column, drawn)
    batch[UNIFORM_PROBABILITY] = tf.gather(probability, drawn)
    return batch

  return tf.data.Dataset.zip((dataset, seeds)).map(
    add, num_parallel_calls=tf.data.AUTOTUNE
  )


def id_key(ids: tf.Tensor) -> tf.Tensor:
  """Item ids as int64, so they can be gathered across replicas: string ids
  are hashed (a collision among 2^63 buckets only spares an accidental hit)."""
  if ids.dtype == tf.string:
    return tf.strings.to_hash_bucket_fast(ids, 2**63 - 1)
  return tf.cast(ids, tf.int64)


def mix(
  batch: dict[str, tf.Tensor],
  valid: tf.Tensor,
  positive: tf.Tensor,
  candidate_embedding: tf.Tensor,
  item_id: str,
  candidate_features: Sequence[str],
  config: RetrievalConfig,
  embed_candidates,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | None, tf.Tensor]:
  """The candidates each positive pair of the batch is scored against.

  Columns of the score matrix: the batch's positive candidates (each
  pair's own first, TFRS's labels being the diagonal), then, if any, the
  extra negatives: unclicked impressions, other replicas' positives and
  uniform draws.

  Args:
    batch: The batch, for item ids, sampling probabilities and draws.
    valid: [B, L] slots holding an item.
    positive: [B, L] the positive slots: the pairs.
    candidate_embedding: [B, L, D] every slot's candidate embedding.
    item_id: The item id column.
    candidate_features: The candidate tower's features, for uniform draws.
    config: Which extra negatives.
    embed_candidates: The candidate tower, {feature: [N]} -> [N, D], for
      the uniform draws.

  Returns:
    (index [P, 2] of the pairs' slots, candidates [C, D], their ids [C],
    sampling probabilities [C] or None, score mask [P, C]: which candidate
    may score against which pair).
  """
  index = tf.where(positive)
  candidate = tf.gather_nd(candidate_embedding, index)
  ids = tf.gather_nd(id_key(batch[item_id]), index)
  probability = None
  if SAMPLING_PROBABILITY in batch:
    probability = tf.gather_nd(batch[SAMPLING_PROBABILITY], index)
  # Another positive of the same list is not a negative for this pair.
  same_list = tf.equal(index[:, :1], tf.transpose(index[:, :1]))
  pairs = tf.shape(index)[0]
  score_mask = tf.logical_or(
    tf.logical_not(same_list), tf.cast(tf.eye(pairs), tf.bool)
  )
  extra = _extra_negatives(
    batch,
    valid,
    positive,
    candidate_embedding,
    item_id,
    candidate_features,
    config,
    embed_candidates,
  )
  if extra is not None:
    extra_candidate, extra_ids, extra_probability, usable = extra
    candidate = tf.concat([candidate, extra_candidate], axis=0)
    ids = tf.concat([ids, extra_ids], axis=0)
    if probability is not None:
      probability = tf.concat([probability, extra_probability], axis=0)
    score_mask = tf.concat(
      [
        score_mask,
        tf.broadcast_to(usable[tf.newaxis, :], [pairs, tf.shape(usable)[0]]),
      ],
      axis=1,
    )
  return index, candidate, ids, probability, score_mask


def _extra_negatives(
  batch, valid, positive, candidate_embedding, item_id, names, config, embed
):
  """(embeddings [C, D], ids [C], probabilities [C], usable [C]) of the
  negatives besides this replica's positives, or None if there are none."""
  context = tf.distribute.get_replica_context()
  replicas = context.num_replicas_in_sync if context is not None else 1
  gather = config.cross_replica_negatives and replicas > 1
  uniform = config.uniform_negatives > 0 and UNIFORM_PROBABILITY in batch
  if not (config.hard_negatives or gather or uniform):
    return None
  dim = candidate_embedding.shape[-1]
  slots = {
    "candidate": tf.reshape(candidate_embedding, [-1, dim]),
    "ids": tf.reshape(id_key(batch[item_id]), [-1]),
    "probability": tf.reshape(
      batch.get(SAMPLING_PROBABILITY, tf.ones_like(valid, tf.float32)), [-1]
    ),
    # A slot is an extra negative as an unclicked impression...
    "hard": tf.reshape(tf.logical_and(valid, tf.logical_not(positive)), [-1]),
    "positive": tf.reshape(positive, [-1]),
  }
  if not config.hard_negatives:
    slots["hard"] = tf.zeros_like(slots["hard"])
  if gather:
    me = context.replica_id_in_sync_group
    source = tf.fill(tf.shape(slots["ids"]), me)
    slots = {k: _all_gather(context, v) for k, v in slots.items()}
    source = _all_gather(context, source)
    # ...or as another replica's positive (this replica's come first).
    usable = tf.logical_or(
      slots["hard"],
      tf.logical_and(slots["positive"], tf.not_equal(source, me)),
    )
  else:
    usable = slots["hard"]
  parts = [(slots["candidate"], slots["ids"], slots["probability"], usable)]
  if uniform:
    features = {n: tf.reshape(batch[UNIFORM + n], [-1]) for n in names}
    drawn = (
      embed(features, training=True),
      id_key(features[item_id]),
      tf.reshape(batch[UNIFORM_PROBABILITY], [-1]),
    )
    if gather:
      drawn = tuple(_all_gather(context, x) for x in drawn)
    parts.append((*drawn, tf.ones_like(drawn[1], dtype=tf.bool)))
  return tuple(tf.concat(list(p), axis=0) for p in zip(*parts, strict=True))


def _all_gather(context, value):
  """Concatenates `value` of every replica along axis 0 (booleans too)."""
  if value.dtype == tf.bool:
    return tf.cast(
      context.all_gather(tf.cast(value, tf.int32), axis=0), tf.bool
    )
  return context.all_gather(value, axis=0)
