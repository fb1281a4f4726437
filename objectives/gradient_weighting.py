"""Strategies that combine per-task gradients: PCGrad and MGDA.

Each task is differentiated on its own; the strategies then combine the
tasks' gradients on the variables two tasks or more share. See `weighting.py`
for the interface.
"""

import math
from collections.abc import Mapping

import tensorflow as tf

from objectives.weighting import Weighting, register_weighting


class GradientCombination(Weighting):
  """Base of strategies that combine per-task gradients (PCGrad, MGDA).

  Each task's gradient g_i of w_i L_i is computed separately. A variable is
  shared when two tasks or more reach it; a subclass's `combine_shared` turns
  the tasks' gradients on all shared variables together into one gradient.
  Every other variable gets the gradient of the one task that reaches it.
  Cost: one backward pass per task, and K dense copies of the shared
  gradients (embedding tables included).
  """

  needs_persistent_tape = True

  def combine_shared(
    self, gradients: tf.Tensor, losses: tf.Tensor
  ) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns (one gradient [dim], weight of each task's gradient [K]).

    Args:
      gradients: [K, dim], the gradient of each task involved on the shared
        variables, flattened and concatenated.
      losses: [K], the weighted loss w_i L_i of each of those tasks.
    """
    raise NotImplementedError

  def gradients(
    self,
    tape,
    total_loss,
    task_losses,
    weights,
    variables,
    shared_variables,
    regularization,
  ):
    del total_loss  # Each task is differentiated on its own.
    del shared_variables  # Shared here means reached by two tasks or more.
    per_task = [
      tape.gradient(task_losses[n], variables, output_gradients=weights[n])
      for n in self.task_names
    ]
    reached = [
      [g[k] is not None for g in per_task] for k in range(len(variables))
    ]
    shared = [k for k, tasks in enumerate(reached) if sum(tasks) >= 2]
    gradients = [
      next((g[k] for g in per_task if g[k] is not None), None)
      for k in range(len(variables))
    ]
    scales = [tf.constant(1.0)] * len(self.task_names)
    involved = [
      i for i in range(len(per_task)) if any(reached[k][i] for k in shared)
    ]
    if shared:
      flat = tf.stack(
        [
          tf.concat([_flatten(per_task[i][k], variables[k]) for k in shared], 0)
          for i in involved
        ]
      )
      losses = tf.stack(
        [
          weights[self.task_names[i]] * task_losses[self.task_names[i]]
          for i in involved
        ]
      )
      combined, task_scales = self.combine_shared(flat, losses)
      for i, scale in zip(involved, tf.unstack(task_scales), strict=True):
        scales[i] = scale
      sizes = [variables[k].shape.num_elements() for k in shared]
      for k, part in zip(shared, tf.split(combined, sizes), strict=True):
        gradients[k] = tf.reshape(part, variables[k].shape)
    regularisation = tape.gradient(
      regularization,
      variables,
      unconnected_gradients=tf.UnconnectedGradients.NONE,
    )
    gradients = [
      _add(g, r) for g, r in zip(gradients, regularisation, strict=True)
    ]
    effective = {
      n: scales[i] * weights[n] for i, n in enumerate(self.task_names)
    }
    return gradients, effective


@register_weighting("pcgrad")
class PCGrad(GradientCombination):
  """Gradient surgery (PCGrad, Yu et al. 2020) on the shared variables.

  For each task i, in a random order over the other tasks j: when
  g_i . g_j < 0, g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j (g_j unprojected);
  the shared variables get sum_i g_i. The dot products run over all shared
  variables together. PCGrad does not reweight: effective weights are the
  configured ones.
  """

  def combine_shared(self, gradients, losses):
    del losses  # Unused.
    projected = project_conflicting(gradients)
    return tf.reduce_sum(projected, 0), tf.ones([gradients.shape[0]])


@register_weighting("mgda")
class MGDA(GradientCombination):
  """Multiple-gradient descent, min-norm form (Sener & Koltun 2018).

  The shared variables get sum_i alpha_i g_i with alpha the point of the
  simplex minimising ||sum_i alpha_i g_i||^2 (found by `min_norm_weights`);
  task-specific variables get their own g_i; task i's effective weight is
  alpha_i w_i. This solves the min-norm problem on the gradients of the
  shared parameters (every variable two tasks or more reach), which is the
  exact MGDA of the paper's section 3.2, not MGDA-UB, whose min-norm problem
  is on the gradients of the shared representation (one backward pass
  instead of one per task).

  As in the authors' code, alpha is solved on normalised gradients
  g_i / n_i, n_i = ||g_i|| ("l2"), L_i ("loss"), L_i ||g_i|| ("loss+", the
  default) or 1 ("none"), and then applied to the unnormalised g_i. Without
  normalisation the task with the smallest gradient takes nearly all the
  weight (in the default model, click: retrieval's recall fell to 0).

  Args:
    weights: See `Weighting`.
    normalization: "loss+", "loss", "l2" or "none".
    iterations: Frank-Wolfe iterations.
  """

  def __init__(
    self,
    weights: Mapping[str, float],
    normalization: str = "loss+",
    iterations: int = 25,
    **kwargs,
  ):
    super().__init__(weights, **kwargs)
    if normalization not in ("loss+", "loss", "l2", "none"):
      raise ValueError(
        f"mgda normalization must be loss+, loss, l2 or none, got {normalization!r}."
      )
    self.normalization = normalization
    self.iterations = int(iterations)

  def combine_shared(self, gradients, losses):
    norms = tf.norm(gradients, axis=1)
    scale = {
      "loss+": losses * norms,
      "loss": losses,
      "l2": norms,
      "none": tf.ones_like(norms),
    }[self.normalization]
    normalised = tf.math.divide_no_nan(gradients, scale[:, tf.newaxis])
    alpha = min_norm_weights(
      tf.matmul(normalised, normalised, transpose_b=True), self.iterations
    )
    return tf.linalg.matvec(gradients, alpha, transpose_a=True), alpha


def project_conflicting(gradients: tf.Tensor) -> tf.Tensor:
  """PCGrad's projection of each row of `gradients` [K, dim]; [K, dim]."""
  k = gradients.shape[0]
  projected = []
  for i in range(k):
    g = gradients[i]
    others = tf.random.shuffle(tf.constant([j for j in range(k) if j != i]))
    for j in tf.unstack(others, num=k - 1):
      other = tf.gather(gradients, j)
      dot = tf.reduce_sum(g * other)
      g -= (
        tf.math.divide_no_nan(
          tf.minimum(dot, 0.0), tf.reduce_sum(other * other)
        )
        * other
      )
    projected.append(g)
  return tf.stack(projected)


def min_norm_weights(gram: tf.Tensor, iterations: int = 25) -> tf.Tensor:
  """alpha on the simplex minimising alpha^T gram alpha; [K] from [K, K].

  Frank-Wolfe (Sener & Koltun 2018, algorithm 2) with the exact line search
  between two points (algorithm 1). It starts, like the authors' code, from
  the best solution on a pair of vertices, which is exact for two tasks:
  alpha_1 = clip((g_2 - g_1) . g_2 / ||g_1 - g_2||^2, 0, 1).
  """
  gram = tf.cast(gram, tf.float64)
  k = gram.shape[0]
  if k == 1:
    return tf.ones([1])
  diag, e = tf.linalg.diag_part(gram), tf.eye(k, dtype=tf.float64)
  # The best pair: gamma[i, j] e_i + (1 - gamma[i, j]) e_j over all i != j.
  gamma = _line_search(diag[:, None], gram, diag[None, :])
  norms = gamma**2 * diag[:, None] + (1 - gamma) ** 2 * diag
  norms += 2 * gamma * (1 - gamma) * gram
  norms = tf.where(e > 0, tf.constant(math.inf, tf.float64), norms)
  best = tf.argmin(tf.reshape(norms, [-1]))
  g = tf.gather(tf.reshape(gamma, [-1]), best)
  alpha = g * tf.gather(e, best // k) + (1 - g) * tf.gather(e, best % k)
  for _ in range(iterations):
    gradient = tf.linalg.matvec(gram, alpha)
    t = tf.argmin(gradient)
    step = _line_search(
      tf.reduce_sum(alpha * gradient), tf.gather(gradient, t), gram[t, t]
    )
    alpha = step * alpha + (1 - step) * tf.gather(e, t)
  return tf.cast(alpha, tf.float32)


def _line_search(aa, ab, bb):
  """gamma in [0, 1] minimising ||gamma a + (1 - gamma) b||^2 (1 if a = b)."""
  denominator = aa + bb - 2 * ab
  gamma = tf.clip_by_value(tf.math.divide_no_nan(bb - ab, denominator), 0, 1)
  return tf.where(denominator > 0, gamma, tf.ones_like(gamma))


def _flatten(gradient, variable):
  if gradient is None:
    return tf.zeros([variable.shape.num_elements()])
  return tf.reshape(tf.convert_to_tensor(gradient), [-1])


def _add(a, b):
  if a is None or b is None:
    return b if a is None else a
  return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)
