"""Whole processes as a user runs them: time to quality and start-up.

Called by `python -m experiments.benchmark --startup`; every figure comes
from the processes' own reports (wall time around the process, metrics.json
timing), never from a test:

  tutorial   python -m experiments.tfrs_tutorial: the TFRS multitask
             tutorial's joint model, 3 epochs; its top-100 accuracy and RMSE
             are the quality to reach;
  multiobj   python -m experiments.train on the same protocol
             (docs/examples/tfrs_tutorial.json), 1 epoch, then 2, ..., until
             its recall@100 (the tutorial's top-100 accuracy) and RMSE are
             at least as good; its whole-process time is the time to
             quality;
  default    the default experiment (`make train`'s), 3 epochs: time to the
             first step, each epoch's time (the first over the median of the
             others), the test metrics' time per 10,000 test rows;
  help       python -m experiments.train --help, best of 3;
  sweep      the README's 12-trial sweep, two workers: its time.
"""

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from experiments import scale_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL_SPEC = os.path.join(ROOT, "docs", "examples", "tfrs_tutorial.json")


def process(args: Sequence[str], log: str) -> float:
  """Runs `python -m args` (`scale_benchmark.run_process`), its output to
  `log`; its wall seconds."""
  return scale_benchmark.run_process(list(args), log)["seconds"]


def _metrics(model_dir: str) -> dict:
  with open(os.path.join(model_dir, "metrics.json")) as f:
    return json.load(f)


def tutorial(data_dir: str, folder: str) -> dict:
  """The tutorial's process: its wall seconds and final quality."""
  log = os.path.join(folder, "tutorial.log")
  seconds = process(
    ["experiments.tfrs_tutorial", f"--data_dir={data_dir}"], log
  )
  with open(log) as f:
    last = [line for line in f.read().splitlines() if line.startswith("{")]
  return {**json.loads(last[-1]), "process_seconds": seconds}


def time_to_quality(
  data_dir: str, folder: str, target: dict, max_epochs: int = 3
) -> list[dict]:
  """multiobj on the tutorial's protocol with 1, 2, ... epochs, until its
  quality reaches `target` (top_100_accuracy, rmse): one row a run."""
  rows = []
  for epochs in range(1, max_epochs + 1):
    model_dir = os.path.join(folder, f"tutorial_protocol_{epochs}")
    seconds = process(
      [
        "experiments.train",
        f"--model_dir={model_dir}",
        f"--dataset_spec={TUTORIAL_SPEC}",
        f"--data_dir={data_dir}",
        f"--epochs={epochs}",
        "--overwrite",
      ],
      model_dir + ".log",
    )
    metrics = _metrics(model_dir)
    row = {
      "epochs": epochs,
      "process_seconds": seconds,
      "recall@100": metrics["metrics"]["retrieval_recall@100"],
      "rmse": metrics["metrics"]["rating_rmse"],
      "timing": metrics["timing"],
    }
    row["reached"] = reached(row, target)
    rows.append(row)
    if row["reached"]:
      break
  return rows


def reached(row: dict, target: dict) -> bool:
  """Whether a run's quality is at least the tutorial's on both tasks."""
  return (
    row["recall@100"] >= target["top_100_accuracy"]
    and row["rmse"] <= target["rmse"]
  )


def startup(folder: str) -> dict:
  """The default experiment, 3 epochs: where its time goes."""
  model_dir = os.path.join(folder, "default")
  seconds = process(
    [
      "experiments.train",
      f"--model_dir={model_dir}",
      "--epochs=3",
      "--overwrite",
    ],
    model_dir + ".log",
  )
  metrics = _metrics(model_dir)
  return {"process_seconds": seconds, **summary(metrics)}


def summary(metrics: dict) -> dict:
  """Start-up figures of a run's metrics.json."""
  timing = metrics["timing"]
  epochs = timing["epoch_seconds"]
  test_rows = metrics["data"]["test"]["rows"]
  out = {
    "first_step_seconds": timing.get("first_step_seconds"),
    "epoch_seconds": epochs,
    "evaluate_seconds_per_10k_test_rows": timing["evaluate_seconds"]
    * 10_000
    / test_rows,
  }
  if len(epochs) > 1:
    out["first_over_steady_epoch"] = epochs[0] / statistics.median(epochs[1:])
  return out


