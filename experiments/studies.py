"""The studies `experiments/reproduce.py` runs: each a dataset, its variants
(TrainConfig changes), the metrics of its table, and its epochs. The studies
of feature types are in `feature_studies.py`, those of the public
benchmarks in `benchmark_studies.py`.
"""

import dataclasses

import objectives
from experiments import benchmark_studies, feature_studies
from experiments.study import Study
from multiobj.data import synthetic

# DeCA's protocol: Recall and NDCG@20 of the click head and of the towers.
_DECA_METRICS = (
  "click_full_recall@20",
  "click_full_ndcg@20",
  "retrieval_full_recall@20",
  "retrieval_full_ndcg@20",
)

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
    metrics=_DECA_METRICS,
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


# The model tuned with experiments/sweep.py on each dataset's validation
# split (docs/results/sweeps/), its chosen trial's parameters and best epoch,
# against the untuned defaults, on test; baselines beside them.
_ML100K_TUNED = {
  # docs/results/sweeps/ml100k.md: trial 15 of 16, best at epoch 1.
  "learning_rate": 0.002694,
  "embedding_dim": 64,
  "temperature": 0.08471,
  "batch_size": 128,
  "weighting": "uncertainty",
}
STUDIES["ml100k_tuned"] = Study(
  dataset="ml-100k",
  variants={
    "default": {},
    "tuned": {**_ML100K_TUNED, "epochs": 1},
    # The validation loss was best after 1 epoch in 15 of 16 trials: the
    # same on test, trained longer.
    "tuned_3_epochs": {**_ML100K_TUNED, "epochs": 3},
  },
  metrics=(
    "retrieval_recall@100",
    "retrieval_recall@50",
    "retrieval_recall@10",
    "rating_rmse",
    "like_auc",
  ),
  epochs=5,
)
STUDIES["tfrs_tutorial_tuned"] = Study(
  dataset="json",
  variants={
    "default": {},
    # docs/results/sweeps/tfrs_tutorial.md: trial 2 of 12, best at epoch 5,
    # tuned on docs/examples/tfrs_tutorial_tuning.json.
    "tuned": {
      "learning_rate": 0.006428,
      "embedding_dim": 64,
      "temperature": 0.1487,
      "batch_size": 512,
      "epochs": 5,
    },
  },
  metrics=("retrieval_recall@100", "retrieval_recall@10", "rating_rmse"),
  epochs=3,
  changes={"dataset_spec": "docs/examples/tfrs_tutorial.json"},
)
STUDIES["deca_tuned"] = Study(
  dataset="deca_ml100k",
  variants={
    "default": {},
    # docs/results/sweeps/deca.md: trial 5 of 12, best at epoch 7, tuned on
    # docs/examples/deca_ml100k_tuning.json (DeCA's valid file is a subset
    # of its test pairs: early stopping on it would peek at the test).
    "tuned": {
      "learning_rate": 0.003399,
      "embedding_dim": 32,
      "temperature": 0.1987,
      "batch_size": 512,
      "negatives": 3,
      "epochs": 7,
    },
  },
  metrics=_DECA_METRICS,
  epochs=10,
)

STUDIES["taobao_tuned"] = Study(
  dataset="json",
  variants={
    # The strongest model of the taobao study: retrieval on carts and
    # purchases, early stopping on validation.
    "default": {"early_stopping": 1},
    # docs/results/sweeps/taobao.md: trial 1 of 8, best at epoch 3.
    "tuned": {
      "learning_rate": 0.01914,
      "embedding_dim": 16,
      "temperature": 0.1379,
      "batch_size": 1024,
      "epochs": 3,
    },
  },
  metrics=(
    "retrieval_full_recall@20",
    "retrieval_full_recall@50",
    "purchase_auc",
  ),
  epochs=5,
  batch_size=512,
  changes={"dataset_spec": "docs/examples/taobao_cart_retrieval.json"},
)


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

STUDIES.update(feature_studies.STUDIES)
STUDIES.update(benchmark_studies.STUDIES)
