"""The hand-written TFRS model `experiments/benchmark.py` measures multiobj
against: what one would write from the TensorFlow Recommenders multitask
tutorial for the default experiment, with the same features, vocabularies,
layer sizes and losses."""

import tensorflow as tf
import tensorflow_recommenders as tfrs

from multiobj.model import features
from multiobj.prepare import lists as lists_lib
from multiobj.retrieval import candidates


class PlainModel(tfrs.Model):
  """The same network as multiobj's default model, written out by hand."""

  def __init__(self, stats: features.FeatureStats, dim: int = 32):
    super().__init__()

    def ids(name):
      vocabulary, size, _ = stats.vocabulary(name)
      lookup = tf.keras.layers.IntegerLookup(vocabulary=vocabulary)
      return tf.keras.Sequential(
        [lookup, tf.keras.layers.Embedding(size + 1, dim)]
      )

    def category(name):
      vocabulary, size, _ = stats.vocabulary(name)
      lookup = tf.keras.layers.StringLookup(vocabulary=vocabulary)
      width = features.category_dim(size + 1, dim)
      return tf.keras.Sequential(
        [lookup, tf.keras.layers.Embedding(size + 1, width)]
      )

    def numeric(name):
      mean, variance = stats.moments[name]
      return tf.keras.layers.Normalization(mean=mean, variance=variance)

    self.user = ids("user_id")
    self.country, self.device = category("country"), category("device")
    self.age = numeric("age")
    self.item = ids("item_id")
    self.category = category("category")
    self.price = numeric("price")
    title, title_size, _ = stats.vocabulary("title")
    self.title_tokens = tf.keras.layers.TextVectorization(
      vocabulary=title, output_sequence_length=12
    )
    self.title_embedding = tf.keras.layers.Embedding(
      title_size + 2, dim, mask_zero=True
    )
    positions, position_size, _ = stats.vocabulary("position")
    self.position = tf.keras.layers.IntegerLookup(vocabulary=positions)
    self.position_embedding = tf.keras.layers.Embedding(
      position_size + 1, features.category_dim(position_size + 1, dim)
    )
    self.query_dense = tf.keras.Sequential(
      [tf.keras.layers.Dense(64, "relu"), tf.keras.layers.Dense(dim)]
    )
    self.candidate_dense = tf.keras.Sequential(
      [tf.keras.layers.Dense(64, "relu"), tf.keras.layers.Dense(dim)]
    )
    self.trunk = tf.keras.Sequential(
      [tf.keras.layers.Dense(128, "relu"), tf.keras.layers.Dense(64, "relu")]
    )
    self.heads = [
      tf.keras.Sequential(
        [tf.keras.layers.Dense(32, "relu"), tf.keras.layers.Dense(1)]
      )
      for _ in range(3)
    ]
    self.retrieval = tfrs.tasks.Retrieval(
      temperature=0.05, remove_accidental_hits=True
    )
    self.click_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True)
    )
    self.purchase_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True)
    )
    self.dwell_task = tfrs.tasks.Ranking(
      loss=tf.keras.losses.MeanSquaredError()
    )

  def compute_loss(self, inputs, training=False):
    mask = inputs[lists_lib.MASK]
    b, n = tf.shape(mask)[0], tf.shape(mask)[1]
    query_enc = tf.concat(
      [
        self.user(inputs["user_id"]),
        self.country(inputs["country"]),
        self.device(inputs["device"]),
        self.age(inputs["age"][:, None]),
      ],
      axis=1,
    )
    tokens = self.title_tokens(tf.reshape(inputs["title"], [-1]))
    title = self.title_embedding(tokens)
    token_mask = tf.cast(tokens > 0, tf.float32)[..., None]
    title = tf.math.divide_no_nan(
      tf.reduce_sum(title * token_mask, 1), tf.reduce_sum(token_mask, 1)
    )
    price = tf.math.log1p(tf.maximum(tf.reshape(inputs["price"], [-1, 1]), 0.0))
    candidate_enc = tf.concat(
      [
        self.item(tf.reshape(inputs["item_id"], [-1])),
        self.category(tf.reshape(inputs["category"], [-1])),
        self.price(price),
        title,
      ],
      axis=1,
    )
    query = tf.math.l2_normalize(self.query_dense(query_enc), -1)
    candidate = tf.math.l2_normalize(self.candidate_dense(candidate_enc), -1)

    click = tf.reshape(inputs["click"], [-1])
    index = tf.where(tf.logical_and(click > 0, tf.reshape(mask, [-1]) > 0))[
      :, 0
    ]
    rows = index // tf.cast(n, tf.int64)
    same = tf.equal(rows[:, None], rows[None, :])
    retrieval_loss = self.retrieval(
      tf.gather(query, rows),
      tf.gather(candidate, index),
      candidate_sampling_probability=tf.gather(
        tf.reshape(inputs[candidates.SAMPLING_PROBABILITY], [-1]), index
      ),
      candidate_ids=tf.gather(tf.reshape(inputs["item_id"], [-1]), index),
      compute_metrics=False,
      compute_batch_metrics=False,
      score_mask=tf.logical_or(
        tf.logical_not(same), tf.cast(tf.eye(tf.shape(index)[0]), tf.bool)
      ),
    )

    tiled_query = tf.repeat(query, n, axis=0)
    tiled_enc = tf.repeat(query_enc, n, axis=0)
    position = self.position_embedding(
      self.position(tf.reshape(inputs["position"], [-1]))
    )
    hidden = self.trunk(
      tf.concat(
        [
          tiled_query,
          candidate,
          tiled_query * candidate,
          tiled_enc,
          candidate_enc,
          position,
        ],
        axis=1,
      )
    )
    click_logit, dwell_pred, purchase_logit = (h(hidden) for h in self.heads)
    weight = tf.reshape(mask, [-1])
    dwell = tf.math.log1p(tf.reshape(inputs["dwell"], [-1, 1]))
    del b
    return (
      retrieval_loss
      + self.click_task(click[:, None], click_logit, sample_weight=weight)
      + 0.5 * self.dwell_task(dwell, dwell_pred, sample_weight=weight * click)
      + 2.0
      * self.purchase_task(
        tf.reshape(inputs["purchase"], [-1, 1]),
        purchase_logit,
        sample_weight=weight,
      )
    )
