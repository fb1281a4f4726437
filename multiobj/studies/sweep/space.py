"""The search space of a sweep: parameters, their kinds, their checks."""

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402

KINDS = ("grid", "choice", "uniform", "loguniform", "int", "logint")


RANGES = ("uniform", "loguniform", "int", "logint")


class SweepError(ValueError):
  """A sweep that cannot start as given; the message says why."""


@dataclasses.dataclass(frozen=True)
class Parameter:
  """A flag of the training script and the values a trial may give it.

  Attributes:
    name: The flag, e.g. `learning_rate`.
    kind: `grid` (each value in turn; the grid sampler runs every
      combination), `choice` (one of the values), `uniform` or `loguniform`
      (a float in [low, high]), `int` or `logint` (an integer in [low,
      high]). Samplers other than grid treat grid and choice alike.
    values: The values of `grid` and `choice`.
    low: The lower bound of a range, included.
    high: The upper bound of a range, included.
  """

  name: str
  kind: str
  values: tuple = ()
  low: float | None = None
  high: float | None = None

  def __post_init__(self):
    where = f"search space: {self.name}={self.kind}"
    if self.kind not in KINDS:
      raise SweepError(f"{where}: unknown kind; one of: {', '.join(KINDS)}.")
    if self.kind not in RANGES:
      if not self.values:
        raise SweepError(f"{where}: the list of values is empty.")
      if len(set(map(repr, self.values))) < len(self.values):
        raise SweepError(f"{where}: a value is repeated.")
      return
    if self.values or self.low is None or self.high is None:
      raise SweepError(f"{where}: a range takes two bounds, (low,high).")
    whole = self.kind in ("int", "logint")
    for bound in (self.low, self.high):
      if isinstance(bound, bool) or not isinstance(bound, int | float):
        raise SweepError(f"{where}: bound {bound!r} is not a number.")
      if whole and not isinstance(bound, int):
        raise SweepError(f"{where}: bound {bound!r} is not an integer.")
    if self.low > self.high:
      raise SweepError(f"{where}({self.low},{self.high}): low is above high.")
    if self.low == self.high:
      raise SweepError(
        f"{where}({self.low},{self.high}): the range is empty; give a "
        "single value in the fixed trial flags instead."
      )
    if self.kind.startswith("log") and self.low <= 0:
      raise SweepError(
        f"{where}({self.low},{self.high}): a log range needs low > 0."
      )

  def describe(self) -> str:
    """The parameter as `parse_space` reads it."""
    if self.kind in RANGES:
      return f"{self.name}={self.kind}({self.low!r},{self.high!r})"
    return f"{self.name}={self.kind}({','.join(map(_quote, self.values))})"

  def suggest(self, trial: optuna.Trial) -> Any:
    if self.kind in ("grid", "choice"):
      return trial.suggest_categorical(self.name, list(self.values))
    if self.kind in ("uniform", "loguniform"):
      log = self.kind == "loguniform"
      return trial.suggest_float(self.name, self.low, self.high, log=log)
    log = self.kind == "logint"
    return trial.suggest_int(self.name, self.low, self.high, log=log)


@dataclasses.dataclass(frozen=True)
class Objective:
  """A metric of metrics.json to maximise or minimise."""

  metric: str
  maximize: bool

  def __str__(self):
    return f"{self.metric}:{'max' if self.maximize else 'min'}"


def parse_space(text: str) -> tuple[Parameter, ...]:
  """Reads `name=kind(args)` entries separated by `;` or new lines.

  Example: `learning_rate=loguniform(1e-4,1e-2);weighting=choice(static,
  dwa(temperature=2.0));epochs=grid(2,3)`. Commas split arguments only
  outside parentheses and quotes, so `dwa(temperature=2.0)` is one value and
  `"128,64"` (quoted) one value of a list flag. Unquoted numbers are read as
  numbers, everything else as text.
  """
  space = []
  for entry in _split(text, ";\n"):
    if not entry:
      continue
    match = re.fullmatch(r"(\w+)\s*=\s*(\w+)\s*\((.*)\)", entry, re.S)
    if not match:
      raise SweepError(
        f"search space: cannot read {entry!r}; write name=kind(args), e.g. "
        f"learning_rate=loguniform(1e-4,1e-2), with kind one of: "
        f"{', '.join(KINDS)}."
      )
    name, kind, args = match.groups()
    values = [_value(a) for a in _split(args, ",")]
    space.append(_parameter(name, kind, [] if values == [""] else values))
  return tuple(space)


def load_space_file(path: str) -> tuple[Parameter, ...]:
  """Reads a JSON object of parameters, each given as `parse_space` text
  (`"loguniform(1e-4,1e-2)"`), a list (a grid) or `{"kind": [args]}`."""
  try:
    with open(path) as f:
      entries = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise SweepError(f"--space_file {path}: {e}") from None
  if not isinstance(entries, dict):
    raise SweepError(f"--space_file {path}: not a JSON object of parameters.")
  space = []
  for name, spec in entries.items():
    if isinstance(spec, str):
      space += parse_space(f"{name}={spec}")
    elif isinstance(spec, list):
      space.append(_parameter(name, "grid", spec))
    elif isinstance(spec, dict) and len(spec) == 1:
      [(kind, args)] = spec.items()
      space.append(
        _parameter(name, kind, args if isinstance(args, list) else [])
      )
    else:
      raise SweepError(
        f"--space_file {path}: {name}: give a string such as "
        '"choice(a,b)", a list (a grid) or {"kind": [args]}.'
      )
  return tuple(space)


