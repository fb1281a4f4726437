"""From a loaded dataset and a run's config to the data the model trains on.

`prepare(data, config)` returns a frozen `TrainData`, built in this order:

  resolve      the run's objectives for the dataset (`resolve.py`);
  checks       the dataset against its spec and those objectives;
  cold start   a share of items removed from training (`cold_start.py`);
  lists        every split as impression lists (`lists.py`);
  negatives    for logs of positives only, sampled negatives: one draw now
               (fixed seeds), a new one each epoch (`negatives.py`);
  propensity   position-bias propensities, and inverse-propensity weights
               of every split (`propensity.py`);
  logQ         each training slot's sampling probability among retrieval
               candidates (`retrieval.candidates`).

`.train_dataset()`, `.eval_dataset(split)` feed `Model.fit` and evaluation.
"""

import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from multiobj import config as config_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import validation
from multiobj.prepare import cold_start, derived, resolve, windows
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import negatives as negatives_lib
from multiobj.prepare import propensity as propensity_lib
from multiobj.prepare import shards as shards_lib
from multiobj.prepare import stats as stats_lib
from multiobj.retrieval import candidates
from multiobj.retrieval import catalogue as catalogue_lib

# Seed offset of the evaluation splits' fixed draw of negatives.
_EVAL_DRAW = 10_000


