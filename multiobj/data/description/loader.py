"""Datasets described by a JSON file instead of code.

A description names the files (an interaction log, optionally a catalogue of
items and a table of users), says what each column is and which registered
objective each label feeds, how to split the rows and whether to sample
negatives; `load` turns it into a `dataset.Dataset`. The keys are declared
in `keys.py` (`TOP` and the schemas it refers to) and documented in
docs/dataset_spec.md. Each problem is one ValueError naming the description
and the key path, or the data file, the column and the first bad row (rows
count from 1, a header not counted), before any TensorFlow code runs; the
checks of the assembled dataset are `validation.check`'s.

  data = description.load("shop.json", data_dir="../shared/data")
"""

import dataclasses
import json
import os
from typing import Any

from absl import logging

from multiobj.data import dataset as dataset_lib
from multiobj.data import history, validation
from multiobj.data import splits as splits_lib
from multiobj.data.description import columns as columns_lib
from multiobj.data.description import combine, keys
from multiobj.data.description import tables as tables_lib
from multiobj.data.description.keys import (
  EVALUATION,
  NEGATIVES,
  ROWS_TABLE,
  SIDE_TABLE,
  SPLITS,
  TABLE,
  TOP,
)


def load(
  path: str, data_dir: str | None = None, seed: int = 0
) -> dataset_lib.Dataset:
  """Reads the dataset the JSON description at `path` describes.

  Args:
    path: The description. Relative file paths in it are relative to its
      folder.
    data_dir: Replaces "{data_dir}" in its file paths.
    seed: Seeds the random split, unless the description gives its own.

  Returns:
    The `dataset.Dataset`, checked by `validation.check`.
  """
  check, parsed = parse(path, data_dir)
  data = _build(check, parsed, seed)
  try:
    validation.check(data, data.objectives)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return data


def parse(
  path: str, data_dir: str | None = None
) -> tuple[keys.Checker, dict[str, Any]]:
  """The description at `path`, every key checked, nothing read yet:
  (its checker, which words messages; {spec, labels, tables, objectives,
  split, negatives, info})."""
  try:
    with open(path, encoding="utf-8") as f:
      raw = json.load(f)
  except OSError as e:
    raise ValueError(f"{path}: cannot read it: {e.strerror}.") from None
  except json.JSONDecodeError as e:
    raise ValueError(
      f"{path}: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}."
    ) from None
  check = keys.Checker(path)
  return check, _parse(check, raw, data_dir)


def table_paths(path: str, data_dir: str | None = None) -> list[str]:
  """The paths (files, folders or globs) of the tables the description at
  `path` reads; [] if it cannot be parsed (`load` then says why)."""
  try:
    _, parsed = parse(path, data_dir)
  except ValueError:
    return []
  return [t["path"] for t in parsed["tables"].values()]


