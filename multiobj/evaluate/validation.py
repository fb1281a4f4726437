"""The validation metric a run keeps its best epoch by.

A retrieval model is judged by what it retrieves, and its validation loss
often rises while its retrieval still improves (or the reverse): the run
keeps the epoch with the best value of a metric of the validation split,
scored by the code that scores the test split. `monitor` names it and
returns the function that scores a model on it after each epoch
(`train.fit` calls it; `train.callbacks.ValidationMetric` logs it):

  auto     for a run that learns retrieval alone (one retrieval objective
           or several), the first one's metric: NDCG at the first cutoff of
           the dataset's full-ranking protocol where it has one, else its
           recall at its largest cutoff over the validation pairs; for a
           run with ranking heads too, the validation loss, the weighted
           sum of every task's (one epoch is kept for all of them, and
           retrieval often peaks before the heads have learnt);
  loss     the validation loss (lower is better);
  a name   any metric the report gives on the validation split, e.g.
           `retrieval_full_ndcg@10`, `retrieval_recall@100`, `click_auc`
           (higher is better, but for those of `LOWER`).

Beyond `USERS` validation users (full ranking) or `LISTS` validation lists
(the others), an even sample is scored, the same each epoch.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from multiobj.evaluate import full_ranking, report

# Validation users ranked a full-ranking epoch, and lists scored otherwise.
USERS = 10_000
LISTS = 20_000
# Metrics where lower is better.
LOWER = ("logloss", "rmse", "mae")


@dataclasses.dataclass(frozen=True)
class Monitor:
  """A validation metric and how to score it.

  Attributes:
    metric: Its name, as the report gives it (`retrieval_full_ndcg@10`).
    higher: Whether higher is better.
    score: model -> its value on the validation split.
  """

  metric: str
  higher: bool
  score: Callable[[object], float]


def monitor(data, name: str = "auto") -> Monitor | None:
  """The `Monitor` `name` asks for on the validation split of `data` (a
  `prepare.train_data.TrainData`), or None for the validation loss ("loss",
  or "auto" without a retrieval objective).

  Raises:
    ValueError: for a name that is no metric of the run's objectives on
      the validation split, listing those that are.
  """
  if name == "loss":
    return None
  objectives = data.data.scored(data.config.objectives, "valid")
  retrieval = [o for o in objectives if o.kind == "retrieval"]
  protocol = data.data.full_ranking
  if name == "auto":
    if not retrieval or len(retrieval) < len(objectives):
      return None
    o = retrieval[0]
    name = (
      f"{o.name}_{_kind(protocol)}_ndcg@{protocol.ks[0]}"
      if protocol is not None
      else f"{o.name}_recall@{max(_cutoffs(o))}"
    )
  known = _known(objectives, retrieval, protocol)
  if name not in known:
    raise ValueError(
      f"--monitor: {name!r} is not a metric of this run on the validation "
      f"split; it has: loss, auto, {', '.join(sorted(known))}."
    )
  higher = name.rsplit("_", 1)[-1].split("@")[0] not in LOWER
  if "_full_" in name or "_given_" in name:
    return Monitor(name, higher, _ranked(data, retrieval[0], name))
  return Monitor(name, higher, _listed(data, name))


def _kind(protocol) -> str:
  return "given" if protocol.candidates == "given" else "full"


def _cutoffs(objective) -> list[int]:
  return [int(m.split("@")[1]) for m in objective.metrics if "@" in m]


def _known(objectives, retrieval, protocol) -> set[str]:
  known = {f"{o.name}_{m}" for o in objectives for m in o.metrics}
  if retrieval and protocol is not None:
    kind = _kind(protocol)
    known |= {
      f"{retrieval[0].name}_{kind}_{m}@{k}"
      for m in ("recall", "ndcg", "precision")
      for k in protocol.ks
    }
  return known


def _ranked(data, objective, name) -> Callable[[object], float]:
  """The full-ranking protocol's metric on (a sample of) the validation
  users, from the towers."""
  ranking = full_ranking.protocol_ranking(data.data, "valid", objective.label)
  ranking = ranking.sample(USERS)
  k = int(name.rsplit("@", 1)[1])
  prefix = name[: name.rindex("_", 0, name.rindex("@"))]

  def score(model) -> float:
    scores = full_ranking.tower_scores(model, ranking)
    return ranking.metrics(scores, [k], prefix)[name]

  return score


def _listed(data, name) -> Callable[[object], float]:
  """A metric of the report on (an even sample of) the validation lists."""
  lists = data.sample("valid", LISTS)
  catalogue = data.data.catalogue
  objectives = data.data.scored(data.config.objectives, "valid")

  def score(model) -> float:
    metrics = report.model_metrics(
      model, lists, catalogue, objectives=objectives
    )
    value = metrics[name]
    return float(value) if np.isfinite(value) else float("nan")

  return score
