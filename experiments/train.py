"""Trains the multi-objective model and prints its metrics.

Example (the default experiment, `make train`):

  python -m experiments.train --model_dir=runs/default

A smaller, faster run:

  python -m experiments.train --model_dir=/tmp/multiobj --synthetic_requests=2000 \
      --epochs=2 --objectives=retrieval:1,click:1,dwell:0.5,purchase:1
"""

from absl import app, flags, logging

import experiments
from experiments import common, run_flags
from multiobj import config as config_lib

# --help lists these: the training flags (with the dataset's, the synthetic
# log's and the data path's) and two of the run directory's.
flags.adopt_module_key_flags(common)
flags.declare_key_flag(run_flags.OVERWRITE.name)
flags.declare_key_flag(run_flags.CHECKPOINT_EVERY_STEPS.name)


def run(config: config_lib.TrainConfig, flag_values: dict | None = None):
  """Trains, prints the metrics table and returns the run's result (an
  `experiment.RunResult`, or a `WorkerResult` on a worker but the chief)."""
  # Imported here, with TensorFlow: --help and flag errors need neither.
  from multiobj import experiment  # noqa: PLC0415
  from multiobj.evaluate import report  # noqa: PLC0415

  result = experiment.run(config, flags=flag_values)
  if isinstance(result, experiment.WorkerResult):
    print(
      f"\nWorker done after {result.epochs} epochs; the chief writes "
      f"{config.model_dir}."
    )
    return result
  # The objectives the run resolved for its dataset.
  trained = result.config.objectives
  print()
  if config.evaluate_split != "test":
    print(f"On the {config.evaluate_split} split (--evaluate_split):")
  print(
    report.metrics_table(
      trained, result.metrics, result.baselines, result.baseline_names
    )
  )
  timing = result.timing
  resumed = timing.get("resumed_after_epochs", 0)
  speed = timing.get("train_rows_per_second")
  print(
    f"\nTrained {config.fit.epochs - resumed} epochs"
    f"{f' (resumed after epoch {resumed})' if resumed else ''} in "
    f"{timing['fit_seconds']:.0f} s"
    f"{f' ({speed:,.0f} rows/s)' if speed else ''} on "
    f"{result.machine['cpus']} CPUs; metrics in {config.model_dir}/metrics.json"
  )
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  run(common.config_from_flags(), common.flag_values())


if __name__ == "__main__":
  flags.mark_flag_as_required("model_dir")
  app.run(experiments.end_when_done(main))
