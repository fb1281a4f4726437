"""What a run costs this process: its peak resident memory and when it
started, measured per run where a process trains several (a study's
seeds)."""

import resource
import time

from absl import logging

from multiobj.train import callbacks

_RUNS_STARTED = 0


def start_run() -> float:
  """Marks the start of a run: resets the kernel's peak-RSS mark (Linux),
  so `peak_rss_mb` is this run's; returns when the run's clock starts:
  the process's start for its first run (import and start-up included),
  now for a later one."""
  global _RUNS_STARTED
  _RUNS_STARTED += 1
  reset_peak()
  start = callbacks.process_start() if _RUNS_STARTED == 1 else None
  return time.time() if start is None else start


def reset_peak() -> None:
  """Resets the kernel's peak-RSS mark (Linux; elsewhere, or without the
  permission, the peak stays the process's)."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
  except OSError as e:
    logging.info("Peak memory is the process's (%s).", e)


def peak_rss_mb() -> float:
  """Peak resident memory since `reset_peak` where the kernel allows a
  reset (else the process's so far), in MB; memory the process still held
  from before the run counts."""
  peak = status_mb("VmHWM")
  return peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(field: str) -> float:
  """A memory field of /proc/self/status (VmRSS, VmHWM) in MB; 0 where
  /proc is missing."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return 0.0
