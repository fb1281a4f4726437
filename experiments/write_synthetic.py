r"""Writes the synthetic log as sharded Parquet files with a JSON description.

Example (1M requests, 10M rows):

  python -m experiments.write_synthetic --output_dir=/tmp/syn1m \
      --synthetic_requests=1000000

It writes DIR/rows/part-*.parquet (one file per chunk of requests, each
written in the memory of one chunk), DIR/catalogue.parquet and
DIR/dataset.json, and prints the path of the last; train on it with
`python -m experiments.train --dataset_spec=DIR/dataset.json ...`. The
synthetic flags are those of `experiments.train`; a directory that already
holds the same log keeps its data.
"""

from absl import app, flags, logging

from experiments import output_flags, synthetic_flags
from multiobj.data import synthetic

flags.adopt_module_key_flags(synthetic_flags)
flags.declare_key_flag("output_dir")


def run(config: synthetic.SyntheticConfig, output_dir: str) -> str:
  """Writes the log of `config` to `output_dir`; returns its description."""
  path = synthetic.write_shards(config, output_dir)
  print(path)
  return path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not output_flags.OUTPUT_DIR.value:
    raise app.UsageError("--output_dir is required.")
  logging.set_verbosity(logging.INFO)
  run(synthetic_flags.config_from_flags(), output_flags.OUTPUT_DIR.value)


if __name__ == "__main__":
  app.run(main)
