"""Prepare once, train many times: a run's prepared data on disk.

  <cache_dir>/
    manifest.json         what the cache holds and what it was made from:
                          format and version, the inputs (data files with
                          size and modification time, the data and
                          preparation settings, the seed) and their
                          fingerprints, each split's lists, rows and shards
                          (file, lists, bytes), the list columns;
    state.pkl             the rest of the prepared data (resolved config,
                          spec, catalogue, feature statistics, propensities,
                          cold-start items; for logs with sampled negatives
                          or a full-ranking protocol, their rows too);
    feature_stats.json, vocabularies/
                          the feature statistics, each vocabulary a file
                          (`stats.FeatureStats.save`), which the model's
                          lookups read;
    {split}-00000.tfrecord  the lists (`shards.py`).

`prepared(config, directory)` returns the run's `TrainData` from a cache
that matches `config`, and otherwise prepares the data (reading the raw log)
and writes the cache first. A cache matches in two steps: its inputs (every
data file, the data slice, the settings that change the lists, the seed)
must be the run's; then the run's objectives, resolved on the cached
dataset, must need no column the cached lists lack. So a sweep over model,
training or weighting settings (or over losses that read the same columns)
reads the raw log once. A cache that does not match is prepared again, and
the log says which input changed.

The cache is written to a scratch folder beside it and renamed into place,
so a crash leaves no half-written cache (and the next preparation there
removes the folder a killed one left, `scratch.py`), and runs that prepare
the same cache at once each end with a whole one. A cache is refused, with a message,
when a shard's size differs from its manifest (a truncated or replaced
file) or when another format version or library version wrote it.
"""

import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from absl import logging

import multiobj
from multiobj import config as config_lib
from multiobj.data import loaders, readers
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import resolve, shards, stream
from multiobj.prepare import scratch as scratch_lib
from multiobj.prepare import train_data as train_data_lib

FORMAT = "multiobj.prepared"
# 2: datasets carry their full-ranking protocol (dataset.FullRanking) and
# the labels each split lacks (dataset.Dataset.absent).
# 3: FeatureStats.policies. 4: vocabularies as files. 5: training lists
# of windows of events (`windows.py`), datasets' retrieval candidates.
# 6: served histories of every-position features count an event at the
# row's own time as before it when its row comes first, as windows do.
VERSION = 6
MANIFEST = "manifest.json"
STATE = "state.pkl"

# Preparation settings that do not change the prepared lists.
_NOT_INPUTS = {
  "objectives",
  "objective_weights",
  "losses",
  "funnels",
  "cache_dir",
  "shard_mb",
  "memory_mb",
  # Inverse-propensity weights are derived as lists are read.
  "max_ipw_weight",
  # Compared resolved, and only when there are propensities (list_inputs).
  "propensity_label",
}


class CacheError(ValueError):
  """A cache that cannot be used (corrupt, or from another version)."""


def data_files(config: loaders.DataConfig) -> list[str]:
  """The files a dataset is read from (they fingerprint the cache)."""
  if config.dataset == "synthetic":
    return []
  if config.dataset == "json":
    return [config.dataset_spec, *_described_files(config)]
  folder = os.path.join(config.data_dir, config.dataset)
  if not os.path.isdir(folder):
    return []
  return sorted(
    os.path.join(root, name)
    for root, _, names in os.walk(folder)
    for name in names
  )


def _described_files(config):
  from multiobj.data.description import loader  # noqa: PLC0415

  out = []
  for path in loader.table_paths(config.dataset_spec, config.data_dir):
    try:
      out += readers.expand(path)
    except ValueError:
      pass  # Reading reports it.
  return out


def inputs(config: config_lib.TrainConfig) -> dict[str, Any]:
  """What the raw side of the cache depends on."""
  prepare = {
    k: v
    for k, v in dataclasses.asdict(config.prepare).items()
    if k not in _NOT_INPUTS
  }
  files = []
  paths = data_files(config.data)
  if config.prepare.propensity.startswith("file:"):
    paths.append(config.prepare.propensity[len("file:") :])
  for path in paths:
    if not os.path.exists(path):
      continue  # Reading it says so.
    stat = os.stat(path)
    files.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
  data = dataclasses.asdict(config.data)
  data.pop("data_dir")  # The files stand for it.
  return {
    "data": data,
    "files": files,
    "prepare": prepare,
    "negatives": [
      config.retrieval.hard_negatives,
      config.retrieval.uniform_negatives,
    ],
    "text_max_tokens": config.model.text_max_tokens,
    "seed": config.seed,
  }


