"""An encoder that needs no download: latent semantic analysis of words.

An `embedding` feature takes vectors from any encoder (`vectors.py`). Teams
bring a sentence or image model's; where none is at hand (no network, or a
first baseline), `lsa` turns each item's words into a dense vector: TF-IDF
weights (Keras' `TextVectorization`, `output_mode="tf_idf"`) reduced to
`dim` dimensions by a truncated SVD (scipy's `svds`). Items whose words
co-occur get nearby vectors, which is what an unseen item needs to be
placed among known ones.

`documents` makes each item's words from a table: the words of its text
columns and, for each 0/1 column set to 1, the column's name (a genre
flag), so `Toy Story (1995)` of the animation, children's and comedy genres
is `toy story 1995 animation children comedy`.
"""

from collections.abc import Sequence

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import tensorflow as tf

from multiobj.data import vectors
from multiobj.data.description import loader, tables


def documents(
  table: dict[str, np.ndarray],
  text_columns: Sequence[str],
  flag_columns: Sequence[str] = (),
) -> np.ndarray:
  """Each row's words: its text columns joined, then the names of its flag
  columns that are 1. ValueError naming a missing column, or a flag
  column holding a value other than 0 and 1."""
  for name in [*text_columns, *flag_columns]:
    if name not in table:
      raise ValueError(
        f"No column {name!r} to encode; the table has "
        f"{', '.join(sorted(table))}."
      )
  count = len(next(iter(table.values())))
  words = [np.asarray(table[n], dtype=str).astype(object) for n in text_columns]
  for name in flag_columns:
    flags = np.asarray(table[name])
    bad = ~np.isin(flags, (0, 1))
    if bad.any():
      raise ValueError(
        f"Flag column {name!r} holds {flags[bad][0]!r} (row "
        f"{int(np.flatnonzero(bad)[0]) + 1}); flags are 0 or 1."
      )
    words.append(np.where(flags == 1, name, "").astype(object))
  if not words:
    return np.full(count, "", dtype=object)
  joined = words[0]
  for more in words[1:]:
    joined = joined + " " + more
  return joined


def lsa(
  texts: Sequence[str], dim: int, max_tokens: int = 50_000, seed: int = 0
) -> np.ndarray:
  """[len(texts), dim] float32: each text's TF-IDF vector projected on the
  `dim` leading singular directions of all of them (scaled by their
  singular values). Fewer directions than `dim` exist when the texts have
  fewer distinct words: the remaining columns are zeros."""
  if dim < 1:
    raise ValueError(f"dim must be >= 1, got {dim}.")
  texts = tf.constant(np.asarray(texts, dtype=object).astype(str))
  layer = tf.keras.layers.TextVectorization(
    max_tokens=max_tokens, output_mode="tf_idf"
  )
  layer.adapt(texts, batch_size=4096)
  parts = [
    scipy.sparse.csr_matrix(layer(texts[start : start + 1024]).numpy())
    for start in range(0, int(texts.shape[0]), 1024)
  ]
  weights = scipy.sparse.vstack(parts).astype(np.float64)
  k = min(dim, min(weights.shape) - 1)
  out = np.zeros((weights.shape[0], dim), np.float32)
  if k < 1:
    return out
  u, s, vt = scipy.sparse.linalg.svds(weights, k=k, random_state=seed)
  order = np.argsort(-s)
  u, s, vt = u[:, order], s[order], vt[order]
  # A singular vector's sign is arbitrary: fixed so that its largest
  # weight is positive, for the same vectors on every machine.
  signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
  out[:, :k] = u * s * signs
  return out


def catalogue_vectors(
  dataset_spec: str,
  text_columns: Sequence[str],
  flag_columns: Sequence[str],
  dim: int,
  output: str,
  data_dir: str | None = None,
) -> str:
  """Writes `lsa` vectors of the items of `dataset_spec`'s catalogue file
  (any of its columns, described or not) to the .npz `output`, keyed by
  the catalogue's id column; returns `output`."""
  check, parsed = loader.parse(dataset_spec, data_dir)
  if "catalogue" not in parsed["tables"]:
    raise ValueError(f"{dataset_spec}: no catalogue file to encode.")
  table = parsed["tables"]["catalogue"]
  columns, _ = tables.read(check, table)
  key = table["key"] or parsed["spec"].item_id
  found = lsa(documents(columns, text_columns, flag_columns), dim)
  return vectors.write_npz(output, np.asarray(columns[key]), found)
