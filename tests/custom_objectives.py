"""Objectives a user registers from their own module, outside the library.

`conversion` is the post-click conversion rate (CVR): purchases learned on
clicked rows only. `click_listwise` scores clicks with a listwise softmax
over each impression list.
"""

import objectives

CONVERSION = objectives.register(
  objectives.Objective(
    name="conversion",
    kind="binary",
    label="purchase",
    mask="click",
    loss="bce",
    weight=1.0,
    metrics=("auc",),
  )
)

CLICK_LISTWISE = objectives.register(
  objectives.Objective(
    name="click_listwise",
    kind="listwise",
    label="click",
    loss="softmax",
    weight=1.0,
    metrics=("ndcg@5", "truth_ndcg@5"),
  )
)


@objectives.register_weighting("lazy_variable")
class LazyVariable(objectives.Static):
  """Makes a variable during its first call: refused with a message, since
  the optimizer is built before the first step."""

  def combine(self, losses):
    if not hasattr(self, "scale"):
      import tensorflow as tf  # noqa: PLC0415

      self.scale = tf.Variable(1.0, name="lazy_scale")
    total, weights = super().combine(losses)
    return total * self.scale, weights
