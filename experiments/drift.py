"""Why popularity is hard to beat on a time split: who and what the later
splits hold.

Example:

  python -m experiments.drift --dataset=ml-100k

For the validation and test splits of a dataset with users, prints the share
of their positive pairs whose user (and whose item) the training split has
seen, and the recall@K of the most-popular ranking counted over the whole
training split, over only its latest part (the latest 50%, 20%, 10% and 5%
of its rows, in time order), and over the validation split alone (for
test): how much of what a model can learn about users applies later, and
how far popularity drifts. A pair counts as found when its item is among
the K most popular items, as the training report's recall@K counts the
popularity baseline.
"""

import numpy as np
from absl import app, flags

import experiments
from experiments import common

_K = flags.DEFINE_integer("cutoff", 100, "K of recall@K.", lower_bound=1)
_LABEL = flags.DEFINE_string(
  "label",
  "",
  "The label whose positive rows are the pairs (default: the "
  "retrieval objective's).",
)
flags.declare_key_flag(common.DATASET.name)
flags.declare_key_flag(common.DATASET_SPEC.name)
flags.declare_key_flag(common.DATA_DIR.name)

WINDOWS = (1.0, 0.5, 0.2, 0.1, 0.05)


def popular_recall(train_items, pairs_items, k):
  """Share of `pairs_items` among the k items most frequent in
  `train_items` (ties broken by item id)."""
  items, counts = np.unique(train_items, return_counts=True)
  top = items[np.argsort(-counts, kind="stable")[:k]]
  return float(np.isin(pairs_items, top).mean()) if len(pairs_items) else 0.0


def report(data, label: str, k: int) -> list[str]:
  """The lines `main` prints for a `Dataset`."""
  spec = data.spec
  if not spec.user_id:
    raise app.UsageError(f"Dataset {spec.name!r} has no users.")

  def positive(split):
    """(users, items) of the split's positive rows, in time order."""
    rows = data.split(split)
    keep = np.flatnonzero(rows[label] > 0)
    if spec.timestamp:  # Latest last; else the order of the rows.
      keep = keep[np.argsort(rows[spec.timestamp][keep], kind="stable")]
    return rows[spec.user_id][keep], rows[spec.item_id][keep]

  users, items = positive("train")
  lines = [f"{spec.name}: {len(items)} training pairs ({label} > 0)."]
  later = {s: positive(s) for s in ("valid", "test") if s in data.splits}
  for split, (u, i) in later.items():
    lines.append(
      f"{split}: {len(i)} pairs; user seen in train {np.isin(u, users).mean():.1%}, "
      f"item seen in train {np.isin(i, items).mean():.1%}"
    )
    for share in WINDOWS:
      recent = items[len(items) - int(round(len(items) * share)) :]
      what = "all of train" if share == 1 else f"latest {share:.0%} of train"
      lines.append(
        f"  most popular over {what}: recall@{k} {popular_recall(recent, i, k):.4f}"
      )
    if split == "test" and "valid" in later:
      lines.append(
        f"  most popular over valid alone: recall@{k} "
        f"{popular_recall(later['valid'][1], i, k):.4f}"
      )
  return lines


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  from multiobj.data import loaders  # noqa: PLC0415  (TensorFlow)

  config = common.config_from_flags()
  data = loaders.load(config.data, config.seed)
  label = _LABEL.value or next(
    (o.label for o in data.objectives if o.kind == "retrieval"), None
  )
  if label is None:
    raise app.UsageError("--label: the dataset has no retrieval objective.")
  print("\n".join(report(data, label, _K.value)))


if __name__ == "__main__":
  app.run(experiments.end_when_done(main))
