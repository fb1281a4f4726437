"""Training throughput and peak memory: multiobj against a plain TFRS model.

Example:

  python -m experiments.benchmark --steps=150 --repeats=3

With --scale it measures the data path instead (`ingest_benchmark.py`):

  python -m experiments.benchmark --scale --scale_rows=1000000,10000000

With --startup, whole processes as a user runs them
(`startup_benchmark.py`): the time multiobj takes to reach the TFRS multitask
tutorial's quality against the tutorial's own process, time to the first
step, first epoch against the others, evaluation time, --help:

  python -m experiments.benchmark --startup --data_dir=../shared/data

and with --scale_training preparation and training of the synthetic log at
each size (`scale_benchmark.py`):

  python -m experiments.benchmark --scale_training \
      --scale_rows=1000000,10000000,100000000 --scale_cold_rows=1000000

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
import shlex
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

import objectives
from experiments import (
  common,
  data_path_flags,
  ingest_benchmark,
  plain_model,
  scale_benchmark,
  startup_benchmark,
  synthetic_flags,
)
from multiobj import config as config_lib
from multiobj.data import synthetic
from multiobj.model import features
from multiobj.model import model as model_lib
from multiobj.prepare import derived, train_data
from multiobj.prepare import lists as lists_lib
from multiobj.train import resources, run_dir

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
_SCALE = flags.DEFINE_boolean(
  "scale",
  False,
  "Measure the data path at scale instead: ingest rows/s of each file "
  "format against pyarrow alone (experiments/ingest_benchmark.py).",
)
_SCALE_ROWS = flags.DEFINE_list(
  "scale_rows", ["1000000"], "With --scale: log sizes, in rows."
)
_SCALE_TRAINING = flags.DEFINE_boolean(
  "scale_training",
  False,
  "Measure preparation and training at the sizes of --scale_rows instead "
  "(`scale_benchmark.py`): peak memory, rows/s, time to the first step.",
)
_SCALE_COLD_ROWS = flags.DEFINE_list(
  "scale_cold_rows",
  [],
  "With --scale_training: sizes also trained without a cache.",
)
_SCALE_WORKERS_ROWS = flags.DEFINE_integer(
  "scale_workers_rows",
  0,
  "With --scale_training: the size (one of --scale_rows) also trained by "
  "two workers on localhost, each reading half of the shards; 0 for none.",
)
_SCALE_SWEEP_ROWS = flags.DEFINE_integer(
  "scale_sweep_rows",
  0,
  "With --scale_training: a log size on which an 8-trial sweep runs with a "
  "shared cache and with each trial preparing its own; 0 for none.",
)
_SCALE_FLAGS = flags.DEFINE_string(
  "scale_flags",
  "",
  "With --scale_training: flags given to every prepare and train command.",
)
_SCALE_DIR = flags.DEFINE_string(
  "scale_dir",
  "/tmp/multiobj_scale",
  "With --scale: where the logs are written (kept, so a rerun reuses them).",
)
_STARTUP = flags.DEFINE_boolean(
  "startup",
  False,
  "Measure whole processes instead (`startup_benchmark.py`): time to the "
  "TFRS tutorial's quality, start-up, first epoch, evaluation, --help.",
)
_STARTUP_DIR = flags.DEFINE_string(
  "startup_dir",
  "/tmp/multiobj_startup",
  "With --startup: where the runs and startup.json are written.",
)
_TARGET = 1.15
_CACHED_BATCHES = 40


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
  prepared = train_data.prepare(data, config)
  lists = dict(prepared.lists["train"])
  # The columns a run derives as its lists are read (`derived.py`): the
  # retrieval sampling probability both models' logQ correction reads.
  catalogue = data.catalogue[data.spec.item_id]
  derived.add_draw_columns(
    lists, prepared.config, data, np.ones(len(catalogue), bool), None
  )
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
    model = plain_model.PlainModel(stats)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.fit.learning_rate))
  rows = batch_size * lists[lists_lib.MASK].shape[1]
  model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
  # Generating the data peaks higher than training; measure training alone.
  resources.reset_peak()
  baseline_mib = resources.status_mb("VmRSS")
  started = time.perf_counter()
  model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
  seconds = time.perf_counter() - started
  return {
    "kind": kind,
    "rows_per_second": rows * steps / seconds,
    "peak_rss_mib": resources.peak_rss_mb(),
    "rss_before_mib": baseline_mib,
    "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
  }


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
  if _STARTUP.value:
    results = startup_benchmark.run(common.DATA_DIR.value, _STARTUP_DIR.value)
    print(json.dumps(results, indent=1))
    print(startup_benchmark.table(results))
    return
  if _SCALE_TRAINING.value and _SCALE_SWEEP_ROWS.value:
    results = scale_benchmark.sweep(
      _SCALE_SWEEP_ROWS.value, 8, _SCALE_DIR.value
    )
    print(json.dumps(results, indent=1))
    return
  if _SCALE_TRAINING.value:
    results = scale_benchmark.run(
      [int(r) for r in _SCALE_ROWS.value],
      [int(r) for r in _SCALE_COLD_ROWS.value],
      _SCALE_DIR.value,
      data_path_flags.PREPARE_MEMORY_MB.value,
      shlex.split(_SCALE_FLAGS.value),
    )
    if _SCALE_WORKERS_ROWS.value:
      workers = scale_benchmark.two_workers(
        _SCALE_WORKERS_ROWS.value,
        _SCALE_DIR.value,
        shlex.split(_SCALE_FLAGS.value),
      )
      results["two_workers"] = workers
    print(json.dumps(results, indent=1))
    print(scale_benchmark.table(results))
    return
  if _SCALE.value:
    try:
      sizes = [int(r) for r in _SCALE_ROWS.value]
    except ValueError:
      raise app.UsageError(
        f"--scale_rows: not integers: {','.join(_SCALE_ROWS.value)}"
      ) from None
    results = ingest_benchmark.run(
      sizes, _SCALE_DIR.value, repeats=_REPEATS.value
    )
    print(json.dumps(results, indent=1))
    return
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
