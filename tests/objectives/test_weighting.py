"""Loss-weighting strategies against hand computations, then in training.

The unit tests use tiny problems whose gradients are known by hand: a shared
weight vector W, one scalar head per task, and linear or quadratic losses.
"""

import itertools
import math

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import objectives
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import synthetic
from objectives import gradient_weighting, weighting

NAMES = objectives.WEIGHTINGS.names()
TINY = synthetic.SyntheticConfig(num_users=200, num_items=100, num_requests=300)


def step(strategy, loss_fn, variables, shared):
  """One train step as the model runs it; returns (variables, grads, weights).

  The strategy's own trainable variables are appended to `variables`, as the
  model's `trainable_variables` include them.
  """
  with tf.GradientTape(persistent=strategy.needs_persistent_tape) as tape:
    losses = loss_fn()
    total, weights = strategy.combine(losses)
  variables = [*variables, *strategy.trainable_variables]
  gradients, weights = strategy.gradients(
    tape, total, losses, weights, variables, shared, tf.constant(0.0)
  )
  return variables, gradients, weights


def linear_problem(gradients, weights):
  """Tasks L_i = W . g_i + h_i^2: gradient g_i on W and 2 h_i on head h_i."""
  names = [f"t{i}" for i in range(len(gradients))]
  shared = tf.Variable(tf.ones([len(gradients[0])]))
  heads = [tf.Variable(float(i + 1)) for i in range(len(gradients))]

  def loss_fn():
    return {
      name: tf.reduce_sum(shared * tf.constant(g, tf.float32)) + h**2
      for name, g, h in zip(names, gradients, heads, strict=True)
    }

  strategy_weights = dict(zip(names, weights, strict=True))
  return strategy_weights, loss_fn, [shared, *heads], [shared]


class UncertaintyTest(tf.test.TestCase):
  def test_combine_at_zero_log_variance(self):
    strategy = weighting.get_weighting("uncertainty", {"a": 1.0, "b": 2.0})
    total, weights = strategy.combine(
      {"a": tf.constant(2.0), "b": tf.constant(0.5)}
    )
    # s = 0: total = 1 * (2 + 0) + 2 * (0.5 + 0) = 3; weights w_i exp(0).
    self.assertAllClose(total, 3.0)
    self.assertAllClose(weights, {"a": 1.0, "b": 2.0})

  def test_weights_reach_the_closed_form(self):
    strategy = weighting.get_weighting("uncertainty", {"a": 1.0, "b": 3.0})
    losses = {"a": tf.constant(0.5), "b": tf.constant(4.0)}

    @tf.function
    def descend():
      for _ in tf.range(300):
        variables, gradients, _ = step(strategy, lambda: losses, [], [])
        for v, g in zip(variables, gradients, strict=True):
          v.assign_sub(0.1 * g)
      return step(strategy, lambda: losses, [], [])[2]

    weights = descend()
    # Minimising w_i (exp(-s_i) L_i + s_i) gives exp(-s_i) = 1 / L_i.
    self.assertAllClose(
      [tf.exp(-s) for s in strategy.log_variances], [2.0, 0.25], atol=1e-4
    )
    self.assertAllClose(weights, {"a": 1.0 / 0.5, "b": 3.0 / 4.0}, atol=1e-4)


class DWATest(tf.test.TestCase):
  def test_weights_follow_the_formula(self):
    strategy = weighting.get_weighting("dwa", {"a": 1.0, "b": 2.0})
    losses = {"a": tf.constant(1.0), "b": tf.constant(1.0)}
    # Traced once, before any epoch ends, like Keras's train function.
    combine = tf.function(lambda: strategy.combine(losses)[1])
    self.assertAllClose(combine(), {"a": 1.0, "b": 2.0})
    epochs = [{"a": 1.0, "b": 2.0}, {"a": 0.8, "b": 1.9}, {"a": 0.6, "b": 1.8}]
    strategy.on_epoch_end(epochs[0])
    # lambda = 1 for the first two epochs.
    self.assertAllClose(combine(), {"a": 1.0, "b": 2.0})
    for epoch in epochs[1:]:
      strategy.on_epoch_end(epoch)
    # After epoch 3: r = (0.6 / 0.8, 1.8 / 1.9) = (0.75, 0.947);
    # lambda = 2 softmax(r / 2) = (0.9507, 1.0493); times (1, 2).
    r = np.array([0.6 / 0.8, 1.8 / 1.9])
    lambdas = 2 * np.exp(r / 2) / np.exp(r / 2).sum()
    self.assertAllClose(lambdas, [0.9507, 1.0493], atol=1e-4)
    self.assertAllClose(combine(), {"a": lambdas[0], "b": 2 * lambdas[1]})

  def test_rejects_a_non_positive_loss(self):
    strategy = weighting.get_weighting("dwa", {"a": 1.0, "b": 1.0})
    with self.assertRaisesRegex(ValueError, "positive.*b=-0.5"):
      strategy.on_epoch_end({"a": 1.0, "b": -0.5})


