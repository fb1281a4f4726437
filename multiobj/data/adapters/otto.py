"""A 20-session OTTO sample ("otto_sample"): clicks, carts and orders.

OTTO's e-commerce sessions (CC BY 4.0), the unit-test fixture of the
official repository (github.com/otto-de/recsys-dataset), in
`<data_dir>/otto_sample/train.jsonl`: one JSON object per session,
`{"session": id, "events": [{"aid", "ts" (ms), "type"}, ...]}` with type
"clicks", "carts" or "orders". 20 sessions, 862 events, 510 articles: a
loader and metric smoke test, far too small for any claim about model
quality.

Rows: one per (session, aid) pair, 527 of them, with labels `click`, `cart`
and `order` (1 when the session has at least one event of that type on the
article) and `timestamp`, the pair's first event. The session is the query
(`session`, id, also the user id, so sampled negatives avoid its own
articles); the article is the candidate (`aid`, id). No impression lists:
each row is its own list. The log holds positives only, so four negatives
per row are drawn by popularity^0.75, anew each epoch.

Objectives: click, cart, and purchase (on `order`).

Split by time, whole sessions together, ordered by their first event
(`session_start`): the last 10% of the sessions (2) are the test split, the
2 before them the validation split. The sample's sessions are ids 0..9 and
12,899,769..12,899,778; the later ten, four weeks after the first, are short
(2 to 4 events), so valid and test hold only a few rows each.
"""

import dataclasses
import json

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data import splits as splits_lib
from multiobj.data.adapters import files

NAME = "otto_sample"
FILE = "train.jsonl"
# Event type -> label column.
LABELS = {"clicks": "click", "carts": "cart", "orders": "order"}

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("session", "query", "id"),
    spec_lib.Feature("aid", "candidate", "id"),
  ),
  labels=tuple(LABELS.values()),
  item_id="aid",
  user_id="session",
  timestamp="timestamp",
)

OBJECTIVES = (
  objectives_lib.get("click"),
  objectives_lib.get("cart"),
  dataclasses.replace(objectives_lib.get("purchase"), label="order"),
)

NEGATIVES = dataset_lib.NegativeSampling(distribution="popularity")


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads the sessions into (session, aid) rows split by session start."""
  path = files.locate(data_dir, NAME, [FILE])[FILE]
  pairs = {}  # (session, aid) -> {"timestamp": ..., label: 0/1}
  start = {}
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        session = json.loads(line)
        sid, events = int(session["session"]), session["events"]
        start[sid] = min(int(e["ts"]) for e in events)
        for event in events:
          row = pairs.setdefault(
            (sid, int(event["aid"])), {"timestamp": int(event["ts"])}
          )
          row["timestamp"] = min(row["timestamp"], int(event["ts"]))
          row[LABELS[event["type"]]] = 1.0
      except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
          f"{path}, line {number}: not an OTTO session ({e!r})."
        ) from None
  keys = list(pairs)
  rows = {
    "session": np.array([k[0] for k in keys], np.int64),
    "aid": np.array([k[1] for k in keys], np.int64),
    "timestamp": np.array([pairs[k]["timestamp"] for k in keys], np.int64),
    "session_start": np.array([start[k[0]] for k in keys], np.int64),
    **{
      label: np.array([pairs[k].get(label, 0.0) for k in keys], np.float32)
      for label in LABELS.values()
    },
  }
  by_session = SPEC.replace(list_id="session", timestamp="session_start")
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits_lib.split_by_time(rows, by_session, 0.1, 0.1),
    catalogue=dataset_lib.catalogue_from_rows(SPEC, [rows], NAME),
    objectives=OBJECTIVES,
    negatives=NEGATIVES,
    info={
      "source": "OTTO recsys-dataset test fixture (CC BY 4.0); 20 sessions, "
      "a smoke test only",
      "split": "by session start: last 10% of sessions test, 10% before "
      "them valid",
    },
  )
