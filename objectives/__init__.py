"""The registries of objectives, losses and loss-weighting strategies.

Importing `objectives` registers every built-in, so the registries are always
complete. User code extends them from its own module:

  import objectives

  objectives.register(objectives.Objective(
      name="share", kind="binary", label="shared", loss="bce"))

  @objectives.register_loss("my_loss")
  class MyLoss(objectives.PointwiseLoss):
    kinds = ("binary",)
    def elementwise(self, y_true, y_pred): ...
"""

# Importing these modules registers the built-ins; one import a line, so
# that a linter's unused-import fix cannot drop one silently.
import objectives.builtin  # noqa: F401
import objectives.gradient_weighting  # noqa: F401
import objectives.pointwise  # noqa: F401
import objectives.ranking  # noqa: F401
from multiobj.registry import Registry
from objectives.losses import (
  LOSSES,
  Loss,
  PointwiseLoss,
  RankingLoss,
  get_loss,
  register_loss,
)
from objectives.objective import (
  KINDS,
  OBJECTIVES,
  Objective,
  get,
  names,
  register,
)
from objectives.selection import parse_call, parse_pairs, select
from objectives.weighting import (
  WEIGHTINGS,
  Static,
  Weighting,
  get_weighting,
  register_weighting,
)

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
