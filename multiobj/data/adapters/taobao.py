"""Taobao cart and purchase behaviour ("taobao_multibehavior").

The files of RMBRec (github.com/miaomiao-cai2/RMBRec, data/taobao) in
`<data_dir>/taobao_multibehavior/`, space-separated `user item`, 1-based:
cart.txt (193,747 training carts), buy.txt (162,273 training purchases),
validation.txt and test.txt (one held-out purchase per user, 48,749 each)
and count.txt (48,749 users, 39,493 items). There are no clicks (the view
file is missing upstream), no timestamps and no features: ids only.

Rows. Train: the union of the (user, item) pairs of cart.txt and buy.txt
(333,256 pairs, 22,764 of them in both), with labels `cart` and `purchase`
(0/1). Valid and test: the held-out purchases, `purchase` = 1. Whether those
items were also put in the cart is unknown, so `cart` is absent there
(`Dataset.absent`): a placeholder 0 that no validation loss, early stopping
or test metric reads.

Objectives: retrieval (of purchases), purchase and cart. A log of positives
only: four negatives per row, drawn by popularity^0.75 among the items the
user has no training row with, anew each epoch. The catalogue is every item
id 1..39,493.

`info` asks for full ranking with the two towers only (48,749 users x
39,493 items is too many pairs for the ranking heads), at 20 and 50,
masking the training items. Beware: 8,326 of the 48,749 test purchases (and
8,101 valid ones) are of an item the same user put in the cart in training;
masking every training row hides those from the ranking. RMBRec's evaluation
masks the training purchases only (`FULL_RANKING.mask_label`).
"""

import dataclasses
import json

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data.adapters import files

NAME = "taobao_multibehavior"
FILES = ("cart.txt", "buy.txt", "validation.txt", "test.txt", "count.txt")

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("item_id", "candidate", "id"),
  ),
  # behavior = cart or purchase, for retrieval on both behaviours.
  labels=("cart", "purchase", "behavior"),
  item_id="item_id",
  user_id="user_id",
)

OBJECTIVES = (
  dataclasses.replace(
    objectives_lib.get("retrieval"),
    label="purchase",
    description="two-tower retrieval of the items a user buys",
  ),
  objectives_lib.get("purchase"),
  objectives_lib.get("cart"),
)

NEGATIVES = dataset_lib.NegativeSampling(
  per_positive=4, distribution="popularity"
)

FULL_RANKING = dataset_lib.FullRanking(
  ks=(20, 50), mask=("train",), mask_label="purchase", scorer="retrieval"
)

INFO = {
  "source": "RMBRec (github.com/miaomiao-cai2/RMBRec) data/taobao; "
  "upstream Taobao terms not checked",
}


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads `<data_dir>/taobao_multibehavior` into train, valid and test."""
  paths = files.locate(data_dir, NAME, FILES)
  with open(paths["count.txt"]) as f:
    num_items = int(json.load(f)["item"])
  cart = files.read_ints(paths["cart.txt"], 2)
  buy = files.read_ints(paths["buy.txt"], 2)
  # One row per (user, item) pair of either file, labelled by both.
  pairs, where = np.unique(
    np.concatenate([cart, buy]), axis=0, return_inverse=True
  )
  where = where.reshape(-1)
  train = {
    "user_id": pairs[:, 0],
    "item_id": pairs[:, 1],
    "cart": _flags(len(pairs), where[: len(cart)]),
    "purchase": _flags(len(pairs), where[len(cart) :]),
  }
  train["behavior"] = np.maximum(train["cart"], train["purchase"])
  splits = {"train": train}
  for split, name in (("valid", "validation.txt"), ("test", "test.txt")):
    held_out = files.read_ints(paths[name], 2)
    splits[split] = {
      "user_id": held_out[:, 0],
      "item_id": held_out[:, 1],
      "cart": np.zeros(len(held_out), np.float32),
      "purchase": np.ones(len(held_out), np.float32),
      "behavior": np.ones(len(held_out), np.float32),
    }
  for split, table in splits.items():
    if table["item_id"].min() < 1 or table["item_id"].max() > num_items:
      raise ValueError(
        f"Dataset {NAME!r}, split {split!r}: item ids outside 1..{num_items} "
        f"({paths['count.txt']})."
      )
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits,
    catalogue={"item_id": np.arange(1, num_items + 1, dtype=np.int64)},
    objectives=OBJECTIVES,
    negatives=NEGATIVES,
    info=INFO,
    full_ranking=FULL_RANKING,
    absent={"valid": ("cart",), "test": ("cart",)},
  )


def _flags(n, index):
  flags = np.zeros(n, np.float32)
  flags[index] = 1.0
  return flags
