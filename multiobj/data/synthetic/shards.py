"""The synthetic log as sharded Parquet files with a JSON description.

`write_shards(config, directory)` draws the log chunk by chunk
(`log.chunks`) and writes each chunk as soon as it is drawn, so a log of
any size (10M requests, 100M rows) is written in the memory of one chunk:

  directory/rows/part-00000.parquet, part-00001.parquet, ...  one per chunk
  directory/catalogue.parquet                                  the items
  directory/dataset.json        the description (docs/dataset_spec.md)

`multiobj.data.description.loader.load("directory/dataset.json")` reads it
back as `log.generate` draws it: the description has the roles of
`config.SPEC` (ground truth included), the default objectives and the time
split. The two truth columns `SPEC` does not name, `examination` and
`noise_click`, are in the files but not described, so the loader skips them.
"""

import dataclasses
import json
import os
import re
import time

import pyarrow as pa
import pyarrow.parquet as pq
from absl import logging

import objectives as objectives_lib
from multiobj.data.synthetic import log
from multiobj.data.synthetic.config import (
  DEFAULT_OBJECTIVES,
  SPEC,
  SyntheticConfig,
  spec_for,
)

DESCRIPTION = "dataset.json"
CATALOGUE = "catalogue.parquet"
ROWS = "rows"
ITEM_VECTORS = "item_vectors.npz"
# What `write_shards` leaves, complete or interrupted (a hidden temporary).
_OURS = re.compile(
  rf"{ROWS}|\.?({re.escape(CATALOGUE)}|{re.escape(DESCRIPTION)})(\.tmp)?"
  rf"|{re.escape(ITEM_VECTORS)}(\.\d+\.npz)?"
)
_PART = re.compile(r"\.?part-\d{5}\.parquet(\.tmp)?")


def write_shards(config: SyntheticConfig, directory: str) -> str:
  """Writes the log of `config` to `directory`; returns its description.

  Each chunk of `log.chunks` becomes one Parquet file, written and then
  dropped, so peak memory is that of one chunk whatever `num_requests` is.
  The description records the config (and the chunk size, which shapes the
  draws) in its `info`; a directory that already holds the output of the
  same config keeps its data (only the description is written again).

  Args:
    config: The log.
    directory: Where to write; created if missing. It must be empty, or hold
      an earlier output of this function (an interrupted one is rewritten).

  Returns:
    The path of `directory/dataset.json`.

  Raises:
    ValueError: if `directory` holds anything else, or the output of another
      config.
  """
  path = os.path.join(directory, DESCRIPTION)
  recorded = _recorded(config)
  if _check_directory(directory, recorded):
    # The same data; the description is written again in case its format
    # changed since.
    _write_json(description(config), path)
    logging.info(
      "%s already holds this log (%s); not drawn again.", path, config
    )
    return path
  rows_dir = os.path.join(directory, ROWS)
  os.makedirs(rows_dir, exist_ok=True)
  # An incomplete earlier output: no description until the rows are whole.
  stale = [os.path.join(rows_dir, name) for name in os.listdir(rows_dir)]
  for name in stale + ([path] if os.path.exists(path) else []):
    os.remove(name)
  pop = log.draw_population(config)
  _write(log.catalogue(pop), os.path.join(directory, CATALOGUE))
  if config.item_vectors:
    log.write_item_vectors(config, pop, directory)
  count, written, begin = log.num_chunks(config), 0, time.perf_counter()
  for i, rows in enumerate(log.chunks(config, pop)):
    _write(rows, os.path.join(rows_dir, f"part-{i:05d}.parquet"))
    n = len(rows["request_id"])
    written += n
    del rows
    elapsed = time.perf_counter() - begin
    logging.info(
      "Shard %d of %d: %d rows (%d in all, %.0f rows/s).",
      i + 1,
      count,
      n,
      written,
      written / max(elapsed, 1e-9),
    )
  _write_json(description(config), path)
  logging.info("Wrote %d rows in %d shards to %s.", written, count, directory)
  return path


def description(config: SyntheticConfig) -> dict:
  """The JSON description of `write_shards`' output for `config`."""
  return {
    "name": SPEC.name,
    "rows": {"path": f"{ROWS}/*.parquet"},
    "catalogue": {"path": CATALOGUE, "key": SPEC.item_id},
    "columns": _columns(spec_for(config, ITEM_VECTORS)),
    "split": {
      "method": "time",
      "valid": config.valid_share,
      "test": config.test_share,
    },
    "info": _recorded(config),
  }


def _recorded(config):
  """What identifies the data: the config and the chunk size."""
  return {
    "source": "multiobj.data.synthetic.write_shards",
    "synthetic_config": dataclasses.asdict(config),
    "requests_per_chunk": log.REQUESTS_PER_CHUNK,
  }


