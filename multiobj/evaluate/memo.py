"""The retrieval baselines' results kept with the prepared data they were
fitted on (`neighbours.fitted`), for the next run on the same cache: a
sweep's trials fit them once."""

import hashlib
import json
import os
from typing import Any

from absl import logging

from multiobj.evaluate import neighbours

# Which baselines a run fits: 2 added those reading the served history.
VERSION = 2


class Memo:
  """The baselines' results kept in a prepared cache's folder, for the next
  run on the same data (a sweep's trials share one): they depend on the
  data and the objectives' labels and metrics, never on the model. One
  JSON file of {key: results}; written whole, by rename; unreadable or
  absent, the baselines are fitted again.

  Args:
    directory: The cache's folder, or None (nothing kept).
    key: What the results depend on besides the data (JSON-able).
  """

  FILE = "baselines.json"

  def __init__(self, directory: str | None, key: Any):
    self.path = directory and os.path.join(directory, self.FILE)
    text = json.dumps(
      [
        VERSION,
        neighbours.LAMBDAS,
        neighbours.NEIGHBOURS,
        neighbours.VALID_PAIRS,
        neighbours.MAX_EASE_ITEMS,
        key,
      ],
      sort_keys=True,
      default=repr,
    )
    self.key = hashlib.sha256(text.encode()).hexdigest()[:16]

  def _all(self) -> dict:
    try:
      with open(self.path) as f:
        found = json.load(f)
    except (OSError, ValueError):
      return {}
    return found if isinstance(found, dict) else {}

  def get(self) -> dict | None:
    """The results kept under this key, or None."""
    if not self.path:
      return None
    return self._all().get(self.key)

  def put(self, results: dict) -> None:
    """Keeps `results` under this key (best effort: a read-only cache
    keeps nothing)."""
    if not self.path:
      return
    everything = {**self._all(), self.key: results}
    temporary = f"{self.path}.{os.getpid()}.tmp"
    try:
      with open(temporary, "w") as f:
        json.dump(everything, f)
      os.replace(temporary, self.path)
    except OSError as e:
      logging.info("Baselines not kept in %s: %s.", self.path, e)
