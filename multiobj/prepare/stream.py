"""Preparing a log larger than memory: rows in pieces, lists out of core.

For a dataset described in JSON (docs/dataset_spec.md) whose log does not
fit the preparation's memory budget (`--prepare_memory_mb`), this builds the
same cache as preparation in memory (`cache.py`), in two passes over disk:

  pass 1  the rows are read piece by piece (`data.pieces`), each piece
          typed, joined and checked as the description says (a message
          names the file and the row in it, whichever piece it is in), and
          appended to one of P partition files (Arrow IPC, in a scratch
          folder) by a hash of its list id, so every impression list is
          whole in one partition; P is chosen so that a partition fits the
          budget. Each list's id, length and first time are kept (24 bytes
          a list).
  pass 2  each partition in turn: its rows split as the description says
          (exactly as `data.splits` splits a table in memory, from the ids
          and times of pass 1), grouped into lists (`lists.to_lists`) and
          written to the split's shards (`shards.Writer`); the training rows
          feed the feature statistics (`stats.Counter`), the item counts of
          logQ and the summary, all summed over partitions.

Memory is bounded by a partition, not by the log; the scratch files take
about the log's size in Arrow on disk and are removed at the end. A log of
one partition gives the lists preparation in memory gives, in the same
order. Not here (they need the whole log in memory, and say so): sampled
negatives, cold-start items, a split given as files. Propensities are
estimated on an even sample of `PROPENSITY_LISTS` training lists.
"""

import dataclasses
import os
import shutil
import time

import numpy as np
import pyarrow as pa
from absl import logging

from multiobj import config as config_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import history, synthetic, validation
from multiobj.data.description import keys as description_keys
from multiobj.data.description import loader
from multiobj.data.description import tables as tables_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import partition, resolve, shards, windows
from multiobj.prepare import propensity as propensity_lib
from multiobj.prepare import stats as stats_lib
from multiobj.prepare import train_data as train_data_lib
from multiobj.retrieval import candidates

PROPENSITY_LISTS = 500_000


# Peak memory of preparing a synthetic impression in memory (measured:
# 7.1 GB for 10M impressions).
_SYNTHETIC_ROW_BYTES = 750


def in_pieces(config: config_lib.TrainConfig) -> bool:
  """Whether the log is prepared in pieces (`stream.py`): a described log,
  or the synthetic one, expected to take more memory than the
  preparation's budget."""
  data = config.data
  if data.dataset == "synthetic":
    rows = data.synthetic.num_requests * data.synthetic.list_size
    expected = rows * _SYNTHETIC_ROW_BYTES / 2**20
  elif data.dataset == "json":
    expected = partition.estimated_mb(data.dataset_spec, data.data_dir)
  else:
    return False
  return expected > config.prepare.memory_mb


def prepare_log(
  config: config_lib.TrainConfig, scratch: str
) -> tuple[train_data_lib.TrainData, dict[str, shards.Split]]:
  """`stream.prepare`; a synthetic log is first written as Parquet shards
  (in `scratch`, removed with it), then read like any described log."""
  logging.info(
    "Prepared data: the log exceeds --prepare_memory_mb=%d; preparing it "
    "in pieces.",
    config.prepare.memory_mb,
  )
  streamed = config
  if config.data.dataset == "synthetic":
    path = synthetic.write_shards(
      config.data.synthetic, os.path.join(scratch, "log")
    )
    streamed = config.replace(dataset="json", dataset_spec=path)
  data, splits = prepare(streamed, scratch)
  if streamed is not config:
    shutil.rmtree(os.path.join(scratch, "log"))
    data = dataclasses.replace(
      data, config=dataclasses.replace(data.config, data=config.data)
    )
  return data, splits


