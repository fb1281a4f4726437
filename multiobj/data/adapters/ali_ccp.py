"""A 200-row Ali-CCP sample ("ali_ccp_sample"): clicks and purchases.

Ali-CCP (Alibaba Click and Conversion Prediction, Taobao) as preprocessed by
torch-rechub, in `<data_dir>/ali_ccp_sample/`: ali_ccp_{train,val,test}_
sample.csv, 100/50/50 rows, used as the train, valid and test splits as
given. With 7, 3 and 2 clicks and one purchase per file it is a schema and
loader smoke test, far too small for any claim about model quality. Every
row holds one user (101 = 1) with the same profile.

Labels `click` and `purchase` (a purchase always follows a click here);
objectives click and purchase. The shown rows include the unclicked ones,
so no negatives are sampled.

The columns are Ali-CCP's feature fields, label-encoded (the 23 sparse
ones) or normalised (the 8 dense ones, prefixed "D"). SOURCE.md lists them
without their meaning; the meanings below are those of the Ali-CCP field
table published with the dataset (tianchi.aliyun.com/dataset/408):

  query (the user)      101 user id -> `user_id` (id); 121 profile
                        category, 122 profile group, 124 gender, 125 age,
                        126 and 127 consumption levels I and II, 128
                        occupation (working or not), 129 geography; 109_14,
                        110_14, 127_14, 150_14: the categories, shops,
                        brands and intention nodes of the user's last 14
                        days of behaviour (category); D109_14 ... D150_14:
                        their dense values (numeric);
  candidate (the item)  205 item id -> `item_id` (id); 206 category, 207
                        shop, 210 intention node, 216 brand (category);
  context (the pair)    508, 509, 702, 853: the user's history crossed with
                        the item's category, shop, brand and intention node
                        (category), and D508 ... D853 their dense values
                        (numeric); 301 a categorical expression of the ad's
                        position (category).

The crossed fields depend on the (user, item) pair, which neither tower
sees alone, so they are context features: the ranking heads see them. Where
the library ranks as at serving, they take code "0" (dense 0.0), which in
these files always goes with a dense value of 0, i.e. no overlap; field 301
takes "1", its only value here. Sparse columns keep their codes as
`f<field>` (`f121`), dense ones as `d<field>` (`d109_14`).

The item id is not a clean key: code 0 (79 of the 200 rows) groups items
with many different categories and shops, apparently every rare item. The
catalogue keeps each id's first row.
"""

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data.adapters import files

NAME = "ali_ccp_sample"
SPLIT_FILES = {
  "train": "ali_ccp_train_sample.csv",
  "valid": "ali_ccp_val_sample.csv",
  "test": "ali_ccp_test_sample.csv",
}

_USER = ("121", "122", "124", "125", "126", "127", "128", "129")
_HISTORY = ("109_14", "110_14", "127_14", "150_14")
_ITEM = ("206", "207", "210", "216")
_CROSSED = ("508", "509", "702", "853")

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    *(spec_lib.Feature(f"f{c}", "query", "category") for c in _USER + _HISTORY),
    *(spec_lib.Feature(f"d{c}", "query", "numeric") for c in _HISTORY),
    spec_lib.Feature("item_id", "candidate", "id"),
    *(spec_lib.Feature(f"f{c}", "candidate", "category") for c in _ITEM),
    *(
      spec_lib.Feature(f"f{c}", "context", "category", serving_value="0")
      for c in _CROSSED
    ),
    *(
      spec_lib.Feature(f"d{c}", "context", "numeric", serving_value=0.0)
      for c in _CROSSED
    ),
    spec_lib.Feature("f301", "context", "category", serving_value="1"),
  ),
  labels=("click", "purchase"),
  item_id="item_id",
  user_id="user_id",
)

OBJECTIVES = (objectives_lib.get("click"), objectives_lib.get("purchase"))


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads the three sample files as the train, valid and test splits."""
  paths = files.locate(data_dir, NAME, SPLIT_FILES.values())
  splits = {}
  for split, name in SPLIT_FILES.items():
    splits[split] = _rows(paths[name])
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits,
    catalogue=dataset_lib.catalogue_from_rows(
      SPEC, list(splits.values()), NAME, conflicts="first"
    ),
    objectives=OBJECTIVES,
    info={
      "source": "Ali-CCP sample from torch-rechub (MIT code; Tianchi terms "
      "not checked); 200 rows, a smoke test only",
    },
  )


def _rows(path):
  # File column of each feature: "101" for user_id, "D508" for d508, ...
  source = {"user_id": "101", "item_id": "205"}
  for feature in SPEC.features:
    if feature.name not in source:
      prefix = "D" if feature.name.startswith("d") else ""
      source[feature.name] = prefix + feature.name[1:]
  csv = files.read_csv(path, [*source.values(), "click", "purchase"])
  rows = {
    "user_id": csv["101"].astype(np.int64),
    "item_id": csv["205"].astype(np.int64),
    "click": files.as_float(csv["click"]),
    "purchase": files.as_float(csv["purchase"]),
  }
  for feature in SPEC.features:
    if feature.name not in rows:
      column = csv[source[feature.name]]
      rows[feature.name] = (
        files.as_float(column)
        if feature.kind == "numeric"
        else files.as_category(column)
      )
  return rows
