"""Reading the files of a JSON description: rows, catalogue, users.

Each file is read by `readers.read_table`; its columns are converted as the
description says (ids, numbers, categories, text), the users' features
joined to the rows, the catalogue's to the rows by item id. Every problem is
one ValueError naming the description, the key, the file, the column and the
first bad row (rows count from 1, a header not counted).
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from multiobj.data import infer, readers, vectors
from multiobj.data import spec as spec_lib


class Where:
  """Names a file of the description in messages, and the file and row of
  a row of its table (a `path` may be a directory or glob of files)."""

  def __init__(self, check, table, files: readers.Files | None = None):
    self.prefix = f"{check.file}: {table['at']}"
    self.path = table["path"]
    self.files = files

  def __str__(self) -> str:
    return f"{self.prefix}: {self.path}"

  def row(self, index: int) -> tuple[str, int]:
    """(`self` naming the file that holds row `index`, its row there)."""
    if self.files is None or len(self.files.paths) == 1:
      return str(self), index + 1
    path, row = self.files.locate(index)
    return f"{self.prefix}: {path}", row


def read(check, table) -> tuple[dict[str, np.ndarray], Where]:
  """The columns of a table of the description, and where they came from."""
  try:
    files = readers.read_files(table["path"], **table["read"])
  except ValueError as e:
    raise ValueError(f"{check.file}: {table['at']}: {e}") from None
  return files.columns, Where(check, table, files)


def location(check, table):
  return Where(check, table)


def _how(feature):
  if feature.kind in ("numeric", "text"):
    return feature.kind
  text = feature.kind in ("multi_category", "history")
  return "text" if text else "category"


def read_side(check, tables, spec, name, id_name, role="candidate"):
  """The catalogue or users file, one row per key, or None if not given."""
  if name not in tables:
    return None
  table = tables[name]
  (raw, where), key = read(check, table), table["key"]
  features = [
    f
    for f in spec.features_of(role)
    if f.name != id_name and f.kind != "embedding"
  ]
  if name == "users":  # Query features not in the users file: in the rows.
    features = [f for f in features if f.name in raw]
  spec_lib.check_columns(raw, [key] + [f.name for f in features], where)
  ids = convert(where, key, raw[key], "id")
  unique, counts = np.unique(ids, return_counts=True)
  if (counts > 1).any():
    first, second = np.flatnonzero(ids == unique[counts > 1][0])[:2]
    (file, a), (other, b) = where.row(first), where.row(second)
    rows = (
      f"rows {a} and {b}" if file == other else f"row {a} and {other}: row {b}"
    )
    raise ValueError(
      f"{file}: column {key!r}: id {ids[first]!r} is on {rows}; each id "
      "needs exactly one row."
    )
  out = {f.name: convert(where, f.name, raw[f.name], _how(f)) for f in features}
  return vectors.add_columns({id_name: ids, **out}, spec)


def read_rows(check, d, key, users):
  """A file of rows: its columns, the users' features joined, labels made;
  where they came from (a `Where`); and the labels it lacks (`absent`)."""
  raw, where = read(check, d["tables"][key])
  return rows_from(d, key, raw, where, users), where, absent(d, key, raw)


def rows_from(d, key, raw, where, users):
  """Raw columns of the table `key` (a whole file or a piece of one)
  converted: its columns typed, the users' features joined, labels made."""
  spec = d["spec"]
  ids = (
    spec.item_id if spec.has_item_ids else None,
    spec.user_id,
    spec.list_id,
  )
  take = {c: "id" for c in ids if c}
  if spec.timestamp:
    take[spec.timestamp] = "timestamp"
  for c in (spec.randomized, spec.truth):
    if c:
      take[c] = "numeric"
  for f in spec.features:
    elsewhere = f.role == "candidate" and "catalogue" in d["tables"]
    if f.kind in (spec_lib.KEY, "embedding") or f.built_from:
      continue  # Made: the key, vectors' ids below, histories from the log.
    if f.name not in take and not elsewhere and f.name not in (users or {}):
      take[f.name] = _how(f)
  given = d["tables"][key]["labels"]
  missing = absent(d, key, raw)
  for c in d["labels"]:
    if not (c["name"] in given or "constant" in c or c["name"] in missing):
      take.setdefault(c.get("source", c["name"]), "numeric")
  spec_lib.check_columns(raw, list(take), where)
  part = {n: convert(where, n, raw[n], how) for n, how in take.items()}
  if users:
    index = join(
      where,
      part[spec.user_id],
      users[spec.user_id],
      "user",
      d["tables"]["users"],
    )
    part.update({n: v[index] for n, v in users.items()})
  rows = len(next(iter(raw.values())))
  for c in d["labels"]:
    constant = given.get(c["name"], c.get("constant"))
    if c["name"] in missing:  # A placeholder: never learnt or scored.
      constant = 0.0
    if constant is not None:  # Every row of a log of positives, say.
      part[c["name"]] = np.full(rows, constant, np.float32)
      continue
    value = part[c.get("source", c["name"])]
    if "threshold" in c:
      value = (value >= c["threshold"]).astype(np.float32)
    part[c["name"]] = value
  if not spec.has_item_ids:
    part[spec.item_id] = item_key(part, spec)
  part = vectors.add_columns(part, spec)
  return {n: part[n] for n in spec.columns() if n in part}


