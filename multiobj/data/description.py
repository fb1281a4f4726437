"""Datasets described by a JSON file instead of code.

A description names the files (an interaction log, optionally a catalogue of
items and a table of users), says what each column is and which registered
objective each label feeds, how to split the rows and whether to sample
negatives; `load` turns it into a `dataset.Dataset`. The keys are declared
below (`TOP` and the schemas it refers to) and documented in
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

import numpy as np

import objectives as objectives_lib
from multiobj import schema
from multiobj.data import dataset as dataset_lib
from multiobj.data import description_schema, readers, validation
from multiobj.data.description_schema import (
  COLUMNS,
  NEGATIVES,
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
  try:
    with open(path, encoding="utf-8") as f:
      raw = json.load(f)
  except OSError as e:
    raise ValueError(f"{path}: cannot read it: {e.strerror}.") from None
  except json.JSONDecodeError as e:
    raise ValueError(
      f"{path}: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}."
    ) from None
  check = description_schema.Checker(path)
  data = _build(check, _parse(check, raw, data_dir), seed)
  try:
    validation.check(data, data.objectives)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return data


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
    return {"at": at, "path": path, "key": t.pop("key", None), "read": t}

  tables = {"rows": table(top["rows"], "rows")}
  for side in ("catalogue", "users"):
    if top[side] is not None:
      tables[side] = table(top[side], side, SIDE_TABLE)
  name = top["name"] or os.path.splitext(os.path.basename(check.file))[0]
  spec, columns = _spec(check, name, top["columns"])
  if "users" in tables and not spec.user_id:
    check.fail("users", "joining users needs a column with role 'user_id'.")
  for side, key in (("catalogue", spec.item_id), ("users", spec.user_id)):
    if side in tables:
      tables[side]["key"] = tables[side]["key"] or key
  split = check.variant(top["split"], SPLITS, "method", "split")
  if split["method"] == "files":
    for part in ("valid", "test"):
      if split[part] is not None:
        tables[f"split.{part}"] = table(split[part], f"split.{part}")
  elif not (0 <= split["valid"] < 1 - split["test"] < 1):
    check.fail("split", "needs valid >= 0, test > 0, valid + test < 1.")
  if split["method"] == "time" and not spec.timestamp:
    check.fail("split.method", "'time' needs a column with role 'timestamp'.")
  negatives = top["negatives"]
  if negatives is not None:
    negatives = check.fields(negatives, NEGATIVES, "negatives")
    try:
      negatives = dataset_lib.NegativeSampling(**negatives)
    except ValueError as e:
      check.fail("negatives", str(e))
    if spec.list_id:
      check.fail("negatives", "sampling needs rows without a list_id.")
  labels = [c for c in columns if c["role"] == "label"]
  return {
    "spec": spec,
    "labels": labels,
    "tables": tables,
    "objectives": _objectives(check, labels),
    "split": split,
    "negatives": negatives,
    "info": {"description": check.file, **top["info"]},
  }


def _spec(check, name, entries) -> tuple[schema.DatasetSpec, list[dict]]:
  columns, seen, single, features = [], {}, {}, []
  for i, entry in enumerate(entries):
    at = f"columns[{i}]"
    c = {**check.variant(entry, COLUMNS, "role", at), "at": at}
    columns.append(c)
    role, kind = c["role"], c.get("type")
    if c["name"] in seen:
      check.fail(f"{at}.name", f"{c['name']!r} is also {seen[c['name']]}.")
    if not c["name"] or c["name"].startswith("__"):
      check.fail(f"{at}.name", "empty, or starting with '__' (reserved).")
    seen[c["name"]] = at
    for key, applies in description_schema.ONLY_FOR.items():
      if key in entry and kind != applies:
        check.fail(
          description_schema.key_path(at, key),
          f"applies to {applies} columns only.",
        )
    if role in schema.ROLES and (role == "context") != (
      "serving_value" in entry
    ):
      check.fail(at, "context features, and only they, need a serving_value.")
    if role == "label":
      wanted = c["objective"]
      c["objective"] = [wanted] if isinstance(wanted, str) else wanted
      if not wanted or not all(isinstance(w, str) for w in c["objective"]):
        check.fail(f"{at}.objective", "expected a name or a list of names.")
    elif role in description_schema.SINGLE_ROLES:
      if role in single:
        check.fail(at, f"a second column with role {role!r}.")
      single[role] = c["name"]
    if role in ("item_id", "user_id"):
      side = "candidate" if role == "item_id" else "query"
      features.append(schema.Feature(c["name"], side, kind))
    elif role == "position":
      features.append(
        schema.Feature(
          c["name"], "context", kind, serving_value=c["serving_value"]
        )
      )
    elif role in schema.ROLES:
      keys = ("transform", "separator", "serving_value")
      options = {k: c[k] for k in keys}
      features.append(schema.Feature(c["name"], role, kind, **options))
  if "item_id" not in single:
    check.fail("columns", "no column has role 'item_id'; one must.")
  labels = tuple(c["name"] for c in columns if c["role"] == "label")
  try:
    return schema.DatasetSpec(name, tuple(features), labels, **single), columns
  except ValueError as e:
    check.fail("columns", str(e))


def _objectives(check, labels) -> tuple[objectives_lib.Objective, ...]:
  """The registered objectives each label names, wired to its column."""
  names = [c["name"] for c in labels]
  out, fed_by = [], {}
  for c in labels:
    at = f"{c['at']}.objective"
    for name in c["objective"]:
      if name in fed_by:
        check.fail(at, f"{name!r} already learns from {fed_by[name]!r}.")
      fed_by[name] = c["name"]
      try:
        base = objectives_lib.get(name)
        changes = {"label": c["name"], "mask": c.get("mask", base.mask)}
        if changes["mask"] not in (None, *names):
          raise ValueError(
            f"{name!r} learns where label {changes['mask']!r} is positive, "
            f"which is not a label here ({description_schema.listing(names)}); set \"mask\" to a "
            "label, or to null for every row."
          )
        if "weight" in c:
          changes["weight"] = float(c["weight"])
        if "loss" in c:
          loss, params = objectives_lib.parse_call(c["loss"])
          changes |= {"loss": loss, "loss_params": tuple(params.items())}
        out.append(dataclasses.replace(base, **changes))
      except ValueError as e:
        check.fail(at, str(e))
  return tuple(out)


def _build(check, d, seed: int) -> dataset_lib.Dataset:
  spec, tables = d["spec"], d["tables"]
  users = _read_side(check, tables, spec, "users", spec.user_id, "query")
  parts = {
    key: _read_rows(check, d, key, users)
    for key in ("rows", "split.valid", "split.test")
    if key in tables
  }
  catalogue = _read_side(check, tables, spec, "catalogue", spec.item_id)
  if catalogue is None:
    catalogue = _catalogue_from_rows(check, tables["rows"], parts, spec)
  candidates = [f.name for f in spec.features_of("candidate")]
  for key, part in parts.items():
    index = _join(
      _where(check, tables[key]),
      part[spec.item_id],
      catalogue[spec.item_id],
      "item",
      tables.get("catalogue"),
    )
    part.update({name: catalogue[name][index] for name in candidates})
  return dataset_lib.Dataset(
    spec=spec,
    splits=_split_rows(check, d, parts, seed),
    catalogue=catalogue,
    objectives=d["objectives"],
    negatives=d["negatives"],
    info=d["info"],
  )


def _read(check, table):
  try:
    return readers.read_table(table["path"], **table["read"])
  except ValueError as e:
    raise ValueError(f"{check.file}: {table['at']}: {e}") from None


def _where(check, table):
  return f"{check.file}: {table['at']}: {table['path']}"


def _how(feature):
  if feature.kind in ("numeric", "text"):
    return feature.kind
  return "text" if feature.kind == "multi_category" else "category"


def _read_side(check, tables, spec, name, id_name, role="candidate"):
  """The catalogue or users file, one row per key, or None if not given."""
  if name not in tables:
    return None
  table = tables[name]
  raw, where, key = _read(check, table), _where(check, table), table["key"]
  features = [f for f in spec.features_of(role) if f.name != id_name]
  if name == "users":  # Query features not in the users file: in the rows.
    features = [f for f in features if f.name in raw]
  schema.check_columns(raw, [key] + [f.name for f in features], where)
  ids = _convert(where, key, raw[key], "id")
  unique, counts = np.unique(ids, return_counts=True)
  if (counts > 1).any():
    rows = np.flatnonzero(ids == unique[counts > 1][0])[:2] + 1
    raise ValueError(
      f"{where}: column {key!r}: id {ids[rows[0] - 1]!r} is on rows "
      f"{rows[0]} and {rows[1]}; each id needs exactly one row."
    )
  out = {
    f.name: _convert(where, f.name, raw[f.name], _how(f)) for f in features
  }
  return {id_name: ids, **out}


def _read_rows(check, d, key, users):
  """A file of rows: its columns, the users' features joined, labels made."""
  spec, table = d["spec"], d["tables"][key]
  raw, where = _read(check, table), _where(check, table)
  take = {c: "id" for c in (spec.item_id, spec.user_id, spec.list_id) if c}
  if spec.timestamp:
    take[spec.timestamp] = "timestamp"
  for f in spec.features:
    elsewhere = f.role == "candidate" and "catalogue" in d["tables"]
    if f.name not in take and not elsewhere and f.name not in (users or {}):
      take[f.name] = _how(f)
  for c in d["labels"]:
    take.setdefault(c.get("source", c["name"]), "numeric")
  schema.check_columns(raw, list(take), where)
  part = {n: _convert(where, n, raw[n], how) for n, how in take.items()}
  if users:
    index = _join(
      where,
      part[spec.user_id],
      users[spec.user_id],
      "user",
      d["tables"]["users"],
    )
    part.update({n: v[index] for n, v in users.items()})
  for c in d["labels"]:
    value = part[c.get("source", c["name"])]
    if "threshold" in c:
      value = (value >= c["threshold"]).astype(np.float32)
    part[c["name"]] = value
  return {n: part[n] for n in spec.columns() if n in part}


