"""A column's type from its values: the one rule every reader follows.

  int64    every value is an integer and none is missing;
  float64  every value is a number (a missing one, an empty field or a
           null, is NaN);
  object   text (str), with "" for a missing value.

Booleans count as the integers 0 and 1. Text that reads as numbers is
numbers ("007" is 7, " 2.5" is 2.5, "nan" and "inf" are floats); "1_000",
"0x10", "nan(1)" and digits other than 0-9 are text, although Python's int()
or pyarrow's casts take some of them, and so is an integer too long for
int64 (ids stay exact). Everything runs on whole columns with pyarrow's compute functions: no Python per value.

>>> column(pa.array(["1", "2", "3"])).tolist()
[1, 2, 3]
>>> column(pa.array(["2.5", "", "4"])).tolist()
[2.5, nan, 4.0]
>>> column(pa.array(["007", "1_000"])).tolist()
['007', '1_000']
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INTEGER = r"^\s*[+-]?[0-9]+\s*$"
_NUMBER = (
  r"(?i)^\s*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?"
  r"|inf|infinity|nan)\s*$"
)


class NestedError(ValueError):
  """A column holds lists or objects; tables must be flat."""


def column(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
  """The NumPy column of `values` (any flat Arrow type), typed by the rule."""
  if pa.types.is_dictionary(values.type):
    return _dictionary(values)
  if isinstance(values, pa.ChunkedArray):
    plain = values.type in (pa.int64(), pa.float64())
    if plain and not values.null_count and values.num_chunks > 1:
      # Each chunk's buffer as it is, copied once (combine_chunks copies
      # twice, and takes 3x as long).
      return np.concatenate([c.to_numpy() for c in values.chunks])
    values = values.combine_chunks()
  kind = values.type
  if pa.types.is_nested(kind):
    raise NestedError(f"nested ({kind}); fields must be flat")
  if pa.types.is_null(kind) or values.null_count == len(values):
    # No value at all: text, every entry missing.
    return np.full(len(values), "", dtype=object)
  if pa.types.is_temporal(kind):
    # Timestamps and dates as integers in their unit since the epoch.
    values, kind = values.cast(pa.int64()), pa.int64()
  if pa.types.is_boolean(kind):
    values, kind = values.cast(pa.int64()), pa.int64()
  if pa.types.is_integer(kind):
    if values.null_count:
      return values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    try:
      return values.cast(pa.int64()).to_numpy()
    except pa.ArrowInvalid:  # Unsigned beyond int64: ids stay exact text.
      return _text(values.cast(pa.string()))
  if pa.types.is_floating(kind):
    return values.cast(pa.float64()).to_numpy(zero_copy_only=False)
  if pa.types.is_string(kind) or pa.types.is_large_string(kind):
    return strings(values.cast(pa.string()))
  # Decimals, binaries and other rarities: their text, read by the rule.
  return strings(pa.array([_text_of(v) for v in values.to_pylist()]))


def _dictionary(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
  """A dictionary-encoded column (Parquet's and CSV's text): the rule on
  its distinct values, then one row at a time by index. The same column as
  the decoded values give, without a string per row."""
  if isinstance(values, pa.Array):
    values = pa.chunked_array([values])
  if not values.num_chunks:
    return column(values.cast(values.type.value_type))
  # Indices wide enough for the union of the chunks' dictionaries.
  values = values.cast(pa.dictionary(pa.int32(), values.type.value_type))
  values = values.unify_dictionaries()
  distinct = values.chunk(0).dictionary
  indices = [c.indices for c in values.chunks]
  if values.null_count:  # A missing value: one more entry, null.
    distinct = pa.concat_arrays([distinct, pa.nulls(1, distinct.type)])
    indices = [pc.fill_null(i, len(distinct) - 1) for i in indices]
  rows = np.concatenate([i.to_numpy() for i in indices])
  used = np.bincount(rows, minlength=len(distinct)) > 0
  if not used.all():  # The rule reads the values the rows hold, no other.
    kept = np.flatnonzero(used)
    position = np.zeros(len(distinct), rows.dtype)
    position[kept] = np.arange(len(kept))
    distinct, rows = distinct.take(pa.array(kept)), position[rows]
  return column(distinct)[rows]


def strings(values: pa.Array) -> np.ndarray:
  """Text values (nulls and "" missing) as int64, float64 or object."""
  filled = pc.fill_null(values, "") if values.null_count else values
  missing = pc.equal(filled, "").to_numpy(zero_copy_only=False)
  present = pc.filter(filled, pa.array(~missing)) if missing.any() else filled
  if not len(present) or not _is_number(present[0].as_py()):
    return _text(filled)  # One value that is no number makes it text.
  # Pyarrow's parsers take plain numbers ("007", "-1.5e3", "nan"), a subset
  # of the rule's (never "1_000" or "0x10"); the regular expressions below
  # decide the rest: spaces, "+5", integers too long for int64. (A failing
  # cast costs as much as parsing the column: try the one likely to pass.)
  if _lax(present):
    return _by_expression(present, filled, missing)
  head = present.slice(0, 1000)
  if pc.all(pc.match_substring_regex(head, "^[0-9]+$")).as_py():
    try:  # Integers parse once, not as floats and then again.
      integers = pc.cast(present, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
      pass
    else:
      if not missing.any():
        return integers
      return _with_nan(integers, missing)
  try:
    floats = pc.cast(present, pa.float64()).to_numpy()
  except pa.ArrowInvalid:
    floats = None
  if floats is not None:
    if missing.any() or not np.all(floats == np.round(floats)):
      return _with_nan(floats, missing)
    try:
      return pc.cast(present, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
      pass
  return _by_expression(present, filled, missing)


def _lax(present: pa.Array) -> bool:
  """Whether a value may be one pyarrow's casts read as a number and the
  rule does not: "0x10" (16 to the int64 cast), "nan(1)" (NaN). Looked for
  in the column's bytes at once, so a plain column costs one scan."""
  data = present.buffers()[2]
  text = data.to_pybytes() if data is not None else b""
  return any(c in text for c in (b"x", b"X", b"("))


