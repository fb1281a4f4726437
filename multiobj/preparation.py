"""From a loaded dataset and a run's config to lists ready for training.

resolve      the run's objectives: the dataset's own (or the explicit
             ones), selected and weighted by `--objectives`, losses
             overridden by `--losses`, click objectives weighted by
             inverse propensity when `--propensity` is set;
cold start   a share of items removed from training entirely;
lists        every split as impression lists (`pipeline.to_lists`);
negatives    for logs of positives only, sampled negatives: drawn anew
             each training epoch, once (fixed seed) for evaluation;
logQ         each item's sampling probability among retrieval candidates;
propensity   inverse-propensity weights of clicks, per split.
"""

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

import objectives as objectives_lib
from multiobj import negatives as negatives_lib
from multiobj import pipeline, schema
from multiobj import propensity as propensity_lib
from multiobj.config import TrainConfig
from multiobj.data import dataset as dataset_lib


def resolve(config: TrainConfig, data: dataset_lib.Dataset) -> TrainConfig:
  """`config` with its final objectives for `data`."""
  chosen = objectives_lib.select(
    config.objective_weights,
    config.losses,
    "--objectives",
    config.objectives or data.objectives,
  )
  if config.propensity != "none":

    def debiased(o):
      return o.label == config.propensity_label and o.kind in (
        "binary",
        "listwise",
      )

    if not any(debiased(o) for o in chosen):
      raise ValueError(
        f"--propensity={config.propensity}: no binary or listwise objective "
        f"learns from {config.propensity_label!r}, so no loss would be weighted."
      )
    chosen = [
      dataclasses.replace(o, weight_column=schema.IPW) if debiased(o) else o
      for o in chosen
    ]
  chosen = purchase_space(chosen, config.purchase_space, config.purchase_given)
  # The objectives are now explicit; the selection that made them is spent.
  return dataclasses.replace(
    config, objectives=tuple(chosen), objective_weights="", losses=""
  )


def purchase_space(
  chosen: list[objectives_lib.Objective], space: str, given: str = "click"
) -> list[objectives_lib.Objective]:
  """The objectives with "purchase" following `given` as `space` says."""
  if space == "impression":
    return chosen
  names = {o.name: o for o in chosen}
  missing = [n for n in (given, "purchase") if n not in names]
  if missing:
    raise ValueError(
      f"--purchase_space={space} needs the objectives {given} and purchase; "
      f"this run has no {' and no '.join(missing)} (it has "
      f"{', '.join(names)})."
    )
  return [
    dataclasses.replace(o, given=given, entire_space=space == "entire")
    if o.name == "purchase"
    else o
    for o in chosen
  ]


def negative_sampling(
  config: TrainConfig, data: dataset_lib.Dataset
) -> dataset_lib.NegativeSampling | None:
  """The dataset's negative sampling with the config's overrides applied."""
  if config.negatives == 0:
    return None
  sampling = data.negatives
  if config.negatives is not None or config.negative_sampling is not None:
    sampling = sampling or dataset_lib.NegativeSampling()
    changes = {}
    if config.negatives is not None:
      changes["per_positive"] = config.negatives
    if config.negative_sampling is not None:
      changes["distribution"] = config.negative_sampling
    sampling = dataclasses.replace(sampling, **changes)
  return sampling


def columns_for(
  spec: schema.DatasetSpec,
  objectives: tuple[objectives_lib.Objective, ...],
  with_truth: bool,
) -> list[str]:
  """The columns the model and its objectives read."""
  columns = [f.name for f in spec.features]
  for o in objectives:
    wanted = (o.label, o.mask, o.weight_column, *o.make_loss().required_columns)
    # Columns named "__..." are computed here, not read.
    columns += [
      c for c in wanted if c and not c.startswith("__") and c not in columns
    ]
  # The user id lets sampled negatives avoid the user's own items.
  extra = [spec.position, spec.randomized, spec.user_id]
  if with_truth:
    extra.append(spec.truth)
  columns += [c for c in extra if c and c not in columns]
  return columns


