"""What each column of a JSON description is: the spec and the objectives.

`spec` turns the description's `columns` entries into a `DatasetSpec` (the
features, labels and single-column roles); `objectives` wires the registered
objective each label names to that label's column, with its overrides. Each
problem is one ValueError naming the description and the key path.
"""

import dataclasses

import objectives as objectives_lib
from multiobj.data import spec as spec_lib
from multiobj.data.description import keys as keys_lib
from multiobj.data.description.keys import COLUMNS


def spec(check, name, entries) -> tuple[spec_lib.DatasetSpec, list[dict]]:
  columns, seen, single, features = [], {}, {}, []
  for i, entry in enumerate(entries):
    at = f"columns[{i}]"
    c = {**check.variant(entry, COLUMNS, "role", at), "at": at}
    columns.append(c)
    _check_entry(check, c, entry, seen)
    if c["role"] == "label":
      _label(check, c, at)
    elif c["role"] in keys_lib.SINGLE_ROLES:
      _single(check, c, single)
    feature = _column_feature(check, c)
    if feature is not None:
      features.append(feature)
  features = _with_item_key(check, features, single)
  # An embedding's key by default: the item (user) id, known by now.
  named = {"<item_id>": single["item_id"], "<user_id>": single.get("user_id")}
  features = [
    dataclasses.replace(f, vectors_key=named[f.vectors_key] or "")
    if f.vectors_key in named
    else f
    for f in features
  ]
  if not any(f.role == "query" for f in features):
    check.fail(
      "columns",
      "no query feature (role 'query' or 'user_id'): the query tower needs "
      "at least one input; a ranking-only log can give its request's "
      "features (a country, a device, the query text) as query features.",
    )
  labels = tuple(c["name"] for c in columns if c["role"] == "label")
  if "order" in single:  # The timestamp, within a user only.
    single["timestamp"], single["order_only"] = single.pop("order"), True
  if "timestamp" not in single:  # A built history is then a set.
    features = [
      dataclasses.replace(f, ordered=False) if f.built_from else f
      for f in features
    ]
  try:
    return spec_lib.DatasetSpec(
      name, tuple(features), labels, **single
    ), columns
  except ValueError as e:
    check.fail("columns", str(e))


def _check_entry(check, c, entry, seen) -> None:
  """A column entry's name (unique, not reserved) and the keys it may
  have for its role and type."""
  at, role, kind = c["at"], c["role"], c.get("type")
  if c["name"] in seen:
    check.fail(f"{at}.name", f"{c['name']!r} is also {seen[c['name']]}.")
  if not c["name"] or c["name"].startswith("__"):
    check.fail(f"{at}.name", "empty, or starting with '__' (reserved).")
  seen[c["name"]] = at
  for key, applies in keys_lib.ONLY_FOR.items():
    if key in entry and kind not in applies:
      check.fail(
        keys_lib.key_path(at, key),
        f"applies to {', '.join(applies)} columns only.",
      )
  if role in spec_lib.ROLES and (role == "context") != (
    "serving_value" in entry
  ):
    check.fail(at, "context features, and only they, need a serving_value.")


def _single(check, c, single) -> None:
  """A column of a role at most one column takes, into `single`."""
  role, at = c["role"], c["at"]
  if role in single:
    check.fail(at, f"a second column with role {role!r}.")
  single[role] = c["name"]
  if {"timestamp", "order"} <= set(single):
    check.fail(
      at,
      "a column with role 'timestamp' and one with role 'order': the "
      "order of a user's events is one or the other.",
    )


def _column_feature(check, c) -> spec_lib.Feature | None:
  """The feature a column entry is, or None (a label, a list id...)."""
  role, kind, at = c["role"], c.get("type"), c["at"]
  policy = {k: c[k] for k in keys_lib.VOCABULARY if k in c}
  if role in ("item_id", "user_id"):
    if not c.get("feature", True):
      return None
    side = "candidate" if role == "item_id" else "query"
    return _feature(check, at, c["name"], side, kind, **policy)
  if role == "position":
    return spec_lib.Feature(
      c["name"], "context", kind, serving_value=c["serving_value"]
    )
  if role not in spec_lib.ROLES:
    return None
  keys = ("transform", "separator", "serving_value", *keys_lib.HISTORY)
  options = {k: c[k] for k in keys}
  # Resolved once the split is known (`loader.py`).
  options["every_position"] = False
  if isinstance(c["built_from"], list) and not (
    c["built_from"] and all(isinstance(b, str) for b in c["built_from"])
  ):
    check.fail(f"{at}.built_from", "expected a label or a list of labels.")
  if kind == "embedding":
    options.update(_vectors(check, at, c, role))
  return _feature(check, at, c["name"], role, kind, **options, **policy)


