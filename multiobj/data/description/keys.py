"""The keys of a JSON dataset description, and their checker.

Every key a description may hold is declared here once, as data (`TOP` and
the schemas it refers to); `Checker` checks a parsed JSON value against them
and fills in defaults, each error naming the file and the key path.
docs/dataset_spec.md documents the same keys (a test holds the two together).
"""

import dataclasses
import difflib
import json
from typing import Any

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import readers
from multiobj.data import spec as spec_lib

REQUIRED, ABSENT = "<required>", "<absent>"  # Defaults with a meaning.


@dataclasses.dataclass(frozen=True)
class Key:
  """One key of a JSON object: its types, default and allowed values."""

  types: type | tuple[type, ...]
  default: Any = REQUIRED
  choices: tuple[Any, ...] | None = None


NUMBER = (int, float)
# Roles at most one column takes: they name a `DatasetSpec` field.
SINGLE_ROLES = (
  "item_id",
  "user_id",
  "list_id",
  "timestamp",
  "order",
  "position",
  "randomized",
  "truth",
)
ROLES = (*spec_lib.ROLES, "label", *SINGLE_ROLES)
TABLE = {
  "path": Key(str),
  "format": Key(str, None, (*readers.FORMATS, "tsv")),
  "delimiter": Key(str, None),
  "header": Key(bool, True),
  "columns": Key(list, None),
  "encoding": Key(str, "utf-8"),
}
# Keys of a feature column that apply to some types only.
VOCABULARY = {
  "min_count": Key(int, 1),
  "max_size": Key(int, 0),
  "hash_buckets": Key(int, 0),
}
HISTORY = {
  "max_length": Key(int, 50),
  "built_from": Key((str, list), ""),
  "encoder": Key(str, "mean"),
  # null: every position where the history is built in time order, the
  # rows are events (no list_id) and no negatives are sampled.
  "every_position": Key((bool, type(None)), None),
  "boost": Key(bool, False),
}
EMBEDDING = {"vectors": Key(dict, None), "normalize": Key(bool, False)}
# An embedding feature's `vectors`: its file, and the feature whose value
# looks a vector up (default: the item_id for a candidate feature, the
# user_id for a query feature).
VECTORS = {"path": Key(str), "key": Key(str, None)}
ONLY_FOR = {
  "transform": ("numeric",),
  "separator": ("multi_category", "history"),
  **{key: ("history",) for key in HISTORY},
  **{key: ("embedding",) for key in EMBEDDING},
  **{key: spec_lib.VOCABULARY_KINDS for key in VOCABULARY},
}
SIDE_TABLE = {**TABLE, "key": Key(str, None)}
# A table of rows (of `rows`, or a split's file): labels it gives as
# constants, {"buy": 1}, for the labels it has no column of.
ROWS_TABLE = {**TABLE, "labels": Key(dict, {})}
_COLUMN = {"name": Key(str), "role": Key(str), "description": Key(str, "")}
FEATURE_COLUMN = {
  **_COLUMN,
  "type": Key(str, choices=spec_lib.FEATURE_KINDS),
  "transform": Key(str, "zscore", spec_lib.NUMERIC_TRANSFORMS),
  "separator": Key(str, "|"),
  "serving_value": Key((str, int, float), None),
  **VOCABULARY,
  **HISTORY,
  **EMBEDDING,
}
ID_COLUMN = {
  **_COLUMN,
  "type": Key(str, "id", ("id", "category")),
  **VOCABULARY,
}
LABEL_COLUMN = {
  **_COLUMN,
  "objective": Key((str, list, dict)),
  "weight": Key(NUMBER, ABSENT),
  "loss": Key(str, ABSENT),
  "mask": Key((str, type(None)), ABSENT),
  "threshold": Key(NUMBER, ABSENT),
  "source": Key(str, ABSENT),
  "constant": Key(NUMBER, ABSENT),
}
# An objective made from the description alone (no registered one).
OBJECTIVE = {
  "kind": Key(str, choices=objectives_lib.KINDS),
  "name": Key(str, None),
  "transform": Key(str, "none", ("none", "log1p")),
}
# Its loss by kind, when the entry names none.
DEFAULT_LOSS = {
  "binary": "bce",
  "regression": "mse",
  "retrieval": "softmax",
  "listwise": "softmax",
}
COLUMNS = {
  **{role: FEATURE_COLUMN for role in spec_lib.ROLES},
  **{"label": LABEL_COLUMN, "item_id": ID_COLUMN},
  # `feature`: whether the user id is a query feature too (a sequence
  # model may read the user from their history alone, as SASRec does).
  "user_id": {**ID_COLUMN, "feature": Key(bool, True)},
  **{"list_id": _COLUMN, "timestamp": _COLUMN, "randomized": _COLUMN},
  # The order of a user's events, where there is no timestamp (a position
  # within the user): per-user splits and histories read it as time.
  "order": _COLUMN,
  # Ground truth (a simulator's relevance): never an input; evaluation
  # reports NDCG against it.
  "truth": _COLUMN,
  # The slot an item was shown at: a context feature, and what position-bias
  # propensities are estimated over.
  "position": {
    **_COLUMN,
    "type": Key(str, "category", ("category", "numeric")),
    "serving_value": Key((str, int, float), 1),
  },
}
_SHARES = {"valid": Key(NUMBER, 0.1), "test": Key(NUMBER, 0.1)}
SPLITS = {
  "random": {"method": Key(str), **_SHARES, "seed": Key(int, None)},
  "time": {"method": Key(str), **_SHARES},
  "files": {"method": Key(str), "valid": Key(dict, None), "test": Key(dict)},
  "leave_one_out": {"method": Key(str), "valid": Key(bool, True)},
  "last_n": {"method": Key(str), "valid": Key(int, 1), "test": Key(int, 1)},
}
# A `files` split's validation held out of its training rows: `per_user`
# positive rows of the label `hold_out` a user, at random (`seed`).
HOLD_OUT = {
  "hold_out": Key(str),
  "per_user": Key(int, 1),
  "seed": Key(int, 0),
}
# Splits of each user's lists (`splits.split_last_n`).
PER_USER_SPLITS = ("leave_one_out", "last_n")
EVALUATION = {
  "protocol": Key(str, choices=("full_ranking", "given_candidates")),
  "ks": Key(list, [10, 20]),
  "mask": Key(list, ["train"]),
  "mask_label": Key((str, type(None)), None),
  "scorer": Key(str, "all", dataset_lib.SCORERS),
}
NEGATIVES = {
  "per_positive": Key(int, 4),
  "distribution": Key(str, "popularity", dataset_lib.NEGATIVE_DISTRIBUTIONS),
  "alpha": Key(NUMBER, 0.75),
}
# The retrieval candidates the data suits (`config.RetrievalConfig`).
RETRIEVAL = {
  "candidates": Key(str, ABSENT, dataset_lib.RETRIEVAL_CANDIDATES),
  "samples": Key(int, ABSENT),
  "sampling": Key(str, ABSENT, dataset_lib.SAMPLINGS),
}
TOP = {
  "name": Key(str, None),
  "rows": Key((dict, list)),
  "merge": Key(bool, False),
  "catalogue": Key(dict, None),
  "users": Key(dict, None),
  "columns": Key(list),
  "split": Key(dict, {"method": "random"}),
  "negatives": Key(dict, None),
  "evaluation": Key(dict, None),
  "retrieval": Key(dict, {}),
  "info": Key(dict, {}),
}


