"""The built-in objectives: retrieval, click, dwell time, purchase, like,
rating and cart.

They match the columns of the synthetic impression log
(`multiobj/data/synthetic/`); a dataset whose columns are named otherwise
maps its labels onto them, or registers objectives of its own.
"""

from objectives import objective

RETRIEVAL = objective.register(
  objective.Objective(
    name="retrieval",
    kind="retrieval",
    label="click",
    loss="softmax",
    weight=1.0,
    metrics=("recall@10", "recall@50", "recall@100"),
    description="two-tower retrieval of clicked items, in-batch negatives "
    "with logQ correction",
  ),
  validate_loss=False,
)

CLICK = objective.register(
  objective.Objective(
    name="click",
    kind="binary",
    label="click",
    loss="bce",
    weight=1.0,
    metrics=("auc", "logloss", "ndcg@10", "truth_ndcg@10"),
    description="probability that a shown item is clicked",
  ),
  validate_loss=False,
)

DWELL = objective.register(
  objective.Objective(
    name="dwell",
    kind="regression",
    label="dwell",
    loss="mse",
    weight=0.5,
    mask="click",
    label_transform="log1p",
    metrics=("rmse", "mae"),
    description="log1p(dwell seconds) of a click, learned on clicked rows",
  ),
  validate_loss=False,
)

PURCHASE = objective.register(
  objective.Objective(
    name="purchase",
    kind="binary",
    label="purchase",
    loss="bce",
    weight=1.0,
    metrics=("auc", "logloss"),
    description="probability that a shown item is bought (through a click)",
  ),
  validate_loss=False,
)

LIKE = objective.register(
  objective.Objective(
    name="like",
    kind="binary",
    label="like",
    loss="bce",
    weight=1.0,
    metrics=("auc", "logloss"),
    description="probability that the user likes an item they consumed "
    "(e.g. rated it 4 or 5)",
  ),
  validate_loss=False,
)

RATING = objective.register(
  objective.Objective(
    name="rating",
    kind="regression",
    label="rating",
    loss="mse",
    weight=1.0,
    metrics=("rmse", "mae"),
    description="explicit rating of a consumed item",
  ),
  validate_loss=False,
)

CART = objective.register(
  objective.Objective(
    name="cart",
    kind="binary",
    label="cart",
    loss="bce",
    weight=1.0,
    metrics=("auc", "logloss"),
    description="probability that an item is added to the cart",
  ),
  validate_loss=False,
)
