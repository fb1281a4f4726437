"""Noise-robust losses, debiasing and loss weighting, measured on truth.

Trains the default model (retrieval, click, dwell, purchase) on synthetic logs
of several kinds of noise, once per method and seed, and writes a table of
NDCG@10 against the true relevance (within impression lists, ranked as at
serving), click AUC, purchase AUC and dwell RMSE, mean and spread over seeds,
with each method's paired difference to `bce`.

Example (the full grid behind docs/results/denoising.md, about two hours on
2 CPU cores; rerunning resumes where it stopped):

  python -m experiments.denoising --output_dir=runs/denoising

A quick look:

  python -m experiments.denoising --output_dir=/tmp/denoising --settings=bait30 \
      --methods=bce,dwell_weighted --seeds=0 --synthetic_requests=5000
"""

import dataclasses
import json
import os
import statistics
import time
from typing import Any

import tensorflow as tf
from absl import app, flags, logging

import objectives
from experiments import common  # noqa: F401  (defines the shared flags)
from multiobj import training
from multiobj.data import synthetic

# Kinds of log. Each changes the default synthetic log (20% noise clicks,
# half accidental and half click-bait, examination 1/position).
SETTINGS = {
  "clean": {"click_noise": 0.0},
  "noise20": {"click_noise": 0.2},
  "noise40": {"click_noise": 0.4},
  "accidental40": {"click_noise": 0.4, "clickbait": 0.0},
  "bait30": {"click_noise": 0.3, "clickbait": 1.0},
  "position": {"position_bias": 2.0},
}

# Methods: the click head's loss, the weighting strategy, the propensity.
METHODS = {
  "bce": {},
  "focal": {"losses": "click:focal"},
  "gce": {"losses": "click:gce"},
  "sce": {"losses": "click:sce"},
  "bootstrap": {"losses": "click:bootstrap"},
  "bootstrap_hard": {"losses": "click:bootstrap(mode=hard)"},
  "tce": {"losses": "click:tce"},
  "rce": {"losses": "click:rce"},
  "dwell_weighted": {"losses": "click:dwell_weighted"},
  "ipw_em": {"propensity": "em"},
  "ipw_randomized": {"propensity": "randomized"},
  "uncertainty": {"weighting": "uncertainty"},
  "dwa": {"weighting": "dwa"},
  "gradnorm": {"weighting": "gradnorm"},
  "pcgrad": {"weighting": "pcgrad"},
  "mgda": {"weighting": "mgda"},
}

METRICS = ("click_truth_ndcg@10", "click_auc", "purchase_auc", "dwell_rmse")
HEADLINE = "click_truth_ndcg@10"

_OUTPUT_DIR = flags.DEFINE_string(
  "output_dir", None, "Where runs, results and the table go."
)
_SETTINGS = flags.DEFINE_list(
  "settings", list(SETTINGS), f"Kinds of log; of: {', '.join(SETTINGS)}."
)
_METHODS = flags.DEFINE_list(
  "methods", list(METHODS), f"Methods; of: {', '.join(METHODS)}."
)
_SEEDS = flags.DEFINE_list(
  "seeds", ["0", "1", "2"], "Seeds (of the data and of the model)."
)


@dataclasses.dataclass(frozen=True)
class DenoisingConfig:
  output_dir: str
  settings: tuple[str, ...] = tuple(SETTINGS)
  methods: tuple[str, ...] = tuple(METHODS)
  seeds: tuple[int, ...] = (0, 1, 2)
  synthetic_requests: int = 30000
  epochs: int = 3

  def __post_init__(self):
    for name, known, what in (
      (self.settings, SETTINGS, "setting"),
      (self.methods, METHODS, "method"),
    ):
      unknown = [n for n in name if n not in known]
      if unknown:
        raise ValueError(
          f"Unknown {what} {unknown[0]!r}; known: {', '.join(known)}."
        )
    if "bce" not in self.methods:
      raise ValueError("The methods must include 'bce', the reference.")


def train_config(config: DenoisingConfig, setting: str, method: str, seed: int):
  spec = METHODS[method]
  return training.TrainConfig(
    model_dir=os.path.join(
      config.output_dir, "runs", setting, method, f"seed{seed}"
    ),
    objectives=tuple(
      objectives.select(training.DEFAULT_OBJECTIVES, spec.get("losses", ""))
    ),
    synthetic=synthetic.SyntheticConfig(
      num_requests=config.synthetic_requests, seed=seed, **SETTINGS[setting]
    ),
    weighting=spec.get("weighting", "static"),
    propensity=spec.get("propensity", "none"),
    epochs=config.epochs,
    seed=seed,
  )


