"""ML-100K as DeCA's noisy implicit-feedback benchmark ("deca_ml100k").

The files of Wang et al., "Learning Robust Recommenders through Cross-Model
Agreement" (WWW 2022; github.com/wangyu-ustc/DeCA, data/ml-100k), in
`<data_dir>/deca_ml100k/`, each tab-separated `user item rating`:

  train  ml-100k.train.rating   79,619 interactions of every rating (1-5):
                                all are positives, the low ratings being the
                                noise a robust loss should resist;
  valid  ml-100k.valid.rating    1,707 rating-5 interactions;
  test   ml-100k.test.negative   3,594 rating-5 interactions, the "clean"
                                test set DeCA's code evaluates on.

Rows: user_id and item_id (ids only; users 1..943, items re-indexed 0..1610
by DeCA, so they are not u.item's ids), the label `interaction` (1 on every
row) and the rating as a column `rating` kept for analysis (noisy versus
clean positives), which is neither a feature nor a label. Objectives: click
and retrieval, both on `interaction`. Negatives: one item per positive drawn
uniformly from the items the user has no training interaction with, anew
each epoch, as DeCA and T-CE sample them. The catalogue is every item id
0..max over all files (1,611 items), so full ranking covers them all.

docs/examples/deca_ml100k.json describes the same dataset in JSON (a test
holds the two equal). `FULL_RANKING` is DeCA's protocol: rank every catalogue item for each test
user, mask the user's train and valid items, Recall and NDCG at 3, 5, 10 and
20 averaged over the test users (DeCA's evaluate.py). Beware: as shipped,
every valid pair is also a test pair (valid.rating is a subset of
test.negative), so masking the valid items hides 1,707 of the 3,594 test
pairs from the ranking while they still count as relevant; 128 of the 707
test users have no rankable test item. DeCA's code does exactly this, so
numbers stay comparable with the paper, but they are capped well below 1.
For the same reason the valid split is no independent hold-out.
"""

import dataclasses

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data.adapters import files

NAME = "deca_ml100k"
SPLIT_FILES = {
  "train": "ml-100k.train.rating",
  "valid": "ml-100k.valid.rating",
  "test": "ml-100k.test.negative",
}

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("item_id", "candidate", "id"),
  ),
  labels=("interaction",),
  item_id="item_id",
  user_id="user_id",
)

OBJECTIVES = (
  dataclasses.replace(
    objectives_lib.get("retrieval"),
    label="interaction",
    description="two-tower retrieval of the items a user interacted with",
  ),
  dataclasses.replace(
    objectives_lib.get("click"),
    label="interaction",
    description="probability that the user interacts with an item",
  ),
)

NEGATIVES = dataset_lib.NegativeSampling(per_positive=1, distribution="uniform")

FULL_RANKING = dataset_lib.FullRanking(
  ks=(3, 5, 10, 20), mask=("train", "valid")
)

INFO = {
  "source": "DeCA (Wang et al., WWW 2022), github.com/wangyu-ustc/DeCA "
  "data/ml-100k; MovieLens terms apply (research use only)",
  "note": "valid pairs are a subset of test pairs: masking valid items "
  "hides 1,707 of 3,594 test pairs from the ranking (as DeCA's code does).",
}


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads `<data_dir>/deca_ml100k` into train, valid and test splits."""
  paths = files.locate(data_dir, NAME, SPLIT_FILES.values())
  splits = {}
  for split, name in SPLIT_FILES.items():
    triples = files.read_ints(paths[name], 3)
    splits[split] = {
      "user_id": triples[:, 0],
      "item_id": triples[:, 1],
      "interaction": np.ones(len(triples), np.float32),
      "rating": triples[:, 2].astype(np.float32),
    }
  last = max(int(t["item_id"].max()) for t in splits.values())
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits,
    catalogue={"item_id": np.arange(last + 1, dtype=np.int64)},
    objectives=OBJECTIVES,
    negatives=NEGATIVES,
    info=INFO,
    full_ranking=FULL_RANKING,
  )
