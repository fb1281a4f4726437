"""The studies of feature types (`docs/results/features.md`): histories,
precomputed item vectors and vocabulary policies, on MovieLens 100K
leave-one-out and on the synthetic log. `experiments/studies.py` holds
them with the others."""

from experiments.study import Study
from multiobj.data import synthetic

STUDIES: dict[str, Study] = {}

# Feature types (docs/results/features.md): MovieLens 100K leave-one-out,
# with and without the user's recent movies, and with ids hashed into as
# many buckets as full vocabularies have rows.
_ML100K_METRICS = (
  "retrieval_full_recall@10",
  "retrieval_full_recall@20",
  "retrieval_full_ndcg@10",
  "rating_rmse",
)
STUDIES["features_ml100k"] = Study(
  dataset="json",
  variants={
    "ids_and_title": {
      "dataset_spec": "docs/examples/ml100k_leave_one_out.json"
    },
    "with_history": {"dataset_spec": "docs/examples/ml100k_history.json"},
    "with_history_hashed_ids": {
      "dataset_spec": "docs/examples/ml100k_history_hashed.json"
    },
  },
  metrics=_ML100K_METRICS,
  epochs=3,
)

ML100K_ITEM_VECTORS = "docs/examples/ml100k_item_vectors.json"
ML100K_GENRES = (
  "unknown,action,adventure,animation,children,comedy,crime,documentary,"
  "drama,fantasy,film_noir,horror,musical,mystery,romance,sci_fi,thriller,"
  "war,western"
).split(",")


def _ml100k_item_vectors(data_dir: str) -> None:
  """Writes the movies' content vectors the item-vector descriptions read
  (where they say): 32 dimensions of latent semantic analysis of each
  movie's title words and genre names (`experiments/encode_items.py`)."""
  # Here, not at the top: --help and flag errors come before TensorFlow.
  from multiobj.data import encode  # noqa: PLC0415
  from multiobj.data.description import loader  # noqa: PLC0415

  _, parsed = loader.parse(ML100K_ITEM_VECTORS, data_dir)
  (path,) = (f.vectors for f in parsed["spec"].features if f.vectors)
  encode.catalogue_vectors(
    ML100K_ITEM_VECTORS, ["title"], ML100K_GENRES, 32, path, data_dir
  )


# Vocabulary policies on MovieLens 100K leave-one-out with the history:
# hashing at equal memory and with four times the buckets, and a frequency
# cut-off on the movies.
STUDIES["features_ml100k_vocabularies"] = Study(
  dataset="json",
  variants={
    "full": {"dataset_spec": "docs/examples/ml100k_history.json"},
    "hashed_equal_memory": {
      "dataset_spec": "docs/examples/ml100k_history_hashed.json"
    },
    "hashed_4x_buckets": {
      "dataset_spec": "docs/examples/ml100k_history_hashed_spare.json"
    },
    "movies_min_count_5": {
      "dataset_spec": "docs/examples/ml100k_history_min_count.json"
    },
  },
  metrics=_ML100K_METRICS,
  epochs=3,
)

# Precomputed item vectors on MovieLens 100K leave-one-out: the content
# vectors beside the title's learnt words, with and without the history.
STUDIES["features_ml100k_vectors"] = Study(
  dataset="json",
  variants={
    "ids_and_title": {
      "dataset_spec": "docs/examples/ml100k_leave_one_out.json"
    },
    "with_item_vectors": {"dataset_spec": ML100K_ITEM_VECTORS},
    "with_history": {"dataset_spec": "docs/examples/ml100k_history.json"},
    "with_history_and_item_vectors": {
      "dataset_spec": "docs/examples/ml100k_history_item_vectors.json"
    },
  },
  metrics=_ML100K_METRICS,
  epochs=3,
  setup=_ml100k_item_vectors,
)
# The same vectors for movies never seen in training: a tenth of the
# catalogue held out, id dropout training the unknown-id row.
STUDIES["features_ml100k_cold_vectors"] = Study(
  dataset="json",
  variants={
    "title": {"dataset_spec": "docs/examples/ml100k_leave_one_out.json"},
    "title_and_item_vectors": {"dataset_spec": ML100K_ITEM_VECTORS},
  },
  metrics=(
    "retrieval_recall@100_cold",
    "retrieval_recall@10_among_cold",
    "retrieval_recall@50_among_cold",
    "retrieval_full_recall@20",
  ),
  epochs=3,
  changes={"cold_start_items": 0.1, "id_dropout": 0.2},
  setup=_ml100k_item_vectors,
)
STUDIES["features_synthetic"] = Study(
  dataset="synthetic",
  variants={
    "default": {},
    "with_history": {"synthetic": synthetic.SyntheticConfig(history_length=20)},
    "with_item_vectors": {
      "synthetic": synthetic.SyntheticConfig(item_vectors=32)
    },
    "with_both": {
      "synthetic": synthetic.SyntheticConfig(history_length=20, item_vectors=32)
    },
  },
  metrics=(
    "retrieval_recall@10",
    "retrieval_recall@100",
    "click_auc",
    "click_truth_ndcg@10",
    "purchase_auc",
  ),
  epochs=3,
)