def _parse(check, raw, data_dir) -> dict[str, Any]:
  """Every key checked; the spec, objectives, tables, split and negatives."""
  top = check.fields(raw, TOP, "")
  folder = os.path.dirname(os.path.abspath(check.file))

  def table(value, at, keys=TABLE):
    t = check.fields(value, keys, at)
    if "{data_dir}" in t["path"]:
      if data_dir is None:
        check.fail(f"{at}.path", "uses {data_dir}, but no data folder is set.")
      t["path"] = t["path"].replace("{data_dir}", os.path.abspath(data_dir))
    if not all(isinstance(c, str) for c in t["columns"] or []):
      check.fail(f"{at}.columns", "expected a list of column names.")
    path = os.path.join(folder, os.path.expanduser(t.pop("path")))
    relative = os.path.relpath(path)  # Shorter in messages, if below.
    path = path if relative.startswith("..") else relative
    return {
      "at": at,
      "path": path,
      "key": t.pop("key", None),
      "labels": t.pop("labels", {}),
      "read": t,
    }

  tables = _rows_tables(check, top["rows"], table)
  for side in ("catalogue", "users"):
    if top[side] is not None:
      tables[side] = table(top[side], side, SIDE_TABLE)
  name = top["name"] or os.path.splitext(os.path.basename(check.file))[0]
  spec, columns = columns_lib.spec(check, name, top["columns"])
  spec = _with_vector_paths(spec, columns, table)
  if "users" in tables and not spec.user_id:
    check.fail("users", "joining users needs a column with role 'user_id'.")
  for side, key in (("catalogue", spec.item_id), ("users", spec.user_id)):
    if side in tables:
      tables[side]["key"] = tables[side]["key"] or key
  split = _split(check, top["split"], spec, tables, table)
  negatives = top["negatives"]
  if negatives is not None:
    negatives = check.fields(negatives, NEGATIVES, "negatives")
    try:
      negatives = dataset_lib.NegativeSampling(**negatives)
    except ValueError as e:
      check.fail("negatives", str(e))
    if spec.list_id:
      check.fail("negatives", "sampling needs rows without a list_id.")
  spec = _histories(check, spec, columns, split, negatives)
  labels = [c for c in columns if c["role"] == "label"]
  if not spec.has_item_ids and "catalogue" in tables:
    check.fail("catalogue", "joining items needs a column with role 'item_id'.")
  _check_table_labels(check, tables, labels)
  retrieval = check.fields(top["retrieval"], keys.RETRIEVAL, "retrieval")
  if retrieval.get("samples", 1) < 1:
    check.fail("retrieval.samples", "expected an integer of at least 1.")
  full_ranking = None
  if top["evaluation"] is not None:
    full_ranking = _full_ranking(check, top["evaluation"], spec, labels)
  return {
    "spec": spec,
    "labels": labels,
    "tables": tables,
    "objectives": _objectives(check, labels, spec),
    "split": split,
    "merge": top["merge"],
    "negatives": negatives,
    "full_ranking": full_ranking,
    "retrieval": retrieval,
    "info": {"description": check.file, **top["info"]},
  }


def _with_vector_paths(spec, columns, table):
  """`spec` with each embedding feature's file as a table path resolves
  (the description's folder, `{data_dir}`), made absolute."""
  at = {c["name"]: c["at"] for c in columns}

  def resolved(f):
    path = table({"path": f.vectors}, f"{at[f.name]}.vectors")["path"]
    return dataclasses.replace(f, vectors=os.path.abspath(path))

  return spec.replace(
    features=tuple(resolved(f) if f.vectors else f for f in spec.features)
  )


def _histories(check, spec, columns, split, negatives):
  """`spec` with each built history's order and training resolved: in time
  order unless the log has no timestamp or the split comes as files (then
  the user's training events, as a set); trained at every position when
  asked, or by default where it is in time order, rows are events (no
  list_id) and no negatives are sampled."""
  entries = {c["name"]: c for c in columns}
  features = []
  for f in spec.features:
    if not f.built_from:
      features.append(f)
      continue
    at = entries[f.name]["at"]
    ordered = f.ordered and split["method"] != "files"
    asked = entries[f.name]["every_position"]
    if asked and not ordered:
      check.fail(
        f"{at}.every_position",
        "needs a history built in time order: a timestamp or order column, "
        "and a split the framework makes (not files).",
      )
    if asked and spec.list_id:
      check.fail(
        f"{at}.every_position",
        "reads each user's rows as one sequence, and the list_id column "
        f"{spec.list_id!r} groups them into impression lists.",
      )
    if asked and negatives is not None:
      check.fail(
        f"{at}.every_position",
        "scores each event against the catalogue, and the description "
        "samples negatives (negatives): give one or the other.",
      )
    if asked is None:
      asked = ordered and not spec.list_id and negatives is None
    features.append(
      dataclasses.replace(f, ordered=ordered, every_position=asked)
    )
  try:
    return spec.replace(features=tuple(features))
  except ValueError as e:
    check.fail("columns", str(e))


