"""The TensorFlow Recommenders multitask tutorial's joint model, as written.

Example (the tutorial: 3 epochs, then top-100 accuracy and RMSE on test):

  python -m experiments.tfrs_tutorial --data_dir=../shared/data

The reference `multiobj` is measured against (`experiments/benchmark.py
--startup`, docs/results/performance.md): the model, optimizer, batch sizes,
epochs and split of https://www.tensorflow.org/recommenders/examples/multitask
with rating and retrieval weights 1 (the joint model). Its data is MovieLens
100K read from the GroupLens files instead of TensorFlow Datasets (not
installed here): u.data's ratings, each with its movie's title from u.item,
shuffled with seed 42, the first 80,000 for training and the next 20,000 for
test. As in the tutorial, the retrieval task computes its top-K metrics in
training too. Prints one JSON line: top-100 accuracy, RMSE, seconds.
"""

import json
import os
import time

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
from absl import app, flags

from experiments import common

flags.declare_key_flag(common.DATA_DIR.name)
flags.declare_key_flag(common.EPOCHS.name)

# --data_dir and --epochs (default 3, the tutorial's) are the shared flags.
_ROWS = flags.DEFINE_integer(
  "rows",
  100_000,
  "Ratings used, split 80/20 (fewer for a quick check).",
  lower_bound=10,
)


def ratings(data_dir: str, rows: int) -> dict[str, np.ndarray]:
  """u.data's first `rows` ratings: user id and movie title (str), rating."""
  folder = os.path.join(data_dir, "ml-100k")
  table = np.loadtxt(os.path.join(folder, "u.data"), dtype=np.int64)[:rows]
  titles = {}
  with open(os.path.join(folder, "u.item"), encoding="latin-1") as f:
    for line in f:
      movie, title = line.split("|", 2)[:2]
      titles[int(movie)] = title
  return {
    "user_id": table[:, 0].astype(str),
    "movie_title": np.array([titles[m] for m in table[:, 1]]),
    "user_rating": table[:, 2].astype(np.float32),
  }


class MovielensModel(tfrs.models.Model):
  """The tutorial's model: user and title embeddings of width 32, a rating
  MLP (256, 128, 1) on both, a ranking task and a retrieval task."""

  def __init__(self, users, titles, movies, rating_weight, retrieval_weight):
    super().__init__()
    dim = 32
    self.movie_model = tf.keras.Sequential(
      [
        tf.keras.layers.StringLookup(vocabulary=titles, mask_token=None),
        tf.keras.layers.Embedding(len(titles) + 1, dim),
      ]
    )
    self.user_model = tf.keras.Sequential(
      [
        tf.keras.layers.StringLookup(vocabulary=users, mask_token=None),
        tf.keras.layers.Embedding(len(users) + 1, dim),
      ]
    )
    self.rating_model = tf.keras.Sequential(
      [
        tf.keras.layers.Dense(256, activation="relu"),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(1),
      ]
    )
    self.rating_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.MeanSquaredError(),
      metrics=[tf.keras.metrics.RootMeanSquaredError()],
    )
    self.retrieval_task = tfrs.tasks.Retrieval(
      metrics=tfrs.metrics.FactorizedTopK(
        candidates=movies.batch(128).map(self.movie_model)
      )
    )
    self.rating_weight = rating_weight
    self.retrieval_weight = retrieval_weight

  def call(self, features):
    user_embeddings = self.user_model(features["user_id"])
    movie_embeddings = self.movie_model(features["movie_title"])
    both = tf.concat([user_embeddings, movie_embeddings], axis=1)
    return user_embeddings, movie_embeddings, self.rating_model(both)

  def compute_loss(self, features, training=False):
    features = dict(features)
    rating = features.pop("user_rating")
    user_embeddings, movie_embeddings, predictions = self(features)
    rating_loss = self.rating_task(labels=rating, predictions=predictions)
    retrieval_loss = self.retrieval_task(user_embeddings, movie_embeddings)
    return (
      self.rating_weight * rating_loss + self.retrieval_weight * retrieval_loss
    )


def run(data_dir: str, epochs: int, rows: int) -> dict[str, float]:
  """Trains and evaluates the tutorial's joint model; returns its metrics
  and the seconds it took from reading the data."""
  began = time.time()
  tf.random.set_seed(42)
  columns = ratings(data_dir, rows)
  data = tf.data.Dataset.from_tensor_slices(columns)
  shuffled = data.shuffle(rows, seed=42, reshuffle_each_iteration=False)
  train_rows = rows * 4 // 5
  train = shuffled.take(train_rows)
  test = shuffled.skip(train_rows).take(rows - train_rows)
  titles = np.unique(columns["movie_title"])
  movies = tf.data.Dataset.from_tensor_slices(titles)
  model = MovielensModel(
    np.unique(columns["user_id"]), titles, movies, 1.0, 1.0
  )
  model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
  model.fit(train.shuffle(100_000).batch(8192).cache(), epochs=epochs)
  metrics = model.evaluate(test.batch(4096).cache(), return_dict=True)
  return {
    "top_100_accuracy": float(
      metrics["factorized_top_k/top_100_categorical_accuracy"]
    ),
    "rmse": float(metrics["root_mean_squared_error"]),
    "seconds": time.time() - began,
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  print(
    json.dumps(run(common.DATA_DIR.value, common.EPOCHS.value, _ROWS.value))
  )


if __name__ == "__main__":
  app.run(main)