def _with_item_key(check, features, single):
  """`features`, and for a ranking-only log without item ids the item key
  made of the candidate's features (`tables.item_key`)."""
  if "item_id" in single:
    return features
  if not any(f.role == "candidate" for f in features):
    check.fail(
      "columns",
      "no column has role 'item_id', and no candidate feature tells the "
      "items apart: give an item_id column, or the candidate's features.",
    )
  single["item_id"] = spec_lib.ITEM_KEY
  return [
    *features,
    spec_lib.Feature(spec_lib.ITEM_KEY, "candidate", spec_lib.KEY),
  ]


def _label(check, c, at) -> None:
  """A label entry's objectives as a list of names and objects (checked),
  and its value: a column (`source`, `threshold`) or a `constant`."""
  wanted = c["objective"]
  entries = wanted if isinstance(wanted, list) else [wanted]
  if not entries and not isinstance(wanted, list):  # [] is no objective.
    check.fail(f"{at}.objective", "expected a name, an object or a list.")
  c["objective"] = []
  for j, entry in enumerate(entries):
    where = f"{at}.objective" + (f"[{j}]" if isinstance(wanted, list) else "")
    if isinstance(entry, dict):
      entry = check.fields(entry, keys_lib.OBJECTIVE, where)
      entry["name"] = entry["name"] or c["name"]
      if entry["transform"] != "none" and entry["kind"] != "regression":
        check.fail(f"{where}.transform", "applies to regression only.")
    elif not isinstance(entry, str):
      check.fail(where, "expected a name or an object.")
    c["objective"].append(entry)
  if "constant" in c:
    for key in ("source", "threshold"):
      if key in c:
        check.fail(
          keys_lib.key_path(at, key), "a constant label reads no column."
        )


def _objective(name_or_entry, column: str) -> objectives_lib.Objective:
  """The registered objective, or the one the description defines."""
  if isinstance(name_or_entry, str):
    return objectives_lib.get(name_or_entry)
  kind = name_or_entry["kind"]
  return objectives_lib.Objective(
    name=name_or_entry["name"],
    kind=kind,
    label=column,
    loss=keys_lib.DEFAULT_LOSS[kind],
    label_transform=name_or_entry["transform"],
    description=f"{kind} objective on column {column!r} (the description's)",
  )


def objectives(check, labels) -> tuple[objectives_lib.Objective, ...]:
  """The registered objectives each label names, wired to its column."""
  names = [c["name"] for c in labels]
  out, fed_by = [], {}
  for c in labels:
    at = f"{c['at']}.objective"
    for entry in c["objective"]:
      name = entry if isinstance(entry, str) else entry["name"]
      if name in fed_by:
        check.fail(at, f"{name!r} already learns from {fed_by[name]!r}.")
      fed_by[name] = c["name"]
      try:
        base = _objective(entry, c["name"])
        changes = {"label": c["name"], "mask": c.get("mask", base.mask)}
        if changes["mask"] not in (None, *names):
          raise ValueError(
            f"{name!r} learns where label {changes['mask']!r} is positive, "
            f"which is not a label here ({keys_lib.listing(names)}); set \"mask\" to a "
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


def _vectors(check, at, c, role) -> dict:
  """An embedding entry's Feature options: its file (resolved later, with
  the description's folder) and key, and whether to normalise."""
  if c["vectors"] is None:
    check.fail(at, "an embedding column needs 'vectors': {\"path\": ...}.")
  found = check.fields(c["vectors"], keys_lib.VECTORS, f"{at}.vectors")
  key = found["key"] or ("<item_id>" if role == "candidate" else "<user_id>")
  return {
    "vectors": found["path"],
    "vectors_key": key,
    "normalize": c["normalize"],
  }


def _feature(check, at, *args, **options) -> spec_lib.Feature:
  """A `spec_lib.Feature`; its own checks' errors name the entry."""
  try:
    return spec_lib.Feature(*args, **options)
  except ValueError as e:
    check.fail(at, str(e))
