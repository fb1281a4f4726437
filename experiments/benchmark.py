"""Training throughput and peak memory: multiobj against a plain TFRS model.

Example:

  python -m experiments.benchmark --steps=150 --repeats=3

The plain model is what one would write by hand from the TensorFlow
Recommenders multitask tutorial for the same data: the same features,
vocabularies, layer sizes and losses (retrieval with logQ correction and
accidental-hit removal, click and purchase cross entropy, dwell squared error
on clicked rows), summed in `compute_loss` and trained by `tfrs.Model`'s own
train step. The framework adds the registry, per-task loss and weight
tracking and the weighting strategy; the ratio of the two throughputs is the
price of those. Each model is measured in a fresh process (so peak memory is
its own), after warm-up steps that trace and compile, several times in
alternation. The ratio uses each model's best run: on a shared 2-core machine
a run is sometimes slowed by neighbours, never sped up, so the best is the
least disturbed; the ratio of medians is printed beside it.
"""

import json
import multiprocessing
import resource
import statistics
import time

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
from absl import app, flags

import objectives
from experiments import common, synthetic_flags
from multiobj import config as config_lib
from multiobj.data import synthetic
from multiobj.model import features
from multiobj.model import model as model_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import train_data
from multiobj.retrieval import candidates
from multiobj.train import run_dir

_STEPS = flags.DEFINE_integer(
  "steps", 150, "Timed training steps per measurement.", lower_bound=1
)
_WARMUP = flags.DEFINE_integer(
  "warmup",
  50,
  "Untimed steps before timing (at least the 40 cached batches).",
  lower_bound=40,
)
_REPEATS = flags.DEFINE_integer(
  "repeats", 3, "Measurements per model, alternating.", lower_bound=1
)
_TARGET = 1.15
_CACHED_BATCHES = 40


