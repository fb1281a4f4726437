"""Turning `click:1,dwell:0.5`-style text into a list of objectives."""

import dataclasses
import math

from objectives import objective as objective_lib


def parse_pairs(text: str, what: str = "") -> list[tuple[str, str | None]]:
  """Parses `a:x,b,c:y` into [("a", "x"), ("b", None), ("c", "y")].

  Args:
    text: The text to parse.
    what: Prefix of error messages naming where the text came from
      ("--objectives"), or "" for none.

  Raises:
    ValueError: on an empty entry, an empty name or a repeated name.
  """
  what = f"{what}: " if what else ""
  pairs = []
  seen = set()
  for entry in text.split(","):
    entry = entry.strip()
    if not entry:
      raise ValueError(f"{what}empty entry in {text!r}.")
    name, sep, value = entry.partition(":")
    name, value = name.strip(), value.strip()
    if not name:
      raise ValueError(f"{what}entry {entry!r} has no name before ':'.")
    if sep and not value:
      raise ValueError(f"{what}entry {entry!r} has nothing after ':'.")
    if name in seen:
      raise ValueError(f"{what}{name!r} is given twice.")
    seen.add(name)
    pairs.append((name, value if sep else None))
  return pairs


def select(
  weights: str, losses: str = "", what: str = "--objectives"
) -> list[objective_lib.Objective]:
  """Returns the registered objectives named in `weights`, reweighted.

  Args:
    weights: `name[:weight],...`, e.g. `retrieval:1,click:1,dwell:0.5`. A
      name without a weight keeps its registered default.
    losses: Optional `name:loss,...` overriding the registered loss of some
      of the selected objectives, e.g. `click:focal`.
    what: Prefix of error messages about `weights` (the flag it came from),
      or "" for none.

  Raises:
    ValueError: naming the entry for an unknown objective or loss, a weight
      that is not a finite non-negative number, or a loss override for an
      objective that is not selected.
  """
  prefix = f"{what}: " if what else ""
  selected = {}
  for name, value in parse_pairs(weights, what):
    try:
      objective = objective_lib.get(name)
    except ValueError as e:
      raise ValueError(f"{prefix}{e}") from None
    if value is not None:
      try:
        weight = float(value)
      except ValueError:
        raise ValueError(
          f"{prefix}weight {value!r} of objective {name!r} is not a number."
        ) from None
      if not math.isfinite(weight) or weight < 0:
        raise ValueError(
          f"{prefix}weight {value!r} of objective {name!r} must be a finite "
          "number >= 0."
        )
      objective = dataclasses.replace(objective, weight=weight)
    selected[name] = objective
  if losses:
    for name, loss in parse_pairs(losses, "--losses"):
      if name not in selected:
        raise ValueError(
          f"--losses: objective {name!r} is not among the selected "
          f"objectives ({', '.join(selected)})."
        )
      if loss is None:
        raise ValueError(f"--losses: entry {name!r} names no loss (name:loss).")
      try:
        selected[name] = dataclasses.replace(selected[name], loss=loss)
      except ValueError as e:
        raise ValueError(f"--losses: {e}") from None
  return list(selected.values())
