"""Progress of long loops, in the log: at most a line every `every` seconds,
so a short loop says nothing and a long one says how far it is and how long
is left.

  progress = Progress("Test predictions", total=len(batches), units="batches")
  for batch in batches:
    ...
    progress.step()
  # I... Test predictions: 120 of 480 batches (25%), 31 s, about 93 s left.
"""

import time

from absl import logging


class Progress:
  """Counts steps of a loop of `total` `units` (None: unknown) and logs
  where it is every `every` seconds."""

  def __init__(
    self, what: str, total: int | None, units: str, every: float = 10.0
  ):
    self.what, self.total, self.units, self.every = what, total, units, every
    self.done = 0
    self._began = self._said = time.monotonic()

  def step(self, count: int = 1) -> None:
    self.done += count
    now = time.monotonic()
    if now - self._said >= self.every:
      self._said = now
      logging.info("%s", self.line(now - self._began))

  def line(self, elapsed: float) -> str:
    """What is logged after `elapsed` seconds."""
    if not self.total:
      return f"{self.what}: {self.done:,} {self.units}, {elapsed:.0f} s."
    share = self.done / self.total
    left = elapsed * (1 - share) / share if share else float("nan")
    return (
      f"{self.what}: {self.done:,} of {self.total:,} {self.units} "
      f"({share:.0%}), {elapsed:.0f} s, about {left:.0f} s left."
    )
