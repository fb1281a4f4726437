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


def _focal(y, s, gamma=2.0):
  ce = _bce(y, s)
  return (1 - np.exp(-ce)) ** gamma * ce


def _gce(y, s, q=0.7):
  p_t = np.exp(-_bce(y, s))
  return (1 - p_t**q) / q


def _sce(y, s, alpha=0.1, beta=1.0, log_zero=-4.0):
  p_t = np.exp(-_bce(y, s))
  return alpha * _bce(y, s) + beta * -log_zero * (1 - p_t)


def _bootstrap(mode, beta):
  def elementwise(y, s):
    p = _sigmoid(s)
    z = p if mode == "soft" else (p > 0.5).astype(np.float64)
    t = beta * (y > 0) + (1 - beta) * z
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))

  return elementwise


def _rce(y, s, beta=0.25):
  return np.where(y > 0, _sigmoid(s) ** beta, 1.0) * _bce(y, s)


def _tce(y, s, w, drop=0.2):
  # Without a bound step, the full drop rate: the floor(0.2 P) positives with
  # the largest cross entropy are left out.
  ce = _bce(y, s)
  positive = np.flatnonzero(((y > 0) & (w > 0)).ravel())
  order = positive[np.argsort(-ce.ravel()[positive], kind="stable")]
  keep = np.ones(y.size)
  keep[order[: int(np.floor(drop * len(positive)))]] = 0
  w = w * keep.reshape(y.shape)
  return np.sum(np.where(w > 0, ce, 0) * w) / np.sum(w)


def _dwell_weighted(y, s, w, dwell, threshold=10.0, max_weight=3.0):
  short = (y > 0) & (dwell < threshold)
  growth = np.minimum(max_weight, np.log1p(dwell) / np.log1p(threshold))
  w = w * np.where((y > 0) & ~short, growth, 1.0)
  y = np.where(short, 0.0, y)
  return _pointwise(_bce)(y, s, w)


def _lambda_list(y, s, w, valid):
  # TF-Ranking's NDCGLambdaWeight (LambdaLoss, Wang et al. 2018): pair weight
  # |G_i - G_j| / maxDCG * |1/log2(1+d) - 1/log2(2+d)| * list_size, with
  # d = |rank_i - rank_j| by the current scores, G = 2^y - 1.
  n = len(y)
  y = np.where(valid, y, 0.0)
  order = np.argsort(-np.where(valid, s, s.min() - 1.0), kind="stable")
  rank = np.empty(n)
  rank[order] = np.arange(1, n + 1)
  gains = 2.0**y - 1
  max_dcg = np.sum(np.sort(gains)[::-1] / np.log2(1 + np.arange(1, n + 1)))
  gains = gains / max_dcg
  total = 0.0
  for i in range(n):
    for j in range(n):
      if valid[i] and valid[j] and y[i] > y[j]:
        d = abs(rank[i] - rank[j])
        discount = abs(1 / np.log2(1 + d) - 1 / np.log2(2 + d))
        weight = abs(gains[i] - gains[j]) * discount * n
        total += w[i] * weight * np.log1p(np.exp(-(s[i] - s[j])))
  return total


def _listmle_list(y, s, w, valid):
  # -log Plackett-Luce probability of the label order; TF-Ranking moves the
  # padding to the end with logit log(1e-10), which adds log(k!) for k padded
  # slots: a constant, kept here to match.
  order = np.argsort(-np.where(valid, y, y.min() - 1.0), kind="stable")
  logits = np.where(valid, s, np.log(1e-10))[order]
  total = 0.0
  for i in range(len(logits)):
    total += np.log(np.sum(np.exp(logits[i:]))) - logits[i]
  return _list_weight(y, w, valid) * total


def _graded(kind, seed):
  # ListMLE breaks label ties at random, so it gets distinct graded labels.
  y, s, w = _inputs("binary", seed)
  rng = np.random.default_rng(seed)
  y = np.stack([rng.permutation(5).astype(np.float64) for _ in range(4)])
  y[1, 3:] = 7.0
  return y, s, w