def check_space(
  space: Sequence[Parameter],
  flag_parsers: Mapping[str, Callable[[str], Any]],
  trial_flags: Sequence[str] = (),
) -> None:
  """Checks names and values against the training script's flags.

  Each value and bound goes through its flag's parser, so a type or bound
  error (`epochs=grid(0,2)`) fails here. Registry names (`--weighting=...`)
  are left to the trial, whose `--objective_modules` may register more of
  them than this process knows: a bad one fails that trial only.

  Args:
    space: The parameters.
    flag_parsers: Each flag of the training script, to a function that
      parses its command-line text or raises ValueError.
    trial_flags: The flags given to every trial.

  Raises:
    SweepError: On the first problem, naming it.
  """
  fixed = []
  for arg in trial_flags:
    if not arg.startswith("-"):
      continue  # The value of a `--flag value` pair.
    name = arg.lstrip("-").partition("=")[0]
    if name not in flag_parsers and name.startswith("no"):
      name = name[2:]  # --noflag of a boolean.
    fixed.append(name)
    _check_name(name, flag_parsers, "--trial_flags")
  for parameter in space:
    name = parameter.name
    _check_name(name, flag_parsers, "search space")
    if name in fixed:
      raise SweepError(
        f"search space: {name} is also in --trial_flags; give it in one place."
      )
    for value in parameter.values or (parameter.low, parameter.high):
      try:
        flag_parsers[name](format_value(value))
      except ValueError as e:
        hint = ""
        if parameter.kind in ("uniform", "loguniform") and _parses(
          flag_parsers[name], str(int(value))
        ):
          hint = " It takes integers: use int(...) or logint(...)."
        raise SweepError(
          f"search space: {parameter.describe()}: {value!r} is not a valid "
          f"--{name} ({e}).{hint}"
        ) from None


def parse_objectives(text: str, what: str = "--directions") -> tuple:
  """Reads `metric:max,metric:min` into `Objective`s."""
  objectives = []
  for entry in filter(None, (e.strip() for e in text.split(","))):
    metric, _, way = entry.rpartition(":")
    if not metric or way not in ("max", "min", "maximize", "minimize"):
      raise SweepError(
        f"{what}: {entry!r} is not metric:max or metric:min, e.g. "
        "click_auc:max,dwell_rmse:min."
      )
    objectives.append(Objective(metric, way.startswith("max")))
  if not objectives:
    raise SweepError(
      f"{what}: name a metric and a direction, e.g. click_auc:max."
    )
  names = [o.metric for o in objectives]
  if len(set(names)) < len(names):
    raise SweepError(f"{what}: a metric is named twice.")
  return tuple(objectives)


def _split(text, separators):
  """Splits at separators outside parentheses and quotes; strips parts."""
  parts, current, depth, quote = [], [], 0, None
  for char in text:
    if quote:
      quote = None if char == quote else quote
    elif char in "'\"":
      quote = char
    elif char == "(":
      depth += 1
    elif char == ")":
      depth -= 1
    elif char in separators and depth == 0:
      parts.append("".join(current).strip())
      current = []
      continue
    current.append(char)
  parts.append("".join(current).strip())
  return parts


def _value(text):
  if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
    return text[1:-1]
  if re.fullmatch(r"[+-]?\d+", text):
    return int(text)
  if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
    return float(text)
  return text


def _quote(value):
  """A value as `parse_space` text: quoted when it would not read back as
  the same string (`"64"`, `"128,64"`)."""
  text = format_value(value)
  if isinstance(value, str) and (
    _value(text) != value or _split(text, ",;") != [text]
  ):
    return f"'{text}'" if '"' in text else f'"{text}"'
  return text


def _parameter(name, kind, values):
  if kind not in RANGES or len(values) != 2:
    return Parameter(name, kind, values=tuple(values))  # Its checks fail.
  low, high = values
  if kind in ("uniform", "loguniform"):  # `uniform(0,1)` means floats.
    low, high = (float(v) if isinstance(v, int) else v for v in (low, high))
  return Parameter(name, kind, low=low, high=high)


def _check_name(name, flag_parsers, what):
  if name == "model_dir":
    raise SweepError(f"{what}: the sweep sets --model_dir of each trial.")
  if name not in flag_parsers:
    close = difflib.get_close_matches(name, flag_parsers, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise SweepError(
      f"{what}: {name} is not a flag of the training script.{hint} Its "
      f"flags: {', '.join(sorted(flag_parsers))}."
    )


def _parses(parse, text):
  try:
    parse(text)
  except ValueError:
    return False
  return True


def format_value(value: Any) -> str:
  """A parameter value as command-line text."""
  if isinstance(value, bool):
    return "true" if value else "false"
  return repr(value) if isinstance(value, float) else str(value)