def _convert(where, name, column, how):
  """A column as the description says: an id, numbers, categories, text."""
  missing = np.zeros(len(column), bool)
  if column.dtype.kind == "f":
    missing = np.isnan(column)
  elif column.dtype.kind == "O":
    missing = np.array([v == "" for v in column], dtype=bool)
  numeric = how in ("numeric", "timestamp")
  if numeric and column.dtype.kind == "O":
    bad = np.array([not _is_number(v) for v in column]) & ~missing
    if bad.any():
      r = int(np.argmax(bad))
      raise ValueError(
        f"{where}: column {name!r} is numeric, but row {r + 1} holds "
        f"{column[r]!r} ({int(bad.sum())} such rows)."
      )
    column = np.where(missing, "nan", column).astype(np.float64)
  if missing.any() and (numeric or how == "id"):
    r = int(np.argmax(missing))
    raise ValueError(
      f"{where}: column {name!r} ({how}) is empty at row {r + 1} "
      f"({int(missing.sum())} such rows)."
    )
  if numeric:  # Float32 would round seconds since 1970 to minutes.
    return column.astype(np.float32) if how == "numeric" else column
  if column.dtype.kind == "f" and not missing.any():
    if np.all(column == np.round(column)):
      return column.astype(np.int64)  # Category 3.0 is category 3.
  if how == "text" or column.dtype.kind != "i":
    return np.asarray(
      ["" if m else str(v) for m, v in zip(missing, column, strict=True)],
      dtype=object,
    )
  return column