def prepare(
  config: config_lib.TrainConfig, scratch: str
) -> tuple[train_data_lib.TrainData, dict[str, shards.Split]]:
  """Prepares the described log of `config` into shards in `scratch`.

  Returns:
    (the prepared data without lists, {split: its shards}).
  """
  began = time.time()
  check, d = loader.parse(config.data.dataset_spec, config.data.data_dir)
  spec, tables = d["spec"], d["tables"]
  _refuse(config, d)
  users = tables_lib.read_side(
    check, tables, spec, "users", spec.user_id, "query"
  )
  catalogue = tables_lib.read_side(
    check, tables, spec, "catalogue", spec.item_id
  )
  if catalogue is None:
    raise ValueError(
      f"{check.file}: a log prepared in pieces needs a 'catalogue' file (the "
      "catalogue cannot be gathered from rows that are not all in memory); "
      "add one, or raise --prepare_memory_mb to read the log in memory."
    )
  stub = dataset_lib.Dataset(
    spec=spec,
    splits={},
    catalogue=catalogue,
    objectives=d["objectives"],
    info=d["info"],
    retrieval=d["retrieval"],
  )
  validation.check_catalogue(stub)
  config = dataclasses.replace(
    config,
    prepare=resolve.resolve(config.prepare, stub),
    retrieval=config.retrieval.resolved(stub.retrieval),
  )
  work = os.path.join(scratch, "partitions")
  os.makedirs(work)
  index, partitions = partition.partition(
    config, check, d, users, catalogue, work
  )
  logging.info(
    "Prepared data: pass 1 done, %d rows in %d lists, %d partitions (%.0f s).",
    int(index.rows.sum()),
    len(index.keys),
    len(partitions),
    time.time() - began,
  )
  split_of = _splits(check, d, index, config.seed)
  totals = _lists(config, spec, catalogue, index, split_of, partitions, scratch)
  for path in partitions:
    os.remove(path)
  os.rmdir(work)
  return _state(config, stub, totals), totals["splits"]


def _refuse(config, d):
  prepare = config.prepare
  why = None
  if d["negatives"] is not None or prepare.negatives:
    why = "sampled negatives (--negatives)"
  elif prepare.cold_start_items:
    why = "cold-start items (--cold_start_items)"
  elif d["split"]["method"] == "files":
    why = "a split given as files"
  elif len(loader.row_tables(d)) > 1 or d["merge"]:
    why = "rows given as several tables, or merged"
  elif not d["spec"].has_item_ids:
    why = "a log without item ids"
  elif d["full_ranking"] is not None:
    why = "the full-ranking evaluation"
  elif d["split"]["method"] in description_keys.PER_USER_SPLITS:
    why = f"a per-user split ({d['split']['method']})"
  if why:
    raise ValueError(
      f"{config.data.dataset_spec}: the log is larger than "
      f"--prepare_memory_mb={prepare.memory_mb}, so it is prepared in pieces, "
      f"which does not support {why}; raise --prepare_memory_mb to prepare "
      "it in memory."
    )


def _splits(check, d, index, seed):
  """Each list's split, as `data.splits` would split the log in memory:
  [lists] 0 train, 1 valid, 2 test, in the order of `index.keys`."""
  split, n = d["split"], len(index.keys)
  if split["method"] == "time":
    order = np.lexsort((index.keys, index.first_time))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    num_test = max(1, int(round(n * split["test"])))
    cut = n - num_test - int(round(n * split["valid"]))
    if cut < 1:
      check.fail("split", f"{n} lists are too few to split.")
    return np.where(rank < cut, 0, np.where(rank < n - num_test, 1, 2)).astype(
      np.int8
    )
  seed = seed if split["seed"] is None else split["seed"]
  rank = np.random.default_rng(seed).permutation(n)
  num_test = max(1, int(round(n * split["test"])))
  cut = num_test + int(round(n * split["valid"]))
  if cut >= n:
    check.fail("split", f"{n} lists are too few to split.")
  return np.where(rank >= cut, 0, np.where(rank >= num_test, 1, 2)).astype(
    np.int8
  )


_NAMES = ("train", "valid", "test")


