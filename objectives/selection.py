"""Turning `click:1,dwell:0.5`-style text into a list of objectives."""

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from multiobj import registry
from objectives import objective as objective_lib
from objectives import registries


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
  for entry in _split_top_level(text, what):
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


def _split_top_level(text: str, what: str) -> list[str]:
  """Splits on commas outside parentheses: `a:f(x=1,y=2),b`."""
  entries, depth, start = [], 0, 0
  for i, char in enumerate(text):
    depth += {"(": 1, ")": -1}.get(char, 0)
    if depth < 0:
      raise ValueError(f"{what}unbalanced ')' in {text!r}.")
    if char == "," and depth == 0:
      entries.append(text[start:i])
      start = i + 1
  if depth:
    raise ValueError(f"{what}unbalanced '(' in {text!r}.")
  return [*entries, text[start:]]


def parse_call(text: str, what: str = "") -> tuple[str, dict[str, Any]]:
  """Parses `name` or `name(key=value,...)` into (name, {key: value}).

  Values are read as int, float, true/false, or else kept as strings.

  >>> parse_call("gce(q=0.5)")
  ('gce', {'q': 0.5})
  """
  prefix = f"{what}: " if what else ""
  match = re.fullmatch(r"\s*([\w-]+)\s*(?:\((.*)\))?\s*", text, re.S)
  if not match:
    raise ValueError(
      f"{prefix}cannot read {text!r}; expected name or name(key=value,...)."
    )
  name, arguments = match.group(1), match.group(2)
  params = {}
  if arguments and arguments.strip():
    for item in _split_top_level(arguments, prefix):
      key, sep, value = item.partition("=")
      key = key.strip()
      if not sep or not key.isidentifier():
        raise ValueError(
          f"{prefix}parameter {item.strip()!r} of {name!r} is not key=value."
        )
      if key in params:
        raise ValueError(
          f"{prefix}parameter {key!r} of {name!r} is given twice."
        )
      params[key] = _value(value.strip())
  return name, params


def _value(text: str) -> Any:
  for convert in (int, float):
    try:
      return convert(text)
    except ValueError:
      pass
  lowered = text.lower()
  if lowered in ("true", "false"):
    return lowered == "true"
  return text


def select(
  weights: str,
  losses: str = "",
  what: str = "--objectives",
  available: Sequence[objective_lib.Objective] = (),
  defer_unknown: bool = False,
) -> list[objective_lib.Objective]:
  """Returns the objectives named in `weights`, reweighted.

  Args:
    weights: `name[:weight],...`, e.g. `retrieval:1,click:1,dwell:0.5`. A
      name without a weight keeps its default. Empty: every objective of
      `available`, with its default weight.
    losses: Optional `name:loss,...` overriding the registered loss of some
      of the selected objectives, e.g. `click:focal` or, with parameters,
      `click:gce(q=0.5)`.
    what: Prefix of error messages about `weights` (the flag it came from),
      or "" for none.
    available: Objectives looked up by name before the registry: a
      dataset's, wired to its columns.
    defer_unknown: Leave out a name neither `available` nor the registry
      knows, instead of refusing it: a dataset's description may define
      it, and it is checked once the dataset is loaded.

  Raises:
    ValueError: naming the entry for an unknown objective or loss, a weight
      that is not a finite non-negative number, or a loss override for an
      objective that is not selected.
  """
  prefix = f"{what}: " if what else ""
  own = {o.name: o for o in available}
  selected = {}
  pairs = (
    parse_pairs(weights, what)
    if weights
    else [(o.name, None) for o in available]
  )
  if not pairs:
    raise ValueError(f"{prefix}no objective given.")
  for name, value in pairs:
    try:
      objective = own[name] if name in own else objective_lib.get(name)
    except ValueError as e:
      if defer_unknown:
        continue
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
  overridden = _override_losses(selected, losses, defer_unknown)
  _validate_losses(selected, overridden, prefix)
  return list(selected.values())


def _override_losses(selected, losses, defer_unknown) -> set[str]:
  """`losses` (`name:loss(params),...`) set on the `selected` objectives,
  in place; the names overridden."""
  overridden = set()
  if not losses:
    return overridden
  for name, loss in parse_pairs(losses, "--losses"):
    if name not in selected and defer_unknown:
      continue  # Checked with the dataset's objectives.
    if name not in selected:
      raise ValueError(
        f"--losses: objective {name!r} is not among the selected "
        f"objectives ({', '.join(selected)})."
      )
    if loss is None:
      raise ValueError(f"--losses: entry {name!r} names no loss (name:loss).")
    loss_name, params = parse_call(loss, "--losses")
    try:
      selected[name] = dataclasses.replace(
        selected[name], loss=loss_name, loss_params=tuple(params.items())
      )
    except ValueError as e:
      raise ValueError(f"--losses: {e}") from None
    overridden.add(name)
  return overridden


def _validate_losses(selected, overridden, prefix):
  """Each loss serves its objective's kind and takes its parameters (this
  imports the losses' modules, if not yet); an error names its flag."""
  for name, objective in selected.items():
    try:
      objective.validate_loss()
    except ValueError as e:
      raise ValueError(
        f"{'--losses: ' if name in overridden else prefix}{e}"
      ) from None


def check_weighting(text: str) -> None:
  """Raises ValueError for an unknown strategy in `text` (`dwa`,
  `dwa(temperature=1.0)`) or a parameter it does not take. A name alone is
  checked without importing the strategy (nor TensorFlow)."""
  name, params = parse_call(text)
  registries.WEIGHTINGS.check(name)
  if params:
    get_weighting(text, {"task": 1.0})  # Imports it (and TensorFlow).


def get_weighting(text: str, weights: Mapping[str, float]):
  """Returns a new strategy (an `objectives.Weighting`; this imports its
  module) for tasks with the configured `weights`.

  Args:
    text: A registered name, with parameters if any: `dwa` or
      `dwa(temperature=1.0)`.
    weights: Each task's configured weight.

  Raises:
    ValueError: naming the strategy for an unknown name or parameter.
  """
  name, params = parse_call(text)
  strategy = registries.WEIGHTINGS.get(name)
  try:
    return strategy(weights, **params)
  except TypeError:
    known = registry.parameters(strategy, "weights")
    raise ValueError(
      f"Weighting strategy {name!r} does not take parameters {sorted(params)}; "
      f"its parameters: {', '.join(known) or '(none)'}."
    ) from None
