"""A column's type from its values: the one rule every reader follows.

  int64    every value is an integer and none is missing;
  float64  every value is a number (a missing one, an empty field or a
           null, is NaN);
  object   text (str), with "" for a missing value.

Booleans count as the integers 0 and 1. Text that reads as numbers is
numbers ("007" is 7); "1_000" is text, although Python's int() would take
it, and so is an integer too long for int64 (ids stay exact). Everything
runs on whole columns with pyarrow's compute functions: no Python per value.

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
  if isinstance(values, pa.ChunkedArray):
    values = values.combine_chunks()
  kind = values.type
  if pa.types.is_dictionary(kind):
    values, kind = values.dictionary_decode(), kind.value_type
  if pa.types.is_nested(kind):
    raise NestedError(f"nested ({kind}); fields must be flat")
  if pa.types.is_null(kind):
    return _text(pa.array([""] * len(values), pa.string()))
  if pa.types.is_temporal(kind):
    # Timestamps and dates as integers in their unit since the epoch.
    values, kind = values.cast(pa.int64()), pa.int64()
  if pa.types.is_boolean(kind):
    values, kind = values.cast(pa.int64()), pa.int64()
  if pa.types.is_integer(kind):
    if values.null_count:
      return values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return values.cast(pa.int64()).to_numpy()
  if pa.types.is_floating(kind):
    return values.cast(pa.float64()).to_numpy(zero_copy_only=False)
  if pa.types.is_string(kind) or pa.types.is_large_string(kind):
    return strings(values.cast(pa.string()))
  # Decimals, binaries and other rarities: their text, read by the rule.
  return strings(pa.array([_text_of(v) for v in values.to_pylist()]))


def strings(values: pa.Array) -> np.ndarray:
  """Text values (nulls and "" missing) as int64, float64 or object."""
  filled = pc.fill_null(values, "")
  missing = pc.equal(filled, "").to_numpy(zero_copy_only=False)
  present = pc.filter(filled, pa.array(~missing))
  if not len(present) or pc.any(pc.match_substring(present, "_")).as_py():
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
    out = np.full(len(filled), np.nan)
    out[~missing] = pc.cast(trimmed, pa.float64()).to_numpy()
    return out
  return _text(filled)


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
  float, str), for `column`: text when any value is text (booleans then
  read "true"/"false"), numbers otherwise."""
  if any(isinstance(v, str) for v in values):
    return pa.array([None if v is None else _text_of(v) for v in values])
  numbers_ = [int(v) if isinstance(v, bool) else v for v in values]
  try:
    return pa.array(numbers_)
  except (pa.ArrowInvalid, OverflowError):
    return pa.array([None if v is None else str(v) for v in numbers_])


def _text_of(value):
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, bytes):
    return value.decode("utf-8", "replace")
  return value if isinstance(value, str) else str(value)


def _text(values: pa.Array) -> np.ndarray:
  return values.to_numpy(zero_copy_only=False).astype(object)
