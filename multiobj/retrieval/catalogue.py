"""The catalogue a retrieval task scores against, beyond the batch.

With `candidates` "catalogue" (the full softmax) or "sampled", each
positive pair is scored against items that are not in the batch: every
eligible catalogue item, or a draw of them. `Catalogue` holds their
candidate features as constants, so the candidate tower embeds any of
them inside the training step, finds an item's row from its id, and
draws rows uniformly or by popularity with the probability of each draw,
for the logQ correction of a sampled softmax (Bengio and Senecal 2008;
Jean et al. 2015):

  logit(q, j) = q . c_j / temperature - log(expected count of j)

where a draw of S rows from q(.) expects S q(j) of item j. Draws come from
a generator whose state is a variable, so a resumed run draws what an
uninterrupted one would.
"""

import random

import numpy as np
import tensorflow as tf

from multiobj.retrieval import candidates as candidates_lib


class Catalogue(tf.Module):
  """Eligible catalogue items: their candidate features, rows by id, and
  draws.

  Args:
    ids: [C] the items' ids (int64 or text).
    features: {candidate feature: [C] values}, in the dtypes of the
      batches.
    probability: [C] each item's probability among training positives
      (popularity draws); None for uniform draws only.
  """

  def __init__(
    self,
    ids: np.ndarray,
    features: dict[str, np.ndarray],
    probability: np.ndarray | None = None,
  ):
    super().__init__(name="catalogue")
    self.size = len(ids)
    if not self.size:
      raise ValueError("The retrieval catalogue holds no eligible item.")
    self.features = {k: tf.constant(v) for k, v in features.items()}
    self.ids = tf.constant(ids)
    keys = candidates_lib.id_key(self.ids)
    self.table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        keys, tf.range(self.size, dtype=tf.int64)
      ),
      default_value=-1,
    )
    if probability is None:
      probability = np.ones(self.size)
    probability = np.asarray(probability, np.float64)
    probability = probability / probability.sum()
    self.probability = tf.constant(probability, tf.float32)
    self.cumulative = tf.constant(np.cumsum(probability), tf.float64)
    # Seeded from Python's generator, which the run's seed sets.
    self.draws = tf.random.Generator.from_seed(random.randrange(2**31))

  def rows(self, ids: tf.Tensor) -> tf.Tensor:
    """[N] item ids -> [N] their rows, -1 for an item not in it."""
    return self.table.lookup(candidates_lib.id_key(ids))

  def ids_of(self, rows: tf.Tensor) -> tf.Tensor:
    """[N] the item ids at `rows`."""
    return tf.gather(self.ids, rows)

  def features_of(self, rows: tf.Tensor) -> dict[str, tf.Tensor]:
    """{candidate feature: [N] values} of the items at `rows`."""
    return {k: tf.gather(v, rows) for k, v in self.features.items()}

  def draw(self, count: int, sampling: str) -> tuple[tf.Tensor, tf.Tensor]:
    """([count] rows drawn with replacement, uniformly or by popularity;
    [count] the log of each one's expected count in the draw)."""
    if sampling == "uniform":
      rows = self.draws.uniform([count], maxval=self.size, dtype=tf.int64)
    else:
      u = self.draws.uniform([count], dtype=tf.float64)
      rows = tf.minimum(
        tf.searchsorted(self.cumulative, u, side="right", out_type=tf.int64),
        self.size - 1,
      )
    return rows, self.log_expected(rows, count, sampling)

  def log_expected(
    self, rows: tf.Tensor, count: int, sampling: str
  ) -> tf.Tensor:
    """[N] the log of how often each of `rows` is expected among `count`
    draws by `sampling` (-1, an item not in the catalogue: as its rarest
    item), the logQ correction of a sampled softmax, the positives' too."""
    if sampling == "uniform":
      return tf.fill(tf.shape(rows), float(np.log(count / self.size)))
    probability = tf.where(
      rows >= 0,
      tf.gather(self.probability, tf.maximum(rows, 0)),
      tf.reduce_min(self.probability),
    )
    return tf.math.log(count * probability)