def _by_expression(present, filled, missing):
  """The rule by its regular expressions, value by value in C."""
  if pc.any(pc.match_substring(present, "_")).as_py():
    return _text(filled)
  trimmed = pc.utf8_trim_whitespace(present)
  integers = pc.all(pc.match_substring_regex(present, _INTEGER)).as_py()
  if not missing.any() and integers:
    unsigned = pc.replace_substring_regex(trimmed, r"^\+", "")
    try:
      return pc.cast(unsigned, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
      return _text(filled)  # Too long for int64: ids stay exact.
  if pc.all(pc.match_substring_regex(present, _NUMBER)).as_py():
    return _with_nan(pc.cast(trimmed, pa.float64()).to_numpy(), missing)
  return _text(filled)


def _is_number(value: str) -> bool:
  if "_" in value:
    return False
  try:
    float(value)
  except ValueError:
    return False
  return True


def _with_nan(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
  if not missing.any():
    return values.astype(np.float64)
  out = np.full(len(missing), np.nan)
  out[~missing] = values
  return out


def numbers(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(float64 values, which are numbers) of an object column of str."""
  values = pa.array(text, pa.string())
  ok = pc.match_substring_regex(values, _NUMBER).to_numpy(zero_copy_only=False)
  ok &= ~pc.match_substring(values, "_").to_numpy(zero_copy_only=False)
  out = np.full(len(text), np.nan)
  kept = pc.filter(pc.utf8_trim_whitespace(values), pa.array(ok))
  out[ok] = pc.cast(kept, pa.float64()).to_numpy()
  return out, ok


def python_values(values: Sequence[Any]) -> pa.Array:
  """An Arrow array of Python values of mixed types (None, bool, int,
  float, str) that `column` types by the rule: numbers if every value reads
  as one (booleans as 0 and 1), else text (booleans as "true"/"false")."""
  spelled = [
    None if v is None else str(int(v)) if isinstance(v, bool) else str(v)
    for v in values
  ]
  numbers_ = strings(pa.array(spelled, pa.string()))
  if numbers_.dtype.kind in "if":
    return pa.array(numbers_)
  return pa.array([None if v is None else _text_of(v) for v in values])


def _text_of(value):
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, bytes):
    return value.decode("utf-8", "replace")
  return value if isinstance(value, str) else str(value)


def _text(values: pa.Array) -> np.ndarray:
  """An object array of the str values. Each distinct value becomes one
  Python string, shared by its rows: ids, categories and titles repeat, and
  making a string per row was most of the time of reading them."""
  if values.null_count or not len(values):
    return values.to_numpy(zero_copy_only=False).astype(object)
  encoded = pc.dictionary_encode(values)
  distinct = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
  return distinct[encoded.indices.to_numpy()]