@dataclasses.dataclass
class Prepared:
  """A run's data, ready for the model.

  Attributes:
    config: The resolved config.
    data: The dataset, cold-start items removed from its train and valid
      splits.
    lists: Every split as lists; the training lists carry one draw of
      negatives (the training dataset draws anew each epoch).
    cold_items: Ids of the items held out of training.
    propensities: Position propensities, when inverse-propensity weighting.
  """

  config: TrainConfig
  data: dataset_lib.Dataset
  lists: dict[str, dataset_lib.Table]
  cold_items: np.ndarray
  propensities: list[float] | None
  _sampler: negatives_lib.NegativeSampler | None
  _train_rows: dataset_lib.Table
  # Each catalogue item's retrieval sampling probability, for uniform draws.
  _uniform_q: np.ndarray | None = None

  def train_dataset(self) -> tf.data.Dataset:
    """Shuffled training batches; sampled negatives are drawn each epoch."""
    config = self.config
    if self._sampler is None:
      return self._with_uniform_negatives(
        pipeline.make_dataset(
          self.lists["train"],
          config.batch_size,
          shuffle=True,
          seed=config.seed,
        )
      )
    epochs = iter(range(1, 1_000_000))

    def batches():
      lists = self._finish(
        self._sampler.add(self._train_rows, config.seed + next(epochs))
      )
      order = np.random.default_rng(config.seed).permutation(
        len(lists[schema.MASK])
      )
      for start in range(0, len(order), config.batch_size):
        part = order[start : start + config.batch_size]
        yield {name: column[part] for name, column in lists.items()}

    signature = {
      name: tf.TensorSpec(
        (None, *column.shape[1:]), tf.as_dtype(_dtype(column))
      )
      for name, column in self.lists["train"].items()
    }
    dataset = tf.data.Dataset.from_generator(
      batches, output_signature=signature
    )
    return self._with_uniform_negatives(dataset.prefetch(tf.data.AUTOTUNE))

  def _retrieval(self):
    retrieval = [o for o in self.config.objectives if o.kind == "retrieval"]
    return retrieval[0] if retrieval else None

  def _with_uniform_negatives(self, dataset):
    """Adds to each batch `uniform_negatives` catalogue items per list,
    drawn uniformly (cold-start items excluded) anew each batch."""
    count = self.config.model.uniform_negatives
    if not count or self._retrieval() is None:
      return dataset
    spec, catalogue = self.data.spec, self.data.catalogue
    eligible = np.flatnonzero(self._eligible())
    columns = {
      f.name: tf.constant(
        catalogue[f.name][eligible].astype(_dtype(self.lists["train"][f.name]))
      )
      for f in spec.features_of("candidate")
    }
    probability = tf.constant(self._uniform_q[eligible])
    seeds = tf.data.Dataset.random(
      seed=self.config.seed, rerandomize_each_iteration=True
    ).batch(2)

    def add(batch, seed):
      shape = [tf.shape(batch[schema.MASK])[0], count]
      drawn = tf.random.stateless_uniform(
        shape, seed, maxval=len(eligible), dtype=tf.int64
      )
      batch = dict(batch)
      for name, column in columns.items():
        batch[schema.UNIFORM + name] = tf.gather(column, drawn)
      batch[schema.UNIFORM_PROBABILITY] = tf.gather(probability, drawn)
      return batch

    return tf.data.Dataset.zip((dataset, seeds)).map(
      add, num_parallel_calls=tf.data.AUTOTUNE
    )

  def _eligible(self):
    ids = self.data.catalogue[self.data.spec.item_id]
    return ~np.isin(ids, self.cold_items)

  def _finish(self, lists):
    # The per-draw columns that depend on the training positives.
    retrieval = self._retrieval()
    if retrieval:
      model, spec = self.config.model, self.data.spec
      slots, self._uniform_q = pipeline.sampling_probability(
        lists,
        spec.item_id,
        retrieval.label,
        self.data.catalogue[spec.item_id],
        model.hard_negatives,
        model.uniform_negatives,
        self._eligible(),
      )
      lists[schema.SAMPLING_PROBABILITY] = slots
    if self.propensities is not None:
      _add_weights(
        lists, self.data.spec, self.config, np.asarray(self.propensities)
      )
    return lists