def _split(check, value, spec, tables, table) -> dict[str, Any]:
  """The `split` key, checked; a `files` split's tables added to `tables`."""
  split = check.variant(value, SPLITS, "method", "split")
  if split["method"] == "files":
    for part in ("valid", "test"):
      if part == "valid" and isinstance(split[part], dict):
        if "hold_out" in split[part]:
          split[part] = _hold_out(check, split[part], spec)
          continue
      if split[part] is not None:
        tables[f"split.{part}"] = table(
          split[part], f"split.{part}", ROWS_TABLE
        )
  elif split["method"] == "last_n":
    if split["test"] < 1 or split["valid"] < 0:
      check.fail("split", "last_n needs test >= 1 and valid >= 0 lists.")
  elif split["method"] != "leave_one_out" and not (
    0 <= split["valid"] < 1 - split["test"] < 1
  ):
    check.fail("split", "needs valid >= 0, test > 0, valid + test < 1.")
  if split["method"] == "time" and not spec.timestamp:
    check.fail("split.method", "'time' needs a column with role 'timestamp'.")
  if split["method"] == "time" and spec.order_only:
    check.fail(
      "split.method",
      "'time' orders every user's events together, and an 'order' column "
      "orders each user's only: give a timestamp, or split per user "
      "(leave_one_out, last_n).",
    )
  if split["method"] in keys.PER_USER_SPLITS and not spec.user_id:
    check.fail(
      "split.method",
      f"{split['method']!r} splits each user's lists: it needs a column "
      "with role 'user_id'.",
    )
  return split


def _hold_out(check, value, spec) -> dict[str, Any]:
  """A `files` split's validation held out of its training rows: `label`
  the label whose positive rows may be held out, `per_user` of them a
  user, drawn with `seed`."""
  found = check.fields(value, keys.HOLD_OUT, "split.valid")
  found["label"] = found.pop("hold_out")
  if found["label"] not in spec.labels:
    check.fail(
      "split.valid.hold_out",
      f"{found['label']!r} is not a label here "
      f"({keys.listing(spec.labels)}).",
    )
  if found["per_user"] < 1:
    check.fail("split.valid.per_user", "expected an integer of at least 1.")
  if not spec.user_id:
    check.fail("split.valid", "holding rows out per user needs a user_id.")
  return found


def _check_table_labels(check, tables, labels) -> None:
  """Each table's constant `labels` name labels and hold numbers."""
  names = [c["name"] for c in labels]
  for t in tables.values():
    for label, value in t["labels"].items():
      at = f"{t['at']}.labels.{label}"
      if label not in names:
        check.fail(
          at, f"not a label; the labels are {keys.listing(names) or 'none'}."
        )
      if isinstance(value, bool) or not isinstance(value, int | float):
        check.fail(at, f"expected a number, got {json.dumps(value)}.")


def _objectives(check, labels, spec):
  """The labels' objectives; retrieval only where items have ids."""
  out = columns_lib.objectives(check, labels)
  for o in out:
    if o.kind == "retrieval" and not spec.has_item_ids:
      at = next(c["at"] for c in labels if c["name"] == o.label)
      check.fail(
        f"{at}.objective",
        f"{o.name!r} retrieves items by their ids, and no column has role "
        "'item_id': give one, or learn ranking objectives only.",
      )
  return out


def _rows_tables(check, rows, table) -> dict[str, dict]:
  """`rows`, one table ("rows") or a list of them ("rows[0]", ...)."""
  if isinstance(rows, dict):
    return {"rows": table(rows, "rows", ROWS_TABLE)}
  if not rows:
    check.fail("rows", "expected a table or a non-empty list of tables.")
  return {
    f"rows[{i}]": table(t, f"rows[{i}]", ROWS_TABLE) for i, t in enumerate(rows)
  }


def row_tables(d) -> list[str]:
  """The keys of `rows`'s tables in `d["tables"]`, in order."""
  return [k for k in d["tables"] if k == "rows" or k.startswith("rows[")]


def _full_ranking(check, value, spec, labels) -> dataset_lib.FullRanking:
  """The `evaluation` key: the full-ranking protocol, checked."""
  e = check.fields(value, EVALUATION, "evaluation")
  if e["protocol"] == "given_candidates" and "mask" not in value:
    e["mask"] = []  # The file chose the candidates: nothing to hide.
  if not spec.user_id:
    check.fail(
      "evaluation",
      "full ranking ranks for each user: it needs a "
      "column with role 'user_id'.",
    )
  if not all(isinstance(k, int) and not isinstance(k, bool) for k in e["ks"]):
    check.fail("evaluation.ks", f"expected integers, got {e['ks']}.")
  names = [c["name"] for c in labels]
  if e["mask_label"] is not None and e["mask_label"] not in names:
    check.fail(
      "evaluation.mask_label",
      f"{e['mask_label']!r} is not a label here ({keys.listing(names)}).",
    )
  try:
    given = e["protocol"] == "given_candidates"
    return dataset_lib.FullRanking(
      e["ks"],
      e["mask"],
      e["mask_label"],
      e["scorer"],
      "given" if given else "catalogue",
    )
  except ValueError as error:
    check.fail("evaluation", str(error))


