"""Writing a sweep's files so that no reader sees one half-written."""

import contextlib
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def replacing(path: str, binary: bool = False) -> Iterator[Any]:
  """Writes a file whole or not at all: a reader (or another worker
  rewriting it) never sees it half-written."""
  temporary = f"{path}.{os.getpid()}.tmp"
  with open(
    temporary, "wb" if binary else "w", **({} if binary else {"newline": ""})
  ) as f:
    yield f
  os.replace(temporary, path)