def list_inputs(config: config_lib.TrainConfig, spec=None) -> dict[str, Any]:
  """The labels the prepared statistics were taken on, for `config`'s
  resolved objectives: the retrieval objective's (logQ counts), the one
  propensities are estimated from (None where the run has none), and the
  labels whose training rows the lists keep."""
  learning = None
  if spec is not None:
    learning = train_data_lib.learning_labels(config, spec)
  retrieval = [o.label for o in config.objectives if o.kind == "retrieval"]
  propensity = config.prepare.propensity != "none"
  return {
    "retrieval_label": retrieval[0] if retrieval else None,
    "propensity_label": config.prepare.propensity_label if propensity else None,
    # The training rows kept: every one (no entry), or those of these
    # labels (`train_data.learning_labels`).
    "learning_labels": list(learning or ()) or "every row",
  }


def _lists_differ(cached: dict[str, Any], wanted: dict[str, Any]) -> str:
  """Why statistics prepared for `cached` do not serve `wanted`, or ""."""
  for key, value in wanted.items():
    if value is not None and cached.get(key) != value:
      return f"{key} was {cached.get(key)!r}, now {value!r}"
  return ""


def fingerprint(value: Any) -> str:
  text = json.dumps(value, sort_keys=True, default=repr)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepared(
  config: config_lib.TrainConfig, directory: str
) -> train_data_lib.TrainData:
  """The run's prepared data, from the cache in `directory` if it matches,
  else prepared from the raw log and cached there first."""
  found, why = load(directory, config)
  if found is not None:
    logging.info("Prepared data: reusing the cache in %s.", directory)
    return found
  logging.info("Prepared data: %s; preparing it from the raw log.", why)
  began = time.time()
  write(config, directory)
  logging.info(
    "Prepared data: cached in %s (%.1f s).", directory, time.time() - began
  )
  found, why = load(directory, config)
  if found is None:
    raise CacheError(f"{directory}: the cache just written: {why}.")
  return found


def write(config: config_lib.TrainConfig, directory: str) -> None:
  """Prepares the data of `config` and writes it as the cache in
  `directory` (replacing an old one)."""
  parent = os.path.dirname(os.path.abspath(directory))
  os.makedirs(parent, exist_ok=True)
  with scratch_lib.folder(parent) as scratch:
    if stream.in_pieces(config):
      data, splits = stream.prepare_log(config, scratch)
    else:
      data = train_data_lib.prepare(
        loaders.load(config.data, config.seed), config
      )
      splits = {}
      for name, table in data.lists.items():
        writer = shards.Writer(
          scratch, name, shards.columns_of(table), config.prepare.shard_mb
        )
        writer.add(table)
        splits[name] = writer.split()
      data = data.without_lists()
    _finish(scratch, data, splits, config)
    os.chmod(scratch, 0o755)
    _replace(scratch, directory, config)


