"""A run's objectives, resolved for its dataset.

  select      the dataset's own objectives (or the explicit ones), selected
              and weighted by `objective_weights` (`--objectives`), losses
              overridden by `losses` (`--losses`);
  debias      with `propensity`, the objectives learning from the
              propensity label weighted by inverse propensity;
  funnels     objectives that follow another (`funnels`, e.g. purchase
              given click), in the given objective's space or the entire
              space.

After resolution the objectives are explicit and the text that selected them
is spent, so the resolved config (config.json) rebuilds the same model.
Nothing here knows which objective is a click or a purchase: a funnel names
both by name.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np
from absl import logging

import objectives as objectives_lib
from multiobj import config as config_lib
from multiobj.data import dataset as dataset_lib
from multiobj.prepare import propensity as propensity_lib

Objective = objectives_lib.Objective


def resolve(
  config: config_lib.PrepareConfig, data: dataset_lib.Dataset
) -> config_lib.PrepareConfig:
  """`config` with its final objectives for `data`."""
  if not (config.objective_weights or config.objectives or data.objectives):
    raise ValueError(
      f"Dataset {data.spec.name!r} has no objective to train: no column of "
      'its description is a label with an objective ("role": "label", '
      '"objective": ...), and --objectives names none.'
    )
  chosen = objectives_lib.select(
    config.objective_weights,
    config.losses,
    "--objectives",
    config.objectives or data.objectives,
  )
  if not data.spec.has_item_ids and any(o.kind == "retrieval" for o in chosen):
    raise ValueError(
      f"--objectives: retrieval ranks items by their ids, and dataset "
      f"{data.spec.name!r} has none (no item_id column); choose ranking "
      "objectives only."
    )
  label = config.propensity_label
  if config.propensity != "none":
    what = f"--propensity={config.propensity}"
    label = label or _first_label(chosen)
    if not label:
      raise ValueError(
        f"{what}: the run has no binary or listwise objective to weight."
      )
    logging.info(
      "%s: inverse-propensity weights on the objectives learning from %r.",
      what,
      label,
    )
    chosen = debias(chosen, label, what)
  chosen = follow(chosen, config_lib.parse_funnels(config.funnels))
  # The objectives are now explicit; the selection that made them is spent.
  return dataclasses.replace(
    config,
    objectives=tuple(chosen),
    objective_weights="",
    losses="",
    funnels="",
    propensity_label=label,
  )


def _debiased(objective: Objective, label: str) -> bool:
  return objective.label == label and objective.kind in ("binary", "listwise")


def _first_label(chosen: Sequence[Objective]) -> str:
  labels = [o.label for o in chosen if o.kind in ("binary", "listwise")]
  return labels[0] if labels else ""


def debias(
  chosen: Sequence[Objective], label: str, what: str
) -> list[Objective]:
  """The objectives, those learning from `label` inverse-propensity weighted."""
  if not any(_debiased(o, label) for o in chosen):
    raise ValueError(
      f"{what}: no binary or listwise objective learns from {label!r}, so "
      "no loss would be weighted."
    )
  return [
    dataclasses.replace(o, weight_column=propensity_lib.IPW)
    if _debiased(o, label)
    else o
    for o in chosen
  ]


def follow(
  chosen: Sequence[Objective], funnels: Sequence[tuple[str, str, str]]
) -> list[Objective]:
  """The objectives with each funnel's objective following its given one.

  Args:
    chosen: The run's objectives.
    funnels: (objective, given, space) triples (`config.parse_funnels`).

  Raises:
    ValueError: naming the funnel whose objectives are not in the run.
  """
  names = {o.name: o for o in chosen}
  follows = {}
  for name, given, space in funnels:
    missing = [n for n in (given, name) if n not in names]
    if missing:
      text = f"{name}:{given}" + (":entire" if space == "entire" else "")
      raise ValueError(
        f"--funnels={text} needs the objectives {given} and "
        f"{name}; this run has no {' and no '.join(missing)} (it has "
        f"{', '.join(names)})."
      )
    follows[name] = (given, space == "entire")
  return [
    dataclasses.replace(
      o, given=follows[o.name][0], entire_space=follows[o.name][1]
    )
    if o.name in follows
    else o
    for o in chosen
  ]


def warn_outside_funnels(
  chosen: Sequence[Objective], rows: dataset_lib.Table
) -> None:
  """Warns when an objective's training positives do not all follow its
  `given` (they are impossible to the product model, or left out)."""
  names = {o.name: o for o in chosen}
  for o in chosen:
    if o.given is None:
      continue
    positive = rows[o.label] > 0
    outside = int(np.sum(positive & ~(rows[names[o.given].label] > 0)))
    if outside:
      logging.warning(
        "%d of %d training positives of %r (%.0f%%) have no %r: they are %s.",
        outside,
        int(positive.sum()),
        o.name,
        100 * outside / max(int(positive.sum()), 1),
        o.given,
        "fitted against a product that treats them as impossible"
        if o.entire_space
        else "left out of training (the conditional head sees given rows only)",
      )