def _is_number(value):
  try:
    float(value)
  except (TypeError, ValueError):
    return False
  return True


def _join(where, ids, keys, what, side):
  """The row of `keys` holding each of `ids`; an error names a missing one."""
  if (ids.dtype.kind == "O") != (keys.dtype.kind == "O"):
    ids, keys = ids.astype(str), keys.astype(str)  # Only to compare.
  order = np.argsort(keys, kind="stable")
  at = np.minimum(np.searchsorted(keys[order], ids), len(keys) - 1)
  found = keys[order][at] == ids
  if not found.all():
    r = int(np.argmin(found))
    raise ValueError(
      f"{where}: row {r + 1}: {what} {ids[r]!r} is not in the {side['at']} "
      f"file {side['path']} ({int((~found).sum())} such rows)."
    )
  return order[at]


def _catalogue_from_rows(check, table, parts, spec):
  """One row per item id of the rows; its features must not vary."""
  return dataset_lib.catalogue_from_rows(
    spec, list(parts.values()), _where(check, table)
  )


def _split_rows(check, d, parts, seed):
  split, spec, rows = d["split"], d["spec"], parts["rows"]
  if split["method"] == "files":
    named = {"train": "rows", "valid": "split.valid", "test": "split.test"}
    return {s: parts[k] for s, k in named.items() if k in parts}
  if split["method"] == "time":
    try:
      return dataset_lib.split_by_time(
        rows, spec, split["valid"], split["test"]
      )
    except ValueError as e:
      check.fail("split", str(e))
  seed = seed if split["seed"] is None else split["seed"]
  try:
    return dataset_lib.split_at_random(
      rows, spec, split["valid"], split["test"], seed
    )
  except ValueError as e:
    check.fail("split", str(e))
