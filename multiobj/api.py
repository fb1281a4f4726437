"""The Python API: train, evaluate and export from a program or a notebook,
as `experiments/train.py`, `evaluate.py` and `export.py` do from the command
line, on the same code.

  import multiobj

  run = multiobj.fit("runs/a", epochs=2)            # the synthetic log
  run.metrics["click_auc"], run.model              # metrics.json's, the model
  report = multiobj.evaluate("runs/a", blend="click*purchase")
  serving = multiobj.export("runs/a", "runs/a/export")

Your own data is a JSON description (`docs/dataset_spec.md`), as a file or
a dict; its rows can be a table in memory instead of files: a pyarrow
Table, a pandas DataFrame or a dict of equally long NumPy arrays. The table
is written once as Parquet in the run's directory (`input/rows.parquet`,
with the description beside it) and read from there like any file, so the
run, its cache and every later `evaluate` or `export` see the same rows.
"""

import dataclasses
import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from multiobj import config as config_lib

INPUT = "input"


@dataclasses.dataclass(frozen=True)
class Run:
  """A finished training run.

  Attributes:
    model_dir: Its directory (config.json, checkpoints, metrics.json, ...).
    config: The resolved `config.TrainConfig`.
    metrics: Each test metric (metrics.json's "metrics").
    baselines: The baselines' values of the same metrics.
    result: Everything metrics.json holds (`experiment.RunResult`).
  """

  model_dir: str
  config: config_lib.TrainConfig
  metrics: Mapping[str, float]
  baselines: Mapping[str, float]
  result: Any

  @functools.cached_property
  def model(self):
    """The trained model (its best epoch with early stopping), rebuilt from
    the run's directory on first use."""
    from multiobj.train import run_dir  # noqa: PLC0415

    return run_dir.load_model(self.model_dir)[0]


def fit(
  model_dir: str,
  description: str | Mapping[str, Any] | None = None,
  rows: Any = None,
  verbose: int | None = 0,
  **changes: Any,
) -> Run | None:
  """Trains and tests a model; returns the `Run` (None on a worker of a
  multi-worker run other than the chief, which writes the run).

  Args:
    model_dir: The run's directory.
    description: A dataset description, a path to its JSON file or the
      dict itself; None for the built-in synthetic log.
    rows: The description's rows as a table in memory (pyarrow Table,
      pandas DataFrame or dict of arrays), replacing its "rows".
    verbose: Keras's progress output (0: none, 1: a bar, 2: a line an
      epoch; None: a bar on a terminal).
    **changes: `config.TrainConfig` fields, e.g. epochs=2, trunk="mmoe",
      weighting="uncertainty", losses="click:tce"; `objectives` takes the
      flag's text ("retrieval:1,click:1") or `Objective`s.

  Raises:
    ValueError: for an unknown field (naming the known ones), a description
      or table the data path refuses (naming the column), and every error
      a training run reports.
  """
  from multiobj import experiment  # noqa: PLC0415

  if isinstance(changes.get("objectives"), str):
    changes["objective_weights"] = changes.pop("objectives")
  config = config_lib.TrainConfig(model_dir=model_dir)
  if rows is not None and description is None:
    raise ValueError("rows need a description of their columns.")
  if description is not None:
    spec = _description_file(model_dir, description, rows)
    config = config.replace(dataset="json", dataset_spec=spec)
  config = config.replace(**changes)
  result = experiment.run(config, verbose=verbose)
  if isinstance(result, experiment.WorkerResult):
    return None
  return Run(
    model_dir=model_dir,
    config=result.config,
    metrics=result.metrics,
    baselines=result.baselines,
    result=result,
  )


def evaluate(model_dir: str, **options: Any) -> dict[str, Any]:
  """Every metric of a finished run (`evaluate/offline.py`: per-objective,
  calibration, retrieval, slates); writes eval.json, eval.md and plots to
  `<model_dir>/eval` and returns eval.json's content. Options are
  `EvaluationConfig` fields: split, blend, ks, slate_k, scann, plots,
  output_dir, allow_unfinished."""
  from multiobj.evaluate import offline  # noqa: PLC0415

  return offline.evaluate_run(
    offline.EvaluationConfig(model_dir=model_dir, **options)
  )


def export(model_dir: str, export_dir: str, **options: Any) -> dict[str, Any]:
  """Exports a finished run for serving (`serve/export.py`); returns
  serving.json's content. Options are `ExportConfig` fields: catalogue (a
  table file), blend, k, index, allow_unfinished."""
  from multiobj.serve import from_run  # noqa: PLC0415

  return from_run.export_run(
    from_run.ExportConfig(model_dir=model_dir, export_dir=export_dir, **options)
  )


def _description_file(model_dir, description, rows) -> str:
  """The path of the description to train on: `description`'s own file, or
  one written in `model_dir`/input (with the rows, if given, as Parquet)."""
  if isinstance(description, str) and rows is None:
    return description
  if isinstance(description, str):
    with open(description) as f:
      description = json.load(f)
  folder = os.path.join(model_dir, INPUT)
  os.makedirs(folder, exist_ok=True)
  description = dict(description)
  if rows is not None:
    import pyarrow.parquet as pq  # noqa: PLC0415

    path = os.path.join(folder, "rows.parquet")
    pq.write_table(_arrow(rows), path)
    description["rows"] = {"path": os.path.abspath(path)}
  path = os.path.join(folder, "description.json")
  with open(path, "w") as f:
    json.dump(description, f, indent=1)
  return path


def _arrow(rows):
  """A pyarrow Table of a Table, a pandas DataFrame or a dict of arrays."""
  import pyarrow as pa  # noqa: PLC0415

  if isinstance(rows, pa.Table):
    return rows
  if isinstance(rows, Mapping):
    return pa.table(dict(rows))
  if type(rows).__module__.startswith("pandas"):
    return pa.Table.from_pandas(rows, preserve_index=False)
  raise ValueError(
    f"rows: expected a pyarrow Table, a pandas DataFrame or a dict of "
    f"arrays, got {type(rows).__name__}."
  )
