"""Published studies reproduced on the real datasets, three seeds each.

Example (one study; the table goes to <output_dir>/<study>.md):

  python -m experiments.reproduce --study=ml100k_multitask --output_dir=runs/reproduce

Studies:
  ml100k_multitask  TFRS multitask tutorial: rating-only, retrieval-only and
                    joint models on MovieLens 100K; top-100 retrieval
                    accuracy (recall@100 over all movies) and rating RMSE.
  ml100k_cold_start 10% of movies held out of training; retrieval recall on
                    them from content features, against popularity.
  deca              DeCA's noisy ML-100K: bce and the noise-robust losses on
                    the click head; full-ranking Recall/NDCG@20 on the clean
                    test positives, train and valid items masked.
  taobao            Taobao cart and purchase: purchase Recall@20/50 (full
                    ranking with the towers) with and without the cart
                    objective.
  trunks_synthetic  Shared-bottom, MMoE and PLE trunks, and purchase on every
                    impression, given a click, or in the entire space (ESMM),
                    on synthetic data where click-bait is clicked more and
                    bought less (click_purchase_conflict=1).
  trunks_synthetic_no_conflict
                    The same trunks without the conflict.
  retrieval_negatives
                    In-batch negatives alone, with the batch's unclicked
                    impressions, with uniform draws, and both (synthetic).
  trunks_taobao     The trunks, and purchase given cart (conditional and
                    entire space), on Taobao cart and purchase.
  replicas          One device against a mirrored strategy over two logical
                    CPUs, with and without gathering retrieval candidates
                    across replicas (synthetic).
  features_ml100k, features_ml100k_vectors, features_ml100k_cold_vectors,
  features_ml100k_vocabularies, features_synthetic
                    The user's history, precomputed item vectors (written
                    first, experiments/encode_items.py), for movies never
                    seen in training too, hashed ids and vocabulary cuts.

Rerunning resumes where it stopped (see multiobj/studies/grid.py).
"""

import json
import os
from typing import Any

from absl import app, flags

from experiments import common, output_flags
from experiments.studies import STUDIES
from multiobj import config as config_lib
from multiobj.data import loaders
from multiobj.studies import grid, pages

_STUDY = flags.DEFINE_enum("study", None, list(STUDIES), "Which study to run.")
_PAGE = flags.DEFINE_string(
  "page",
  "",
  "A results page (docs/results/*.md) whose block of this study gets the "
  "table and this command; the runs' results are kept beside it "
  "(runs/<study>.jsonl), from which the test suite checks the table.",
)
for _flag in (common.DATA_DIR, output_flags.OUTPUT_DIR, output_flags.SEEDS):
  flags.declare_key_flag(_flag.name)


def train_config(
  name: str,
  variant: str,
  seed: int,
  output_dir: str,
  data_dir: str,
  first_seed: int | None = None,
):
  study = STUDIES[name]
  # A variant may change what the study sets (a tuned batch size).
  changes = {
    "dataset": study.dataset,
    "data_dir": data_dir,
    "epochs": study.epochs,
    "batch_size": study.batch_size,
    "seed": seed,
    **study.changes,
    **study.variants[variant],
  }
  # The variants of one seed share its prepared data and the baselines
  # fitted on it (a cache holds one seed's preparation).
  changes.setdefault(
    "cache_dir", os.path.join(output_dir, name, "cache", f"seed{seed}")
  )
  if study.baselines_once and seed != first_seed:
    changes["baselines"] = "popularity"
  return config_lib.TrainConfig(
    model_dir=os.path.join(output_dir, name, variant, f"seed{seed}"),
  ).replace(**changes)


def run(
  name: str, seeds: list[int], output_dir: str, data_dir: str
) -> list[dict[str, Any]]:
  study = STUDIES[name]
  if study.setup is not None:
    study.setup(data_dir)
  keys = [(name, variant, seed) for variant in study.variants for seed in seeds]
  return grid.run(
    os.path.join(output_dir, name),
    keys,
    lambda key: train_config(*key, output_dir, data_dir, seeds[0]),
    study.metrics[0],
  )


def table(name: str, results: list[dict[str, Any]], seeds: list[int]) -> str:
  """Mean ± std over seeds of each metric, per variant, with the baseline."""
  study = STUDIES[name]
  runs = grid.by_key(results)
  header = "| variant | " + " | ".join(study.metrics) + " |"
  lines = [header, "|---" * (len(study.metrics) + 1) + "|"]
  for variant in study.variants:
    rows = [runs.get((name, variant, s)) for s in seeds]
    if any(r is None or "error" in r for r in rows):
      reason = next((r["error"] for r in rows if r and "error" in r), "not run")
      lines.append(f"| {variant} | failed: {reason[:100]} |")
      continue
    cells = [grid.mean_std([value(r, m) for r in rows]) for m in study.metrics]
    lines.append(f"| {variant} | " + " | ".join(cells) + " |")
  first = next(iter(study.variants))
  lines += _baseline_rows(study, [runs.get((name, first, s)) for s in seeds])
  return "\n".join(lines)