@dataclasses.dataclass(frozen=True)
class TrainData:
  """A run's data, ready for the model.

  Attributes:
    config: The run's config, its objectives resolved for the dataset.
    data: The dataset, cold-start items removed from its train and valid
      splits.
    lists: Every split as lists; the training lists carry the first draw of
      negatives (the training dataset draws anew each epoch).
    cold_items: Ids of the items held out of training.
    propensities: Position propensities, when inverse-propensity weighting.
    sampler: Draws the training negatives of each epoch, or None.
    train_rows: The training lists before negatives were added (what each
      epoch's draw extends), or None without a sampler.
    uniform_probability: Each catalogue item's probability among retrieval
      candidates (of the first draw), which the uniform draws carry; None
      without a retrieval objective.
    stats: Vocabularies and moments of the features, from training.
    summary: Rows, lists and label means per split (`Dataset.summary`).
    cache_dir: The cache it was read from, if any (`memo.Memo`).
    shards: {split: its shards} when the lists are on disk (a cache,
      `prepare/cache.py`): datasets stream them, and `lists` reads a split
      only when asked; None for lists in memory.
  """

  config: config_lib.TrainConfig
  data: dataset_lib.Dataset
  lists: Mapping[str, dataset_lib.Table]
  cold_items: np.ndarray
  propensities: tuple[float, ...] | None = None
  sampler: negatives_lib.NegativeSampler | None = None
  train_rows: dataset_lib.Table | None = None
  uniform_probability: np.ndarray | None = None
  stats: stats_lib.FeatureStats | None = None
  summary: Mapping[str, Any] | None = None
  shards: Mapping[str, shards_lib.Split] | None = None
  cache_dir: str | None = None

  @property
  def retrieval(self):
    """The retrieval objective, or None."""
    found = [o for o in self.config.objectives if o.kind == "retrieval"]
    return found[0] if found else None

  def by_files(self, workers: int) -> bool:
    """Whether `workers` training together each read their own shards (there
    are enough of them), rather than every worker all of them."""
    return (
      workers > 1
      and self.sampler is None
      and self.shards is not None
      and len(self.shards["train"].files) >= workers
    )

  def steps_per_epoch(self, workers: int) -> int:
    """Steps of an epoch when `workers` each read their own shards: as many
    as the worker with the fewest lists has, so that all stop together."""
    split = self.shards["train"]
    per_worker = max(1, self.config.fit.batch_size // workers)
    return max(
      1,
      min(sum(split.file_lists[w::workers]) for w in range(workers))
      // per_worker,
    )

  def train_dataset(self, workers: int = 1, worker: int = 0) -> tf.data.Dataset:
    """Shuffled training batches; sampled negatives are drawn each epoch.
    When `workers` each read their own shards (`by_files`), this is those of
    `worker` (every `workers`-th file), repeated without end: an epoch is
    `steps_per_epoch` steps."""
    fit = self.config.fit
    if self.sampler is None and self.shards is not None:
      train = self.shards["train"]
      dataset = shards_lib.dataset(
        train.files,
        train.columns,
        fit.batch_size,
        shuffle_buffer=fit.shuffle_buffer,
        seed=self.config.seed,
        lists=train.lists,
        repeat=self.by_files(workers),
        workers=workers if self.by_files(workers) else 1,
        worker=worker if self.by_files(workers) else 0,
      )
      return self._with_uniform_draws(self.with_derived(dataset, "train"))
    if self.sampler is None:
      dataset = lists_lib.make_dataset(
        self.lists["train"], fit.batch_size, shuffle=True, seed=self.config.seed
      )
      return self._with_uniform_draws(self.with_derived(dataset, "train"))
    epochs = itertools.count(1)

    def batches():
      draw = self.sampler.add(self.train_rows, self.config.seed + next(epochs))
      derived.add_draw_columns(
        draw, self.config, self.data, self.eligible(), self.propensities
      )
      order = np.random.default_rng(self.config.seed).permutation(
        len(draw[lists_lib.MASK])
      )
      for start in range(0, len(order), fit.batch_size):
        part = order[start : start + fit.batch_size]
        yield {name: column[part] for name, column in draw.items()}

    columns = dict(self.list_columns("train"))
    size = columns[lists_lib.MASK][1]
    if self.retrieval is not None:
      columns[candidates.SAMPLING_PROBABILITY] = ("float32", size)
    if self.propensities is not None:
      columns[propensity_lib.IPW] = ("float32", size)
    signature = {
      name: tf.TensorSpec((None, *shape), tf.as_dtype(dtype))
      for name, (dtype, shape) in columns.items()
    }
    dataset = tf.data.Dataset.from_generator(
      batches, output_signature=signature
    ).apply(
      tf.data.experimental.assert_cardinality(
        -(-self.num_lists("train") // fit.batch_size)
      )
    )
    return self._with_uniform_draws(dataset.prefetch(tf.data.AUTOTUNE))

  def eval_dataset(
    self, split: str, batch_size: int | None = None, stride: int = 1
  ) -> tf.data.Dataset:
    """The batches of `split` in order, e.g. for validation (of
    `batch_size` lists, the run's by default); with `stride`, every
    `stride`-th list only (an even sample)."""
    batch_size = batch_size or self.config.fit.batch_size
    if self.shards is not None:
      found = self.shards[split]
      dataset = shards_lib.dataset(
        found.files, found.columns, batch_size, lists=found.lists, stride=stride
      )
    else:
      table = {k: v[::stride] for k, v in self.lists[split].items()}
      dataset = lists_lib.make_dataset(table, batch_size, shuffle=False, seed=0)
    return self.with_derived(dataset, split)

  def with_derived(
    self, dataset: tf.data.Dataset, split: str
  ) -> tf.data.Dataset:
    """Adds the columns derived from statistics (`derived.py`): sampling
    probabilities to training batches, inverse-propensity weights to all."""
    train = split == "train" and self.retrieval is not None
    return derived.add(
      dataset,
      self.data.spec.item_id,
      self.data.catalogue[self.data.spec.item_id] if train else None,
      self.uniform_probability if train else None,
      self.propensities,
      self.data.spec.position,
      self.config.prepare.propensity_label,
      self.config.prepare.max_ipw_weight,
    )

  def retrieval_catalogue(self) -> catalogue_lib.Catalogue | None:
    """What retrieval scores against beyond the batch, for candidates
    "catalogue" and "sampled": the eligible items (not held out for cold
    start), their features in the dtypes of the training lists, drawn in
    proportion to their training positives; None otherwise."""
    if self.retrieval is None or self.config.retrieval.candidates not in (
      "catalogue",
      "sampled",
    ):
      return None
    spec, catalogue = self.data.spec, self.data.catalogue
    eligible = np.flatnonzero(self.eligible())
    train = self.list_columns("train")
    features = {}
    for f in spec.features_of("candidate"):
      dtype = train[f.name][0]
      column = catalogue[f.name][eligible]
      features[f.name] = column.astype(
        object if dtype == "string" else _numpy(dtype)
      )
    probability = None
    if self.uniform_probability is not None:
      probability = self.uniform_probability[eligible]
    return catalogue_lib.Catalogue(
      catalogue[spec.item_id][eligible], features, probability
    )

  def eligible(self) -> np.ndarray:
    """[catalogue] items a uniform draw may pick: all but cold ones."""
    return _eligible(self.data, self.cold_items)

  def _with_uniform_draws(self, dataset):
    count = self.config.retrieval.uniform_negatives
    if not count or self.retrieval is None:
      return dataset
    eligible = np.flatnonzero(self.eligible())
    catalogue, train = self.data.catalogue, self.list_columns("train")
    columns = {
      f.name: catalogue[f.name][eligible].astype(_numpy(train[f.name][0]))
      for f in self.data.spec.features_of("candidate")
    }
    return candidates.with_uniform_draws(
      dataset,
      columns,
      self.uniform_probability[eligible],
      count,
      self.config.seed,
    )

  def num_lists(self, split: str) -> int:
    """How many lists `split` has."""
    if self.shards is not None:
      return self.shards[split].lists
    return dataset_lib.num_rows(self.lists[split])

  def sample(
    self, split: str, limit: int, features: bool = True
  ) -> dataset_lib.Table:
    """`split`'s lists in memory: all of them, or beyond `limit` an even
    sample of about `limit` (every k-th list, read in one pass over the
    shards); without `features`, only ids, labels and bookkeeping columns."""
    stride = max(1, -(-self.num_lists(split) // limit))
    size = shards_lib.CHUNK_LISTS if stride > 1 else None  # None: at once.
    parts = list(self.chunks(split, features, stride, size))
    if len(parts) == 1:
      return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

  def chunks(
    self,
    split: str,
    features: bool = True,
    stride: int = 1,
    size: int | None = shards_lib.CHUNK_LISTS,
  ) -> Iterator[dataset_lib.Table]:
    """`split`'s lists in order (every `stride`-th one), as tables of about
    `size` lists each (all in one with `size` None); without `features`,
    as `sample`: a pass over a split of any size, a chunk at a time."""
    columns = self._columns(split, features)
    if self.shards is not None and size is not None:
      files = self.shards[split].files
      yield from shards_lib.chunks(files, columns, stride, size)
    else:
      table = self.lists[split]
      yield {k: v[::stride] for k, v in table.items() if k in columns}

  def _columns(self, split: str, features: bool) -> shards_lib.Columns:
    """`split`'s columns; without `features`, ids, labels, bookkeeping."""
    columns = self.list_columns(split)
    if features:
      return columns
    spec = self.data.spec
    dropped = {f.name for f in spec.features} - {spec.item_id, spec.user_id}
    return {k: v for k, v in columns.items() if k not in dropped}

  def corrupt_shard(self) -> Exception:
    """The error naming a corrupt shard of these lists (after TensorFlow
    reported a record failing its checksums)."""
    for split in (self.shards or {}).values():
      found = shards_lib.find_corrupt(split.files)
      if found is not None:
        return found
    return shards_lib.CorruptShard("a shard is corrupt; prepare again.")

  def list_columns(self, split: str) -> shards_lib.Columns:
    """The dtype name and per-list shape of each column of `split`."""
    if self.shards is not None:
      return self.shards[split].columns
    return shards_lib.columns_of(self.lists[split])

  def without_lists(self) -> "TrainData":
    """This data without its lists, and without the dataset's rows unless
    training or evaluation reads them (sampled negatives, full ranking):
    what a cache keeps beside the shards."""
    data = self.data
    if self.sampler is None and data.full_ranking is None:
      data = dataclasses.replace(data, splits={})
    return dataclasses.replace(self, data=data, lists={}, shards=None)

  def with_shards(
    self,
    config: config_lib.TrainConfig,
    splits: Mapping[str, shards_lib.Split],
  ) -> "TrainData":
    """This data for the run `config`, its lists in the shards `splits`."""
    return dataclasses.replace(
      self, config=config, lists=shards_lib.Lists(splits), shards=splits
    )

  def describe(self) -> dict[str, Any]:
    """Facts about the prepared data for metrics.json."""
    sampling = negatives_lib.sampling_for(self.config.prepare, self.data)
    return {
      "negatives": dataclasses.asdict(sampling) if sampling else None,
      "cold_items": int(len(self.cold_items)),
      "propensities": self.propensities and list(self.propensities),
      **(self.stats or stats_lib.FeatureStats({}, {})).reports(),
    }


def carrying(rows: dataset_lib.Table, labels) -> np.ndarray:
  """The rows of `rows` one of `labels` marks positive (`learning_labels`)."""
  return np.flatnonzero(np.any([rows[b] > 0 for b in labels], axis=0))


def _numpy(dtype: str):
  return np.str_ if dtype == "string" else np.dtype(dtype)


def _eligible(data, cold_items):
  return ~np.isin(data.catalogue[data.spec.item_id], cold_items)


def learning_labels(
  config: config_lib.TrainConfig, spec
) -> tuple[str, ...] | None:
  """The labels whose positive training rows are the only ones the run
  learns from, or None where every row counts. A retrieval objective
  learns from its positive rows alone, so where every objective retrieves,
  the rows are events (no list_id, whose unclicked rows are negatives) and
  no negatives are sampled, a row no objective's label marks (a view, in a
  run on purchases) holds no loss: it is left out of the training lists,
  though it still feeds histories and the baselines."""
  objectives = config.objectives
  if (
    not objectives
    or any(o.kind != "retrieval" for o in objectives)
    or spec.list_id
    or spec.sequences
    or config.retrieval.hard_negatives
  ):
    return None
  return tuple(sorted({o.label for o in objectives}))


def prepare(
  data: dataset_lib.Dataset, config: config_lib.TrainConfig
) -> TrainData:
  """Resolves `config` for `data` and builds every split's lists."""
  config = dataclasses.replace(
    config,
    prepare=resolve.resolve(config.prepare, data),
    retrieval=config.retrieval.resolved(data.retrieval),
  )
  objectives = config.objectives
  validation.check(data, objectives)
  resolve.warn_outside_funnels(objectives, data.split("train"))
  cold = cold_start.held_out_items(
    data, config.prepare.cold_start_items, config.seed
  )
  if len(cold):
    data = cold_start.without_items(data, cold)
  sampler = _sampler(config, data, cold)
  lists, train_rows, summary = _lists(config, data, sampler)
  propensities = None
  if config.prepare.propensity != "none":
    propensities = tuple(
      propensity_lib.estimate(
        config.prepare.propensity,
        lists["train"],
        data.spec,
        config.prepare.propensity_label,
        config.seed,
      ).tolist()
    )
  # The derived columns are added as lists are read (`derived.py`); here
  # only each catalogue item's sampling probability is kept.
  q = derived.add_draw_columns(
    dict(lists["train"]), config, data, _eligible(data, cold), propensities
  )
  stats = stats_lib.compute_stats(
    data.spec, data.split("train"), config.model.text_max_tokens
  )
  return TrainData(
    config,
    data,
    lists,
    cold,
    propensities,
    sampler,
    train_rows,
    q,
    stats=stats,
    summary=summary,
  )


def _sampler(config, data, cold) -> negatives_lib.NegativeSampler | None:
  """The sampler of negatives of a log of positives only, or None."""
  spec = data.spec
  sampling = negatives_lib.sampling_for(config.prepare, data)
  if sampling is None:
    return None
  if spec.sequences:
    raise ValueError(
      f"Dataset {spec.name!r}: sampled negatives (--negatives) and the "
      f"history {spec.sequences[0].name!r} trained at every position do not "
      "go together: its windows of events are scored against the catalogue "
      "(--retrieval_candidates). Set --negatives=0, or every_position to "
      "false in the description."
    )
  return negatives_lib.NegativeSampler(
    sampling, spec, data.catalogue, data.split("train"), excluded_items=cold
  )


def _lists(config, data, sampler):
  """(every split's lists, the training lists before negatives or None,
  the data's summary): training rows no objective learns from left out,
  a sequence's in windows, negatives drawn."""
  spec = data.spec
  lists, train_rows = {}, None
  learning = None if sampler is not None else learning_labels(config, spec)
  summary = data.summary()
  for name, rows in data.splits.items():
    if name == "train" and learning is not None:
      rows = dataset_lib.take(rows, carrying(rows, learning))
      summary["train"]["rows_learnt_from"] = dataset_lib.num_rows(rows)
    columns = lists_lib.columns_for(
      spec, config.objectives, with_truth=name != "train"
    )
    shape = windows.to_lists if name == "train" else lists_lib.to_lists
    table = shape(
      rows,
      spec,
      columns,
      config.prepare.max_list_size,
      where=f"Dataset {spec.name!r}, split {name!r}",
    )
    if sampler is not None:
      if name == "train":
        train_rows = table
        table = sampler.add(table, config.seed)
      else:
        # A fixed draw, avoiding the split's own positives too.
        table = sampler.add(
          table, seed=_EVAL_DRAW + config.seed, also_avoid=rows
        )
    lists[name] = table
  return lists, train_rows, summary