def _finish(scratch, data, splits, config):
  """Writes the state, the feature statistics (their vocabularies as
  files, `stats.FeatureStats.save`) and the manifest beside the shards."""
  if data.stats is not None:
    saved = data.stats.save(scratch)
    # The folder is renamed into place: `load` says where it is.
    data = dataclasses.replace(
      data, stats=dataclasses.replace(saved, directory="")
    )
  with open(os.path.join(scratch, STATE), "wb") as f:
    pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
  manifest_splits = {}
  for name, split in splits.items():
    manifest_splits[name] = {
      "lists": split.lists,
      "rows": data.summary.get(name, {}).get("rows"),
      "shards": [
        {"file": os.path.basename(f), "lists": n, "bytes": os.path.getsize(f)}
        for f, n in zip(split.files, split.file_lists, strict=True)
      ],
      "columns": {k: [t, list(s)] for k, (t, s) in split.columns.items()},
    }
  raw = inputs(config)
  manifest = {
    "format": FORMAT,
    "version": VERSION,
    "library": multiobj.__version__,
    "inputs": raw,
    "fingerprint": fingerprint(raw),
    "list_inputs": list_inputs(data.config, data.data.spec),
    "splits": manifest_splits,
    "summary": data.summary,
  }
  with open(os.path.join(scratch, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=1)


def _replace(scratch, directory, config):
  """Moves `scratch` to `directory`. A cache there that matches `config`
  stands (another run prepared it meanwhile, and may be reading it); any
  other goes first."""
  if os.path.exists(directory):
    if load(directory, config)[0] is not None:
      logging.info("Prepared data: another run wrote %s first.", directory)
      return
    old = tempfile.mkdtemp(
      prefix=scratch_lib.REPLACED,
      dir=os.path.dirname(os.path.abspath(directory)),
    )
    try:
      os.rename(directory, os.path.join(old, "cache"))
    except FileNotFoundError:
      pass  # Another run replaced it first.
    shutil.rmtree(old, ignore_errors=True)
  scratch_lib.seal(scratch)  # Last: a kill before leaves it removable.
  try:
    os.rename(scratch, directory)
  except OSError:
    # Another run wrote the same cache meanwhile; theirs stands.
    logging.info("Prepared data: another run wrote %s first.", directory)


def read_manifest(directory: str) -> dict[str, Any]:
  """The manifest of the cache in `directory`; CacheError if unusable."""
  path = os.path.join(directory, MANIFEST)
  try:
    with open(path) as f:
      manifest = json.load(f)
  except json.JSONDecodeError as e:
    raise CacheError(f"{path}: not a valid manifest ({e.msg}).") from None
  if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
    raise CacheError(f"{path}: not a multiobj cache manifest.")
  written = (manifest.get("version"), manifest.get("library"))
  if written != (VERSION, multiobj.__version__):
    raise CacheError(
      f"{path}: written by multiobj {written[1]} (cache format "
      f"{written[0]}); this is {multiobj.__version__} (format {VERSION})."
    )
  for split in manifest["splits"].values():
    for shard in split["shards"]:
      file = os.path.join(directory, shard["file"])
      size = os.path.getsize(file) if os.path.exists(file) else None
      if size != shard["bytes"]:
        found = "missing" if size is None else f"{size:,} bytes"
        raise CacheError(
          f"{file}: {found}, the manifest says {shard['bytes']:,} bytes: "
          "the shard is truncated or was replaced; prepare the data again."
        )
  return manifest


def load(
  directory: str, config: config_lib.TrainConfig
) -> tuple[train_data_lib.TrainData | None, str]:
  """(the cached data, "") if the cache in `directory` matches `config`,
  else (None, why not)."""
  if not os.path.exists(os.path.join(directory, MANIFEST)):
    return None, f"no cache in {directory}"
  try:
    manifest = read_manifest(directory)
  except CacheError as e:
    return None, f"cache refused: {e}"
  raw = inputs(config)
  if manifest["fingerprint"] != fingerprint(raw):
    return None, "cache is stale: " + _difference(manifest["inputs"], raw)
  try:
    with open(os.path.join(directory, STATE), "rb") as f:
      state: train_data_lib.TrainData = pickle.load(f)
  except (OSError, EOFError, pickle.UnpicklingError, AttributeError) as e:
    return None, f"cache refused: {directory}/{STATE} cannot be read ({e})"
  run = dataclasses.replace(
    config,
    prepare=resolve.resolve(config.prepare, state.data),
    retrieval=config.retrieval.resolved(state.data.retrieval),
  )
  differ = _lists_differ(
    manifest["list_inputs"], list_inputs(run, state.data.spec)
  )
  if differ:
    return None, f"cache is stale: {differ}"
  for name, split in manifest["splits"].items():
    needed = lists_lib.columns_for(
      state.data.spec, run.objectives, with_truth=name != "train"
    )
    missing = [c for c in needed if c not in split["columns"]]
    if missing:
      return None, (
        f"cache lacks column {missing[0]!r} of split {name!r}, which these "
        "objectives read"
      )
  splits = {
    name: shards.Split(
      files=tuple(shards.paths(directory, split["shards"])),
      columns={k: (v[0], tuple(v[1])) for k, v in split["columns"].items()},
      lists=split["lists"],
      file_lists=tuple(s["lists"] for s in split["shards"]),
    )
    for name, split in manifest["splits"].items()
  }
  data = state.with_shards(run, splits)
  if data.stats is not None:
    stats = dataclasses.replace(data.stats, directory=directory)
    data = dataclasses.replace(data, stats=stats)
  return dataclasses.replace(data, cache_dir=directory), ""


def _difference(cached: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
  """Names the first input that differs, for the log."""
  for key in sorted(set(cached) | set(wanted)):
    a, b = cached.get(key), wanted.get(key)
    if json.dumps(a, default=repr) == json.dumps(b, default=repr):
      continue
    if key == "files":
      before = {f[0]: f[1:] for f in a or []}
      after = {f[0]: f[1:] for f in b or []}
      for path in sorted(set(before) | set(after)):
        if path not in after:
          return f"data file {path} is gone"
        if path not in before:
          return f"data file {path} is new"
        if before[path] != after[path]:
          return f"data file {path} changed"
    if isinstance(a, dict) and isinstance(b, dict):
      for k in sorted(set(a) | set(b)):
        if json.dumps(a.get(k), default=repr) != json.dumps(
          b.get(k), default=repr
        ):
          return f"{key}.{k} was {a.get(k)!r}, now {b.get(k)!r}"
    return f"{key} was {a!r}, now {b!r}"
  return "inputs differ"