def item_key(part, spec) -> np.ndarray:
  """Each row's item, for a log without item ids: its candidate features'
  values joined into one text, the same in every file and split."""
  names = [
    f.name for f in spec.features_of("candidate") if f.kind != spec_lib.KEY
  ]
  texts = [pa.array(part[n]).cast(pa.string()) for n in names]
  key = (
    texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
  )
  return key.to_numpy(zero_copy_only=False).astype(object)


def absent(d, key, raw) -> list[str]:
  """The labels a split's file (`split.valid`, `split.test`) does not give:
  no column of theirs in the file, no constant. They are absent from that
  split: its rows hold a placeholder 0, which nothing learns from or
  scores. Every table of `rows` gives every label (its columns, its
  `labels`, or the label's `constant`)."""
  if not key.startswith("split."):
    return []
  given = d["tables"][key]["labels"]
  return [
    c["name"]
    for c in d["labels"]
    if c["name"] not in given
    and "constant" not in c
    and c.get("source", c["name"]) not in raw
  ]


def convert(where, name, column, how):
  """A column as the description says: an id, numbers, categories, text.

  `where` is a `Where` (or a string naming the file)."""
  missing = np.zeros(len(column), bool)
  if column.dtype.kind == "f":
    missing = np.isnan(column)
  elif column.dtype.kind == "O":
    missing = column == ""
  numeric = how in ("numeric", "timestamp")
  if numeric and column.dtype.kind == "O":
    values, ok = infer.numbers(column)
    _refuse_numbers(where, name, column, ~ok & ~missing, "")
    column = values
  if missing.any() and (numeric or how == "id"):
    file, row = _row(where, int(np.argmax(missing)))
    raise ValueError(
      f"{file}: column {name!r} ({how}) is empty at row {row} "
      f"({int(missing.sum())} such rows)."
    )
  if numeric:  # Float32 would round seconds since 1970 to minutes.
    with np.errstate(over="ignore"):  # Beyond float32: refused below.
      out = column.astype(np.float32) if how == "numeric" else column
    if out.dtype.kind == "f":
      why = ", not a finite number" + (
        " in float32" if how == "numeric" else ""
      )
      _refuse_numbers(where, name, column, ~np.isfinite(out), why)
    return out
  if column.dtype.kind == "f" and not missing.any():
    if np.all(column == np.round(column)):
      return column.astype(np.int64)  # Category 3.0 is category 3.
  if how == "text" or column.dtype.kind != "i":
    text = column.astype(str).astype(object)
    text[missing] = ""
    return text
  return column


def _refuse_numbers(where, name, column, bad, why):
  """Raises naming the first row of the numeric `column` that is `bad`
  (and how many are), if any."""
  if bad.any():
    index = int(np.argmax(bad))
    file, row = _row(where, index)
    raise ValueError(
      f"{file}: column {name!r} is numeric, but row {row} holds "
      f"{column[index]!r}{why} ({int(bad.sum())} such rows)."
    )


def _row(where, index):
  """(the file holding row `index` of a table, the 1-based row there)."""
  if isinstance(where, Where):
    return where.row(index)
  return where, index + 1


def join(where, ids, keys, what, side):
  """The row of `keys` holding each of `ids`; an error names a missing one."""
  if (ids.dtype.kind == "O") != (keys.dtype.kind == "O"):
    ids, keys = ids.astype(str), keys.astype(str)  # Only to compare.
  order = np.argsort(keys, kind="stable")
  at = np.minimum(np.searchsorted(keys[order], ids), len(keys) - 1)
  found = keys[order][at] == ids
  if not found.all():
    r = int(np.argmin(found))
    file, row = _row(where, r)
    raise ValueError(
      f"{file}: row {row}: {what} {ids[r]!r} is not in the {side['at']} "
      f"file {side['path']} ({int((~found).sum())} such rows)."
    )
  return order[at]
