"""The multi-objective model: shared towers, a ranking trunk, one head a task.

  query features ----> encoder -> e_q -> dense -> q ---+--> retrieval
  candidate features -> encoder -> e_c -> dense -> c ---+   (retrieval/)

  [q, c, q*c, e_q, e_c, context encoding, history attention]
      -> trunk -> one input per head -> one head per ranking objective
                                        (heads.py)

A history feature (the user's recent items) shares the candidate tower's
item embedding: the query tower reads it with its sequence encoder (the
mean, a GRU, causal self-attention: `sequence.py`), and the ranking input
adds it as each candidate sees it (`attention.TargetAttention`, DIN). A
history trained at every position reads its events from the batch instead:
each list is then a window of one user's rows (`prepare/windows.py`), and
every slot gets a query of its own, from the events before it, [B, L, D]
instead of [B, D]; the heads see each slot's.

The model is assembled from the objectives it is given: each retrieval
objective adds a `retrieval.task.RetrievalTask` on the tower embeddings
(the first is the one evaluated; others, a multi-behaviour log's auxiliary
behaviours, shape the same towers), every other objective a head on the
trunk (`trunks.py`: shared_bottom, mmoe, ple), trained with its registered
loss. Nothing here knows about clicks, dwell time or purchases.

One batch is a batch of impression lists (`prepare.lists`): query features
are [batch_size], everything else [batch_size, list_size].

`compute_loss` returns each task's loss (not one scalar as in `tfrs.Model`:
this model's own train and test steps, `step.py`, combine them with the
weighting strategy). With gates, the
mean weight each task gives each expert is tracked like a loss
(`gate_{gate}_{expert}`).
"""

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

import objectives as objectives_lib
from multiobj import config as config_lib
from multiobj.data import spec as spec_lib
from multiobj.model import attention, step, towers, trunks
from multiobj.model import boost as boost_lib
from multiobj.model import features as features_lib
from multiobj.model import heads as heads_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import windows
from multiobj.retrieval import catalogue as catalogue_lib
from multiobj.retrieval import task as retrieval_lib


