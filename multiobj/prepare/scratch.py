"""The scratch folder a preparation writes its cache in, and the clean-up of
those a killed preparation left behind.

A preparation writes partitions and shards (gigabytes at 100M impressions)
to `.preparing-XXXX` beside the cache, then renames it into place. Killed
before that (SIGKILL, a preempted machine), nothing removes the folder; the
next preparation in the same place does: each scratch folder holds an
`flock` on its `.writer` file while its preparation lives, which the OS
releases however the process dies, so a folder whose lock can be taken was
abandoned.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from absl import logging

try:
  import fcntl
except ImportError:  # Not POSIX: folders are not locked, nor cleaned up.
  fcntl = None

PREFIX = ".preparing-"
# An old cache moved aside to be deleted: garbage whoever left it.
REPLACED = ".replaced-"
_WRITER = ".writer"


@contextlib.contextmanager
def folder(parent: str) -> Iterator[str]:
  """A fresh scratch folder in `parent`, held while the `with` block runs
  and removed after it (whatever it renamed away stays); first, the scratch
  folders of preparations that died are removed."""
  remove_abandoned(parent)
  path = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
  held = None
  if fcntl is not None:
    # Locked under another name, then renamed: no other process sees a
    # `.writer` it could lock.
    taking = os.path.join(path, _WRITER + ".new")
    held = os.open(taking, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    os.rename(taking, os.path.join(path, _WRITER))
  try:
    yield path
  finally:
    shutil.rmtree(path, ignore_errors=True)
    if held is not None:
      os.close(held)


def seal(path: str) -> None:
  """Removes the lock's file from the scratch folder `path`, about to become
  the cache (the lock itself holds until `folder` ends)."""
  with contextlib.suppress(FileNotFoundError):
    os.remove(os.path.join(path, _WRITER))


def remove_abandoned(parent: str) -> list[str]:
  """Removes the scratch folders in `parent` whose preparation died; returns
  them."""
  if fcntl is None or not os.path.isdir(parent):
    return []
  removed = []
  for name in sorted(os.listdir(parent)):
    path = os.path.join(parent, name)
    if name.startswith(REPLACED) and os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
      continue
    if not name.startswith(PREFIX) or not os.path.isdir(path):
      continue
    try:
      fd = os.open(os.path.join(path, _WRITER), os.O_RDWR)
    except OSError:  # Being created or sealed: a live preparation's.
      continue
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      continue  # Its preparation is running.
    finally:
      os.close(fd)
    size = sum(
      os.path.getsize(os.path.join(root, f))
      for root, _, files in os.walk(path)
      for f in files
    )
    shutil.rmtree(path, ignore_errors=True)
    logging.warning(
      "Removed %s (%.1f MB), left by a preparation that was killed.",
      path,
      size / 2**20,
    )
    removed.append(path)
  return removed
