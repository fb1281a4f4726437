"""Evaluates a trained run: every metric, a value model, plots.

Example (after `make train`):

  python -m experiments.evaluate --model_dir=runs/default \
      --blend="click*purchase^0.5*log1p(dwell)"

Writes <model_dir>/eval/ (or --output_dir): eval.json, eval.md and PNG
plots, and prints the table. See multiobj/evaluate/offline.py for what is
measured.
"""

from typing import Any

from absl import app, flags, logging

import experiments
from experiments import output_flags, run_flags
from multiobj.serve import blend as blend_lib

_SPLIT = flags.DEFINE_string("split", "test", "The split to evaluate on.")
_KS = flags.DEFINE_list(
  "ks", ["1", "5", "10", "20", "50", "100"], "Retrieval cutoffs."
)
_SLATE_K = flags.DEFINE_integer(
  "slate_k",
  10,
  "Slate length for coverage, diversity and novelty.",
  lower_bound=2,
)
_SCANN = flags.DEFINE_boolean(
  "scann", True, "Also retrieve through a ScaNN index."
)
_PLOTS = flags.DEFINE_boolean("plots", True, "Write PNG plots.")
for _flag in (
  run_flags.MODEL_DIR,
  run_flags.OBJECTIVE_MODULES,
  output_flags.OUTPUT_DIR,
  output_flags.BLEND,
  run_flags.ALLOW_UNFINISHED,
):
  flags.declare_key_flag(_flag.name)


def run(config) -> dict[str, Any]:
  """Evaluates (an `offline.EvaluationConfig`), prints the table and
  returns eval.json's content."""
  # Imported here, with TensorFlow: --help and flag errors need neither.
  from multiobj.evaluate import offline  # noqa: PLC0415

  result = offline.evaluate_run(config)
  print()
  print(result["table"])
  for key, info in result["details"].items():
    if key.endswith("_gauc"):
      print(
        f"{key}: {info['groups']} users scored, {info['skipped_single_class']} "
        "skipped (only positives or only negatives)"
      )
  print(
    f"\nWrote {config.output_dir or config.model_dir + '/eval'}: eval.json, eval.md"
  )
  for path in result["plots"]:
    print(f"  {path}")
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  try:
    ks = tuple(int(k) for k in _KS.value)
  except ValueError:
    raise app.UsageError(f"--ks: not integers: {','.join(_KS.value)}") from None
  if output_flags.BLEND.value:
    try:  # Its syntax and constants, before the model loads.
      blend_lib.Blend.parse(output_flags.BLEND.value, None)
    except ValueError as e:
      raise app.UsageError(f"--blend: {e}.") from None
  from multiobj.evaluate import offline  # noqa: PLC0415  (TensorFlow)

  run(
    offline.EvaluationConfig(
      model_dir=run_flags.MODEL_DIR.value,
      split=_SPLIT.value,
      blend=output_flags.BLEND.value,
      ks=ks,
      slate_k=_SLATE_K.value,
      scann=_SCANN.value,
      plots=_PLOTS.value,
      output_dir=output_flags.OUTPUT_DIR.value,
      allow_unfinished=run_flags.ALLOW_UNFINISHED.value,
    )
  )


if __name__ == "__main__":
  flags.mark_flag_as_required("model_dir")
  app.run(experiments.end_when_done(main))
