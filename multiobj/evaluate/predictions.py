"""Running a model over evaluation lists: each head's predictions.

Pointwise metrics (AUC, log loss, RMSE) score the model on the features that
were logged, position included: they measure how well a head predicts the
logged event. Rankings (NDCG) are produced as at serving, with every context
feature at its serving value, since ranking by the logged position would
replay the production ranker's order. `predict` gives both.
"""

import collections
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from multiobj.data import dataset as dataset_lib
from multiobj.prepare import lists as lists_lib

# {objective name: {"logged": [N, L], "serving": [N, L]}}
Predictions = dict[str, dict[str, np.ndarray]]


def predict(
  model, lists: dataset_lib.Table, batch_size: int
) -> tuple[Predictions, np.ndarray]:
  """Runs the model over `lists`.

  Returns:
    (predictions of every ranking head on logged and on serving context,
     [num_lists, D] query embeddings).
  """
  dataset = lists_lib.make_dataset(lists, batch_size, shuffle=False, seed=0)
  predicted, query, _ = predict_dataset(model, dataset, keep=())
  return predicted, query


def predict_dataset(
  model, dataset: tf.data.Dataset, keep: Sequence[str]
) -> tuple[Predictions, np.ndarray, dataset_lib.Table]:
  """Runs the model over the batches of `dataset` (streamed: lists of any
  number), keeping of each batch only the columns in `keep` (labels, ids,
  masks; not the features).

  Returns:
    (predictions as `predict`'s, query embeddings, {column in `keep`: its
    values, text decoded}).
  """

  @tf.function(reduce_retracing=True)
  def forward(batch):
    logged = model.predictions(model(batch, training=False))
    outputs = model(model.serving_inputs(batch), training=False)
    return logged, model.predictions(outputs), outputs["query_embedding"]

  # Each batch's arrays, by (part, name); joined a column at a time, each
  # column's batches freed as it is joined (the peak: the columns and one).
  parts = collections.defaultdict(list)
  for batch in dataset:
    logged, serving, query = forward(batch)
    for part, values in (("logged", logged), ("serving", serving)):
      for name, value in values.items():
        parts[part, name].append(value.numpy())
    parts["query", ""].append(query.numpy())
    for name in keep:
      if name in batch:
        parts["kept", name].append(batch[name].numpy())
  joined = {key: _joined(parts.pop(key)) for key in list(parts)}
  predictions = {
    name: {"logged": value, "serving": joined["serving", name]}
    for (part, name), value in joined.items()
    if part == "logged"
  }
  query = joined.get(("query", ""), np.zeros((0, 0), np.float32))
  table = {name: v for (part, name), v in joined.items() if part == "kept"}
  return predictions, query, table


def _joined(values: list[np.ndarray]) -> np.ndarray:
  """One column from its batches (emptied as they are joined), text
  decoded."""
  value = np.concatenate(values)
  values.clear()
  if value.dtype.kind in "OS":
    flat = [v.decode("utf-8") for v in value.reshape(-1)]
    value = np.array(flat, dtype=object).reshape(value.shape)
  return value
