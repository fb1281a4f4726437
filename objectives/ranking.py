"""Ranking losses on impression lists, from TF-Ranking.

Subclasses of `losses.RankingLoss` return a `tensorflow_ranking.keras.losses`
loss from `make_ranking_loss`; see `losses.py` for shapes, masking and
reduction.
"""

import tensorflow as tf
import tensorflow_ranking as tfr

from objectives.losses import RankingLoss, register_loss


@register_loss("softmax")
class Softmax(RankingLoss):
  """Listwise softmax cross entropy (TF-Ranking `SoftmaxLoss`).

  Per list, with weighted labels y'_i = w_i y_i:
  sum(y') * -sum_i (y'_i / sum(y')) log softmax(s)_i. On a retrieval objective the "list" is
  one query against all in-batch candidates, which makes this the sampled
  softmax of two-tower retrieval.

  >>> round(float(Softmax()([[1.0, 0.0]], [[0.0, 0.0]])), 6)  # log 2
  0.693147
  """

  kinds = ("binary", "listwise", "retrieval")

  def make_ranking_loss(self):
    return tfr.keras.losses.SoftmaxLoss(
      reduction=tf.keras.losses.Reduction.NONE
    )

  def of_one_positive(self, logits, positive):
    # One positive a list: -log softmax(s)_positive, without the one-hot
    # labels (a full softmax has as many columns as the catalogue).
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
      tf.cast(positive, tf.int64), tf.cast(logits, tf.float32)
    )
    count = tf.cast(tf.shape(losses)[0], tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), count), count


@register_loss("approx_ndcg")
class ApproxNDCG(RankingLoss):
  """Negative ApproxNDCG (TF-Ranking `ApproxNDCGLoss`, Qin et al. 2010).

  Ranks are smoothed as 1 + sum_j sigmoid((s_j - s_i) / temperature) and the
  loss is -NDCG computed with them, gains 2^y - 1.
  """

  kinds = ("binary", "listwise")

  def __init__(self, temperature: float = 0.1, name: str | None = None):
    super().__init__(name=name)
    self.temperature = float(temperature)

  def make_ranking_loss(self):
    return tfr.keras.losses.ApproxNDCGLoss(
      reduction=tf.keras.losses.Reduction.NONE, temperature=self.temperature
    )

  def get_config(self):
    return {**super().get_config(), "temperature": self.temperature}


@register_loss("pairwise_logistic")
class PairwiseLogistic(RankingLoss):
  """Pairwise logistic loss (TF-Ranking `PairwiseLogisticLoss`, RankNet).

  Per list: sum over pairs with y_i > y_j of log(1 + exp(-(s_i - s_j))).
  """

  kinds = ("binary", "listwise")

  def make_ranking_loss(self):
    return tfr.keras.losses.PairwiseLogisticLoss(
      reduction=tf.keras.losses.Reduction.NONE
    )


@register_loss("lambda")
class Lambda(RankingLoss):
  """LambdaRank: pairwise logistic loss with NDCG lambda weights (TF-Ranking
  `PairwiseLogisticLoss(lambda_weight=NDCGLambdaWeight())`, Burges 2010;
  Wang et al. 2018). Each pair counts by how much swapping it changes NDCG.
  """

  kinds = ("binary", "listwise")

  def make_ranking_loss(self):
    return tfr.keras.losses.PairwiseLogisticLoss(
      reduction=tf.keras.losses.Reduction.NONE,
      lambda_weight=tfr.keras.losses.NDCGLambdaWeight(),
    )


@register_loss("listmle")
class ListMLE(RankingLoss):
  """ListMLE (TF-Ranking `ListMLELoss`, Xia et al. 2008): the negative
  Plackett-Luce log-likelihood of the permutation sorting the labels. Ties in
  the labels (every unclicked item) are broken at random each step.
  """

  kinds = ("binary", "listwise")

  def make_ranking_loss(self):
    return tfr.keras.losses.ListMLELoss(
      reduction=tf.keras.losses.Reduction.NONE
    )
