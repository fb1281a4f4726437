"""A small typed registry: one name, one entry, and errors that list the rest.

Objectives, losses and weighting strategies (`objectives`), trunks
(`multiobj.model.trunks`) and datasets (`multiobj.data.loaders`) each keep a
registry; built-ins register themselves when their module is imported, and
user code registers the same way from its own module. A name can be
registered once: a second registration under the same name is an error, so
two modules cannot silently shadow each other.

A package may `declare` the names a module of its registers without
importing it: the names are known at once (flag help, name checks), and the
module is imported when one of them is first fetched. The built-ins that need
TensorFlow are declared so, and a script's `--help` does not import it.
"""

import importlib
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


def parameters(cls: type, *fixed: str) -> list[str]:
  """The constructor parameters of `cls` a user can set by name: all but
  `self`, `*args`, `**kwargs` and the `fixed` ones the framework passes."""
  return [
    name
    for name, p in inspect.signature(cls.__init__).parameters.items()
    if name not in ("self", *fixed)
    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
  ]


class Registry(Generic[T]):
  """Maps names to entries of one kind (objectives, losses, ...).

  Example:

  >>> losses = Registry("loss")
  >>> @losses.register("double")
  ... def double(x):
  ...   return 2 * x
  >>> losses.get("double")(3)
  6
  >>> losses.get("triple")
  Traceback (most recent call last):
  ...
  ValueError: Unknown loss 'triple'. Known losses: double.
  """

  def __init__(self, kind: str, plural: str | None = None):
    self._kind = kind
    self._plural = plural or kind + ("es" if kind.endswith("s") else "s")
    self._entries: dict[str, T] = {}
    self._declared: dict[str, str] = {}
    self._origins: dict[str, str | None] = {}

  def declare(self, module: str, names: Sequence[str]) -> None:
    """Says that importing `module` registers `names`: they are known now,
    and `get` imports the module the first time one of them is fetched."""
    for name in names:
      if name in self:
        raise ValueError(
          f"The {self._kind} {name!r} is already registered or declared."
        )
      self._declared[name] = module

  def add(self, name: str, entry: T) -> T:
    """Registers `entry` under `name`; refuses a name registered twice, or
    one another module declared."""
    if not isinstance(name, str) or not name:
      raise ValueError(f"A {self._kind} name must be a non-empty string.")
    if not name.replace("_", "").replace("-", "").isalnum():
      raise ValueError(
        f"Invalid {self._kind} name {name!r}: use letters, digits, '_' "
        "and '-' only, so the name can be given in a flag."
      )
    if name in self._entries:
      raise ValueError(
        f"The {self._kind} {name!r} is already registered "
        f"(by {_describe(self._entries[name])}). Pick another name."
      )
    declared = self._declared.get(name)
    if declared is not None and declared not in sys.modules:
      # Its module is not being imported: another one takes the name.
      raise ValueError(
        f"The {self._kind} {name!r} is already registered (by {declared}). "
        "Pick another name."
      )
    self._entries[name] = entry
    self._origins[name] = _running_module()
    return entry

  def register(self, name: str) -> Callable[[T], T]:
    """Decorator form of `add`: `@registry.register("name")`."""

    def decorator(entry: T) -> T:
      return self.add(name, entry)

    return decorator

  def check(self, name: str) -> None:
    """Raises the error of `get` for an unknown name, importing nothing."""
    if name not in self:
      raise ValueError(
        f"Unknown {self._kind} {name!r}. Known {self._plural}: "
        f"{', '.join(self.names()) or '(none)'}."
      )

  def get(self, name: str) -> T:
    """Returns the entry named `name`; the error lists every known name."""
    self.check(name)
    if name not in self._entries:
      module = self._declared[name]
      importlib.import_module(module)
      if name not in self._entries:
        raise ValueError(
          f"{module} was declared to register the {self._kind} {name!r} "
          "and did not."
        )
    return self._entries[name]

  def origin(self, name: str) -> str | None:
    """The module that registered `name` (or is declared to): the one whose
    top-level code was running, `__main__` for a script or a notebook; None
    for an unknown name."""
    if name in self._entries:
      return self._origins[name]
    return self._declared.get(name)

  def loaded(self, name: str) -> bool:
    """Whether `name`'s entry is registered (not only declared)."""
    return name in self._entries

  def names(self) -> list[str]:
    return sorted(self._entries.keys() | self._declared.keys())

  def __contains__(self, name: object) -> bool:
    return name in self._entries or name in self._declared

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())

  def __len__(self) -> int:
    return len(self._entries.keys() | self._declared.keys())


def _running_module() -> str | None:
  """The innermost module whose top-level code is running (registrations
  run as their module is imported)."""
  frame = sys._getframe(1)
  while frame is not None:
    if frame.f_code.co_name == "<module>":
      return frame.f_globals.get("__name__")
    frame = frame.f_back
  return None


def _describe(entry: object) -> str:
  module = getattr(entry, "__module__", None) or type(entry).__module__
  qualname = getattr(entry, "__qualname__", None) or type(entry).__qualname__
  return f"{module}.{qualname}"
