"""Flags of the scripts that write results besides a run's directory:
studies, sweeps, evaluation, the synthetic log. Each script declares the
ones it uses as its own (`flags.declare_key_flag`), so its `--help` lists
them; train.py uses none of them, and does not accept them."""

from absl import flags

from multiobj.serve import blend as blend_lib

OUTPUT_DIR = flags.DEFINE_string(
  "output_dir", "", "Where a study or evaluation writes its results."
)
SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of a study's runs.")
BLEND = flags.DEFINE_string(
  "blend",
  "",
  "A value model over the heads: a weighted sum click:1,purchase:3 or an "
  "expression such as click*purchase^0.5*log1p(dwell) with + - * / ^ and "
  f"{', '.join(blend_lib.FUNCTIONS)}; regression heads enter on their "
  "label's scale (dwell in seconds).",
)
