"""A sweep's results: the Pareto front, results.csv, pareto.png, report.md,
rebuilt from the storage after every trial."""

import csv
import datetime
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from multiobj.studies.sweep import files, plots
from multiobj.studies.sweep.config import SweepConfig


def pareto_mask(
  points: Sequence[Sequence[float]], maximize: Sequence[bool]
) -> list[bool]:
  """Whether each point is Pareto-optimal: no other point is at least as good
  on every objective and better on one. Equal points are all optimal."""
  signed = [
    [v if up else -v for v, up in zip(p, maximize, strict=True)] for p in points
  ]

  def dominates(a, b):
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
      x > y for x, y in zip(a, b, strict=True)
    )

  return [not any(dominates(q, p) for q in signed) for p in signed]


def write_results(
  study: optuna.Study, config: SweepConfig
) -> list[dict[str, Any]]:
  """(Re)writes results.csv, pareto.png and report.md from the storage;
  returns the rows of results.csv."""
  rows = result_rows(study, config)
  columns = list(dict.fromkeys(key for row in rows for key in row))
  path = os.path.join(config.output_dir, "results.csv")
  with files.replacing(path) as f:
    writer = csv.DictWriter(f, columns, restval="")
    writer.writeheader()
    for row in rows:
      writer.writerow({k: _cell(v) for k, v in row.items()})
  plots.plot_front(
    rows, config.objectives, os.path.join(config.output_dir, "pareto.png")
  )
  with files.replacing(os.path.join(config.output_dir, "report.md")) as f:
    f.write(report(study, rows, config))
  return rows


def result_rows(
  study: optuna.Study, config: SweepConfig
) -> list[dict[str, Any]]:
  """One dict a trial (queued ones aside): number, state, duration_s,
  param_*, metric_* (every metric of its metrics.json, the objectives
  first), pareto (among COMPLETE trials), error, retry_of, host, model_dir."""
  trials = [
    t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING
  ]
  complete = [t for t in trials if t.state == TrialState.COMPLETE]
  mask = pareto_mask(
    [t.values for t in complete], [o.maximize for o in config.objectives]
  )
  front = {
    t.number for t, optimal in zip(complete, mask, strict=True) if optimal
  }
  metrics = [o.metric for o in config.objectives]
  metrics += [
    m
    for t in trials
    for m in t.user_attrs.get("metrics", {})
    if m not in metrics
  ]
  metrics = list(dict.fromkeys(metrics))
  rows = []
  for t in sorted(trials, key=lambda t: t.number):
    seconds = (t.duration or _since(t.datetime_start)).total_seconds()
    values = t.user_attrs.get("metrics", {})
    rows.append(
      {
        "number": t.number,
        "state": t.state.name,
        "duration_s": round(seconds, 1),
        **{f"param_{p.name}": t.params.get(p.name) for p in config.space},
        **{f"metric_{m}": values.get(m) for m in metrics},
        "pareto": t.number in front,
        "error": t.user_attrs.get("error", ""),
        "retry_of": t.user_attrs.get("retry_of"),
        "host": t.user_attrs.get("host", ""),
        "model_dir": t.user_attrs.get("model_dir", ""),
      }
    )
  return rows


def report(
  study: optuna.Study, rows: Sequence[Mapping[str, Any]], config: SweepConfig
) -> str:
  """report.md: the command, the best trial per objective, the front, each
  parameter's importance, and the trials that failed or were pruned."""
  done = [r for r in rows if r["state"] == "COMPLETE"]
  states = {
    s: sum(r["state"] == s for r in rows)
    for s in dict.fromkeys(r["state"] for r in rows)
  }
  retried = sum(str(r["error"]).startswith("interrupted") for r in rows)
  lines = [f"# Sweep `{config.study_name}`", ""]
  if config.command:
    lines += ["```sh", config.command, "```", ""]
  lines += [
    f"Storage `{hide_password(config.storage_url)}`, sampler "
    f"{config.sampler}, objectives "
    + ", ".join(f"`{o}`" for o in config.objectives)
    + ". Trials: "
    + ", ".join(f"{n} {s.lower()}" for s, n in states.items())
    + (f" ({retried} interrupted and retried)" if retried else "")
    + ".",
    "",
    "## Best trial per objective",
    "",
    "| objective | best | trial | parameters |",
    "|---|---|---|---|",
  ]
  for o in config.objectives:
    column = f"metric_{o.metric}"
    if done:
      best = (max if o.maximize else min)(done, key=lambda r: r[column])
      lines.append(
        f"| {o} | {best[column]:.4f} | {best['number']} | {_params(best, config)} |"
      )
  front = [r for r in done if r["pareto"]]
  lines += [
    "",
    "## Pareto front",
    "",
    f"{len(front)} of {len(done)} complete trials are Pareto-optimal: no "
    "other complete trial is at least as good on every objective and better "
    "on one.",
    "",
    "| trial | "
    + " | ".join(o.metric for o in config.objectives)
    + " | parameters |",
    "|---" * (len(config.objectives) + 2) + "|",
  ]
  for r in front:
    values = " | ".join(
      f"{r[f'metric_{o.metric}']:.4f}" for o in config.objectives
    )
    lines.append(f"| {r['number']} | {values} | {_params(r, config)} |")
  lines += ["", *importance_table(study, config), ""]
  failed = [r for r in rows if r["state"] in ("FAIL", "PRUNED")]
  if failed:
    lines += [
      "## Failed and pruned trials",
      "",
      "| trial | state | why |",
      "|---|---|---|",
    ]
    lines += [
      f"| {r['number']} | {r['state']} | {str(r['error']).replace('|', '/')} |"
      for r in failed
    ]
    lines.append("")
  lines += [
    "![Pareto front](pareto.png)",
    "",
    "Every trial's parameters and metrics: results.csv. Each training run: "
    "trials/<number>/ (metrics.json, history.jsonl, stdout.log, stderr.log).",
    "",
  ]
  return "\n".join(lines)