def gradnorm_reference(weights, norms, losses, initial, alpha=1.5):
  """NumPy d/dw of sum_i |w_i n_i - mean(w n) r_i^alpha| (target fixed)."""
  ratios = losses / initial
  target = np.mean(weights * norms) * (ratios / ratios.mean()) ** alpha
  return np.sign(weights * norms - target) * norms


class GradNormTest(tf.test.TestCase):
  def test_weight_gradients_and_renormalisation(self):
    # L_a = W . u, u = (3, 4): gradient u, norm 5. L_b = ||W||^2 / 2:
    # gradient W. L_c = h^2 does not reach W (like retrieval).
    u = np.array([3.0, 4.0])
    shared, head = tf.Variable([1.0, 2.0]), tf.Variable(1.5)
    strategy = weighting.get_weighting(
      "gradnorm", {"a": 1.0, "b": 2.0, "c": 1.0}
    )

    def loss_fn():
      return {
        "a": tf.reduce_sum(shared * u),
        "b": 0.5 * tf.reduce_sum(shared**2),
        "c": head**2,
      }

    variables, gradients, weights = step(
      strategy, loss_fn, [shared, head], [shared]
    )
    self.assertAllClose(weights, {"a": 1.0, "b": 2.0, "c": 1.0})
    # The model gets d(1 L_a + 2 L_b + 1 L_c) = (u + 2 W, 2 h) = ((5, 8), 3).
    self.assertAllClose(gradients[0], [5.0, 8.0])
    self.assertAllClose(gradients[1], 3.0)
    # First step, r = 1: G = (1 * 5, 2 * sqrt(5)) = (5, 4.47), mean 4.74;
    # d/dw_a = sign(5 - 4.74) * 5 = 5, d/dw_b = sign(4.47 - 4.74) sqrt(5).
    self.assertAllClose(gradients[2:4], [5.0, -math.sqrt(5.0)])
    self.assertIsNone(gradients[4])  # c keeps its configured weight.

    for v, g in zip(variables[2:4], gradients[2:4], strict=True):
      v.assign_sub(0.1 * g)  # w = (0.5, 2.2236), sum 2.7236.
    shared.assign([0.5, 1.0])  # L_a: 11 -> 5.5, L_b: 2.5 -> 0.625.
    variables, gradients, weights = step(
      strategy, loss_fn, [shared, head], [shared]
    )
    # The balanced weights are rescaled to their initial sum 1 + 2 = 3.
    renormalised = np.array([0.5, 2 + 0.1 * math.sqrt(5.0)])
    renormalised *= 3 / renormalised.sum()
    self.assertAllClose(
      weights, {"a": renormalised[0], "b": renormalised[1], "c": 1.0}
    )
    # r = (0.5, 0.25) / 0.375 against the first step's losses: a now
    # trains slower than b, so its weight must grow (negative gradient).
    expected = gradnorm_reference(
      renormalised,
      norms=np.array([5.0, math.sqrt(1.25)]),
      losses=np.array([5.5, 0.625]),
      initial=np.array([11.0, 2.5]),
    )
    self.assertAllClose(expected, [-5.0, math.sqrt(1.25)])
    self.assertAllClose(gradients[2:4], expected)
    self.assertAllClose(
      gradients[0],
      renormalised[0] * u + renormalised[1] * 0.5 * np.array([1.0, 2.0]),
    )


class PCGradTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(
    # g_a = 1 (1, 0), g_b = 2 (-1, 1): g_a . g_b = -2 < 0.
    # g_a' = (1, 0) - (-2 / 8) (-2, 2) = (0.5, 0.5);
    # g_b' = (-2, 2) - (-2 / 1) (1, 0) = (0, 2); sum (0.5, 2.5).
    ("conflicting", [-1.0, 1.0], [0.5, 2.5]),
    # g_b = 2 (1, 1): g_a . g_b = 2 > 0, nothing projected; sum (3, 2).
    ("agreeing", [1.0, 1.0], [3.0, 2.0]),
  )
  def test_projects_conflicting_gradients(self, other, expected):
    weights, loss_fn, variables, shared = linear_problem(
      [[1.0, 0.0], other], [1.0, 2.0]
    )
    strategy = weighting.get_weighting("pcgrad", weights)
    _, gradients, effective = step(strategy, loss_fn, variables, shared)
    self.assertAllClose(gradients[0], expected)
    # Each head keeps its own task's gradient, w_i 2 h_i: 1 * 2, 2 * 4.
    self.assertAllClose(gradients[1:], [2.0, 8.0])
    self.assertAllClose(effective, weights)

  def test_projection_of_each_gradient(self):
    projected = gradient_weighting.project_conflicting(
      tf.constant([[1.0, 0.0], [-2.0, 2.0]])
    )
    self.assertAllClose(projected, [[0.5, 0.5], [0.0, 2.0]])


def min_norm_on_grid(gradients, steps=400):
  """Brute force: the best alpha on a grid over the simplex of 3 tasks."""
  gradients = np.asarray(gradients)
  grid = np.array(
    [
      (i / steps, j / steps, 1 - (i + j) / steps)
      for i, j in itertools.product(range(steps + 1), repeat=2)
      if i + j <= steps
    ]
  )
  norms = np.sum((grid @ gradients) ** 2, axis=1)
  return grid[np.argmin(norms)]


class MGDATest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(
    ("interior", [1.0, 2.0, 0.0], [2.0, -1.0, 1.0]),
    # (g_2 - g_1) . g_2 / ||g_1 - g_2||^2 = 2 * 3 / 4 > 1: alpha = (1, 0).
    ("clipped", [1.0, 0.0, 0.0], [3.0, 0.0, 0.0]),
  )
  def test_two_tasks_match_the_closed_form(self, g1, g2):
    configured = [1.0, 0.5]
    weights, loss_fn, variables, shared = linear_problem([g1, g2], configured)
    strategy = weighting.get_weighting("mgda(normalization=none)", weights)
    _, gradients, effective = step(strategy, loss_fn, variables, shared)
    a, b = configured[0] * np.array(g1), configured[1] * np.array(g2)
    alpha = np.clip((b - a) @ b / ((a - b) @ (a - b)), 0, 1)
    self.assertAllClose(gradients[0], alpha * a + (1 - alpha) * b)
    self.assertAllClose(gradients[1:], [2.0 * 1.0, 0.5 * 4.0])
    self.assertAllClose(effective, {"t0": alpha * 1.0, "t1": (1 - alpha) * 0.5})

  @parameterized.named_parameters(
    # Every point has z = 1; (0, 0) = 0.25 g_1 + 0.25 g_2 + 0.5 g_3 in x, y.
    ("symmetric", [[2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [-1.0, -1.0, 1.0]]),
    ("asymmetric", [[3.0, 0.5, 1.0], [0.0, 2.0, 1.0], [-1.0, -1.5, 0.5]]),
    ("on_an_edge", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 2.0, 1.0]]),
  )
  def test_three_tasks_match_a_grid_search(self, gradients):
    weights, loss_fn, variables, shared = linear_problem(gradients, [1.0] * 3)
    strategy = weighting.get_weighting("mgda(normalization=none)", weights)
    _, grads, effective = step(strategy, loss_fn, variables, shared)
    best = min_norm_on_grid(gradients)
    alpha = [effective[name] for name in ("t0", "t1", "t2")]
    self.assertAllClose(alpha, best, atol=5e-3)
    self.assertAllClose(grads[0], best @ np.array(gradients), atol=2e-2)

  def test_loss_plus_normalisation(self):
    # alpha is solved on g_i / (L_i ||g_i||) and applied to the raw g_i.
    # g_1 = (1, 0) with L_1 = W.g_1 + 1 = 2, g_2 = (0, 4) with L_2 = 4 + 4 = 8
    # (W = (1, 1), heads 1 and 2): normalised (1/2, 0) and (0, 1/8), whose
    # min-norm point weighs alpha_1 = (1/64) / (1/4 + 1/64) = 1/17.
    weights, loss_fn, variables, shared = linear_problem(
      [[1.0, 0.0], [0.0, 4.0]], [1.0, 1.0]
    )
    strategy = weighting.get_weighting("mgda", weights)
    _, gradients, effective = step(strategy, loss_fn, variables, shared)
    alpha = 1 / 17
    self.assertAllClose(effective, {"t0": alpha, "t1": 1 - alpha}, atol=1e-6)
    self.assertAllClose(
      gradients[0], [alpha * 1.0, (1 - alpha) * 4.0], atol=1e-5
    )

  def test_parameters_by_name(self):
    with self.assertRaisesRegex(ValueError, "mgda normalization must be"):
      weighting.get_weighting("mgda(normalization=max)", {"a": 1.0})
    with self.assertRaisesRegex(
      ValueError,
      r"Weighting strategy 'dwa' does not take parameters \['alpha'\]; its parameters: temperature",
    ):
      weighting.get_weighting("dwa(alpha=1)", {"a": 1.0})
    self.assertEqual(
      weighting.get_weighting("dwa(temperature=0.5)", {"a": 1.0}).temperature,
      0.5,
    )

  def test_min_norm_weights_of_a_gram_matrix(self):
    # g_1 . g_1 = 4, g_1 . g_2 = 1, g_2 . g_2 = 1: alpha_1 =
    # (1 - 1) / (4 + 1 - 2) = 0, so alpha = (0, 1): g_2 alone.
    gram = tf.constant([[4.0, 1.0], [1.0, 1.0]])
    self.assertAllClose(gradient_weighting.min_norm_weights(gram), [0.0, 1.0])


class EveryStrategyTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters((name, name) for name in NAMES)
  def test_gradients_are_finite_and_aligned(self, name):
    # Two ranking tasks share W and E; a retrieval-like task reaches only E
    # (its gradient on W, the "shared variables", is None); U is unused.
    shared, embedding = tf.Variable([1.0, 2.0]), tf.Variable([0.5, -0.5])
    heads = [tf.Variable(0.5), tf.Variable(-1.0), tf.Variable(1.5)]
    unused = tf.Variable(3.0)
    strategy = weighting.get_weighting(name, {"a": 1.0, "b": 0.5, "c": 2.0})

    def loss_fn():
      e = tf.reduce_sum(embedding)
      return {
        "a": (heads[0] * tf.reduce_sum(shared) + e - 1) ** 2 + 0.1,
        "b": (heads[1] * tf.reduce_sum(shared**2) - e) ** 2 + 0.1,
        "c": (heads[2] * e - 2) ** 2 + 0.1,
      }

    variables = [shared, embedding, *heads, unused]
    # Traced like the train step; the second step sees what the first left.
    run = tf.function(lambda: step(strategy, loss_fn, variables, [shared])[1:])
    for _ in range(2):
      gradients, weights = run()
    all_variables = [*variables, *strategy.trainable_variables]
    self.assertLen(gradients, len(all_variables))
    for v, g in zip(all_variables, gradients, strict=True):
      if v is unused:
        self.assertIsNone(g)
      elif any(v is x for x in variables):  # Not the strategy's own.
        self.assertIsNotNone(g, v.name)
      if g is not None:
        self.assertEqual(g.shape, v.shape)
        self.assertAllEqual(tf.math.is_finite(g), tf.ones_like(g, tf.bool))
    self.assertCountEqual(weights, ["a", "b", "c"])
    for value in weights.values():
      self.assertTrue(np.isfinite(value))


class TrainingTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters((name, name) for name in NAMES)
  def test_trains(self, name):
    config = config_lib.TrainConfig(
      model_dir=self.create_tempdir().full_path
    ).replace(synthetic=TINY, epochs=2, batch_size=32, weighting=name)
    result = experiment.run(config, verbose=0)
    for key, values in result.history.items():  # Losses and weights.
      self.assertTrue(np.all(np.isfinite(values)), key)
    for metric, value in result.metrics.items():
      # At this size the test split has no purchase: purchase_auc is
      # undefined, for the baseline too, and is NaN by design.
      if not np.isnan(result.baselines[metric]):
        self.assertTrue(np.isfinite(value), metric)
    self.assertCountEqual(
      result.effective_weights, ["retrieval", "click", "dwell", "purchase"]
    )
    for task, value in result.effective_weights.items():
      self.assertTrue(np.isfinite(value), task)


if __name__ == "__main__":
  tf.test.main()
