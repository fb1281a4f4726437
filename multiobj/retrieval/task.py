"""The retrieval task: each positive (query, item) pair scored against
candidates, in one softmax.

`RetrievalTask` is `tfrs.tasks.Retrieval`, and scores a batch's positive
pairs against the candidates its config names:

  batch      the batch's candidate mix (`candidates.mix`): TFRS's in-batch
             softmax with logQ correction, accidental hits removed. Where
             every slot of a list has a query of its own (windows of a
             sequence, `prepare/windows.py`), against each distinct item of
             the batch's positives once, logQ-corrected as TFRS does;
  catalogue  every eligible catalogue item (`catalogue.Catalogue`): the
             full softmax, no correction needed;
  sampled    `samples` items drawn from the catalogue each step, uniformly
             or by popularity, each logit less the log of its expected
             count in the draw (the sampled softmax of Jean et al., 2015),
             a draw of the pair's own item masked.

The model calls `loss` in one line with the batch and the tower
embeddings; it returns the loss and how many positive pairs it averages
over, so that losses can be combined across replicas.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

import objectives as objectives_lib
from multiobj.config import RetrievalConfig
from multiobj.retrieval import candidates as candidates_lib
from multiobj.retrieval import catalogue as catalogue_lib

# A logit no candidate can win with (TFRS's, for masked candidates).
_MIN_LOGIT = np.float32(tfrs.tasks.retrieval.MIN_FLOAT)

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
    config: Temperature and candidates.
    catalogue: The items to score against beyond the batch, for candidates
      "catalogue" and "sampled".
    boost: The bonus of items in the query's boosted histories
      (`model/boost.py`), added to their logits; with it, "batch" scores
      each pair against the batch's distinct positives.
  """

  def __init__(
    self,
    objective: objectives_lib.Objective,
    item_id: str,
    candidate_features: Sequence[str],
    config: RetrievalConfig,
    catalogue: catalogue_lib.Catalogue | None = None,
    boost=None,
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
    self.catalogue = catalogue
    self.boost = boost
    self.objective_loss = objective.make_loss()

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

  def loss(
    self,
    batch: dict[str, tf.Tensor],
    valid: tf.Tensor,
    query_embedding: tf.Tensor,
    candidate_embedding: tf.Tensor,
    embed_candidates,
    query_valid: tf.Tensor | None = None,
    catalogue_embedding: tf.Tensor | None = None,
    history_keys: dict | None = None,
  ) -> tuple[tf.Tensor, tf.Tensor]:
    """(mean loss over the batch's positive pairs, number of pairs), against
    the candidates of the config.

    Args:
      batch: The batch of lists.
      valid: [B, L] slots holding an item.
      query_embedding: [B, D] each list's query, or [B, L, D] each slot's
        (windows of a sequence).
      candidate_embedding: [B, L, D] each slot's candidate.
      embed_candidates: The candidate tower, {feature: [N]} -> [N, D].
      query_valid: [B, L] the slots that have a query (an event before
        them), with a query for each slot.
      catalogue_embedding: [C, D] the catalogue's items, embedded once a
        step for every retrieval task (candidates "catalogue").
      history_keys: {boosted history: [B, (k)] its items' keys}, parsed
        once a step (`boost.HistoryBoost.keys_of`).
    """
    per_slot = query_embedding.shape.rank == 3
    candidates = self.config.candidates or "batch"
    if candidates == "batch" and not per_slot and self.boost is None:
      return self.pair_loss(
        batch, valid, query_embedding, candidate_embedding, embed_candidates
      )
    if candidates == "batch" and (
      self.config.hard_negatives or self.config.uniform_negatives
    ):
      raise ValueError(
        "hard_negatives and uniform_negatives add to TFRS's in-batch "
        "candidates; with a boosted history or a history trained at every "
        "position, retrieval scores each positive against the batch's "
        "distinct positives and cannot add them: for more negatives, use "
        "candidates 'sampled' (--retrieval_candidates=sampled)."
      )
    positive = tf.logical_and(batch[self.label] > 0, valid)
    if query_valid is not None:
      positive = tf.logical_and(positive, query_valid)
    index = tf.where(positive)
    query = (
      tf.gather_nd(query_embedding, index)
      if per_slot
      else tf.gather(query_embedding, index[:, 0])
    )
    ids = tf.gather_nd(batch[self.item_id], index)
    # Each pair's boosted histories (query features: one a list).
    histories = {}
    if self.boost is not None:
      if history_keys is None:
        history_keys = self.boost.keys_of(batch)
      histories = {
        name: tf.gather(keys, index[:, 0])
        for name, keys in history_keys.items()
      }
    if candidates == "catalogue":
      if catalogue_embedding is None:
        catalogue_embedding = embed_candidates(
          self._needs_catalogue().features, training=True
        )
      return self._catalogue_loss(query, ids, catalogue_embedding, histories)
    own = tf.gather_nd(candidate_embedding, index)
    if candidates == "sampled":
      return self._sampled_loss(query, ids, own, embed_candidates, histories)
    probability = None
    if candidates_lib.SAMPLING_PROBABILITY in batch:
      probability = tf.gather_nd(
        batch[candidates_lib.SAMPLING_PROBABILITY], index
      )
    return self._distinct_loss(query, ids, own, probability, histories)

  def _needs_catalogue(self):
    if self.catalogue is None:
      raise ValueError(
        f"Retrieval candidates {self.config.candidates!r} score against the "
        "catalogue, and the model was built without one."
      )
    return self.catalogue

  def _catalogue_loss(self, query, ids, items, histories):
    """Every eligible item (`items`, embedded) a candidate: the full
    softmax."""
    catalogue = self._needs_catalogue()
    rows = catalogue.rows(ids)
    known = rows >= 0  # An item held out (cold) is nobody's target.
    query, rows = tf.boolean_mask(query, known), tf.boolean_mask(rows, known)
    logits = tf.matmul(query, items, transpose_b=True) / self._temperature
    if histories:
      histories = {
        k: tf.ragged.boolean_mask(v, known) for k, v in histories.items()
      }
      logits += (
        self.boost.over(histories, catalogue.rows, catalogue.size)
        / self._temperature
      )
    return self.objective_loss.of_one_positive(logits, rows)

  def _sampled_loss(self, query, ids, own, embed, histories):
    """The pair's own item, then `samples` drawn ones, logQ-corrected."""
    catalogue = self._needs_catalogue()
    count = self.config.samples or 1024
    sampling = self.config.sampling or "popularity"
    drawn, log_expected = catalogue.draw(count, sampling)
    items = embed(catalogue.features_of(drawn), training=True)
    logits = (
      tf.concat(
        [
          tf.reduce_sum(query * own, axis=1, keepdims=True),
          tf.matmul(query, items, transpose_b=True),
        ],
        axis=1,
      )
      / self._temperature
    )
    # The positive is corrected as a draw would be (Bengio and Senecal's
    # sampled softmax; TensorFlow's sampled_softmax_loss does the same).
    rows = catalogue.rows(ids)
    own_expected = catalogue.log_expected(rows, count, sampling)
    logits -= tf.concat(
      [
        own_expected[:, tf.newaxis],
        tf.broadcast_to(log_expected[tf.newaxis], tf.shape(logits[:, 1:])),
      ],
      axis=1,
    )
    if histories:
      keys = candidates_lib.id_key(ids)
      logits += (
        tf.concat(
          [
            self.boost.own(histories, keys)[:, tf.newaxis],
            self.boost.against(
              histories, candidates_lib.id_key(catalogue.ids_of(drawn))
            ),
          ],
          axis=1,
        )
        / self._temperature
      )
    # A draw of the pair's own item is no negative (an accidental hit).
    hit = tf.equal(rows[:, tf.newaxis], drawn[tf.newaxis, :])
    hit = tf.concat([tf.zeros_like(hit[:, :1]), hit], axis=1)
    logits = tf.where(hit, _MIN_LOGIT, logits)
    return self.objective_loss.of_one_positive(
      logits, tf.zeros(tf.shape(logits)[:1], tf.int64)
    )

  def _distinct_loss(self, query, ids, own, probability, histories):
    """Each distinct item of the batch's positives a candidate once, its
    logit less the log of its sampling probability (TFRS's correction)."""
    key = candidates_lib.id_key(ids)
    distinct, which = tf.unique(key)
    pairs = tf.shape(key)[0]
    first = tf.math.unsorted_segment_min(
      tf.range(pairs), which, tf.shape(distinct)[0]
    )
    items = tf.gather(own, first)
    logits = tf.matmul(query, items, transpose_b=True) / self._temperature
    if probability is not None:
      logits = tfrs.layers.loss.SamplingProbablityCorrection()(
        logits, tf.gather(probability, first)
      )
    if histories:
      logits += self.boost.against(histories, distinct) / self._temperature
    return self.objective_loss.of_one_positive(logits, which)