class PlainModel(tfrs.Model):
  """The same network as multiobj's default model, written out by hand."""

  def __init__(self, stats: features.FeatureStats, dim: int = 32):
    super().__init__()
    voc = stats.vocabularies

    def ids(name):
      lookup = tf.keras.layers.IntegerLookup(
        vocabulary=np.asarray(voc[name], np.int64)
      )
      return tf.keras.Sequential(
        [lookup, tf.keras.layers.Embedding(len(voc[name]) + 1, dim)]
      )

    def category(name):
      lookup = tf.keras.layers.StringLookup(vocabulary=voc[name])
      width = features.category_dim(len(voc[name]) + 1, dim)
      return tf.keras.Sequential(
        [lookup, tf.keras.layers.Embedding(len(voc[name]) + 1, width)]
      )

    def numeric(name):
      mean, variance = stats.moments[name]
      return tf.keras.layers.Normalization(mean=mean, variance=variance)

    self.user = ids("user_id")
    self.country, self.device = category("country"), category("device")
    self.age = numeric("age")
    self.item = ids("item_id")
    self.category = category("category")
    self.price = numeric("price")
    self.title_tokens = tf.keras.layers.TextVectorization(
      vocabulary=voc["title"], output_sequence_length=12
    )
    self.title_embedding = tf.keras.layers.Embedding(
      len(voc["title"]) + 2, dim, mask_zero=True
    )
    self.position = tf.keras.layers.IntegerLookup(
      vocabulary=np.asarray(voc["position"], np.int64)
    )
    self.position_embedding = tf.keras.layers.Embedding(
      len(voc["position"]) + 1,
      features.category_dim(len(voc["position"]) + 1, dim),
    )
    self.query_dense = tf.keras.Sequential(
      [tf.keras.layers.Dense(64, "relu"), tf.keras.layers.Dense(dim)]
    )
    self.candidate_dense = tf.keras.Sequential(
      [tf.keras.layers.Dense(64, "relu"), tf.keras.layers.Dense(dim)]
    )
    self.trunk = tf.keras.Sequential(
      [tf.keras.layers.Dense(128, "relu"), tf.keras.layers.Dense(64, "relu")]
    )
    self.heads = [
      tf.keras.Sequential(
        [tf.keras.layers.Dense(32, "relu"), tf.keras.layers.Dense(1)]
      )
      for _ in range(3)
    ]
    self.retrieval = tfrs.tasks.Retrieval(
      temperature=0.05, remove_accidental_hits=True
    )
    self.click_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True)
    )
    self.purchase_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True)
    )
    self.dwell_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.MeanSquaredError()
    )

  def compute_loss(self, inputs, training=False):
    mask = inputs[lists_lib.MASK]
    b, n = tf.shape(mask)[0], tf.shape(mask)[1]
    query_enc = tf.concat(
      [
        self.user(inputs["user_id"]),
        self.country(inputs["country"]),
        self.device(inputs["device"]),
        self.age(inputs["age"][:, None]),
      ],
      axis=1,
    )
    tokens = self.title_tokens(tf.reshape(inputs["title"], [-1]))
    title = self.title_embedding(tokens)
    token_mask = tf.cast(tokens > 0, tf.float32)[..., None]
    title = tf.math.divide_no_nan(
      tf.reduce_sum(title * token_mask, 1), tf.reduce_sum(token_mask, 1)
    )
    price = tf.math.log1p(tf.maximum(tf.reshape(inputs["price"], [-1, 1]), 0.0))
    candidate_enc = tf.concat(
      [
        self.item(tf.reshape(inputs["item_id"], [-1])),
        self.category(tf.reshape(inputs["category"], [-1])),
        self.price(price),
        title,
      ],
      axis=1,
    )
    query = tf.math.l2_normalize(self.query_dense(query_enc), -1)
    candidate = tf.math.l2_normalize(self.candidate_dense(candidate_enc), -1)

    click = tf.reshape(inputs["click"], [-1])
    index = tf.where(tf.logical_and(click > 0, tf.reshape(mask, [-1]) > 0))[
      :, 0
    ]
    rows = index // tf.cast(n, tf.int64)
    same = tf.equal(rows[:, None], rows[None, :])
    retrieval_loss = self.retrieval(
      tf.gather(query, rows),
      tf.gather(candidate, index),
      candidate_sampling_probability=tf.gather(
        tf.reshape(inputs[candidates.SAMPLING_PROBABILITY], [-1]), index
      ),
      candidate_ids=tf.gather(tf.reshape(inputs["item_id"], [-1]), index),
      compute_metrics=False,
      compute_batch_metrics=False,
      score_mask=tf.logical_or(
        tf.logical_not(same), tf.cast(tf.eye(tf.shape(index)[0]), tf.bool)
      ),
    )

    tiled_query = tf.repeat(query, n, axis=0)
    tiled_enc = tf.repeat(query_enc, n, axis=0)
    position = self.position_embedding(
      self.position(tf.reshape(inputs["position"], [-1]))
    )
    hidden = self.trunk(
      tf.concat(
        [
          tiled_query,
          candidate,
          tiled_query * candidate,
          tiled_enc,
          candidate_enc,
          position,
        ],
        axis=1,
      )
    )
    click_logit, dwell_pred, purchase_logit = (h(hidden) for h in self.heads)
    weight = tf.reshape(mask, [-1])
    dwell = tf.math.log1p(tf.reshape(inputs["dwell"], [-1, 1]))
    del b
    return (
      retrieval_loss
      + self.click_task(click[:, None], click_logit, sample_weight=weight)
      + 0.5 * self.dwell_task(dwell, dwell_pred, sample_weight=weight * click)
      + 2.0
      * self.purchase_task(
        tf.reshape(inputs["purchase"], [-1, 1]),
        purchase_logit,
        sample_weight=weight,
      )
    )