def _lists(config, spec, catalogue, index, split_of, partitions, scratch):
  """Pass 2: each partition's lists into the shards of their splits."""
  objectives = config.objectives
  longest = {
    s: int(index.rows[split_of == i].max(initial=0))
    for i, s in enumerate(_NAMES)
  }
  if config.prepare.max_list_size:
    longest = {s: int(config.prepare.max_list_size) for s in longest}
  writers = {}
  counter = stats_lib.Counter(spec, config.model.text_max_tokens)
  ids = catalogue[spec.item_id]
  positives, unclicked = np.zeros(len(ids)), np.zeros(len(ids))
  retrieval = [o.label for o in objectives if o.kind == "retrieval"]
  summary = {s: {"rows": 0, "lists": 0, "sums": {}} for s in _NAMES}
  for p, path in enumerate(partitions):
    with pa.memory_map(path) as source:
      table = pa.ipc.open_file(source).read_all()
    rows = {c: _numpy(table[c]) for c in table.column_names}
    del table
    if not dataset_lib.num_rows(rows):
      continue
    key = (
      rows.pop(partition.ROW) if partition.ROW in rows else rows[spec.list_id]
    )
    where = np.searchsorted(index.keys, key)
    split = split_of[where]
    parts = {
      name: dataset_lib.take(rows, np.flatnonzero(split == i))
      for i, name in enumerate(_NAMES)
    }
    # Every row of the partition's users is here (`partition.py`).
    parts = history.add_to_splits(parts, spec)
    learning = train_data_lib.learning_labels(config, spec)
    for i, name in enumerate(_NAMES):
      part = kept = parts[name]
      if name == "train" and learning is not None:
        kept = dataset_lib.take(part, train_data_lib.carrying(part, learning))
        summary[name]["learnt"] = summary[name].get("learnt", 0) + (
          dataset_lib.num_rows(kept)
        )
      if not dataset_lib.num_rows(kept):
        if dataset_lib.num_rows(part):  # Rows no objective learns from.
          _summarise(summary[name], spec, part, None)
          counter.add(part)
        continue
      columns = lists_lib.columns_for(spec, objectives, with_truth=i > 0)
      shape = windows.to_lists if name == "train" else lists_lib.to_lists
      lists = shape(
        kept,
        spec,
        columns,
        longest[name],
        where=f"Dataset {spec.name!r}, split {name!r}",
      )
      if name not in writers:
        writers[name] = shards.Writer(
          scratch, name, shards.columns_of(lists), config.prepare.shard_mb
        )
      writers[name].add(lists)
      _summarise(summary[name], spec, part, lists)
      if name == "train":
        counter.add(part)
        if retrieval:
          valid = lists[lists_lib.MASK] > 0
          pos, neg, _ = candidates.candidate_counts(
            valid, (lists[retrieval[0]] > 0) & valid, lists[spec.item_id], ids
          )
          positives += pos
          unclicked += neg
    logging.info(
      "Prepared data: pass 2, partition %d of %d done.", p + 1, len(partitions)
    )
  return {
    "splits": {name: writer.split() for name, writer in writers.items()},
    "stats": counter.result(),
    "counts": (positives, unclicked, summary["train"]["lists"]),
    "summary": summary,
  }


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
  return column.to_numpy(zero_copy_only=False)


def _summarise(into, spec, rows, lists):
  into["rows"] += dataset_lib.num_rows(rows)
  into["lists"] += dataset_lib.num_rows(lists) if lists is not None else 0
  for label in spec.labels:
    total = float(np.sum(rows[label], dtype=np.float64))
    into["sums"][label] = into["sums"].get(label, 0.0) + total


def _state(config, stub, totals):
  """The prepared data beside the shards: statistics, propensities."""
  spec = stub.spec
  summary = {}
  for name, info in totals["summary"].items():
    if not info["rows"]:
      continue
    summary[name] = {"rows": info["rows"]}
    if "learnt" in info:
      summary[name]["rows_learnt_from"] = info["learnt"]
    if spec.list_id:
      summary[name]["lists"] = info["lists"]
    for label, total in info["sums"].items():
      summary[name][f"mean_{label}"] = total / info["rows"]
  summary["catalogue"] = {"items": dataset_lib.num_rows(stub.catalogue)}
  if "train" not in totals["splits"]:
    raise ValueError(f"Dataset {spec.name!r} has no 'train' split.")
  q = None
  if any(o.kind == "retrieval" for o in config.objectives):
    positives, unclicked, lists = totals["counts"]
    q = candidates.item_probability(
      positives,
      unclicked,
      lists,
      config.retrieval.hard_negatives,
      config.retrieval.uniform_negatives,
    ).astype(np.float32)
  propensities = None
  if config.prepare.propensity != "none":
    train = totals["splits"]["train"]
    sample = shards.read(
      train.files, train.columns, stride=-(-train.lists // PROPENSITY_LISTS)
    )
    propensities = tuple(
      propensity_lib.estimate(
        config.prepare.propensity,
        sample,
        spec,
        config.prepare.propensity_label,
        config.seed,
      ).tolist()
    )
  return train_data_lib.TrainData(
    config=config,
    data=stub,
    lists={},
    cold_items=np.zeros(0, stub.catalogue[spec.item_id].dtype),
    propensities=propensities,
    uniform_probability=q,
    stats=totals["stats"],
    summary=summary,
  )