def _dtype(column):
  return np.str_ if column.dtype.kind in "OUS" else column.dtype


def prepare(data: dataset_lib.Dataset, config: TrainConfig) -> Prepared:
  """Resolves `config` for `data` and builds every split's lists."""
  config = resolve(config, data)
  _check_funnels(config, data)
  cold = _cold_items(data, config)
  if len(cold):
    data = _without_items(data, cold)
  spec = data.spec
  sampling = negative_sampling(config, data)
  sampler = None
  if sampling is not None:
    sampler = negatives_lib.NegativeSampler(
      sampling, spec, data.catalogue, data.split("train"), excluded_items=cold
    )

  lists, train_rows = {}, None
  for name, rows in data.splits.items():
    columns = columns_for(spec, config.objectives, with_truth=name != "train")
    table = pipeline.to_lists(
      rows,
      spec,
      columns,
      config.max_list_size,
      where=f"Dataset {spec.name!r}, split {name!r}",
    )
    if sampler is not None:
      if name == "train":
        train_rows = table
        table = sampler.add(table, config.seed)
      else:
        # A fixed draw, avoiding the split's own positives too.
        table = sampler.add(table, seed=10_000 + config.seed, also_avoid=rows)
    lists[name] = table

  prepared = Prepared(config, data, lists, cold, None, sampler, train_rows)
  propensities = None
  if config.propensity != "none":
    propensities = propensity_lib.estimate(
      config.propensity,
      lists["train"],
      spec,
      config.propensity_label,
      config.seed,
    ).tolist()
  prepared.propensities = propensities
  for name, table in lists.items():
    if name == "train":
      prepared._finish(table)
    elif propensities is not None:
      _add_weights(table, spec, config, np.asarray(propensities))
  return prepared


def _check_funnels(config, data):
  """Warns when an objective's positives do not all follow its `given`."""
  rows = data.split("train")
  names = {o.name: o for o in config.objectives}
  for o in config.objectives:
    if o.given is None:
      continue
    positive = rows[o.label] > 0
    outside = int(np.sum(positive & ~(rows[names[o.given].label] > 0)))
    if outside:
      logging.warning(
        "%d of %d training positives of %r (%.0f%%) have no %r: they are %s.",
        outside,
        int(positive.sum()),
        o.name,
        100 * outside / max(int(positive.sum()), 1),
        o.given,
        "fitted against a product that treats them as impossible"
        if o.entire_space
        else "left out of training (the conditional head sees given rows only)",
      )


def _add_weights(table, spec, config, theta):
  table[schema.IPW] = propensity_lib.weights(
    theta,
    table[spec.position],
    table[config.propensity_label],
    config.max_ipw_weight,
  )


def _cold_items(data, config) -> np.ndarray:
  if not config.cold_start_items:
    return np.empty(0, dtype=data.catalogue[data.spec.item_id].dtype)
  ids = np.sort(data.catalogue[data.spec.item_id])
  count = int(round(config.cold_start_items * len(ids)))
  cold = np.random.default_rng(config.seed).choice(ids, count, replace=False)
  logging.info(
    "Cold start: %d of %d items held out of training.", count, len(ids)
  )
  return np.sort(cold)


def _without_items(data, items) -> dataset_lib.Dataset:
  """`data` without the rows of `items` in its train and valid splits."""
  splits = {}
  for name, rows in data.splits.items():
    if name in ("train", "valid"):
      keep = ~np.isin(rows[data.spec.item_id], items)
      if not keep.any():
        raise ValueError(f"Cold start removed every row of split {name!r}.")
      rows = dataset_lib.take(rows, np.flatnonzero(keep))
    splits[name] = rows
  return dataclasses.replace(data, splits=splits)


def describe(prepared: Prepared) -> dict[str, Any]:
  """Facts about the prepared data for metrics.json."""
  sampling = negative_sampling(prepared.config, prepared.data)
  return {
    "negatives": dataclasses.asdict(sampling) if sampling else None,
    "cold_items": int(len(prepared.cold_items)),
    "propensities": prepared.propensities,
  }
