"""The multi-objective model: shared towers, a ranking trunk, one head a task.

  query features ----> encoder -> e_q -> dense -> q ---+--> retrieval
  candidate features -> encoder -> e_c -> dense -> c ---+   (in-batch softmax)

  [q, c, q*c, e_q, e_c, context encoding] -> trunk -> one head per ranking
                                                      objective

The model is assembled from the objectives it is given: a retrieval objective
adds a `tfrs.tasks.Retrieval` task on the tower embeddings, every other
objective adds a head on the shared trunk and takes its loss from the
registry. Nothing here knows about clicks, dwell time or purchases.

One batch is a batch of impression lists (see `pipeline.py`): query features
are [batch_size], everything else [batch_size, list_size].

The train step computes each task's loss, hands them to the weighting
strategy, which returns the gradients, and reports every task's loss and
effective weight, so they show in the progress bar, TensorBoard and
`metrics.json` without overriding anything.
"""

import dataclasses
from collections.abc import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

import objectives as objectives_lib
from multiobj import features as features_lib
from multiobj import schema, towers


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Sizes of the model.

  Attributes:
    embedding_dim: Width of id and text embeddings and of tower outputs.
    tower_layers: Hidden ReLU widths of each tower.
    trunk_layers: ReLU widths of the shared ranking trunk.
    head_layers: Hidden ReLU widths of each head before its output unit.
    temperature: Retrieval softmax temperature on cosine similarities.
    text_max_tokens: Vocabulary size of each text feature.
    text_length: Tokens kept per text value.
    id_dropout: Share of user and item ids replaced in training by the
      unknown-id bucket, so ids never seen in training (cold start) are
      served from the other features.
  """

  embedding_dim: int = 32
  tower_layers: tuple[int, ...] = (64,)
  trunk_layers: tuple[int, ...] = (128, 64)
  head_layers: tuple[int, ...] = (32,)
  temperature: float = 0.05
  text_max_tokens: int = 5000
  text_length: int = 12
  id_dropout: float = 0.0

  def __post_init__(self):
    for name in ("tower_layers", "trunk_layers", "head_layers"):
      object.__setattr__(self, name, tuple(int(w) for w in getattr(self, name)))
    if self.embedding_dim < 1:
      raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}.")
    if not self.trunk_layers:
      raise ValueError("trunk_layers needs at least one layer.")
    if not 0 <= self.id_dropout < 1:
      raise ValueError(f"id_dropout must be in [0, 1), got {self.id_dropout}.")
    if self.temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {self.temperature}.")


class MultiObjectiveModel(tfrs.Model):
  """Retrieval and ranking heads over shared towers.

  Args:
    spec: The dataset description; its features build the towers.
    stats: Vocabularies and moments of the features.
    objectives: The objectives to train; at most one of kind retrieval.
    config: Sizes.
    weighting: Name of the registered loss-weighting strategy.
  """

  def __init__(
    self,
    spec: schema.DatasetSpec,
    stats: features_lib.FeatureStats,
    objectives: Sequence[objectives_lib.Objective],
    config: ModelConfig = ModelConfig(),
    weighting: str = "static",
  ):
    super().__init__()
    objectives = tuple(objectives)
    if not objectives:
      raise ValueError("The model needs at least one objective.")
    retrieval = [o for o in objectives if o.kind == "retrieval"]
    if len(retrieval) > 1:
      raise ValueError(
        "At most one retrieval objective per model; got "
        f"{', '.join(o.name for o in retrieval)}."
      )
    self.spec = spec
    self.objective_list = objectives
    self.config = config
    self.retrieval_objective = retrieval[0] if retrieval else None
    self.ranking_objectives = tuple(
      o for o in objectives if o.kind != "retrieval"
    )

    size = (stats, config.embedding_dim)
    self.query_tower = towers.Tower(
      spec.features_of("query"),
      *size,
      config.tower_layers,
      config.text_length,
      config.id_dropout,
      name="query_tower",
    )
    self.candidate_tower = towers.Tower(
      spec.features_of("candidate"),
      *size,
      config.tower_layers,
      config.text_length,
      config.id_dropout,
      name="candidate_tower",
    )
    context = spec.features_of("context")
    self.context_encoder = (
      features_lib.FeatureEncoder(
        context, *size, config.text_length, name="context"
      )
      if context
      else None
    )
    if self.retrieval_objective:
      self.retrieval_task = tfrs.tasks.Retrieval(
        loss=self.retrieval_objective.make_loss(),
        temperature=config.temperature,
        remove_accidental_hits=True,
        name="retrieval_task",
      )
    # A retrieval-only model has no trunk: unbuilt layers would break Keras.
    self.trunk = (
      towers.mlp(config.trunk_layers, "trunk")
      if self.ranking_objectives
      else None
    )
    self.heads = {
      o.name: towers.mlp([*config.head_layers, 1], f"{o.name}_head", False)
      for o in self.ranking_objectives
    }
    self.ranking_loss_fns = {
      o.name: o.make_loss() for o in self.ranking_objectives
    }
    self.weighting = objectives_lib.get_weighting(
      weighting, {o.name: o.weight for o in objectives}
    )
    self.total_loss_tracker = tf.keras.metrics.Mean("loss")
    self.task_loss_trackers = {
      o.name: tf.keras.metrics.Mean(f"{o.name}_loss") for o in objectives
    }
    self.task_weight_trackers = {
      o.name: tf.keras.metrics.Mean(f"{o.name}_weight") for o in objectives
    }

  @property
  def metrics(self):
    # Listing the trackers here makes Keras reset them at each epoch.
    return [
      self.total_loss_tracker,
      *self.task_loss_trackers.values(),
      *self.task_weight_trackers.values(),
    ]

  @property
  def shared_variables(self) -> list[tf.Variable]:
    """Variables of the last shared layer (the trunk's last Dense)."""
    if not self.ranking_objectives:
      return list(self.candidate_tower.dense.layers[-1].trainable_variables)
    return list(self.trunk.layers[-1].trainable_variables)

  def call(self, inputs, training=False):
    """Returns embeddings and each ranking head's logits.

    Returns:
      {"query_embedding": [B, D], "candidate_embedding": [B, L, D],
       name: [B, L] for each ranking objective}.
    """
    mask = inputs[schema.MASK]
    batch_size, list_size = tf.shape(mask)[0], tf.shape(mask)[1]
    query_encoding = self.query_tower.encoder(
      {f.name: inputs[f.name] for f in self.spec.features_of("query")}
    )
    candidate_encoding = self.candidate_tower.encoder(
      {
        f.name: tf.reshape(inputs[f.name], [-1])
        for f in self.spec.features_of("candidate")
      }
    )
    query = self.query_tower.embed(query_encoding)
    candidate = tf.reshape(
      self.candidate_tower.embed(candidate_encoding),
      [batch_size, list_size, self.config.embedding_dim],
    )
    outputs = {"query_embedding": query, "candidate_embedding": candidate}
    if not self.ranking_objectives:
      return outputs

    def per_slot(x, width):
      return tf.reshape(x, [batch_size, list_size, width])

    def per_list(x, width):
      return tf.broadcast_to(
        x[:, tf.newaxis, :], [batch_size, list_size, width]
      )

    dim = self.config.embedding_dim
    parts = [
      per_list(query, dim),
      candidate,
      per_list(query, dim) * candidate,
      per_list(query_encoding, self.query_tower.encoder.width),
      per_slot(candidate_encoding, self.candidate_tower.encoder.width),
    ]
    if self.context_encoder is not None:
      context = self.context_encoder(
        {
          name: tf.reshape(inputs[name], [-1])
          for name in self.context_encoder.feature_names
        }
      )
      parts.append(per_slot(context, self.context_encoder.width))
    hidden = self.trunk(tf.concat(parts, axis=-1))
    for name, head in self.heads.items():
      outputs[name] = tf.squeeze(head(hidden), axis=-1)
    return outputs

  def serving_inputs(self, inputs):
    """`inputs` with every context feature set to its serving value."""
    inputs = dict(inputs)
    for feature in self.spec.features_of("context"):
      column = inputs[feature.name]
      value = tf.constant(feature.serving_value, dtype=column.dtype)
      inputs[feature.name] = tf.fill(tf.shape(column), value)
    return inputs

  def predictions(self, outputs):
    """Head outputs on the label's scale: probabilities for binary heads,
    transformed labels (log1p seconds) for regression, scores otherwise."""
    out = {}
    for o in self.ranking_objectives:
      out[o.name] = (
        tf.sigmoid(outputs[o.name]) if o.kind == "binary" else outputs[o.name]
      )
    return out

  def task_losses(self, inputs, outputs) -> dict[str, tf.Tensor]:
    """The scalar loss of each objective on one batch."""
    mask = tf.cast(inputs[schema.MASK], tf.float32)
    losses = {}
    for o in self.objective_list:
      if o.kind == "retrieval":
        losses[o.name] = self._retrieval_loss(o, inputs, outputs)
        continue
      weights = mask
      if o.mask:
        weights = weights * tf.cast(inputs[o.mask] > 0, tf.float32)
      if o.weight_column:
        weights = weights * tf.cast(inputs[o.weight_column], tf.float32)
      if o.kind == "regression" and schema.OBSERVED in inputs:
        # A sampled negative has no value to regress on.
        weights = weights * tf.cast(inputs[schema.OBSERVED], tf.float32)
      labels = tf.cast(inputs[o.label], tf.float32)
      if o.label_transform == "log1p":
        labels = tf.math.log1p(tf.maximum(labels, 0.0))
      losses[o.name] = self.ranking_loss_fns[o.name](
        labels, outputs[o.name], weights, batch=inputs
      )
    return losses

  def _retrieval_loss(self, objective, inputs, outputs):
    positive = tf.logical_and(
      inputs[objective.label] > 0, inputs[schema.MASK] > 0
    )
    index = tf.where(positive)
    query = tf.gather(outputs["query_embedding"], index[:, 0])
    candidate = tf.gather_nd(outputs["candidate_embedding"], index)
    probability = None
    if schema.SAMPLING_PROBABILITY in inputs:
      probability = tf.gather_nd(inputs[schema.SAMPLING_PROBABILITY], index)
    # Another positive of the same list is not a negative for this pair.
    same_list = tf.equal(index[:, :1], tf.transpose(index[:, :1]))
    pairs = tf.shape(index)[0]
    score_mask = tf.logical_or(
      tf.logical_not(same_list), tf.cast(tf.eye(pairs), tf.bool)
    )

    def loss():
      return self.retrieval_task(
        query,
        candidate,
        candidate_sampling_probability=probability,
        candidate_ids=tf.gather_nd(inputs[self.spec.item_id], index),
        compute_metrics=False,
        compute_batch_metrics=False,
        score_mask=score_mask,
      )

    # A batch without a positive pair (rare positives, small batches) has
    # nothing to retrieve: its retrieval loss is 0.
    return tf.cond(pairs > 0, loss, lambda: tf.constant(0.0))

  def compute_loss(self, inputs, training=False):
    """Total loss with the configured weights (the `tfrs.Model` hook)."""
    losses = self.task_losses(inputs, self(inputs, training=training))
    return tf.add_n([o.weight * losses[o.name] for o in self.objective_list])

  def _bind_steps(self):
    # Losses with a schedule (tce) follow the optimizer's step count.
    if self.optimizer is not None:
      for loss in self.ranking_loss_fns.values():
        loss.bind_step(self.optimizer.iterations)

  def train_step(self, inputs):
    self._bind_steps()
    with tf.GradientTape(
      persistent=self.weighting.needs_persistent_tape
    ) as tape:
      outputs = self(inputs, training=True)
      losses = self.task_losses(inputs, outputs)
      total, weights = self.weighting.combine(losses)
      regularization = (
        tf.add_n(self.losses) if self.losses else tf.constant(0.0)
      )
      total += regularization
    variables = self.trainable_variables
    gradients, weights = self.weighting.gradients(
      tape,
      total,
      losses,
      weights,
      variables,
      self.shared_variables,
      regularization,
    )
    del tape
    self.optimizer.apply_gradients(
      (g, v)
      for g, v in zip(gradients, variables, strict=False)
      if g is not None
    )
    return self._track(losses, weights, regularization)

  def test_step(self, inputs):
    self._bind_steps()
    losses = self.task_losses(inputs, self(inputs, training=False))
    weights = {o.name: tf.constant(o.weight) for o in self.objective_list}
    return self._track(losses, weights, tf.constant(0.0))

  def _track(self, losses, weights, regularization):
    total = regularization + tf.add_n(
      [
        tf.cast(weights[name], tf.float32) * loss
        for name, loss in losses.items()
      ]
    )
    self.total_loss_tracker.update_state(total)
    for name, loss in losses.items():
      self.task_loss_trackers[name].update_state(loss)
      self.task_weight_trackers[name].update_state(weights[name])
    return {m.name: m.result() for m in self.metrics}
