"""Every registered loss against a plain NumPy reference.

The checklist of keras-rs, for each loss: batched values, sample weights,
masked entries holding garbage labels, a list without positives, serialisation
round trip, finite gradients. A built-in loss without a reference here fails
`test_every_builtin_loss_has_a_reference`.
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import objectives


def _sigmoid(x):
  return 0.5 * (1.0 + np.tanh(0.5 * x))  # 1 / (1 + e^-x) without overflow


def _pointwise(elementwise):
  def reference(y, s, w):
    valid = w > 0
    return np.sum(np.where(valid, elementwise(y, s), 0.0) * w) / np.sum(w)

  return reference


def _bce(y, s):
  p = _sigmoid(s)
  y = (y > 0).astype(np.float64)
  return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _huber(y, s, delta=1.0):
  d = np.abs(y - s)
  return np.where(d <= delta, 0.5 * d**2, delta * (d - 0.5 * delta))


def _per_list(list_loss):
  """Sum of per-list losses over the lists holding a valid positive."""

  def reference(y, s, w):
    total, count = 0.0, 0
    for yl, sl, wl in zip(y, s, w, strict=False):
      valid = wl > 0
      if not (valid & (yl > 0)).any():
        continue
      count += 1
      total += list_loss(yl, sl, wl, valid)
    return total / count

  return reference


def _list_weight(y, w, valid):
  # TF-Ranking's listwise weight: sum(w * y) / sum(y) over valid entries.
  y = np.where(valid, y, 0.0)
  return np.sum(w * y) / np.sum(y)


def _softmax_list(y, s, w, valid):
  # TF-Ranking's softmax scales labels by the item weights, y' = w * y, and
  # weighs the list by sum(y'): sum(y') * CE(y' / sum(y'), softmax(s)).
  y = np.where(valid, y * w, 0.0)
  s = np.where(valid, s, np.log(1e-10))
  log_softmax = s - np.log(np.sum(np.exp(s)))
  label_sum = y.sum()
  return label_sum * -np.sum(y / label_sum * log_softmax)


def _approx_ndcg_list(y, s, w, valid, temperature=0.1):
  y = np.where(valid, y, 0.0)
  s = np.where(valid, s / temperature, s.min() / temperature - 1e3)
  # rank_i = 1/2 + sum_j sigmoid(s_j - s_i), the j = i term giving 1/2.
  ranks = 0.5 + _sigmoid(s[None, :] - s[:, None]).sum(axis=1)
  gains = 2.0**y - 1
  dcg = np.sum(gains / np.log1p(ranks))
  ideal = np.sum(np.sort(gains)[::-1] / np.log1p(np.arange(1, len(y) + 1)))
  return _list_weight(y, w, valid) * -(dcg / ideal)


def _pairwise_logistic_list(y, s, w, valid):
  total = 0.0
  for i in range(len(y)):
    for j in range(len(y)):
      if valid[i] and valid[j] and y[i] > y[j]:
        total += w[i] * np.log1p(np.exp(-(s[i] - s[j])))
  return total


REFERENCES = {
  "bce": (_pointwise(_bce), "binary"),
  "mse": (_pointwise(lambda y, s: (y - s) ** 2), "regression"),
  "huber": (_pointwise(_huber), "regression"),
  "softmax": (_per_list(_softmax_list), "binary"),
  "approx_ndcg": (_per_list(_approx_ndcg_list), "binary"),
  "pairwise_logistic": (_per_list(_pairwise_logistic_list), "binary"),
}


def _inputs(kind, seed=0):
  rng = np.random.default_rng(seed)
  shape = (4, 5)
  if kind == "binary":
    y = (rng.random(shape) < 0.3).astype(np.float64)
    y[0, 0] = 1.0  # Every loss sees at least one positive...
    y[3] = 0.0  # ...and one list without any.
  else:
    y = rng.normal(2.0, 1.0, shape)
  s = rng.normal(0.0, 2.0, shape)
  w = rng.uniform(0.5, 2.0, shape)
  w[1, 3:] = 0.0  # Padding: masked entries hold labels the loss must ignore.
  y[1, 3:] = 7.0
  return y, s, w


class LossTest(tf.test.TestCase, parameterized.TestCase):
  def test_every_builtin_loss_has_a_reference(self):
    builtin = [
      name
      for name in objectives.LOSSES.names()
      if objectives.LOSSES.get(name).__module__ == "objectives.losses"
    ]
    self.assertCountEqual(builtin, REFERENCES)

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_matches_reference(self, name):
    reference, kind = REFERENCES[name]
    for seed in range(3):
      y, s, w = _inputs(kind, seed)
      loss = objectives.get_loss(name)
      self.assertAllClose(
        loss(y, s, w), reference(y, s, w), rtol=1e-5, atol=1e-6
      )

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_unit_weights_by_default(self, name):
    _, kind = REFERENCES[name]
    y, s, _ = _inputs(kind)
    loss = objectives.get_loss(name)
    self.assertAllClose(loss(y, s), loss(y, s, np.ones_like(s)))

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_list_weight_broadcasts(self, name):
    _, kind = REFERENCES[name]
    y, s, _ = _inputs(kind)
    per_list = np.array([1.0, 2.0, 0.5, 1.0])
    loss = objectives.get_loss(name)
    self.assertAllClose(
      loss(y, s, per_list), loss(y, s, np.repeat(per_list[:, None], 5, axis=1))
    )

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_serialization_round_trip(self, name):
    reference, kind = REFERENCES[name]
    loss = objectives.get_loss(name)
    clone = type(loss).from_config(loss.get_config())
    y, s, w = _inputs(kind)
    self.assertAllClose(clone(y, s, w), loss(y, s, w))

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_gradient_is_finite_at_extreme_logits(self, name):
    _, kind = REFERENCES[name]
    y, _, w = _inputs(kind)
    logits = tf.Variable(np.where(np.arange(20).reshape(4, 5) % 2, 30.0, -30.0))
    with tf.GradientTape() as tape:
      value = objectives.get_loss(name)(y, logits, w)
    gradient = tape.gradient(value, logits)
    self.assertTrue(np.isfinite(value.numpy()))
    self.assertTrue(np.all(np.isfinite(gradient.numpy())))
    # Masked entries get no gradient.
    self.assertAllEqual(gradient.numpy()[1, 3:], [0.0, 0.0])

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_all_masked_is_zero(self, name):
    _, kind = REFERENCES[name]
    y, s, w = _inputs(kind)
    self.assertEqual(
      float(objectives.get_loss(name)(y, s, np.zeros_like(w))), 0.0
    )

  def test_softmax_is_in_batch_retrieval_softmax(self):
    # With identity labels, the listwise softmax is the sampled softmax of
    # two-tower retrieval: mean over queries of -log softmax(scores)_ii.
    scores = np.random.default_rng(0).normal(size=(6, 6))
    expected = np.mean(
      [-(scores[i, i] - np.log(np.exp(scores[i]).sum())) for i in range(6)]
    )
    self.assertAllClose(
      objectives.get_loss("softmax")(np.eye(6), scores), expected
    )

  def test_hand_computed_values(self):
    # bce at logit 0 is log 2 for either label.
    self.assertAllClose(
      objectives.get_loss("bce")([[1.0, 0.0]], [[0.0, 0.0]]), np.log(2)
    )
    # mse: ((1 - 0)^2 + (3 - 1)^2) / 2 = 2.5, weights 1 and 3 give (1 + 12) / 4.
    mse = objectives.get_loss("mse")
    self.assertAllClose(mse([[1.0, 3.0]], [[0.0, 1.0]]), 2.5)
    self.assertAllClose(mse([[1.0, 3.0]], [[0.0, 1.0]], [[1.0, 3.0]]), 13 / 4)
    # Pairwise logistic on one pair with equal scores: log 2.
    pairwise = objectives.get_loss("pairwise_logistic")
    self.assertAllClose(pairwise([[1.0, 0.0]], [[0.0, 0.0]]), np.log(2))


if __name__ == "__main__":
  tf.test.main()
