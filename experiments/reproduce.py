"""Published studies reproduced on the real datasets, three seeds each.

Example (one study; the table goes to <output_dir>/<study>.md):

  python -m experiments.reproduce --study=ml100k_multitask --output_dir=runs/reproduce

Studies:
  ml100k_multitask  TFRS multitask tutorial: rating-only, retrieval-only and
                    joint models on MovieLens 100K; top-100 retrieval
                    accuracy (recall@100 over all movies) and rating RMSE.
  ml100k_cold_start 10% of movies held out of training; retrieval recall on
                    them from content features, against popularity.
  deca              DeCA's noisy ML-100K: bce and the noise-robust losses on
                    the click head; full-ranking Recall/NDCG@20 on the clean
                    test positives, train and valid items masked.
  taobao            Taobao cart and purchase: purchase Recall@20/50 (full
                    ranking with the towers) with and without the cart
                    objective.
  trunks_synthetic  Shared-bottom, MMoE and PLE trunks, and purchase on every
                    impression, given a click, or in the entire space (ESMM),
                    on synthetic data where click-bait is clicked more and
                    bought less (click_purchase_conflict=1).
  trunks_synthetic_no_conflict
                    The same trunks without the conflict.
  retrieval_negatives
                    In-batch negatives alone, with the batch's unclicked
                    impressions, with uniform draws, and both (synthetic).
  trunks_taobao     The trunks, and purchase given cart (conditional and
                    entire space), on Taobao cart and purchase.
  replicas          One device against a mirrored strategy over two logical
                    CPUs, with and without gathering retrieval candidates
                    across replicas (synthetic).

Rerunning resumes where it stopped (see multiobj/studies/grid.py).
"""

import dataclasses
import os
from typing import Any

from absl import app, flags

import objectives
from experiments import common, output_flags
from multiobj import config as config_lib
from multiobj.data import loaders, synthetic
from multiobj.studies import grid


@dataclasses.dataclass(frozen=True)
class Study:
  dataset: str
  # Variant name: TrainConfig changes (`TrainConfig.replace`).
  variants: dict[str, dict[str, Any]]
  metrics: tuple[str, ...]
  epochs: int
  batch_size: int = 128
  changes: dict[str, Any] = dataclasses.field(default_factory=dict)


STUDIES = {
  "ml100k_multitask": Study(
    dataset="ml-100k",
    variants={
      # As in the tutorial, the other task stays in the model with weight 0,
      # so its metric shows what a specialist learns of it for free.
      "rating_only": {"objective_weights": "retrieval:0,rating:1"},
      "retrieval_only": {"objective_weights": "retrieval:1,rating:0"},
      "joint": {"objective_weights": "retrieval:1,rating:1"},
    },
    metrics=("retrieval_recall@100", "retrieval_recall@10", "rating_rmse"),
    epochs=5,
  ),
  "ml100k_cold_start": Study(
    dataset="ml-100k",
    # Unseen movies share the unknown-id embedding; id dropout trains it.
    variants={
      "id_dropout_0": {"objective_weights": "retrieval:1,like:1,rating:1"},
      "id_dropout_0.2": {
        "objective_weights": "retrieval:1,like:1,rating:1",
        "id_dropout": 0.2,
      },
    },
    metrics=(
      "retrieval_recall@100_cold",
      "retrieval_recall@10_among_cold",
      "retrieval_recall@50_among_cold",
      "retrieval_recall@100",
      "rating_rmse",
    ),
    epochs=5,
    changes={"cold_start_items": 0.1},
  ),
  "deca": Study(
    dataset="deca_ml100k",
    variants={
      "bce": {},
      "tce": {"losses": "click:tce"},
      "rce": {"losses": "click:rce"},
      "gce": {"losses": "click:gce"},
      "sce": {"losses": "click:sce"},
      "focal": {"losses": "click:focal"},
      "bootstrap": {"losses": "click:bootstrap"},
    },
    metrics=(
      "click_full_recall@20",
      "click_full_ndcg@20",
      "retrieval_full_recall@20",
      "retrieval_full_ndcg@20",
    ),
    epochs=10,
  ),
  "taobao": Study(
    dataset="taobao_multibehavior",
    variants={
      "with_cart": {"objective_weights": "retrieval:1,purchase:1,cart:1"},
      "without_cart": {"objective_weights": "retrieval:1,purchase:1"},
      # The runs above overfit from the first epoch (validation loss rises
      # while training loss falls): the same, keeping the best epoch.
      "with_cart_early_stopping": {
        "objective_weights": "retrieval:1,purchase:1,cart:1",
        "early_stopping": 1,
      },
      "without_cart_early_stopping": {
        "objective_weights": "retrieval:1,purchase:1",
        "early_stopping": 1,
      },
      # Carts as retrieval positives too: a user's carted items are the best
      # predictor of their next purchase (17% of test purchases were carted).
      "retrieval_on_cart_and_purchase": {
        "objectives": (
          dataclasses.replace(objectives.get("retrieval"), label="behavior"),
          objectives.get("purchase"),
          objectives.get("cart"),
        ),
        "early_stopping": 1,
      },
    },
    metrics=(
      "retrieval_full_recall@20",
      "retrieval_full_recall@50",
      "purchase_auc",
    ),
    epochs=5,
    batch_size=512,
  ),
}


