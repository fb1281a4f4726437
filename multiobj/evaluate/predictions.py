"""Running a model over evaluation lists: each head's predictions.

Pointwise metrics (AUC, log loss, RMSE) score the model on the features that
were logged, position included: they measure how well a head predicts the
logged event. Rankings (NDCG) are produced as at serving, with every context
feature at its serving value, since ranking by the logged position would
replay the production ranker's order. `predict` gives both.
"""

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

  chunks, kept = [], []
  for batch in dataset:
    chunks.append(tf.nest.map_structure(lambda t: t.numpy(), forward(batch)))
    kept.append({k: batch[k].numpy() for k in keep if k in batch})
  logged, serving, query = (
    tf.nest.map_structure(
      lambda *xs: np.concatenate(xs), *[c[i] for c in chunks]
    )
    for i in range(3)
  )
  predictions = {
    name: {"logged": logged[name], "serving": serving[name]} for name in logged
  }
  table = {}
  for name in kept[0] if kept else ():
    value = np.concatenate([k[name] for k in kept])
    if value.dtype.kind in "OS":
      flat = [v.decode("utf-8") for v in value.reshape(-1)]
      value = np.array(flat, dtype=object).reshape(value.shape)
    table[name] = value
  return predictions, query, table