def value(row: dict[str, Any], metric: str) -> float | None:
  """A run's `metric`: a metric of metrics.json, or `timing.<name>` (its
  seconds: fit_seconds, total_seconds..., or peak_rss_mb), or
  `best_epoch`, or `seconds_to:<val_metric>>=<value>` (the training
  seconds, validation included, until an epoch's validation value first
  reached it; None if none did)."""
  if metric.startswith("timing."):
    return row.get("timing", {}).get(metric[len("timing.") :])
  if metric == "best_epoch":
    return row.get("best_epoch")
  if metric.startswith("seconds_to:"):
    name, _, target = metric[len("seconds_to:") :].partition(">=")
    values = row.get("validation", {}).get(name, [])
    seconds = row.get("timing", {}).get("epoch_seconds", [])
    for epoch, reached in enumerate(values):
      if reached >= float(target) and epoch < len(seconds):
        return float(sum(seconds[: epoch + 1]))
    return None
  return row["metrics"].get(metric)


def _same_or_spread(values):
  """One value where every seed's is the same (a deterministic baseline on
  a fixed split; float32 sums in another order may differ in the last
  bits), else `grid.mean_std`."""
  known = [v for v in values if v is not None]
  same = bool(known) and len(known) == len(values)
  same = same and max(known) - min(known) <= 1e-5 * max(1.0, abs(known[0]))
  return grid.mean_std(values[:1] if same else values)


def _family(named: str) -> str:
  """A baseline's name without the parameter its run chose: "EASE^R
  (lambda=10, every behaviour)" -> "EASE^R (every behaviour)", apart from
  "EASE^R (lambda=500)" -> "EASE^R"."""
  base, _, inside = named.partition(" (")
  rest = [p for p in inside.rstrip(")").split(", ") if p and "=" not in p]
  return f"{base} ({', '.join(rest)})" if rest else base


def _baseline_rows(study, seeds):
  """Each retrieval baseline's row (most popular, item-KNN, EASE^R: mean ±
  std over the seeds, whose runs may choose their parameter apart), then
  the strongest baseline of each metric, the heads' too (item rate, train
  mean), from `seeds`, the first variant's run of each seed (baselines
  depend on the data, not on the model)."""
  seeds = [run for run in seeds if run and "baselines" in run]
  if study.baselines_once:
    seeds = seeds[:1]
  if not seeds:
    return []
  families = {}  # {"item-KNN": {"item-KNN (k=500)": [its metrics, ...]}}
  for run in seeds:
    for named, values in run.get("retrieval_baselines", {}).items():
      family = _family(named)
      families.setdefault(family, {}).setdefault(named, []).append(values)
  lines = []
  known = ["most popular", "item-KNN", "EASE^R"]  # In this order, then others.
  order = sorted(families, key=lambda f: known.index(f) if f in known else 3)
  for chosen in (families[f] for f in order):
    values = [v for runs_of in chosen.values() for v in runs_of]
    cells = [_same_or_spread([v.get(m) for v in values]) for m in study.metrics]
    # Its name with the value each seed's run chose.
    lines.append(f"| {', '.join(chosen)} | " + " | ".join(cells) + " |")
  cells = [
    _same_or_spread([run["baselines"].get(m) for run in seeds])
    for m in study.metrics
  ]
  lines.append("| strongest baseline | " + " | ".join(cells) + " |")
  return lines


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not output_flags.OUTPUT_DIR.value:
    raise app.UsageError("--output_dir is required.")
  seeds = [int(s) for s in output_flags.SEEDS.value]
  data_dir = common.DATA_DIR.value or loaders.default_data_dir()
  page = _PAGE.value
  name = _STUDY.value
  if page:
    if not os.path.isfile(page):
      raise app.UsageError(f"--page: no file {page!r}.")
    with open(page) as f:
      if name not in pages.blocks(f.read()):
        # Said before the runs, not after them.
        raise app.UsageError(
          f"--page: {page} has no block for study {name!r}: add the lines "
          f"'<!-- reproduce:{name} -->' and '<!-- /reproduce:{name} -->' "
          "where its table goes."
        )
  results = run(name, seeds, output_flags.OUTPUT_DIR.value, data_dir)
  text = table(name, results, seeds)
  with open(
    os.path.join(output_flags.OUTPUT_DIR.value, f"{name}.md"), "w"
  ) as f:
    f.write(text + "\n")
  print(text)
  if page:
    write_page(page, name, seeds, results)
    print(f"Wrote the table into {page}.")


def command(name: str, seeds: list[int], page: str) -> str:
  """The command a page shows beside the study's table."""
  default = [int(s) for s in output_flags.SEEDS.default]
  return (
    f"python -m experiments.reproduce --study={name} "
    "--output_dir=runs/reproduce"
    + (f" --seeds={','.join(map(str, seeds))}" if seeds != default else "")
    + f" --page={page}"
  )


def write_page(page: str, name: str, seeds: list[int], results) -> None:
  """The study's block of `page` rewritten, and its runs' results kept
  beside it (`pages.results_path`)."""
  with open(page) as f:
    text = f.read()
  block = pages.body(command(name, seeds, page), table(name, results, seeds))
  text = pages.replace(text, name, block)
  kept = pages.results_path(page, name)
  os.makedirs(os.path.dirname(kept), exist_ok=True)
  with open(kept, "w") as f:
    for row in results:
      f.write(json.dumps(row) + "\n")
  with open(page, "w") as f:
    f.write(text)


if __name__ == "__main__":
  flags.mark_flag_as_required("study")
  app.run(main)
