"""A small typed registry: one name, one entry, and errors that list the rest.

Objectives, losses and weighting strategies (`objectives`), trunks
(`multiobj.model.trunks`) and datasets (`multiobj.data.loaders`) each keep a
registry; built-ins register themselves when their package is imported, and
user code registers the same way from its own module. A name can be registered once: a second registration under the same
name is an error, so two modules cannot silently shadow each other.
"""

import inspect
from collections.abc import Callable, Iterator
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

  def add(self, name: str, entry: T) -> T:
    """Registers `entry` under `name`; refuses a name registered twice."""
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
    self._entries[name] = entry
    return entry

  def register(self, name: str) -> Callable[[T], T]:
    """Decorator form of `add`: `@registry.register("name")`."""

    def decorator(entry: T) -> T:
      return self.add(name, entry)

    return decorator

  def get(self, name: str) -> T:
    """Returns the entry named `name`; the error lists every known name."""
    if name not in self._entries:
      raise ValueError(
        f"Unknown {self._kind} {name!r}. Known {self._plural}: "
        f"{', '.join(self.names()) or '(none)'}."
      )
    return self._entries[name]

  def names(self) -> list[str]:
    return sorted(self._entries)

  def __contains__(self, name: object) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())

  def __len__(self) -> int:
    return len(self._entries)


def _describe(entry: object) -> str:
  module = getattr(entry, "__module__", None) or type(entry).__module__
  qualname = getattr(entry, "__qualname__", None) or type(entry).__qualname__
  return f"{module}.{qualname}"
