"""Vocabularies on disk: one text file per feature, one value per line.

A vocabulary of 10 million ids does not belong in a JSON list or in Python
objects. Each vocabulary is written once, in the order of its lookup (the
line number is the row, after the out-of-vocabulary one), and TensorFlow's
text-file table reads it in C++ (`tf.lookup.TextFileInitializer`, what Keras'
`StringLookup`, `IntegerLookup` and `TextVectorization` do when given a
path): training from prepared data never holds the values as Python objects
(only preparation does, counting them), and an exported model carries the
files as assets instead of constants in its graph. The format is
TensorFlow Transform's vocabulary files'.

The files are named after the feature and a fingerprint of their content,
so a name means one content: two runs of one process never share a table
(TensorFlow shares a file's table by its name) of different values.

A line cannot hold what TensorFlow's reader would split or drop: line
breaks, a trailing carriage return, or nothing at all. Ids and categories
with line breaks are refused when the vocabulary is written (preparation,
before training); the empty value (an empty CSV field of a text column) is
written as `EMPTY`, which the encoder looks up in its place.
"""

import dataclasses
import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

# Where a run directory or a cache keeps its vocabularies.
FOLDER = "vocabularies"
# The empty value's line: a vocabulary file's line cannot be empty.
EMPTY = "\x00"


@dataclasses.dataclass(frozen=True)
class VocabularyFile:
  """A vocabulary written to `file` (relative to its statistics' folder):
  `size` values, integers or text."""

  file: str
  size: int
  integers: bool

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def in_lookup_form(values: Sequence[Any]) -> tuple[np.ndarray, bool]:
  """An in-memory vocabulary as a lookup takes it (the empty value as
  `EMPTY`, as in a file), and whether it holds integers. Text stays
  Python strings: NumPy's own strings would drop `EMPTY`, a trailing
  NUL."""
  integers = bool(len(values)) and isinstance(values[0], int | np.integer)
  if integers:
    return np.asarray(values, np.int64), True
  text = [EMPTY if v == "" else str(v) for v in values]
  return np.asarray(text, dtype=object), False


def write(directory: str, name: str, values: Sequence[Any]) -> VocabularyFile:
  """Writes feature `name`'s vocabulary `values` (in lookup order) under
  `directory`/vocabularies/; ValueError naming the feature and the value
  when a value cannot be a line."""
  lines, integers = in_lookup_form(values)
  text = "\n".join(map(str, lines.tolist()))
  if not integers:
    _check_lines(name, text, values)
  content = text.encode() + (b"\n" if len(lines) else b"")
  digest = hashlib.sha1(content).hexdigest()[:12]
  file = os.path.join(FOLDER, f"{_safe(name)}-{digest}.txt")
  path = os.path.join(directory, file)
  if not os.path.exists(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".partial", "wb") as f:
      f.write(content)
    os.replace(path + ".partial", path)
  return VocabularyFile(file, len(lines), integers)


def read(directory: str, vocabulary: VocabularyFile) -> list[Any]:
  """The values `write` wrote (the empty value as "")."""
  with open(os.path.join(directory, vocabulary.file), encoding="utf-8") as f:
    lines = f.read().split("\n")[: vocabulary.size]
  if vocabulary.integers:
    return [int(v) for v in lines]
  return ["" if v == EMPTY else v for v in lines]


def copy(source: str, vocabulary: VocabularyFile, directory: str) -> None:
  """Copies `vocabulary`, kept under `source`, to the same place under
  `directory` (a name is one content: one there already is the same)."""
  target = os.path.join(directory, vocabulary.file)
  if os.path.abspath(source) == os.path.abspath(directory):
    return
  if not os.path.exists(target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(os.path.join(source, vocabulary.file), target + ".partial")
    os.replace(target + ".partial", target)


def _check_lines(name: str, text: str, values: Sequence[Any]) -> None:
  """ValueError naming feature `name` and its first value that a line
  cannot hold (a line break, a carriage return or NUL in it), seen in
  `text`, the distinct `values`' lines joined (the empty value's NUL
  being the only one allowed)."""
  nuls = 1 if "" in values else 0
  if text.count("\n") == max(len(values) - 1, 0) and not (
    "\r" in text or text.count(EMPTY) != nuls
  ):
    return
  bad = next(
    v for v in map(str, values) if "\n" in v or "\r" in v or EMPTY in v
  )
  raise ValueError(
    f"Feature {name!r}: the value {bad!r} holds a line break or the "
    "character \\x00; ids and categories are kept one per line in a "
    "vocabulary file, so they cannot. Remove them from the column before "
    "preparing it."
  )


def _safe(name: str) -> str:
  """A file name for the feature `name` (others' characters as `_`)."""
  return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "feature"
