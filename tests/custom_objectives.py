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
