"""The multi-objective model: shared towers, a ranking trunk, one head a task.

  query features ----> encoder -> e_q -> dense -> q ---+--> retrieval
  candidate features -> encoder -> e_c -> dense -> c ---+   (in-batch softmax)

  [q, c, q*c, e_q, e_c, context encoding] -> trunk -> one input per head
                                                      -> one head per ranking
                                                         objective

The trunk is registered by name (`trunks.py`: shared_bottom, mmoe, ple); with
gates, the mean weight each task gives each expert is tracked like a loss
(`gate_{gate}_{expert}`). An objective that follows another (purchase given
click) is predicted as p(given) * p(objective | given), trained on the given
objective's positive rows or on every row (entire space, ESMM).

Retrieval scores each positive (query, candidate) pair against the batch's
other positives, and optionally against the batch's unclicked impressions
(hard negatives) and uniformly drawn catalogue items, all with one logQ
correction by the candidate mix's sampling probability. Under a
`tf.distribute` strategy with several replicas, the candidates are gathered
across replicas (`cross_replica_negatives`), and every task's loss is scaled
so that the replicas' summed gradients are those of the global batch.

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
from multiobj import schema, towers, trunks

# Suffix of the output holding p(objective | given) logits.
CONDITIONAL = "/conditional"


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
    trunk: The ranking trunk, a registered name with parameters, e.g.
      "mmoe(experts=4)" (see `trunks.py`).
    hard_negatives: Retrieval also scores each positive against the batch's
      unclicked impressions (its own request's among them).
    uniform_negatives: Catalogue items drawn uniformly per list for the
      retrieval loss, as extra negatives (0 for none).
    cross_replica_negatives: With several replicas, gather candidates across
      replicas, so negatives come from the global batch.
  """

  embedding_dim: int = 32
  tower_layers: tuple[int, ...] = (64,)
  trunk_layers: tuple[int, ...] = (128, 64)
  head_layers: tuple[int, ...] = (32,)
  temperature: float = 0.05
  text_max_tokens: int = 5000
  text_length: int = 12
  id_dropout: float = 0.0
  trunk: str = "shared_bottom"
  hard_negatives: bool = False
  uniform_negatives: int = 0
  cross_replica_negatives: bool = True

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
    if self.uniform_negatives < 0:
      raise ValueError(
        f"uniform_negatives must be >= 0, got {self.uniform_negatives}."
      )
    trunks.check(self.trunk)


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
    check_no_leakage(spec, objectives)
    self.objective_by_name = names = {o.name: o for o in objectives}
    for o in objectives:
      if o.given is None:
        continue
      given = names.get(o.given)
      if given is None or given.kind != "binary":
        raise ValueError(
          f"Objective {o.name!r} follows {o.given!r}, which is not a binary "
          f"objective of this model ({', '.join(names)})."
        )
      if given.given is not None:
        raise ValueError(
          f"Objective {o.name!r} follows {o.given!r}, which itself follows "
          f"{given.given!r}; chains are not supported."
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
      trunks.get_trunk(
        config.trunk,
        [o.name for o in self.ranking_objectives],
        config.trunk_layers,
      )
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
    # Mean weight each gate gives each expert: "gate_{gate}_{expert}".
    gate_experts = self.trunk.gate_experts if self.trunk else {}
    self._gate_slots = [
      (gate, k, f"gate_{gate}_{expert}")
      for gate, experts in gate_experts.items()
      for k, expert in enumerate(experts)
    ]
    self.gate_trackers = {
      name: tf.keras.metrics.Mean(name) for _, _, name in self._gate_slots
    }

  @property
  def metrics(self):
    # Listing the trackers here makes Keras reset them at each epoch.
    return [
      self.total_loss_tracker,
      *self.task_loss_trackers.values(),
      *self.task_weight_trackers.values(),
      *self.gate_trackers.values(),
    ]

  @property
  def shared_variables(self) -> list[tf.Variable]:
    """Variables of the last shared layer (the trunk's last Dense)."""
    if not self.ranking_objectives:
      return list(self.candidate_tower.dense.layers[-1].trainable_variables)
    return self.trunk.shared_variables

  def call(self, inputs, training=False):
    """Returns embeddings and each ranking head's logits.

    Returns:
      {"query_embedding": [B, D], "candidate_embedding": [B, L, D],
       name: [B, L] logits for each ranking objective (of p(name) for one
       that follows another), name + CONDITIONAL: [B, L] logits of
       p(name | given) for those, "gates": {gate: [B, L, experts]}}.
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
    hidden, gates = self.trunk(tf.concat(parts, axis=-1), training=training)
    for name, head in self.heads.items():
      outputs[name] = tf.squeeze(head(hidden[name]), axis=-1)
    for o in self.ranking_objectives:
      if o.given is not None:
        conditional = outputs[o.name]
        outputs[o.name + CONDITIONAL] = conditional
        outputs[o.name] = product_logit(outputs[o.given], conditional)
    outputs["gates"] = gates
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
      if o.given is not None:
        # The product itself, so it never exceeds p(given) by rounding.
        out[o.name] = tf.sigmoid(outputs[o.given]) * tf.sigmoid(
          outputs[o.name + CONDITIONAL]
        )
      elif o.kind == "binary":
        out[o.name] = tf.sigmoid(outputs[o.name])
      else:
        out[o.name] = outputs[o.name]
    return out

  def task_losses(self, inputs, outputs) -> dict[str, tf.Tensor]:
    """The scalar loss of each objective on one batch.

    Under a strategy with several replicas, each loss is this replica's
    share of the global batch's loss, times the number of replicas: the
    replicas' average is then the global batch's loss (see `_global_share`).
    """
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
      logits = outputs[o.name]
      if o.given is not None and not o.entire_space:
        # The conditional model: p(o | given) on the given's positive rows.
        given = self.objective_by_name[o.given]
        weights = weights * tf.cast(inputs[given.label] > 0, tf.float32)
        logits = outputs[o.name + CONDITIONAL]
      loss, denominator = self.ranking_loss_fns[o.name].parts(
        labels, logits, weights, batch=inputs
      )
      losses[o.name] = loss * _global_share(denominator)
    return losses

  def _retrieval_loss(self, objective, inputs, outputs):
    """Sampled softmax of each positive pair against the candidate mix.

    Columns of the score matrix: the batch's positive candidates (each
    pair's own first, TFRS's labels being the diagonal), then, if any, the
    extra negatives: unclicked impressions, other replicas' positives and
    uniform draws. Another positive of the same list is never a negative;
    a candidate with the positive's id is removed (accidental hit).
    """
    valid = inputs[schema.MASK] > 0
    positive = tf.logical_and(inputs[objective.label] > 0, valid)
    index = tf.where(positive)
    query = tf.gather(outputs["query_embedding"], index[:, 0])
    candidate = tf.gather_nd(outputs["candidate_embedding"], index)
    ids = tf.gather_nd(_id_key(inputs[self.spec.item_id]), index)
    probability = None
    if schema.SAMPLING_PROBABILITY in inputs:
      probability = tf.gather_nd(inputs[schema.SAMPLING_PROBABILITY], index)
    # Another positive of the same list is not a negative for this pair.
    same_list = tf.equal(index[:, :1], tf.transpose(index[:, :1]))
    pairs = tf.shape(index)[0]
    score_mask = tf.logical_or(
      tf.logical_not(same_list), tf.cast(tf.eye(pairs), tf.bool)
    )

    extra = self._extra_negatives(objective, inputs, outputs, positive)
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

    def loss():
      return self.retrieval_task(
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
    share = _global_share(tf.cast(pairs, tf.float32))
    return tf.cond(pairs > 0, loss, lambda: tf.constant(0.0)) * share

  def _extra_negatives(self, objective, inputs, outputs, positive):
    """(embeddings [C, D], ids [C], probabilities [C], usable [C]) of the
    negatives besides this replica's positives, or None if there are none."""
    config = self.config
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    gather = config.cross_replica_negatives and replicas > 1
    uniform = (
      config.uniform_negatives > 0 and schema.UNIFORM_PROBABILITY in inputs
    )
    if not (config.hard_negatives or gather or uniform):
      return None
    dim = config.embedding_dim
    valid = inputs[schema.MASK] > 0
    slots = {
      "candidate": tf.reshape(outputs["candidate_embedding"], [-1, dim]),
      "ids": tf.reshape(_id_key(inputs[self.spec.item_id]), [-1]),
      "probability": tf.reshape(
        inputs.get(
          schema.SAMPLING_PROBABILITY, tf.ones_like(inputs[schema.MASK])
        ),
        [-1],
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
      features = {
        f.name: tf.reshape(inputs[schema.UNIFORM + f.name], [-1])
        for f in self.spec.features_of("candidate")
      }
      drawn = (
        self.candidate_tower(features, training=True),
        _id_key(features[self.spec.item_id]),
        tf.reshape(inputs[schema.UNIFORM_PROBABILITY], [-1]),
      )
      if gather:
        drawn = tuple(_all_gather(context, x) for x in drawn)
      parts.append((*drawn, tf.ones_like(drawn[1], dtype=tf.bool)))
    return tuple(tf.concat(list(p), axis=0) for p in zip(*parts, strict=True))

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
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
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
      # The optimizer sums the replicas' gradients: each replica's loss is
      # its share of the global loss.
      if replicas > 1:
        total = total / replicas
        losses = {k: v / replicas for k, v in losses.items()}
        regularization = regularization / replicas
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
    if replicas > 1:
      losses = {k: v * replicas for k, v in losses.items()}
      regularization = regularization * replicas
    return self._track(inputs, outputs, losses, weights, regularization)

  def test_step(self, inputs):
    self._bind_steps()
    outputs = self(inputs, training=False)
    losses = self.task_losses(inputs, outputs)
    weights = {o.name: tf.constant(o.weight) for o in self.objective_list}
    return self._track(inputs, outputs, losses, weights, tf.constant(0.0))

  def _track(self, inputs, outputs, losses, weights, regularization):
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
    mask = tf.cast(inputs[schema.MASK], tf.float32)
    for gate, k, name in self._gate_slots:
      self.gate_trackers[name].update_state(
        outputs["gates"][gate][..., k], sample_weight=mask
      )
    return {m.name: m.result() for m in self.metrics}


def _id_key(ids: tf.Tensor) -> tf.Tensor:
  """Item ids as int64, so they can be gathered across replicas: string ids
  are hashed (a collision among 2^63 buckets only spares an accidental hit)."""
  if ids.dtype == tf.string:
    return tf.strings.to_hash_bucket_fast(ids, 2**63 - 1)
  return tf.cast(ids, tf.int64)


def _all_gather(context, value):
  """Concatenates `value` of every replica along axis 0 (booleans too)."""
  if value.dtype == tf.bool:
    return tf.cast(
      context.all_gather(tf.cast(value, tf.int32), axis=0), tf.bool
    )
  return context.all_gather(value, axis=0)


def _global_share(denominator: tf.Tensor | None) -> tf.Tensor:
  """R * this replica's share of a loss's denominator over the global batch.

  A task loss is a mean over this replica's rows or lists (its denominator:
  the sum of the weights, the lists with a positive, the retrieval pairs);
  multiplied by this factor and averaged over the R replicas it is the mean
  over the global batch. 1 without a strategy, with one replica, or for a
  loss that does not say its denominator (replicas then count equally).
  """
  context = tf.distribute.get_replica_context()
  if (
    context is None or context.num_replicas_in_sync == 1 or denominator is None
  ):
    return tf.constant(1.0)
  replicas = context.num_replicas_in_sync
  total = context.all_reduce(tf.distribute.ReduceOp.SUM, denominator)
  return tf.math.divide_no_nan(denominator * replicas, total)


def product_logit(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """The logit of sigmoid(a) * sigmoid(b), computed in log space.

  log p = log sigmoid(a) + log sigmoid(b); logit = log p - log(1 - p), with
  log(1 - p) = log1mexp(log p) taken on the stable branch (Maechler 2012).
  """
  log_p = tf.minimum(-tf.nn.softplus(-a) - tf.nn.softplus(-b), -1e-7)
  near_zero = log_p > -0.6931472
  # Each branch gets an argument where it is finite, so no NaN gradient
  # leaks from the branch tf.where does not pick.
  log_1mp = tf.where(
    near_zero,
    tf.math.log(-tf.math.expm1(tf.where(near_zero, log_p, -1.0))),
    tf.math.log1p(-tf.exp(tf.where(near_zero, -1.0, log_p))),
  )
  return log_p - log_1mp


def check_no_leakage(
  spec: schema.DatasetSpec, objectives: Sequence[objectives_lib.Objective]
) -> None:
  """Refuses a model whose inputs contain a column an objective learns from.

  Raises:
    ValueError: naming the column, its role as input and the objective.
  """
  inputs = {f.name: f.role for f in spec.features}
  for o in objectives:
    for what, column in (
      ("label", o.label),
      ("mask", o.mask),
      ("weight column", o.weight_column),
      *(("loss input", c) for c in o.make_loss().required_columns),
    ):
      if column in inputs:
        raise ValueError(
          f"Label leakage: objective {o.name!r} learns from column {column!r} "
          f"({what}), which is also a model input ({inputs[column]} feature). "
          "A label column can never be a model input; remove it from the "
          "features or the objective from the run."
        )
  for column in (spec.truth, spec.randomized):
    if column and column in inputs:
      raise ValueError(
        f"Label leakage: column {column!r} (ground truth or logging "
        f"bookkeeping) is a model input ({inputs[column]} feature); it can "
        "never be one."
      )