def _with_dwell(y, seed):
  rng = np.random.default_rng(seed + 100)
  return {
    "dwell": np.where(y > 0, rng.choice([3.0, 8.0, 15.0, 120.0], y.shape), 0.0)
  }


# name: (reference(y, s, w, **batch), kind, inputs, batch(y, seed)).
REFERENCES = {
  "bce": (_pointwise(_bce), "binary"),
  "mse": (_pointwise(lambda y, s: (y - s) ** 2), "regression"),
  "huber": (_pointwise(_huber), "regression"),
  "focal": (_pointwise(_focal), "binary"),
  "gce": (_pointwise(_gce), "binary"),
  "sce": (_pointwise(_sce), "binary"),
  "bootstrap": (_pointwise(_bootstrap("soft", 0.95)), "binary"),
  "rce": (_pointwise(_rce), "binary"),
  "tce": (_tce, "binary"),
  "dwell_weighted": (_dwell_weighted, "binary", None, _with_dwell),
  "softmax": (_per_list(_softmax_list), "binary"),
  "approx_ndcg": (_per_list(_approx_ndcg_list), "binary"),
  "pairwise_logistic": (_per_list(_pairwise_logistic_list), "binary"),
  "lambda": (_per_list(_lambda_list), "binary"),
  "listmle": (_per_list(_listmle_list), "binary", _graded),
}


def _case(name, seed=0):
  """(loss, y, s, w, batch, reference) for one registered loss."""
  reference, kind, *rest = REFERENCES[name]
  make_inputs = (rest[0] if rest else None) or _inputs
  y, s, w = make_inputs(kind, seed)
  batch = rest[1](y, seed) if len(rest) > 1 else {}
  return objectives.get_loss(name), y, s, w, batch, reference


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
      if objectives.LOSSES.get(name).__module__.startswith("objectives.")
    ]
    self.assertCountEqual(builtin, REFERENCES)

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_matches_reference(self, name):
    for seed in range(3):
      loss, y, s, w, batch, reference = _case(name, seed)
      self.assertAllClose(
        loss(y, s, w, batch=batch),
        reference(y, s, w, **batch),
        rtol=1e-5,
        atol=1e-6,
      )

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_unit_weights_by_default(self, name):
    loss, y, s, _, batch, _ = _case(name)
    tf.random.set_seed(0)
    unweighted = loss(y, s, batch=batch)
    tf.random.set_seed(0)
    self.assertAllClose(unweighted, loss(y, s, np.ones_like(s), batch=batch))

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_list_weight_broadcasts(self, name):
    loss, y, s, _, batch, _ = _case(name)
    per_list = np.array([1.0, 2.0, 0.5, 1.0])
    tf.random.set_seed(0)
    broadcast = loss(y, s, per_list, batch=batch)
    tf.random.set_seed(0)
    self.assertAllClose(
      broadcast,
      loss(y, s, np.repeat(per_list[:, None], 5, axis=1), batch=batch),
    )

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_serialization_round_trip(self, name):
    loss, y, s, w, batch, _ = _case(name)
    clone = type(loss).from_config(loss.get_config())
    self.assertEqual(clone.get_config(), loss.get_config())
    tf.random.set_seed(0)
    expected = loss(y, s, w, batch=batch)
    tf.random.set_seed(0)
    self.assertAllClose(clone(y, s, w, batch=batch), expected)

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_gradient_is_finite_at_extreme_logits(self, name):
    loss, y, _, w, batch, _ = _case(name)
    # p = 0 and 1 in float32. Pointwise losses also hold at 1e4; TF-Ranking's
    # ListMLE underflows there (log of a zero cumulative sum), so ranking
    # losses are held to the realistic range only.
    pointwise = isinstance(loss, objectives.PointwiseLoss)
    for extreme in (30.0, 1e4) if pointwise else (30.0,):
      logits = tf.Variable(
        np.where(np.arange(20).reshape(4, 5) % 2, extreme, -extreme)
      )
      with tf.GradientTape() as tape:
        value = loss(y, logits, w, batch=batch)
      gradient = tape.gradient(value, logits)
      self.assertTrue(np.isfinite(value.numpy()), extreme)
      self.assertTrue(np.all(np.isfinite(gradient.numpy())), extreme)
      # Masked entries get no gradient.
      self.assertAllEqual(gradient.numpy()[1, 3:], [0.0, 0.0])

  @parameterized.named_parameters((name, name) for name in sorted(REFERENCES))
  def test_all_masked_is_zero(self, name):
    loss, y, s, w, batch, _ = _case(name)
    self.assertEqual(float(loss(y, s, np.zeros_like(w), batch=batch)), 0.0)

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