class Checker:
  """Checks JSON values against schemas; errors name the file and key path."""

  def __init__(self, file: str):
    self.file = file

  def fail(self, at: str, message: str):
    raise ValueError(f"{self.file}: {at or '(top level)'}: {message}")

  def fields(self, value, keys: dict[str, Key], at: str) -> dict[str, Any]:
    """`value`, an object of `keys`, with defaults filled in."""
    if not isinstance(value, dict):
      self.fail(at, f"expected an object, got {json.dumps(value)}.")
    for key in value:
      if key not in keys:
        close = difflib.get_close_matches(key, keys, 1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        self.fail(
          key_path(at, key),
          f"unknown key; expected one of {listing(keys)}{hint}",
        )
    out = {}
    for key, rule in keys.items():
      if key in value:
        out[key] = self.typed(value[key], rule, key_path(at, key))
      elif rule.default is REQUIRED:
        self.fail(at, f"missing key {key!r}.")
      elif rule.default is not ABSENT:
        out[key] = rule.default
    return out

  def typed(self, value, rule: Key, at: str) -> Any:
    types = rule.types if isinstance(rule.types, tuple) else (rule.types,)
    if not isinstance(value, types) or (
      isinstance(value, bool) and bool not in types
    ):
      names = {str: "a string", bool: "true or false", int: "an integer"}
      names |= {float: "a number", list: "a list", dict: "an object"}
      types = [t for t in types if not (t is int and float in types)]
      expected = " or ".join(names.get(t, "null") for t in types)
      self.fail(at, f"expected {expected}, got {json.dumps(value)}.")
    if rule.choices is not None and value not in rule.choices:
      what = at.rpartition(".")[2]
      self.fail(
        at,
        f"unknown {what} {value!r}; expected one of {listing(rule.choices)}.",
      )
    return value

  def variant(self, value, variants, key, at) -> dict[str, Any]:
    """An object whose `key` (a role, a method) picks its keys in `variants`."""
    if not isinstance(value, dict):
      self.fail(at, f"expected an object, got {json.dumps(value)}.")
    if key not in value:
      self.fail(at, f"missing key {key!r}.")
    self.typed(value[key], Key(str, choices=tuple(variants)), key_path(at, key))
    return self.fields(value, variants[value[key]], at)


def key_path(at, key):
  return f"{at}.{key}" if at else key


def listing(values):
  return ", ".join(map(str, values))
