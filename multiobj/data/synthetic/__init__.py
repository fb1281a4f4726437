"""The built-in synthetic impression log, with its ground truth.

config.py      SyntheticConfig (its size and behaviour) and the spec;
population.py  users and items in a latent space, item titles;
log.py         the logging policy, clicks, dwell time and purchases.
"""

from multiobj.data.synthetic.config import (
  DEFAULT_OBJECTIVES,
  SPEC,
  SyntheticConfig,
)
from multiobj.data.synthetic.log import generate

__all__ = ["DEFAULT_OBJECTIVES", "SPEC", "SyntheticConfig", "generate"]
