"""The registries of objectives, losses and loss-weighting strategies.

Importing `objectives` makes every built-in known by name, so the registries
are always complete (the losses and strategies, which need TensorFlow, are
imported when first used). User code extends them from its own module:

  import objectives

  objectives.register(objectives.Objective(
      name="share", kind="binary", label="shared", loss="bce"))

  @objectives.register_loss("my_loss")
  class MyLoss(objectives.PointwiseLoss):
    kinds = ("binary",)
    def elementwise(self, y_true, y_pred): ...
"""

import importlib

# Importing `builtin` registers the built-in objectives; `registries`
# declares the built-in losses and weighting strategies, whose modules (and
# TensorFlow) are imported when one is first used: every name is known at
# once, without TensorFlow (a script's --help is fast).
import objectives.builtin  # noqa: F401
from multiobj.registry import Registry
from objectives.objective import (
  KINDS,
  OBJECTIVES,
  Objective,
  get,
  names,
  register,
)
from objectives.registries import (
  LOSSES,
  WEIGHTINGS,
  get_loss,
  register_loss,
  register_weighting,
)
from objectives.selection import (
  check_weighting,
  get_weighting,
  parse_call,
  parse_pairs,
  select,
)

# The base classes need TensorFlow: their modules
# are imported when one is first named (`objectives.PointwiseLoss`).
_LAZY = {
  "Loss": "objectives.losses",
  "PointwiseLoss": "objectives.losses",
  "RankingLoss": "objectives.losses",
  "Static": "objectives.weighting",
  "Weighting": "objectives.weighting",
}


_MODULES = ("losses", "pointwise", "ranking", "weighting", "gradient_weighting")


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  if name in _MODULES:  # objectives.losses.PointwiseLoss, as before.
    return importlib.import_module(f"objectives.{name}")
  raise AttributeError(f"module 'objectives' has no attribute {name!r}")


__all__ = [
  "KINDS",
  "LOSSES",
  "OBJECTIVES",
  "WEIGHTINGS",
  "Loss",
  "Objective",
  "PointwiseLoss",
  "RankingLoss",
  "Registry",
  "Static",
  "Weighting",
  "check_weighting",
  "get",
  "get_loss",
  "get_weighting",
  "names",
  "parse_call",
  "parse_pairs",
  "register",
  "register_loss",
  "register_weighting",
  "select",
]
