"""The registry of sequence encoders and the check of an `encoder` value,
without TensorFlow: the built-ins are declared by name (`sequence.py`
defines and registers them), so a script's flags and a description's check
know them before TensorFlow is imported."""

from multiobj import registry
from objectives import selection

ENCODERS: registry.Registry[type] = registry.Registry("sequence encoder")
ENCODERS.declare("multiobj.model.sequence", ("mean", "gru", "self_attention"))


def check(text: str, what: str = "--history_encoder") -> None:
  """Raises ValueError for an unknown encoder name or parameter in `text`.
  A name alone is checked without importing the encoders (nor
  TensorFlow)."""
  name, params = selection.parse_call(text, what)
  ENCODERS.check(name)
  if params:
    resolve(text, what)


def resolve(text: str, what: str = "--history_encoder") -> tuple[type, dict]:
  """(class, parameters) of `name(key=value,...)`; ValueError naming the
  encoder for an unknown name or parameter."""
  name, params = selection.parse_call(text, what)
  cls = ENCODERS.get(name)
  known = registry.parameters(cls, "width", "positions", "types", "ordered")
  unknown = sorted(set(params) - set(known))
  if unknown:
    raise ValueError(
      f"{what}: sequence encoder {name!r} does not take parameters "
      f"{unknown}; its parameters: {', '.join(known) or '(none)'}."
    )
  return cls, params
