"""Retrieval over a whole catalogue: its embeddings and the top-k index.

Evaluation and export build the same indexes (TFRS's `BruteForce` for exact
search, `ScaNN` for approximate search) from the same catalogue embeddings,
so the overlap with exact search that evaluation reports is the serving
index's.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from multiobj import progress as progress_lib


def embed_catalogue(
  tower,
  catalogue: Mapping[str, np.ndarray],
  features: Sequence[str],
  batch_size: int = 4096,
) -> np.ndarray:
  """[C, D] embeddings of every catalogue item by the candidate `tower`,
  from its `features` columns of `catalogue`."""
  data = tf.data.Dataset.from_tensor_slices({n: catalogue[n] for n in features})
  embed = tf.function(tower, reduce_retracing=True, autograph=False)
  size = len(catalogue[features[0]]) if features else 0
  progress = progress_lib.Progress("Catalogue embeddings", size, "items")
  out = []
  for batch in data.batch(batch_size):
    out.append(embed(batch).numpy())
    progress.step(len(out[-1]))
  return np.concatenate(out)


def scann(size: int, k: int, name: str | None = None):
  """An untrained `tfrs.layers.factorized_top_k.ScaNN` layer for `size` items.

  About sqrt(size) leaves; a tenth of them searched, or more so that the
  searched leaves hold 3k items on average; the 4k best candidates of the
  quantized search rescored exactly.
  """
  leaves = max(1, min(1000, int(np.sqrt(size))))
  searched = min(
    leaves, max(int(np.ceil(leaves / 10)), int(np.ceil(3 * k * leaves / size)))
  )
  return tfrs.layers.factorized_top_k.ScaNN(
    k=k,
    num_leaves=leaves,
    num_leaves_to_search=searched,
    num_reordering_candidates=min(size, 4 * k),
    name=name,
  )
