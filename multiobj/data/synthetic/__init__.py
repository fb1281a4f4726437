"""The built-in synthetic impression log, with its ground truth.

config.py      SyntheticConfig (its size and behaviour) and the spec;
population.py  users and items in a latent space, item titles;
log.py         the logging policy, clicks, dwell time and purchases, drawn
               in chunks of requests;
shards.py      the log written as sharded Parquet files with a JSON
               description.
"""

from multiobj.data.synthetic.config import (
  DEFAULT_OBJECTIVES,
  SPEC,
  SyntheticConfig,
  spec_for,
)
from multiobj.data.synthetic.log import chunks, generate
from multiobj.data.synthetic.shards import write_shards

__all__ = [
  "DEFAULT_OBJECTIVES",
  "SPEC",
  "SyntheticConfig",
  "chunks",
  "generate",
  "spec_for",
  "write_shards",
]
