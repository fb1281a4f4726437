"""Running a model over evaluation lists: each head's predictions.

Pointwise metrics (AUC, log loss, RMSE) score the model on the features that
were logged, position included: they measure how well a head predicts the
logged event. Rankings (NDCG) are produced as at serving, with every context
feature at its serving value, since ranking by the logged position would
replay the production ranker's order. `predict` gives both.
"""

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

  @tf.function(reduce_retracing=True)
  def forward(batch):
    logged = model.predictions(model(batch, training=False))
    outputs = model(model.serving_inputs(batch), training=False)
    return logged, model.predictions(outputs), outputs["query_embedding"]

  chunks = []
  for batch in lists_lib.make_dataset(lists, batch_size, shuffle=False, seed=0):
    chunks.append(tf.nest.map_structure(lambda t: t.numpy(), forward(batch)))
  logged, serving, query = (
    tf.nest.map_structure(
      lambda *xs: np.concatenate(xs), *[c[i] for c in chunks]
    )
    for i in range(3)
  )
  predictions = {
    name: {"logged": logged[name], "serving": serving[name]} for name in logged
  }
  return predictions, query