MMOE = "mmoe(experts=4)"
PLE = "ple(shared_experts=2,task_experts=1)"
_TRUNK_METRICS = (
  "purchase_auc",
  "purchase_logloss",
  "purchase_auc_given_click",
  "click_auc",
  "click_truth_ndcg@10",
  "dwell_rmse",
  "retrieval_recall@50",
)
_TRUNK_VARIANTS = {
  "shared_bottom": {},
  "mmoe": {"trunk": MMOE},
  "ple": {"trunk": PLE},
  "purchase_given_click": {"funnels": "purchase:click"},
  "purchase_entire_space": {"funnels": "purchase:click:entire"},
}
STUDIES["trunks_synthetic"] = Study(
  dataset="synthetic",
  variants={
    **_TRUNK_VARIANTS,
    "mmoe_entire_space": {"trunk": MMOE, "funnels": "purchase:click:entire"},
  },
  metrics=_TRUNK_METRICS,
  epochs=3,
  changes={"synthetic": synthetic.SyntheticConfig(click_purchase_conflict=1.0)},
)
STUDIES["trunks_synthetic_no_conflict"] = Study(
  dataset="synthetic",
  variants=_TRUNK_VARIANTS,
  metrics=_TRUNK_METRICS,
  epochs=3,
)
STUDIES["retrieval_negatives"] = Study(
  dataset="synthetic",
  variants={
    "in_batch": {},
    "hard_negatives": {"hard_negatives": True},
    "uniform_16": {"uniform_negatives": 16},
    "hard_and_uniform_16": {"hard_negatives": True, "uniform_negatives": 16},
  },
  metrics=(
    "retrieval_recall@10",
    "retrieval_recall@50",
    "retrieval_recall@100",
  ),
  epochs=3,
)
_TAOBAO = "retrieval:1,purchase:1,cart:1"
STUDIES["trunks_taobao"] = Study(
  dataset="taobao_multibehavior",
  variants={
    "shared_bottom": {"objective_weights": _TAOBAO},
    "mmoe": {"objective_weights": _TAOBAO, "trunk": MMOE},
    "ple": {"objective_weights": _TAOBAO, "trunk": PLE},
    "purchase_given_cart": {
      "objective_weights": _TAOBAO,
      "funnels": "purchase:cart",
    },
    "purchase_entire_space_cart": {
      "objective_weights": _TAOBAO,
      "funnels": "purchase:cart:entire",
    },
  },
  metrics=(
    "purchase_auc",
    "purchase_logloss",
    "purchase_auc_given_cart",
    "retrieval_full_recall@20",
  ),
  epochs=2,
  batch_size=512,
)

# Every run of this study splits the CPU in two (once per process), the
# single-device one too, so they differ only in the strategy.
STUDIES["replicas"] = Study(
  dataset="synthetic",
  variants={
    "one_device": {},
    "mirrored_2_gathered": {"strategy": "mirrored"},
    "mirrored_2_per_replica": {
      "strategy": "mirrored",
      "cross_replica_negatives": False,
    },
  },
  metrics=(
    "retrieval_recall@10",
    "retrieval_recall@50",
    "retrieval_recall@100",
    "click_auc",
    "purchase_auc",
  ),
  epochs=3,
  changes={"cpu_devices": 2},
)

_STUDY = flags.DEFINE_enum("study", None, list(STUDIES), "Which study to run.")
for _flag in (common.DATA_DIR, output_flags.OUTPUT_DIR, output_flags.SEEDS):
  flags.declare_key_flag(_flag.name)


def train_config(
  name: str, variant: str, seed: int, output_dir: str, data_dir: str
):
  study = STUDIES[name]
  return config_lib.TrainConfig(
    model_dir=os.path.join(output_dir, name, variant, f"seed{seed}"),
  ).replace(
    dataset=study.dataset,
    data_dir=data_dir,
    epochs=study.epochs,
    batch_size=study.batch_size,
    seed=seed,
    **study.changes,
    **study.variants[variant],
  )


def run(
  name: str, seeds: list[int], output_dir: str, data_dir: str
) -> list[dict[str, Any]]:
  study = STUDIES[name]
  keys = [(name, variant, seed) for variant in study.variants for seed in seeds]
  return grid.run(
    os.path.join(output_dir, name),
    keys,
    lambda key: train_config(*key, output_dir, data_dir),
    study.metrics[0],
  )


def table(name: str, results: list[dict[str, Any]], seeds: list[int]) -> str:
  """Mean ± std over seeds of each metric, per variant, with the baseline."""
  study = STUDIES[name]
  runs = grid.by_key(results)
  header = "| variant | " + " | ".join(study.metrics) + " |"
  lines = [header, "|---" * (len(study.metrics) + 1) + "|"]
  for variant in study.variants:
    rows = [runs.get((name, variant, s)) for s in seeds]
    if any(r is None or "error" in r for r in rows):
      reason = next((r["error"] for r in rows if r and "error" in r), "not run")
      lines.append(f"| {variant} | failed: {reason[:100]} |")
      continue
    cells = [
      grid.mean_std([r["metrics"].get(m) for r in rows]) for m in study.metrics
    ]
    lines.append(f"| {variant} | " + " | ".join(cells) + " |")
  first = next((r for r in results if "baselines" in r), None)
  if first:
    cells = [grid.mean_std([first["baselines"].get(m)]) for m in study.metrics]
    lines.append("| baseline (popularity / mean) | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not output_flags.OUTPUT_DIR.value:
    raise app.UsageError("--output_dir is required.")
  seeds = [int(s) for s in output_flags.SEEDS.value]
  data_dir = common.DATA_DIR.value or loaders.default_data_dir()
  results = run(_STUDY.value, seeds, output_flags.OUTPUT_DIR.value, data_dir)
  text = table(_STUDY.value, results, seeds)
  with open(
    os.path.join(output_flags.OUTPUT_DIR.value, f"{_STUDY.value}.md"), "w"
  ) as f:
    f.write(text + "\n")
  print(text)


if __name__ == "__main__":
  flags.mark_flag_as_required("study")
  app.run(main)
