"""The registry of ranking trunks and the check of a `--trunk` value,
without TensorFlow: the built-ins are declared by name (`trunks.py` defines
and registers them), so a script's flags know them before TensorFlow is
imported."""

from multiobj import registry
from objectives import selection

TRUNKS: registry.Registry[type] = registry.Registry("trunk")
TRUNKS.declare("multiobj.model.trunks", ("shared_bottom", "mmoe", "ple"))


def check(text: str) -> None:
  """Raises ValueError for an unknown trunk name or parameter in `text`.
  A name alone is checked without importing the trunks (nor TensorFlow)."""
  name, params = selection.parse_call(text, "--trunk")
  TRUNKS.check(name)
  if params:
    resolve(text)  # Imports the trunk's module (and TensorFlow).


def resolve(text: str) -> tuple[type, dict]:
  """(class, parameters) of `name(key=value,...)`; ValueError naming the
  trunk for an unknown name or parameter."""
  trunk_name, params = selection.parse_call(text, "--trunk")
  cls = TRUNKS.get(trunk_name)
  known = registry.parameters(cls, "tasks", "layers")
  unknown = sorted(set(params) - set(known))
  if unknown:
    raise ValueError(
      f"Trunk {trunk_name!r} does not take parameters {unknown}; its "
      f"parameters: {', '.join(known) or '(none)'}."
    )
  return cls, params
