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

from multiobj import progress as progress_lib
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
  predicted, query, _ = predict_dataset(
    model, dataset, keep=(), lists=dataset_lib.num_rows(lists)
  )
  return predicted, query


def predict_dataset(
  model,
  dataset: tf.data.Dataset,
  keep: Sequence[str],
  lists: int = 0,
) -> tuple[Predictions, np.ndarray, dataset_lib.Table]:
  """Runs the model over the batches of `dataset` (streamed: lists of any
  number), keeping of each batch only the columns in `keep` (labels, ids,
  masks; not the features).

  Args:
    model: The model.
    dataset: Batches of lists.
    keep: The columns of the batches to return.
    lists: How many lists the batches hold, if known: the outputs are then
      allocated once (else they grow as batches come).

  Returns:
    (predictions as `predict`'s, query embeddings, {column in `keep`: its
    values, text decoded}).
  """

  # One trace for every batch, the last, smaller one too (the spec's batch
  # dimension is None); without context features the serving predictions
  # are the logged ones, computed once. No AutoGraph, as in training: the
  # model has no tensor-dependent Python control flow, and converting it took
  # about 0.9 s a run.
  context = bool(model.spec.features_of("context"))

  @tf.function(input_signature=[dataset.element_spec], autograph=False)
  def forward(batch):
    outputs = model(batch, training=False)
    logged = model.predictions(outputs)
    if context:
      outputs = model(model.serving_inputs(batch), training=False)
    return logged, model.predictions(outputs), outputs["query_embedding"]

  filled = _Filled(lists)
  steps = int(dataset.cardinality().numpy())
  progress = progress_lib.Progress(
    "Predictions", steps if steps > 0 else None, "batches"
  )
  for batch in dataset:
    logged, serving, query = forward(batch)
    progress.step()
    row = {("query", ""): query.numpy()}
    for part, values in (("logged", logged), ("serving", serving)):
      row.update({(part, k): v.numpy() for k, v in values.items()})
    row.update({("kept", k): batch[k].numpy() for k in keep if k in batch})
    filled.add(row)
  out = filled.arrays()
  predictions = {
    name: {"logged": value, "serving": out["serving", name]}
    for (part, name), value in out.items()
    if part == "logged"
  }
  query = out.get(("query", ""), np.zeros((0, 0), np.float32))
  table = {}
  for (part, name), value in out.items():
    if part == "kept" and value.dtype.kind in "OS":
      flat = [v.decode("utf-8") for v in value.reshape(-1)]
      value = np.array(flat, dtype=object).reshape(value.shape)
    if part == "kept":
      table[name] = value
  return predictions, query, table


class _Filled:
  """Arrays filled a batch at a time, in place: allocated once for `rows`
  rows, or doubled as they fill. (Joining the batches' own arrays at the
  end held twice the memory, and the thousands of small arrays it freed
  stayed in the process's heap.)"""

  def __init__(self, rows: int):
    self._rows, self._n, self._arrays = rows, 0, {}

  def add(self, values: dict) -> None:
    size = len(next(iter(values.values())))
    for key, value in values.items():
      array = self._arrays.get(key)
      if array is None:
        shape = (max(self._rows, size), *value.shape[1:])
        array = self._arrays[key] = np.empty(shape, value.dtype)
      elif self._n + size > len(array):
        grown = np.empty((2 * (self._n + size), *array.shape[1:]), array.dtype)
        grown[: self._n] = array[: self._n]
        array = self._arrays[key] = grown
      array[self._n : self._n + size] = value
    self._n += size

  def arrays(self) -> dict:
    return {key: array[: self._n] for key, array in self._arrays.items()}
