"""A 200-row KuaiRand sample ("kuairand_sample"): clicks and play time.

A smoke test of a click head and a dwell-time head on real Kuaishou rows;
with 200 rows (32 clicks, 145 users, 29 videos) it is far too small for any
claim about model quality. Source: kuairand_sample.csv of Scenario-Wise-Rec
(KuaiRand, CC BY-SA 4.0), in `<data_dir>/kuairand_sample/`.

Labels: `is_click` (0/1) and `dwell` = play_time_ms / 1000, in seconds.
Objectives: click on `is_click`, dwell on `dwell` where `is_click` is 1
(the log has play time on unclicked rows too; the head learns it on clicks
only, as everywhere in this library).

Features, by what the columns hold. Query (the user): user_id (id);
user_active_degree, is_lowactive_period, is_live_streamer (-124 is its
missing value), is_video_author, the *_range buckets and the encrypted
onehot_feat0..17 codes (category); follow_user_num, fans_user_num,
friend_user_num (numeric, log1p) and register_days (numeric). Candidate (the
video): video_id (id), duration_ms (numeric, log1p), video_type and
visible_status (category), server_width and server_height (numeric, pixels).
Not used: profile_stay_time and comment_stay_time (what the user did after
the impression: they would leak the label) and tab (always 1).

Rows are split at random, 80/10/10, with the run's seed.
"""

import dataclasses

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data import splits as splits_lib
from multiobj.data.adapters import files

NAME = "kuairand_sample"
FILE = "kuairand_sample.csv"

_USER_CATEGORIES = (
  "user_active_degree",
  "is_lowactive_period",
  "is_live_streamer",
  "is_video_author",
  "follow_user_num_range",
  "fans_user_num_range",
  "friend_user_num_range",
  "register_days_range",
  *(f"onehot_feat{i}" for i in range(18)),
)
_USER_COUNTS = ("follow_user_num", "fans_user_num", "friend_user_num")

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    *(spec_lib.Feature(c, "query", "category") for c in _USER_CATEGORIES),
    *(spec_lib.Feature(c, "query", "numeric", "log1p") for c in _USER_COUNTS),
    spec_lib.Feature("register_days", "query", "numeric"),
    spec_lib.Feature("video_id", "candidate", "id"),
    spec_lib.Feature("duration_ms", "candidate", "numeric", "log1p"),
    spec_lib.Feature("video_type", "candidate", "category"),
    spec_lib.Feature("visible_status", "candidate", "category"),
    spec_lib.Feature("server_width", "candidate", "numeric"),
    spec_lib.Feature("server_height", "candidate", "numeric"),
  ),
  labels=("is_click", "dwell"),
  item_id="video_id",
  user_id="user_id",
)

OBJECTIVES = (
  dataclasses.replace(objectives_lib.get("click"), label="is_click"),
  dataclasses.replace(objectives_lib.get("dwell"), mask="is_click"),
)


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads the sample and splits its rows at random with `seed`."""
  path = files.locate(data_dir, NAME, [FILE])[FILE]
  needed = [f.name for f in SPEC.features] + ["is_click", "play_time_ms"]
  csv = files.read_csv(path, needed)
  rows = {
    "user_id": csv["user_id"].astype(np.int64),
    "video_id": csv["video_id"].astype(np.int64),
    "is_click": files.as_float(csv["is_click"]),
    "dwell": files.as_float(csv["play_time_ms"]) / 1000,
  }
  for feature in SPEC.features:
    if feature.name in rows:
      continue
    column = csv[feature.name]
    rows[feature.name] = (
      files.as_float(column)
      if feature.kind == "numeric"
      else files.as_category(column)
    )
  splits = splits_lib.split_at_random(rows, SPEC, 0.1, 0.1, seed)
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits,
    catalogue=dataset_lib.catalogue_from_rows(SPEC, [rows], NAME),
    objectives=OBJECTIVES,
    info={
      "source": "KuaiRand sample from Scenario-Wise-Rec (CC BY-SA 4.0); "
      "200 rows, a smoke test only",
      "split": f"random by row, 80/10/10, seed {seed}",
    },
  )
