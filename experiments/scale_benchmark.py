"""The data path at real sizes, measured as a user runs it: whole processes.

For each size of the synthetic log (`--scale_rows`, impressions), under
`/usr/bin/time -v`:

  prepare   python -m experiments.prepare: the log drawn as Parquet shards
            and prepared into a cache (in pieces beyond
            --prepare_memory_mb); wall time and peak resident memory;
  train     python -m experiments.train on that cache, one epoch: peak
            resident memory, training rows/s, the time from the start of the
            process to the end of the first step (cached);
  cold      at the sizes in --scale_cold_rows, the same training without a
            cache: its time to the first step includes the preparation;
  workers   at the size in --scale_workers_rows, two workers on localhost
            (--strategy=multi_worker), each reading half of the shards;
  sweep     alone, with --scale_sweep_rows: 8 trials with a shared cache
            against 8 that each prepare the log.

Called by `python -m experiments.benchmark --scale_training`; writes
scale_training.json in --scale_dir and prints a markdown table. Every
figure comes from the processes' own reports (metrics.json, the time
command), never from a test.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from absl import logging

_TIME = ["/usr/bin/time", "-v"]


def run_process(args: list[str], log: str) -> dict[str, float]:
  """Runs `python -m args` under /usr/bin/time; its wall time and peak
  resident memory (MB). The output goes to `log`."""
  began = time.time()
  with open(log, "w") as out:
    done = subprocess.run(
      [*_TIME, sys.executable, "-m", *args],
      stdout=out,
      stderr=subprocess.STDOUT,
      check=False,
    )
  with open(log) as f:
    text = f.read()
  if done.returncode:
    raise RuntimeError(f"{' '.join(args)} failed; see {log}:\n{text[-2000:]}")
  peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
  return {
    "seconds": time.time() - began,
    "peak_mb": int(peak.group(1)) / 1024 if peak else float("nan"),
  }


def _metrics(model_dir: str) -> dict:
  with open(os.path.join(model_dir, "metrics.json")) as f:
    return json.load(f)


def run(
  sizes: list[int],
  cold_sizes: list[int],
  directory: str,
  memory_mb: int,
  flags: list[str],
) -> dict[str, dict]:
  """Measures every size; {size: {prepare, train, cold}}."""
  os.makedirs(directory, exist_ok=True)
  results = {}
  for rows in sizes:
    requests = max(1, rows // 10)
    size = [f"--synthetic_requests={requests}", *flags]
    cache = os.path.join(directory, f"cache_{rows}")
    shutil.rmtree(cache, ignore_errors=True)
    logging.info("%d rows: preparing.", rows)
    prepare = run_process(
      [
        "experiments.prepare",
        f"--cache_dir={cache}",
        f"--prepare_memory_mb={memory_mb}",
        *size,
      ],
      os.path.join(directory, f"prepare_{rows}.log"),
    )
    logging.info("%d rows: training on the cache.", rows)
    model_dir = os.path.join(directory, f"run_{rows}")
    shutil.rmtree(model_dir, ignore_errors=True)
    train = run_process(
      [
        "experiments.train",
        f"--cache_dir={cache}",
        f"--model_dir={model_dir}",
        "--epochs=1",
        *size,
      ],
      os.path.join(directory, f"train_{rows}.log"),
    )
    metrics = _metrics(model_dir)
    train.update(metrics["timing"])
    train["metrics"] = {
      k: metrics["metrics"][k]
      for k in ("retrieval_recall@100", "click_auc", "purchase_auc")
      if k in metrics["metrics"]
    }
    results[rows] = {"prepare": prepare, "train": train}
    if rows in cold_sizes:
      logging.info("%d rows: training without a cache.", rows)
      cold_dir = os.path.join(directory, f"cold_{rows}")
      shutil.rmtree(cold_dir, ignore_errors=True)
      cold = run_process(
        [
          "experiments.train",
          f"--model_dir={cold_dir}",
          f"--prepare_memory_mb={memory_mb}",
          "--epochs=1",
          *size,
        ],
        os.path.join(directory, f"cold_{rows}.log"),
      )
      cold.update(_metrics(cold_dir)["timing"])
      results[rows]["cold"] = cold
      shutil.rmtree(cold_dir, ignore_errors=True)
    with open(os.path.join(directory, "scale_training.json"), "w") as f:
      json.dump(results, f, indent=1)
  return results


def table(results: dict) -> str:
  """The markdown table of `run`'s results."""
  lines = [
    "| impressions | prepare s | prepare peak MB | train peak MB | train rows/s "
    "| first step s (cached) | first step s (uncached) |",
    "|---|---|---|---|---|---|---|",
  ]
  for rows, r in results.items():
    if rows == "two_workers":
      continue
    cold = r.get("cold", {}).get("first_step_seconds")
    lines.append(
      f"| {int(rows):,} | {r['prepare']['seconds']:.0f} "
      f"| {r['prepare']['peak_mb']:,.0f} | {r['train']['peak_mb']:,.0f} "
      f"| {r['train']['train_rows_per_second']:,.0f} "
      f"| {r['train'].get('first_step_seconds', float('nan')):.1f} "
      f"| {'' if cold is None else f'{cold:.1f}'} |"
    )
  return "\n".join(lines)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def two_workers(
  rows: int, directory: str, flags: list[str]
) -> dict[str, object]:
  """Two workers on localhost (`--strategy=multi_worker`) training one
  epoch on the cache of `rows` impressions that `run` prepared, each
  reading its own shards: each one's peak memory and wall time, rows/s,
  and the metrics beside those of one worker."""
  cache = os.path.join(directory, f"cache_{rows}")
  model_dir = os.path.join(directory, f"workers_{rows}")
  shutil.rmtree(model_dir, ignore_errors=True)
  addresses = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
  processes, logs = [], []
  began = time.time()
  for index in range(2):
    env = dict(
      os.environ,
      TF_CONFIG=json.dumps(
        {
          "cluster": {"worker": addresses},
          "task": {"type": "worker", "index": index},
        }
      ),
    )
    log = os.path.join(directory, f"workers_{rows}_{index}.log")
    logs.append(log)
    with open(log, "w") as out:
      processes.append(
        subprocess.Popen(
          [
            *_TIME,
            sys.executable,
            "-m",
            "experiments.train",
            f"--cache_dir={cache}",
            f"--model_dir={model_dir}",
            "--strategy=multi_worker",
            "--epochs=1",
            f"--synthetic_requests={max(1, rows // 10)}",
            *flags,
          ],
          stdout=out,
          stderr=subprocess.STDOUT,
          env=env,
        )
      )
  for process in processes:
    process.wait()
  seconds = time.time() - began
  out = {"seconds": seconds, "workers": []}
  for process, log in zip(processes, logs, strict=True):
    with open(log) as f:
      text = f.read()
    if process.returncode:
      raise RuntimeError(f"a worker failed; see {log}:\n{text[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    out["workers"].append({"peak_mb": int(peak.group(1)) / 1024})
  metrics = _metrics(model_dir)
  out["timing"] = metrics["timing"]
  out["metrics"] = {
    k: metrics["metrics"][k]
    for k in ("retrieval_recall@100", "click_auc", "purchase_auc")
    if k in metrics["metrics"]
  }
  single = _metrics(os.path.join(directory, f"run_{rows}"))
  out["one_worker_metrics"] = {
    k: single["metrics"][k] for k in out["metrics"] if k in single["metrics"]
  }
  return out


def sweep(rows: int, trials: int, directory: str) -> dict[str, float]:
  """A sweep of `trials` trials over the learning rate on `rows`
  impressions, twice: trials sharing one cache (the sweep's default) and
  each trial preparing its own (`--cache_dir=` empty); wall time of each."""
  os.makedirs(directory, exist_ok=True)
  out = {}
  for name, cache in (("shared_cache", None), ("per_trial", "")):
    output = os.path.join(directory, f"sweep_{rows}_{name}")
    shutil.rmtree(output, ignore_errors=True)
    trial_flags = f"--synthetic_requests={max(1, rows // 10)} --epochs=1"
    if cache is not None:
      trial_flags += " --cache_dir="
    out[name] = run_process(
      [
        "experiments.sweep",
        f"--output_dir={output}",
        "--space=learning_rate=loguniform(1e-4,1e-2)",
        "--directions=click_auc:max",
        "--sampler=random",
        f"--trials={trials}",
        f"--trial_flags={trial_flags}",
      ],
      os.path.join(directory, f"sweep_{rows}_{name}.log"),
    )
  out["ratio"] = out["per_trial"]["seconds"] / out["shared_cache"]["seconds"]
  return out