def _build(check, d, seed: int) -> dataset_lib.Dataset:
  spec, tables = d["spec"], d["tables"]
  users = tables_lib.read_side(
    check, tables, spec, "users", spec.user_id, "query"
  )
  files = [
    *row_tables(d),
    *(k for k in ("split.valid", "split.test") if k in tables),
  ]
  read = {key: tables_lib.read_rows(check, d, key, users) for key in files}
  parts = {key: part for key, (part, _, _) in read.items()}
  combine.check_kinds(check, [(tables[k], parts[k]) for k in row_tables(d)])
  catalogue = tables_lib.read_side(
    check, tables, spec, "catalogue", spec.item_id
  )
  if catalogue is None:
    first = tables[row_tables(d)[0]]
    catalogue = _catalogue_from_rows(check, first, parts, spec)
  candidates = [f.name for f in spec.features_of("candidate")]
  for part, where, _ in read.values():
    index = tables_lib.join(
      where,
      part[spec.item_id],
      catalogue[spec.item_id],
      "item",
      tables.get("catalogue"),
    )
    part.update({name: catalogue[name][index] for name in candidates})
  pieces = [(tables[k], parts.pop(k)) for k in row_tables(d)]
  parts["rows"] = combine.rows(pieces, d["labels"], spec, d["merge"])
  absent = {
    key.split(".")[1]: tuple(missing)
    for key, (_, _, missing) in read.items()
    if missing
  }
  held = d["split"].get("valid")
  if d["split"]["method"] == "files" and held and "label" in held:
    # Held out of the rows of one label: the others are not there.
    absent["valid"] = tuple(c for c in spec.labels if c != held["label"])
  for split, labels in absent.items():
    logging.info(
      "%s: the %s split has no label %s (its file lacks the column): not "
      "learnt or scored there.",
      check.file,
      split,
      ", ".join(labels),
    )
  try:
    splits = history.add_to_splits(_split_rows(check, d, parts, seed), spec)
  except ValueError as e:
    check.fail("columns", str(e))
  return dataset_lib.Dataset(
    spec=spec,
    splits=splits,
    absent=absent,
    catalogue=catalogue,
    objectives=d["objectives"],
    negatives=d["negatives"],
    info=d["info"],
    full_ranking=d["full_ranking"],
    retrieval=d["retrieval"],
  )


def _catalogue_from_rows(check, table, parts, spec):
  """One row per item id of the rows; its features must not vary."""
  return dataset_lib.catalogue_from_rows(
    spec, list(parts.values()), tables_lib.location(check, table)
  )


def _split_rows(check, d, parts, seed):
  split, spec, rows = d["split"], d["spec"], parts["rows"]
  if split["method"] == "files":
    named = {"train": "rows", "valid": "split.valid", "test": "split.test"}
    out = {s: parts[k] for s, k in named.items() if k in parts}
    if split["valid"] is not None and "label" in split["valid"]:
      try:
        out["train"], out["valid"] = splits_lib.hold_out(
          out["train"], spec, seed=split["valid"]["seed"],
          **{k: split["valid"][k] for k in ("label", "per_user")},
        )  # fmt: skip
      except ValueError as e:
        check.fail("split.valid", str(e))
    return out
  if split["method"] in keys.PER_USER_SPLITS:
    if split["method"] == "leave_one_out":
      valid, test = int(split["valid"]), 1
    else:
      valid, test = split["valid"], split["test"]
    try:
      return splits_lib.split_last_n(rows, spec, valid, test)
    except ValueError as e:
      check.fail("split", str(e))
  if split["method"] == "time":
    try:
      return splits_lib.split_by_time(rows, spec, split["valid"], split["test"])
    except ValueError as e:
      check.fail("split", str(e))
  seed = seed if split["seed"] is None else split["seed"]
  try:
    return splits_lib.split_at_random(
      rows, spec, split["valid"], split["test"], seed
    )
  except ValueError as e:
    check.fail("split", str(e))
