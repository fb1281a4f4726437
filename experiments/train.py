"""Trains the multi-objective model and prints its metrics.

Example (the default experiment, `make train`):

  python -m experiments.train --model_dir=runs/default

A smaller, faster run:

  python -m experiments.train --model_dir=/tmp/multiobj --synthetic_requests=2000 \
      --epochs=2 --objectives=retrieval:1,click:1,dwell:0.5,purchase:1
"""

from typing import Any

from absl import app, flags, logging

from experiments import common
from multiobj import report, training


def run(
  config: training.TrainConfig, flag_values: dict | None = None
) -> dict[str, Any]:
  """Trains, prints the metrics table and returns metrics.json's content."""
  result = training.train(config, flags=flag_values)
  if not result.get("chief", True):
    print(
      f"\nWorker done after {result['epochs']} epochs; the chief writes "
      f"{config.model_dir}."
    )
    return result
  # The objectives the run resolved for its dataset.
  trained = training.TrainConfig.from_dict(result["config"]).objectives
  print()
  print(report.metrics_table(trained, result["metrics"], result["baselines"]))
  timing = result["timing"]
  print(
    f"\nTrained {config.epochs} epochs in {timing['fit_seconds']:.0f} s "
    f"({timing['train_rows_per_second']:,.0f} rows/s) on "
    f"{result['machine']['cpus']} CPUs; metrics in {config.model_dir}/metrics.json"
  )
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  run(common.config_from_flags(), common.flag_values())


if __name__ == "__main__":
  flags.mark_flag_as_required("model_dir")
  app.run(main)
