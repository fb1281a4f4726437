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
import os
from typing import Any

from absl import app, flags

import objectives
from experiments import common, output_flags, synthetic_flags
from multiobj import config as config_lib
from multiobj.data import synthetic
from multiobj.studies import grid

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
  # MGDA's alphas depend on how task gradients are normalised (the default
  # "loss+" above); "l2" compares directions only.
  "mgda_l2": {"weighting": "mgda(normalization=l2)"},
}

METRICS = ("click_truth_ndcg@10", "click_auc", "purchase_auc", "dwell_rmse")
HEADLINE = "click_truth_ndcg@10"

_SETTINGS = flags.DEFINE_list(
  "settings", list(SETTINGS), f"Kinds of log; of: {', '.join(SETTINGS)}."
)
_METHODS = flags.DEFINE_list(
  "methods", list(METHODS), f"Methods; of: {', '.join(METHODS)}."
)
for _flag in (
  common.EPOCHS,
  output_flags.OUTPUT_DIR,
  output_flags.SEEDS,
  synthetic_flags.SYNTHETIC_REQUESTS,
):
  flags.declare_key_flag(_flag.name)


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
  return config_lib.TrainConfig(
    model_dir=os.path.join(
      config.output_dir, "runs", setting, method, f"seed{seed}"
    ),
  ).replace(
    objectives=tuple(
      objectives.select(synthetic.DEFAULT_OBJECTIVES, spec.get("losses", ""))
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
  keys = [
    (s, m, seed)
    for s in config.settings
    for m in config.methods
    for seed in config.seeds
  ]
  return grid.run(
    config.output_dir, keys, lambda key: train_config(config, *key), HEADLINE
  )


def table(results: list[dict[str, Any]], config: DenoisingConfig) -> str:
  """Markdown tables, one per setting: mean ± std over seeds, and the paired
  difference to bce on the headline metric."""
  runs = grid.by_key(results)
  lines = []
  for setting in config.settings:
    lines += [
      f"### {setting}: {_describe(SETTINGS[setting])}",
      "",
      "| method | truth NDCG@10 | Δ vs bce (wins) | click AUC | purchase AUC | dwell RMSE |",
      "|---|---|---|---|---|---|",
    ]
    reference = [
      runs.get((setting, "bce", s), {}).get("metrics", {}).get(HEADLINE)
      for s in config.seeds
    ]
    for method in config.methods:
      rows = [runs.get((setting, method, s)) for s in config.seeds]
      failed = [r for r in rows if r is None or "error" in r]
      if failed:
        reason = next((r["error"] for r in failed if r), "not run")
        lines.append(f"| {method} | failed: {reason[:80]} | | | | |")
        continue
      cells = [
        grid.mean_std([r["metrics"].get(m) for r in rows]) for m in METRICS
      ]
      headline = [r["metrics"][HEADLINE] for r in rows]
      delta = (
        "" if method == "bce" else grid.paired_difference(headline, reference)
      )
      lines.append(
        f"| {method} | {cells[0]} | {delta} | {' | '.join(cells[1:])} |"
      )
    lines.append("")
  return "\n".join(lines)


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
  if not output_flags.OUTPUT_DIR.value:
    raise app.UsageError("--output_dir is required.")
  config = DenoisingConfig(
    output_dir=output_flags.OUTPUT_DIR.value,
    settings=tuple(_SETTINGS.value),
    methods=tuple(_METHODS.value),
    seeds=tuple(int(s) for s in output_flags.SEEDS.value),
    # Shared flags, defined once in experiments/common.py and synthetic_flags.
    synthetic_requests=synthetic_flags.SYNTHETIC_REQUESTS.value,
    epochs=common.EPOCHS.value,
  )
  results = run(config)
  text = table(results, config)
  with open(os.path.join(config.output_dir, "table.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  app.run(main)
