"""Vocabularies of many ids: a lookup from a file against one from a list.

  python -m experiments.vocabulary_benchmark --ids=1000000,10000000

For each size, writes a vocabulary of that many text ids (`u0000000001`,
...) as preparation does (`prepare/vocabularies.py`), then, each in a fresh
process, builds the model's lookup (a Keras `StringLookup`) two ways: from
the file, as a run does now, and from the values as a Python list (read from
the same file), as runs did before vocabularies were files. Prints, per way,
the seconds to build the lookup, the process's peak resident memory, and the
seconds to look up 1M ids (half of them known). Figures in docs/results/scale.md.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_IDS = flags.DEFINE_list(
  "ids", ["1000000", "10000000"], "Vocabulary sizes, ids each."
)

_BUILD = """
import json, resource, sys, time
import numpy as np
import tensorflow as tf
path, way = sys.argv[1], sys.argv[2]
began = time.perf_counter()
if way == "list":
  with open(path) as f:
    vocabulary = f.read().split("\\n")[:-1]
else:
  vocabulary = path
lookup = tf.keras.layers.StringLookup(vocabulary=vocabulary)
del vocabulary
built = time.perf_counter() - began
size = lookup.vocabulary_size()
# Half of them in the vocabulary; the second call timed (the first builds
# the layer's call).
step = max(2 * size // 10**6, 1)
probe = tf.constant([f"u{i:010d}" for i in range(0, 2 * size, step)])
lookup(probe[:10])
began = time.perf_counter()
found = int((lookup(probe) > 0).numpy().sum())
looked = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"build_s": built, "peak_mb": peak, "lookup_1m_s": looked,
                  "size": size, "found": found}))
"""


def _measure(path: str, way: str) -> dict:
  out = subprocess.run(
    [sys.executable, "-c", _BUILD, path, way],
    check=True,
    capture_output=True,
    text=True,
    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from multiobj.prepare import vocabularies  # noqa: PLC0415

  folder = tempfile.mkdtemp(prefix="multiobj-vocabularies-")
  print("| ids | way | write | build the lookup | peak memory | 1M lookups |")
  print("|---|---|---|---|---|---|")
  for count in (int(v) for v in _IDS.value):
    values = [f"u{i:010d}" for i in range(count)]
    began = time.perf_counter()
    written = vocabularies.write(folder, "user_id", values)
    wrote = time.perf_counter() - began
    del values
    path = os.path.join(folder, written.file)
    for way in ("file", "list"):
      found = _measure(path, way)
      print(
        f"| {count:,} | {way} | {wrote:.1f} s | {found['build_s']:.1f} s "
        f"| {found['peak_mb']:,.0f} MB | {found['lookup_1m_s']:.2f} s |",
        flush=True,
      )
    os.remove(path)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"(writing the vocabularies: {peak:,.0f} MB peak)")


if __name__ == "__main__":
  app.run(main)
