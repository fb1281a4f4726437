"""The studies of docs/results/benchmarks.md: the field's public benchmarks
under their published protocols, each model as tuned on validation
(docs/results/sweeps/), beside popularity, item-KNN and EASE^R tuned the
same way. `experiments/studies.py` holds them with the others."""

from experiments.study import Study

STUDIES: dict[str, Study] = {}

# Leave-one-out, full ranking: the sequential papers' headline metrics.
_LEAVE_ONE_OUT = (
  "retrieval_full_ndcg@10",
  "retrieval_full_recall@10",
  "retrieval_full_ndcg@20",
  "retrieval_full_recall@20",
  "timing.fit_seconds",
  "best_epoch",
)
# Towers of one linear layer, dot products: SASRec's shape (an item's
# length free to carry its popularity).
_SEQUENCE = {
  "tower_layers": (),
  "embedding_dim": 64,
  "similarity": "dot",
  "temperature": 1.0,
}

# MovieLens 1M, SASRec's protocol: the last 200 movies by causal
# self-attention, every position trained against every movie.
STUDIES["benchmark_ml1m"] = Study(
  dataset="json",
  variants={
    "self_attention": {},
    # The same training, the history pooled as its mean.
    "mean": {"history_encoder": "mean"},
  },
  metrics=_LEAVE_ONE_OUT,
  epochs=30,
  changes={
    "dataset_spec": "docs/examples/ml1m_sasrec.json",
    **_SEQUENCE,
    "learning_rate": 0.003,
    "learning_rate_decay": "cosine",
  },
)