def run(config: DenoisingConfig) -> list[dict[str, Any]]:
  """Runs every (setting, method, seed) not yet in results.jsonl."""
  os.makedirs(config.output_dir, exist_ok=True)
  path = os.path.join(config.output_dir, "results.jsonl")
  results = _read(path)
  done = {(r["setting"], r["method"], r["seed"]) for r in results}
  grid = [
    (s, m, seed)
    for s in config.settings
    for m in config.methods
    for seed in config.seeds
  ]
  todo = [key for key in grid if key not in done]
  print(f"{len(grid)} runs, {len(grid) - len(todo)} already done.", flush=True)
  for i, (setting, method, seed) in enumerate(todo, start=1):
    started = time.time()
    try:
      result = training.train(
        train_config(config, setting, method, seed), verbose=0
      )
      row = {
        "metrics": result["metrics"],
        "effective_weights": result["effective_weights"],
        "propensities": result["propensities"],
      }
    except Exception as e:  # noqa: BLE001  A failed run is a result too.
      logging.exception("Run %s/%s/seed%d failed.", setting, method, seed)
      row = {"error": f"{type(e).__name__}: {e}"}
    row.update(
      setting=setting, method=method, seed=seed, seconds=time.time() - started
    )
    with open(path, "a") as f:
      f.write(json.dumps(row) + "\n")
    results.append(row)
    tf.keras.backend.clear_session()
    shown = row.get("metrics", {}).get(HEADLINE)
    print(
      f"[{i}/{len(todo)}] {setting} {method} seed={seed}: "
      + (
        f"{HEADLINE}={shown:.4f}" if shown is not None else row.get("error", "")
      )
      + f" ({row['seconds']:.0f} s)",
      flush=True,
    )
  wanted = set(grid)
  return [
    r for r in results if (r["setting"], r["method"], r["seed"]) in wanted
  ]


def _read(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def table(results: list[dict[str, Any]], config: DenoisingConfig) -> str:
  """Markdown tables, one per setting: mean ± std over seeds, and the paired
  difference to bce on the headline metric."""
  by_key = {(r["setting"], r["method"], r["seed"]): r for r in results}
  lines = []
  for setting in config.settings:
    lines += [
      f"### {setting}: {_describe(SETTINGS[setting])}",
      "",
      "| method | truth NDCG@10 | Δ vs bce (wins) | click AUC | purchase AUC | dwell RMSE |",
      "|---|---|---|---|---|---|",
    ]
    for method in config.methods:
      runs = [by_key.get((setting, method, s)) for s in config.seeds]
      failed = [r for r in runs if r is None or "error" in r]
      if failed:
        reason = next((r["error"] for r in failed if r), "not run")
        lines.append(f"| {method} | failed: {reason[:80]} | | | | |")
        continue
      cells = [_mean_std([r["metrics"][m] for r in runs]) for m in METRICS]
      diffs = [
        r["metrics"][HEADLINE]
        - by_key[(setting, "bce", s)]["metrics"][HEADLINE]
        for r, s in zip(runs, config.seeds, strict=True)
        if (setting, "bce", s) in by_key
        and "error" not in by_key[(setting, "bce", s)]
      ]
      delta = (
        ""
        if method == "bce" or not diffs
        else f"{statistics.mean(diffs):+.4f} ({sum(d > 0 for d in diffs)}/{len(diffs)})"
      )
      lines.append(
        f"| {method} | {cells[0]} | {delta} | {' | '.join(cells[1:])} |"
      )
    lines.append("")
  return "\n".join(lines)


def _mean_std(values):
  if len(values) == 1:
    return f"{values[0]:.4f}"
  return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _describe(changes):
  base = synthetic.SyntheticConfig()
  merged = {
    "click_noise": base.click_noise,
    "clickbait": base.clickbait,
    "position_bias": base.position_bias,
    **changes,
  }
  return ", ".join(f"{k}={v}" for k, v in merged.items())


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  config = DenoisingConfig(
    output_dir=_OUTPUT_DIR.value,
    settings=tuple(_SETTINGS.value),
    methods=tuple(_METHODS.value),
    seeds=tuple(int(s) for s in _SEEDS.value),
    # Shared flags, defined once in experiments/common.py.
    synthetic_requests=flags.FLAGS.synthetic_requests,
    epochs=flags.FLAGS.epochs,
  )
  results = run(config)
  text = table(results, config)
  with open(os.path.join(config.output_dir, "table.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  flags.mark_flag_as_required("output_dir")
  app.run(main)