def _measure(
  kind: str, requests: int, batch_size: int, warmup: int, steps: int
) -> dict:
  """Builds one model in this (fresh) process and times `steps` train steps."""
  tf.keras.utils.set_random_seed(0)
  data = synthetic.generate(synthetic.SyntheticConfig(num_requests=requests))
  config = config_lib.TrainConfig(model_dir="/tmp/unused").replace(
    objectives=tuple(objectives.select(synthetic.DEFAULT_OBJECTIVES)),
    batch_size=batch_size,
  )
  stats = features.compute_stats(
    data.spec, data.split("train"), config.model.text_max_tokens
  )
  lists = train_data.prepare(data, config).lists["train"]
  # The same batches, in memory, so the input pipeline costs nothing and both
  # models see identical data; warm-up fills the cache.
  dataset = (
    lists_lib.make_dataset(
      lists, batch_size, shuffle=False, seed=0, drop_remainder=True
    )
    .take(_CACHED_BATCHES)
    .cache()
    .repeat()
  )
  if kind == "framework":
    model = model_lib.build(data.spec, stats, config)
  else:
    model = PlainModel(stats)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.fit.learning_rate))
  rows = batch_size * lists[lists_lib.MASK].shape[1]
  model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
  # Generating the data peaks higher than training; measure training alone.
  baseline_mib = _reset_peak_rss()
  started = time.perf_counter()
  model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
  seconds = time.perf_counter() - started
  return {
    "kind": kind,
    "rows_per_second": rows * steps / seconds,
    "peak_rss_mib": _peak_rss_mib(),
    "rss_before_mib": baseline_mib,
    "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
  }


def _reset_peak_rss() -> float:
  """Resets the kernel's peak-RSS mark (Linux); returns the current RSS."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
  except OSError:
    pass  # Not Linux: the peak then includes data generation.
  return _status("VmRSS")


def _peak_rss_mib() -> float:
  peak = _status("VmHWM")
  return (
    peak if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  )


def _status(field: str) -> float:
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return 0.0


def run(
  requests: int, batch_size: int, warmup: int, steps: int, repeats: int
) -> dict:
  """Alternates fresh-process measurements; returns medians and the ratio."""
  context = multiprocessing.get_context("spawn")
  results = {"framework": [], "plain": []}
  for repeat in range(repeats):
    for kind in ("plain", "framework"):
      with context.Pool(1) as pool:
        result = pool.apply(
          _measure, (kind, requests, batch_size, warmup, steps)
        )
      results[kind].append(result)
      print(
        f"[{repeat + 1}/{repeats}] {kind:9s} {result['rows_per_second']:>10,.0f} rows/s  "
        f"peak RSS {result['peak_rss_mib']:,.0f} MiB (from {result['rss_before_mib']:,.0f})  "
        f"{result['parameters']:,} parameters",
        flush=True,
      )
  summary = {
    kind: {
      "rows_per_second_best": max(r["rows_per_second"] for r in rs),
      "rows_per_second_median": statistics.median(
        r["rows_per_second"] for r in rs
      ),
      "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rs),
      "parameters": rs[0]["parameters"],
    }
    for kind, rs in results.items()
  }
  for stat in ("best", "median"):
    summary[f"slowdown_{stat}"] = (
      summary["plain"][f"rows_per_second_{stat}"]
      / summary["framework"][f"rows_per_second_{stat}"]
    )
  summary["memory_ratio"] = (
    summary["framework"]["peak_rss_mib"] / summary["plain"]["peak_rss_mib"]
  )
  summary["machine"] = run_dir.machine()
  return summary


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  summary = run(
    synthetic_flags.SYNTHETIC_REQUESTS.value,
    common.BATCH_SIZE.value,
    _WARMUP.value,
    _STEPS.value,
    _REPEATS.value,
  )
  print(json.dumps(summary, indent=1))
  slowdown = summary["slowdown_best"]
  verdict = "within" if slowdown <= _TARGET else "OVER"
  print(
    f"\nmultiobj takes {slowdown:.3f}x the plain TFRS model's time per example, "
    f"best of {_REPEATS.value} runs each ({verdict} the {_TARGET}x target; "
    f"{summary['slowdown_median']:.3f}x on medians); peak memory "
    f"{summary['memory_ratio']:.3f}x."
  )


if __name__ == "__main__":
  app.run(main)