class ScheduleAndBatchTest(tf.test.TestCase):
  def test_tce_drops_the_expected_share_of_positives(self):
    # 10 positives with distinct losses (logits -1..-10: the most negative
    # logit has the largest loss) and 10 negatives. Halfway through warm-up
    # the drop rate is 0.4 * 0.5 = 0.2: the 2 hardest positives are dropped.
    loss = objectives.get_loss("tce", max_drop=0.4, warmup_steps=100)
    step = tf.Variable(50, dtype=tf.int64)
    loss.bind_step(step)
    y = np.r_[np.ones(10), np.zeros(10)][None, :]
    s = np.r_[-np.arange(1.0, 11.0), np.zeros(10)][None, :]
    self.assertAllClose(loss.drop_rate(), 0.2)
    kept = np.ones(20)
    kept[[8, 9]] = 0  # logits -9 and -10
    expected = np.sum(_bce(y, s) * kept) / kept.sum()
    self.assertAllClose(loss(y, s), expected)
    # At step 0 nothing is dropped; after warm-up the rate stays at 0.4.
    step.assign(0)
    self.assertAllClose(loss(y, s), np.mean(_bce(y, s)))
    step.assign(1000)
    self.assertAllClose(loss.drop_rate(), 0.4)
    kept[[6, 7]] = 0
    self.assertAllClose(loss(y, s), np.sum(_bce(y, s) * kept) / kept.sum())

  def test_dwell_weighted_hand_values(self):
    # Click with 3 s dwell -> negative; 10 s -> weight log1p(10)/log1p(10) = 1;
    # 1e5 s -> log1p(1e5)/log1p(10) = 4.8, capped at 3; unclicked row weight 1.
    y = np.array([[1.0, 1.0, 1.0, 0.0]])
    s = np.zeros((1, 4))
    dwell = np.array([[3.0, 10.0, 1e5, 0.0]])
    loss = objectives.get_loss("dwell_weighted")
    # Every entry has CE log 2 at logit 0; weights 1, 1, 3, 1.
    self.assertAllClose(loss(y, s, batch={"dwell": dwell}), np.log(2))
    weak = objectives.get_loss(
      "dwell_weighted", short_clicks="weak", weak_weight=0.5
    )
    # Now the short click stays positive with weight 0.5: still log 2 each.
    self.assertAllClose(weak(y, s, batch={"dwell": dwell}), np.log(2))
    s = np.array([[2.0, 0.0, 0.0, 0.0]])
    # Short click as a negative at logit 2: CE = log(1 + e^2).
    expected = (np.log1p(np.exp(2.0)) + 3 * np.log(2) + 2 * np.log(2)) / 6
    self.assertAllClose(loss(y, s, batch={"dwell": dwell}), expected)

  def test_dwell_weighted_names_the_missing_column(self):
    loss = objectives.get_loss("dwell_weighted", dwell_column="watch_time")
    with self.assertRaisesRegex(
      ValueError, "reads column 'watch_time', which the batch"
    ):
      loss([[1.0]], [[0.0]], batch={"dwell": [[1.0]]})

  def test_parameters_by_name(self):
    self.assertEqual(objectives.get_loss("gce", q=0.5).q, 0.5)
    with self.assertRaisesRegex(
      ValueError,
      r"Loss 'gce' does not take parameters \['r'\]; its parameters: q",
    ):
      objectives.get_loss("gce", r=0.5)
    with self.assertRaisesRegex(ValueError, "gce needs 0 < q <= 1"):
      objectives.get_loss("gce", q=2.0)
    (click,) = objectives.select("click", "click:bootstrap(mode=hard,beta=0.7)")
    self.assertEqual(click.make_loss().get_config()["mode"], "hard")
    self.assertEqual(click.make_loss().beta, 0.7)