class MultiObjectiveModel(tfrs.Model):
  """Retrieval and ranking heads over shared towers.

  Args:
    spec: The dataset description; its features build the towers.
    stats: Vocabularies and moments of the features.
    objectives: The objectives to train; the first retrieval one is the
      one evaluated.
    config: Sizes.
    retrieval: The retrieval task's candidates and temperature.
    weighting: Name of the registered loss-weighting strategy.
    catalogue: The items retrieval scores against beyond the batch (for
      candidates "catalogue" and "sampled"); None where the model is not
      trained (evaluation, export).
  """

  # Objectives whose labels the validation split lacks: `step.test_step`
  # leaves them out (set by `train.fit`).
  unscored_in_validation: frozenset[str] = frozenset()

  def __init__(
    self,
    spec: spec_lib.DatasetSpec,
    stats: features_lib.FeatureStats,
    objectives: Sequence[objectives_lib.Objective],
    config: config_lib.ModelConfig = config_lib.ModelConfig(),
    retrieval: config_lib.RetrievalConfig = config_lib.RetrievalConfig(),
    weighting: str = "static",
    catalogue: catalogue_lib.Catalogue | None = None,
  ):
    super().__init__()
    objectives = tuple(objectives)
    if not objectives:
      raise ValueError("The model needs at least one objective.")
    found = [o for o in objectives if o.kind == "retrieval"]
    self.spec = spec
    self.objective_list = objectives
    self.config = config
    self.retrieval_objective = found[0] if found else None
    self.ranking_objectives = tuple(
      o for o in objectives if o.kind != "retrieval"
    )
    check_no_leakage(spec, objectives)
    heads_lib.check_funnels(objectives)
    self.objective_by_name = {o.name: o for o in objectives}

    self._build_towers(spec, stats, config)
    self.boost = self._build_boost(spec) if config.history_boost else None
    context = spec.features_of("context")
    self.context_encoder = (
      features_lib.FeatureEncoder(
        context,
        stats,
        config.embedding_dim,
        config.text_length,
        name="context",
      )
      if context
      else None
    )
    self.retrieval_tasks = {
      o.name: retrieval_lib.RetrievalTask(
        o,
        spec.item_id,
        [f.name for f in spec.features_of("candidate")],
        retrieval,
        catalogue,
        self.boost,
        name=f"retrieval_task_{o.name}",
      )
      for o in found
    }
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
    self.heads = heads_lib.build(self.ranking_objectives, config.head_layers)
    # The ranking heads see each history through the candidate (DIN); a
    # history trained at every position, through each slot's query.
    self.attention = {
      f.name: attention.TargetAttention(name=f"attention_{f.name}")
      for f in spec.features_of("query")
      if f.kind == "history" and not f.every_position
      and self.ranking_objectives
    }  # fmt: skip
    self.ranking_loss_fns = {
      o.name: o.make_loss() for o in self.ranking_objectives
    }
    self.weighting = objectives_lib.get_weighting(
      weighting, {o.name: o.weight for o in objectives}
    )
    self._make_trackers()

  def _build_towers(self, spec, stats, config):
    """The query and candidate towers; the query's history features share
    the candidate tower's item embedding."""
    options = (
      stats,
      config.embedding_dim,
      config.tower_layers,
      config.text_length,
      config.id_dropout,
    )
    normalize = config.similarity == "cosine"
    candidate_tower = towers.Tower(
      spec.features_of("candidate"),
      *options,
      normalize=normalize,
      name="candidate_tower",
    )
    self.query_tower = towers.Tower(
      spec.features_of("query"),
      *options,
      items=candidate_tower.encoder.by_feature.get(spec.item_id),
      history_encoder=config.history_encoder,
      normalize=normalize,
      name="query_tower",
    )
    self.candidate_tower = candidate_tower

  def _build_boost(self, spec):
    """The bonus of items in the query's boosted histories, or None."""
    boosted = [
      f for f in spec.features_of("query") if f.kind == "history" and f.boost
    ]
    if not boosted:
      return None
    for f in boosted:
      if f.every_position:
        raise ValueError(
          f"History feature {f.name!r}: boost scores the items of a row's "
          "own history, and a history trained at every position has none "
          "in training; set every_position to false, or boost off."
        )
    encoders = self.query_tower.encoder.by_feature
    items = self.candidate_tower.encoder.by_feature[spec.item_id]
    return boost_lib.HistoryBoost(
      boosted,
      {f.name: encoders[f.name] for f in boosted},
      integer_ids=items.input_dtype == tf.int64,
      name="boost",
    )

  def _make_trackers(self):
    objectives = self.objective_list
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
      {"query_embedding": [B, D] (or [B, L, D] for windows of a sequence,
       with "query_valid": [B, L] the slots that have an event before them),
       "candidate_embedding": [B, L, D],
       name: [B, L] logits for each ranking objective (of p(name) for one
       that follows another), name + CONDITIONAL: [B, L] logits of
       p(name | given) for those, "gates": {gate: [B, L, experts]}}.
    """
    mask = inputs[lists_lib.MASK]
    batch_size, list_size = tf.shape(mask)[0], tf.shape(mask)[1]
    query_encoding, query_valid = self._query_encoding(inputs, training)
    candidate_encoding = self.candidate_tower.encoder(
      {
        f.name: tf.reshape(inputs[f.name], [-1])
        for f in self.spec.features_of("candidate")
        if f.kind != spec_lib.KEY  # An item key is never an input.
      },
      training=training,
    )
    query = self.query_tower.embed(query_encoding)
    candidate = tf.reshape(
      self.candidate_tower.embed(candidate_encoding),
      [batch_size, list_size, self.config.embedding_dim],
    )
    outputs = {"query_embedding": query, "candidate_embedding": candidate}
    if query_valid is not None:
      outputs["query_valid"] = query_valid
    if not self.ranking_objectives:
      return outputs

    def per_slot(x, width):
      return tf.reshape(x, [batch_size, list_size, width])

    def per_list(x, width):
      if x.shape.rank == 3:  # A query of each slot's already.
        return x
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
    parts += self._history_attention(inputs, batch_size, list_size)
    hidden, gates = self.trunk(tf.concat(parts, axis=-1), training=training)
    outputs.update(heads_lib.apply(self.heads, hidden, self.ranking_objectives))
    outputs["gates"] = gates
    return outputs

  def _query_encoding(self, inputs, training):
    """([B, W] each list's query encoding, None); for windows of a
    sequence (their events' column in the batch), ([B, L, W] each slot's,
    [B, L] whether it has an event before it)."""
    encoder = self.query_tower.encoder
    sequences = [f.name for f in self.spec.sequences]
    if not sequences or windows.EVENTS + sequences[0] not in inputs:
      query_inputs = {name: inputs[name] for name in encoder.feature_names}
      return encoder(query_inputs, training=training), None
    list_size = tf.shape(inputs[lists_lib.MASK])[1]
    parts, valid = [], None
    for e in encoder.encoders:
      name = e.feature.name
      if name in sequences:
        encoded, before = e.encode_slots(
          inputs[self.spec.item_id],
          inputs[windows.EVENTS + name],
          inputs[lists_lib.MASK],
          training=training,
        )
        valid = before if valid is None else tf.logical_or(valid, before)
        parts.append(encoded)
        continue
      encoded = e(inputs[name], training=training)  # The user's: [B, W].
      parts.append(tf.repeat(encoded[:, tf.newaxis], list_size, axis=1))
    return tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0], valid

  def _history_attention(self, inputs, batch_size, list_size):
    """[B, L, D] per history feature (but those trained at every
    position): its items as each candidate sees them
    (`attention.TargetAttention`)."""
    if not self.attention:
      return []
    encoders = self.query_tower.encoder.by_feature
    histories = {
      name: encoders[name].history(inputs[name]) for name in self.attention
    }
    items = self.candidate_tower.encoder.by_feature[self.spec.item_id]
    ids = tf.reshape(inputs[self.spec.item_id], [-1])
    candidates = tf.reshape(
      items.embedding(items.index(ids)), [batch_size, list_size, items.width]
    )
    return [
      layer(histories[name], candidates)
      for name, layer in self.attention.items()
    ]

  def serving_inputs(self, inputs):
    """`inputs` with every context feature set to its serving value."""
    inputs = dict(inputs)
    for feature in self.spec.features_of("context"):
      column = inputs[feature.name]
      value = tf.constant(feature.serving_value, dtype=column.dtype)
      inputs[feature.name] = tf.fill(tf.shape(column), value)
    return inputs

  def predictions(self, outputs):
    """Head outputs on the label's scale (`heads.predictions`)."""
    return heads_lib.predictions(outputs, self.ranking_objectives)

  def compute_loss(self, inputs, training=False) -> dict[str, step.TaskLoss]:
    """Each task's loss on the batch: {objective name: TaskLoss}.

    Runs the model; every objective's task computes its loss (the retrieval
    task over the candidate mix, each head with its registered loss) and,
    like a TFRS task updating its metrics, the gates' usage is tracked. The
    train and test steps (`step.py`) combine the losses; unlike
    `tfrs.Model.compute_loss` this returns no single scalar.
    """
    outputs = self(inputs, training=training)
    valid = inputs[lists_lib.MASK] > 0
    losses = {}
    shared = self._retrieval_inputs(inputs, training)
    for o in self.objective_list:
      if o.kind == "retrieval":
        losses[o.name] = step.TaskLoss(
          *self.retrieval_tasks[o.name].loss(
            inputs,
            valid,
            outputs["query_embedding"],
            outputs["candidate_embedding"],
            self.candidate_tower,
            outputs.get("query_valid"),
            **shared,
          )
        )
        continue
      given = self.objective_by_name.get(o.given) if o.given else None
      losses[o.name] = step.TaskLoss(
        *heads_lib.loss(
          o, self.ranking_loss_fns[o.name], inputs, outputs, given
        )
      )
    self._track_gates(inputs, outputs)
    return losses

  def _retrieval_inputs(self, inputs, training):
    """What every retrieval task of a step reads, made once: the
    catalogue's embeddings (candidates "catalogue"), the keys of the boosted
    histories."""
    shared = {}
    if not self.retrieval_tasks:
      return shared
    task = next(iter(self.retrieval_tasks.values()))
    if task.config.candidates == "catalogue" and task.catalogue is not None:
      shared["catalogue_embedding"] = self.candidate_tower(
        task.catalogue.features, training=training
      )
    if self.boost is not None:
      shared["history_keys"] = self.boost.keys_of(inputs)
    return shared

  def _track_gates(self, inputs, outputs):
    mask = tf.cast(inputs[lists_lib.MASK], tf.float32)
    for gate, k, name in self._gate_slots:
      self.gate_trackers[name].update_state(
        outputs["gates"][gate][..., k], sample_weight=mask
      )

  def bind_steps(self):
    """Binds losses with a schedule (tce) to the optimizer's step count."""
    if self.optimizer is not None:
      for loss in self.ranking_loss_fns.values():
        loss.bind_step(self.optimizer.iterations)

  # Not converted by AutoGraph: nothing in a step branches on a tensor, and
  # converting every layer's code was most of the first step's time.
  @tf.autograph.experimental.do_not_convert
  def train_step(self, inputs):
    return step.train_step(self, inputs)

  @tf.autograph.experimental.do_not_convert
  def test_step(self, inputs):
    return step.test_step(self, inputs)


def build(
  spec: spec_lib.DatasetSpec,
  stats: features_lib.FeatureStats,
  config: config_lib.TrainConfig,
  catalogue: catalogue_lib.Catalogue | None = None,
  steps_per_epoch: int | None = None,
) -> MultiObjectiveModel:
  """The model `config` describes for `spec` and its feature `stats`,
  compiled with Adam at the config's learning rate (decayed over
  `steps_per_epoch` times its epochs, with a decay); `catalogue` for
  retrieval against the catalogue (the training data's)."""
  model = MultiObjectiveModel(
    spec,
    stats,
    config.objectives,
    config.model,
    config.retrieval,
    config.fit.weighting,
    catalogue,
  )
  rate = config.fit.learning_rate
  # A model rebuilt to be evaluated (no steps given) trains no more.
  if config.fit.learning_rate_decay == "cosine" and steps_per_epoch:
    rate = tf.keras.optimizers.schedules.CosineDecay(
      rate, steps_per_epoch * config.fit.epochs
    )
  model.compile(optimizer=tf.keras.optimizers.Adam(rate))
  return model


def check_no_leakage(
  spec: spec_lib.DatasetSpec, objectives: Sequence[objectives_lib.Objective]
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