def _columns(spec):
  """`spec`'s columns as description entries; labels feed the default
  objectives with their default weights."""
  single = {SPEC.item_id: "item_id", SPEC.user_id: "user_id"}
  entries = []
  for f in spec.features:
    if f.name in single:
      entries.append({"name": f.name, "role": single[f.name], "type": f.kind})
    elif f.name == SPEC.position:
      entries.append(
        {
          "name": f.name,
          "role": "position",
          "type": f.kind,
          "serving_value": f.serving_value,
        }
      )
    else:
      entry = {"name": f.name, "role": f.role, "type": f.kind}
      if f.kind == "numeric":
        entry["transform"] = f.transform
      if f.kind == "multi_category":
        entry["separator"] = f.separator
      if f.kind == "history":
        entry.update(built_from=f.built_from, max_length=f.max_length)
      if f.kind == "embedding":
        entry["vectors"] = {"path": f.vectors, "key": f.vectors_key}
      if f.role == "context":
        entry["serving_value"] = f.serving_value
      entries.append(entry)
  for role in ("list_id", "timestamp", "randomized", "truth"):
    if getattr(SPEC, role):
      entries.append({"name": getattr(SPEC, role), "role": role})
  return entries + _labels()


def _labels():
  selected = objectives_lib.select(DEFAULT_OBJECTIVES)
  entries = []
  for label in SPEC.labels:
    fed = [o for o in selected if o.label == label]
    if not fed:
      continue
    weights = {o.weight for o in fed}
    if len(weights) > 1:  # One entry has one weight for all it feeds.
      raise ValueError(
        f"synthetic objectives {', '.join(o.name for o in fed)} learn from "
        f"{label!r} with different weights; a description cannot say so."
      )
    entries.append(
      {
        "name": label,
        "role": "label",
        "objective": [o.name for o in fed],
        "weight": fed[0].weight,
      }
    )
  return entries


def _check_directory(directory, recorded) -> bool:
  """True if `directory` holds the complete output of `recorded`; raises if
  it holds anything but an output of `write_shards`."""
  if not os.path.exists(directory):
    return False
  if not os.path.isdir(directory):
    raise ValueError(f"{directory}: not a directory.")
  names = set(os.listdir(directory))
  rows_dir = os.path.join(directory, ROWS)
  parts = os.listdir(rows_dir) if os.path.isdir(rows_dir) else []
  others = sorted(n for n in names if not _OURS.fullmatch(n))
  others += [f"{ROWS}/{p}" for p in parts if not _PART.fullmatch(p)]
  if others or (ROWS in names and not os.path.isdir(rows_dir)):
    raise ValueError(
      f"{directory}: not empty and not an output of write_shards (it holds "
      f"{', '.join(others or [ROWS])}); choose an empty or new directory."
    )
  path = os.path.join(directory, DESCRIPTION)
  if not os.path.exists(path):
    return False  # Empty, or interrupted before the description.
  try:
    with open(path, encoding="utf-8") as f:
      earlier = json.load(f).get("info", {})
  except (OSError, ValueError, AttributeError) as e:
    raise ValueError(f"{path}: cannot read it: {e}") from None
  if earlier != recorded:
    raise ValueError(
      f"{directory}: holds the synthetic log of another config "
      f"({_difference(earlier, recorded)}); choose another directory or "
      "remove it."
    )
  requests = recorded["synthetic_config"]["num_requests"]
  expected = -(-requests // recorded["requests_per_chunk"])
  return CATALOGUE in names and sorted(parts) == [
    f"part-{i:05d}.parquet" for i in range(expected)
  ]


def _difference(earlier, recorded):
  """The first settings where two `info` values differ, for a message."""

  def settings(info):
    info = info if isinstance(info, dict) else {}
    config = info.get("synthetic_config")
    config = config if isinstance(config, dict) else {}
    return {**config, "requests_per_chunk": info.get("requests_per_chunk")}

  there, here = settings(earlier), settings(recorded)
  differ = [
    f"{k} {there.get(k)!r} there, {v!r} here"
    for k, v in here.items()
    if there.get(k) != v
  ]
  return "; ".join(differ[:3]) or "its info differs"


def _write(table, path):
  """Writes {column: array} as Parquet: int64, float32 and string columns.
  Through a hidden temporary name, so a file is complete or absent."""
  arrays = {
    name: pa.array(column, type=pa.string())
    if column.dtype == object
    else pa.array(column)
    for name, column in table.items()
  }
  folder, name = os.path.split(path)
  temporary = os.path.join(folder, f".{name}.tmp")
  pq.write_table(pa.table(arrays), temporary)
  os.replace(temporary, path)


def _write_json(value, path):
  folder, name = os.path.split(path)
  temporary = os.path.join(folder, f".{name}.tmp")
  with open(temporary, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2)
    f.write("\n")
  os.replace(temporary, path)
