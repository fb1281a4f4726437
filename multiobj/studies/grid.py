"""Running a grid of training configs, resumably, and tabulating it.

Each run appends one JSON line to `results.jsonl` in the output folder as soon
as it finishes (its key, metrics, baselines, effective weights, seconds, or
its error), so a killed grid resumes where it stopped and a failed run is a
result like any other. Used by the denoising study and the reproductions.
"""

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from absl import logging

from multiobj import config as config_lib

Key = tuple  # Identifies a run, e.g. (setting, method, seed).


def run(
  output_dir: str,
  grid: Sequence[Key],
  make_config: Callable[[Key], config_lib.TrainConfig],
  headline: str,
) -> list[dict[str, Any]]:
  """Trains every key of `grid` not yet in results.jsonl; returns their rows."""
  # Imported here: a study's --help and its tables need no TensorFlow.
  import tensorflow as tf  # noqa: PLC0415

  from multiobj import experiment  # noqa: PLC0415

  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, "results.jsonl")
  results = read(path)
  done = {tuple(r["key"]) for r in results}
  todo = [key for key in grid if tuple(key) not in done]
  print(f"{len(grid)} runs, {len(grid) - len(todo)} already done.", flush=True)
  for i, key in enumerate(todo, start=1):
    started = time.time()
    try:
      result = experiment.run(make_config(key), verbose=0)
      row = {
        "metrics": result.metrics,
        "baselines": result.baselines,
        "baseline_names": result.baseline_names,
        "retrieval_baselines": result.retrieval_baselines,
        "effective_weights": result.effective_weights,
        "propensities": result.propensities,
        "timing": result.timing,
        "best_epoch": result.best_epoch,
        # What the kept epoch was chosen by, epoch by epoch.
        "validation": {
          k: v for k, v in result.history.items() if k.startswith("val_")
        },
      }
    except Exception as e:  # noqa: BLE001  A failed run is a result too.
      logging.exception("Run %s failed.", key)
      row = {"error": f"{type(e).__name__}: {e}"}
    row.update(key=list(key), seconds=time.time() - started)
    with open(path, "a") as f:
      f.write(json.dumps(row) + "\n")
    results.append(row)
    tf.keras.backend.clear_session()
    value = row.get("metrics", {}).get(headline)
    shown = (
      f"{headline}={value:.4f}" if value is not None else row.get("error", "")
    )
    print(
      f"[{i}/{len(todo)}] {' '.join(map(str, key))}: {shown} ({row['seconds']:.0f} s)",
      flush=True,
    )
  wanted = {tuple(key) for key in grid}
  return [r for r in results if tuple(r["key"]) in wanted]


def read(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def by_key(
  results: Sequence[Mapping[str, Any]],
) -> dict[Key, Mapping[str, Any]]:
  return {tuple(r["key"]): r for r in results}


def mean_std(values: Sequence[float]) -> str:
  """`mean ± sample std`, or the value alone for one run; undefined values
  (None, NaN: a metric with nothing to score) are left out."""
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return "n/a"
  if len(values) == 1:
    return f"{values[0]:.4f}"
  return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def paired_difference(
  values: Sequence[float], reference: Sequence[float]
) -> str:
  """Mean difference to the reference run of the same seed, and how many
  seeds improved: `+0.0123 (3/3)`."""
  diffs = [
    v - r
    for v, r in zip(values, reference, strict=True)
    if v is not None and r is not None
  ]
  if not diffs:
    return ""
  return (
    f"{statistics.mean(diffs):+.4f} ({sum(d > 0 for d in diffs)}/{len(diffs)})"
  )