# The README's sweep: 12 trials, two workers.
SWEEP = (
  "experiments.sweep",
  "--space=learning_rate=loguniform(1e-3,1e-1);"
  "weighting=choice(static,uncertainty,dwa)",
  "--directions=click_auc:max,purchase_auc:max,dwell_rmse:min",
  "--trial_flags=--synthetic_requests=5000 --epochs=2",
  "--trials=12",
  "--parallel=2",
)


def sweep(folder: str) -> dict:
  """The README's 12-trial sweep: its wall seconds and its trials'."""
  output = os.path.join(folder, "sweep")
  seconds = process([*SWEEP, f"--output_dir={output}"], output + ".log")
  with open(os.path.join(output, "results.csv")) as f:
    rows = list(csv.DictReader(f))
  return {
    "process_seconds": seconds,
    "trials": len(rows),
    "complete": sum(r["state"] == "COMPLETE" for r in rows),
    "trial_seconds": [float(r["duration_s"]) for r in rows],
  }


def help_seconds(repeats: int = 3) -> float:
  """`python -m experiments.train --help`, best of `repeats`."""
  best = float("inf")
  for _ in range(repeats):
    began = time.perf_counter()
    subprocess.run(  # absl's --help exits with 1.
      [sys.executable, "-m", "experiments.train", "--help"],
      cwd=ROOT,
      capture_output=True,
      check=False,
    )
    best = min(best, time.perf_counter() - began)
  return best


def run(data_dir: str, folder: str) -> dict:
  """Every measurement above; also written to `folder`/startup.json."""
  os.makedirs(folder, exist_ok=True)
  results = {"help_seconds": help_seconds()}
  results["tutorial"] = tutorial(data_dir, folder)
  results["multiobj"] = time_to_quality(data_dir, folder, results["tutorial"])
  results["default"] = startup(folder)
  results["sweep"] = sweep(folder)
  with open(os.path.join(folder, "startup.json"), "w") as f:
    json.dump(results, f, indent=1)
  return results


def table(results: dict) -> str:
  """The results as markdown."""
  t = results["tutorial"]
  lines = [
    "| process | epochs | top-100 / recall@100 | RMSE | seconds |",
    "|---|---|---|---|---|",
    f"| TFRS tutorial | 3 | {t['top_100_accuracy']:.3f} | {t['rmse']:.3f} "
    f"| {t['process_seconds']:.1f} |",
  ]
  for row in results["multiobj"]:
    lines.append(
      f"| multiobj | {row['epochs']} | {row['recall@100']:.3f} | "
      f"{row['rmse']:.3f} | {row['process_seconds']:.1f} |"
    )
  done = [r for r in results["multiobj"] if r["reached"]]
  if done:
    ratio = t["process_seconds"] / done[0]["process_seconds"]
    lines.append(
      f"\nmultiobj reaches the tutorial's quality in "
      f"{done[0]['process_seconds']:.1f} s, {ratio:.1f}x sooner than the "
      "tutorial's whole process."
    )
  else:
    lines.append("\nmultiobj did not reach the tutorial's quality.")
  d = results["default"]
  lines.append(
    f"Default experiment: first step after {d['first_step_seconds']:.1f} s; "
    f"epochs {', '.join(f'{s:.1f}' for s in d['epoch_seconds'])} s (first "
    f"{d['first_over_steady_epoch']:.2f}x the others); test metrics "
    f"{d['evaluate_seconds_per_10k_test_rows']:.2f} s per 10,000 test rows; "
    f"--help {results['help_seconds']:.2f} s."
  )
  w = results["sweep"]
  lines.append(
    f"The README's 12-trial sweep (--parallel=2): {w['process_seconds']:.0f} "
    f"s, {w['complete']} of {w['trials']} trials complete, "
    f"{statistics.median(w['trial_seconds']):.1f} s a trial (median)."
  )
  return "\n".join(lines)
