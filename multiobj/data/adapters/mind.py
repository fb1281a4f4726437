"""An 8,000-row MIND sample ("mind_sample"): clicks on news.

Impressions of the Microsoft News Dataset (MIND; Microsoft's research
license) from Scenario-Wise-Rec, in `<data_dir>/mind_sample/mind_sample.csv`,
columns `User_ID, News_ID, label, Category, SubCategory`: 8,000 rows, 7,892
users, 1,921 news, 363 clicks. A loader and smoke test, too small for any
claim about model quality, and nearly every user appears once, so user ids
carry almost nothing.

Rows: `user_id` (query, id, from User_ID), `news_id` (candidate, id),
`category` and `subcategory` (candidate, category), and the label `click`
(from `label`). The sample has no impression grouping, no titles and no
dwell time: each row is its own list. Objectives: retrieval of clicked news
and click. Shown-but-unclicked rows are in the log, so no negatives are
sampled.

Rows are split at random, 80/10/10, with the run's seed.
"""

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data import splits as splits_lib
from multiobj.data.adapters import files

NAME = "mind_sample"
FILE = "mind_sample.csv"
# File column -> row column.
COLUMNS = {
  "User_ID": "user_id",
  "News_ID": "news_id",
  "Category": "category",
  "SubCategory": "subcategory",
}

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("news_id", "candidate", "id"),
    spec_lib.Feature("category", "candidate", "category"),
    spec_lib.Feature("subcategory", "candidate", "category"),
  ),
  labels=("click",),
  item_id="news_id",
  user_id="user_id",
)

OBJECTIVES = (objectives_lib.get("retrieval"), objectives_lib.get("click"))


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads the sample and splits its rows at random with `seed`."""
  path = files.locate(data_dir, NAME, [FILE])[FILE]
  csv = files.read_csv(path, [*COLUMNS, "label"])
  rows = {name: csv[column] for column, name in COLUMNS.items()}
  rows["click"] = files.as_float(csv["label"])
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits_lib.split_at_random(rows, SPEC, 0.1, 0.1, seed),
    catalogue=dataset_lib.catalogue_from_rows(SPEC, [rows], NAME),
    objectives=OBJECTIVES,
    info={
      "source": "MIND sample from Scenario-Wise-Rec (Microsoft research "
      "license); a smoke test only",
      "split": f"random by row, 80/10/10, seed {seed}",
    },
  )
