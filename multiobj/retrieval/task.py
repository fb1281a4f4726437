"""The retrieval task: TFRS's sampled softmax over the batch's candidate mix.

`RetrievalTask` is `tfrs.tasks.Retrieval` (in-batch softmax with logQ
correction, accidental hits removed), given the candidates `candidates.mix`
assembles for the batch. The model calls it in one line with the batch and
the tower embeddings; it returns the loss and how many positive pairs it
averages over, so that losses can be combined across replicas.
"""

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

import objectives as objectives_lib
from multiobj.config import RetrievalConfig
from multiobj.retrieval import candidates as candidates_lib

_RETRIEVAL_CALL = tf.autograph.to_graph(
  tfrs.tasks.Retrieval.call, recursive=False
)


class RetrievalTask(tfrs.tasks.Retrieval):
  """Two-tower retrieval of a retrieval objective's positive slots.

  Args:
    objective: The retrieval objective: its label marks the positive
      (query, item) pairs, its loss scores them (registered, e.g. softmax).
    item_id: The item id column.
    candidate_features: The candidate tower's features (for uniform draws).
    config: Temperature and extra negatives.
  """

  def __init__(
    self,
    objective: objectives_lib.Objective,
    item_id: str,
    candidate_features: Sequence[str],
    config: RetrievalConfig,
    name: str = "retrieval_task",
  ):
    super().__init__(
      loss=objective.make_loss(),
      temperature=config.temperature,
      remove_accidental_hits=True,
      name=name,
    )
    self.label = objective.label
    self.item_id = item_id
    self.candidate_features = tuple(candidate_features)
    self.config = config

  def call(
    self,
    query_embeddings,
    candidate_embeddings,
    sample_weight=None,
    candidate_sampling_probability=None,
    candidate_ids=None,
    compute_metrics=True,
    compute_batch_metrics=True,
    score_mask=None,
  ):
    # TFRS's call takes len() of a tensor, which works in a graph only as
    # AutoGraph rewrites it; the model's steps are not converted (model.py),
    # so this one function is, once.
    return _RETRIEVAL_CALL(
      self,
      query_embeddings,
      candidate_embeddings,
      sample_weight,
      candidate_sampling_probability,
      candidate_ids,
      compute_metrics,
      compute_batch_metrics,
      score_mask,
    )

  def pair_loss(
    self,
    batch: dict[str, tf.Tensor],
    valid: tf.Tensor,
    query_embedding: tf.Tensor,
    candidate_embedding: tf.Tensor,
    embed_candidates,
  ) -> tuple[tf.Tensor, tf.Tensor]:
    """(mean loss over the batch's positive pairs, number of pairs).

    Args:
      batch: The batch of lists.
      valid: [B, L] slots holding an item.
      query_embedding: [B, D] each list's query.
      candidate_embedding: [B, L, D] each slot's candidate.
      embed_candidates: The candidate tower, for uniform draws.
    """
    positive = tf.logical_and(batch[self.label] > 0, valid)
    index, candidate, ids, probability, score_mask = candidates_lib.mix(
      batch,
      valid,
      positive,
      candidate_embedding,
      self.item_id,
      self.candidate_features,
      self.config,
      embed_candidates,
    )
    query = tf.gather(query_embedding, index[:, 0])
    pairs = tf.shape(index)[0]

    def loss():
      return self(
        query,
        candidate,
        candidate_sampling_probability=probability,
        candidate_ids=ids,
        compute_metrics=False,
        compute_batch_metrics=False,
        score_mask=score_mask,
      )

    # A batch without a positive pair (rare positives, small batches) has
    # nothing to retrieve: its retrieval loss is 0. (Collective operations
    # stay outside the condition: every replica must run them.)
    value = tf.cond(pairs > 0, loss, lambda: tf.constant(0.0))
    return value, tf.cast(pairs, tf.float32)