# Complete trials before importances are computed: the best quarter then
# holds at least 3, below which PED-ANOVA's estimate of where the best trials
# fall rests on one or two points and one more trial can turn it around.
MIN_IMPORTANCE_TRIALS = 12


def importance_table(study: optuna.Study, config: SweepConfig) -> list[str]:
  """Markdown lines: each parameter's importance for each objective (and,
  with several, for reaching the Pareto front), from
  `MIN_IMPORTANCE_TRIALS` complete trials on.

  PED-ANOVA, Optuna's default evaluator, needs no scikit-learn (Optuna's
  fANOVA does); it compares where the best quarter of the trials fall with
  where all of them do. With a dozen trials it is a rough guide.
  """
  title = ["## Parameter importance (PED-ANOVA)", ""]
  complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
  if len(complete) < MIN_IMPORTANCE_TRIALS:
    return [
      *title,
      f"Not computed: {len(complete)} complete trials; it needs "
      f"{MIN_IMPORTANCE_TRIALS}, so that the best quarter of them holds at "
      "least 3.",
    ]
  varied = [
    p.name
    for p in config.space
    if len({repr(t.params.get(p.name)) for t in complete}) > 1
  ]
  if len(complete) < 2 or not varied:
    return [
      *title,
      "Not computed: it needs two complete trials with different parameters.",
    ]
  targets = {
    o.metric: (lambda t, i=i, s=(-1 if o.maximize else 1): s * t.values[i])
    for i, o in enumerate(config.objectives)
  }
  if len(config.objectives) > 1:
    targets["Pareto front"] = None
  evaluator = optuna.importance.PedAnovaImportanceEvaluator(
    target_quantile=0.25
  )
  columns = {}
  for name, target in targets.items():
    # Importance is a summary: a failure to compute it must not stop the
    # sweep, nor may "equal" importances (PED-ANOVA's answer when the best
    # quarter is too small to tell parameters apart) read as a result.
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      try:
        found = optuna.importance.get_param_importances(
          study,
          evaluator=evaluator,
          params=varied,
          target=target,
          normalize=False,
        )
      except Exception as e:  # noqa: BLE001
        columns[name] = f"n/a ({type(e).__name__})"
        continue
    total = sum(found.values())
    if total <= 0 or any("will be equal" in str(w.message) for w in caught):
      columns[name] = "n/a (too few trials)"
    else:
      columns[name] = {k: v / total for k, v in found.items()}
  lines = [
    *title,
    "Share of each parameter in reaching each objective's best quarter of "
    "trials (columns sum to 1; n/a: too few trials in the best quarter to "
    "tell the parameters apart).",
    "",
    "| parameter | " + " | ".join(columns) + " |",
    "|---" * (len(columns) + 1) + "|",
  ]
  for name in varied:
    cells = [
      f"{c.get(name, 0.0):.2f}" if isinstance(c, dict) else c
      for c in columns.values()
    ]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return lines


def hide_password(url):
  return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _since(start):
  return datetime.datetime.now() - start


def short(value):
  return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(value):
  if isinstance(value, bool):
    return "true" if value else "false"
  return "" if value is None else value


def _params(row, config):
  return ", ".join(
    f"{p.name}={short(row[f'param_{p.name}'])}" for p in config.space
  )
