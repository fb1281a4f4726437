"""Exporting a trained model for serving: one SavedModel, four signatures
(`signatures.py`), one of them also `serving_default`, and the catalogue's
embeddings beside them for an external index.

  retrieve    query features, each [batch]
              -> {"ids": [batch, k], "scores": [batch, k]}
  embed_query query features, each [batch] -> {"embedding": [batch, dim]}
  rank        query features, each [batch], and candidate features, each
              [batch, list_size]
              -> {head: [batch, list_size] for each ranking head,
                  "score": [batch, list_size]}
  rank_lists  `rank` for lists of different lengths, unpadded: candidate
              features each [total] (the lists one after the other) and
              `list_lengths` [batch]
              -> {head: [total] for each ranking head, "score": [total]}

`catalogue_embeddings.parquet`, in the SavedModel directory, holds each
catalogue item's id (the item id column's name) and `embedding` (its
candidate tower's output, float32): `retrieve`'s scores are the dot products
of `embed_query`'s embedding and these, so any vector index or database
(FAISS, ScaNN, a vector store) loaded from the file and queried with
`embed_query` returns `retrieve`'s top k, exact or approximate by its own
index.

`serving_default`, the signature TensorFlow Serving and `saved_model_cli`
call when none is named, is `retrieve` (a user's query to the top k items,
what a TFRS retrieval index serves by default), or `rank` for a model
without a retrieval objective. serving.json names it (`default_signature`).

`retrieve` returns the `k` catalogue items closest to the query (cosine
similarity of the tower embeddings, the `scores`), best first. Its index is
built here, at export time, by the candidate tower over every row of the
catalogue given: a new catalogue needs a new export, not a new training run,
and an item never seen in training is embedded from its other features (its
id falls in the out-of-vocabulary bucket) and served like any other.

`rank` and `rank_lists` score the candidates of each list as a server would: every context
feature takes its serving value (position 1), so context features are not
inputs. Each head's prediction is on the label's natural scale: a
probability for a binary head, the label itself for a regression head (dwell
seconds, not the log1p seconds the head learns), the raw score of a listwise
head. `score` is the value model `blend` (see `blend.py`) over those
predictions, or, without a blend, the first binary head's probability.

Inputs take the dtype the model was trained on: int64 for integer ids and
categories, string for other ids, categories and text, float32 for numerics.
`serving.json`, written inside the SavedModel directory, lists each
signature's inputs and outputs with their dtypes and shapes, the blend and
`k`, for TensorFlow Serving users. The blend text is also in the SavedModel,
as the string variable `blend` ("" without one).

The SavedModel needs TensorFlow only, not this library:

  loaded = tf.saved_model.load(path)
  top = loaded.signatures["retrieve"](user_id=tf.constant([7], tf.int64), ...)

With `index="scann"` the approximate index (`tfrs.layers.factorized_top_k.
ScaNN`) is a second SavedModel of its own, in `scann/` inside the export:
its `retrieve` (also `serving_default`) takes the same query features and
returns the same outputs, approximately. It holds ScaNN's custom ops (saved
with the namespace whitelist TFRS documents): a process must `import scann`
before loading it, and TensorFlow Serving needs a build with those ops. The
main SavedModel never holds them, so stock TensorFlow and TensorFlow
Serving load it, its exact `retrieve` and `rank` included. A query whose
searched leaves hold fewer than k items gets its empty slots as id
`missing_id` (-1, or "" for string ids) with score -inf.
"""

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_recommenders as tfrs
from absl import logging

from multiobj import serve
from multiobj.data import spec as spec_lib
from multiobj.data import vectors
from multiobj.model import model as model_lib
from multiobj.retrieval import index as index_lib
from multiobj.serve import blend as blend_lib
from multiobj.serve import signatures as signatures_lib
from multiobj.serve.signatures import SCORE, missing_id  # noqa: F401

INDEXES = serve.INDEXES
SERVING_JSON = "serving.json"
CATALOGUE_EMBEDDINGS = "catalogue_embeddings.parquet"
# The approximate index's SavedModel, inside the export.
SCANN_DIR = "scann"
# TensorFlow Serving's and saved_model_cli's default signature key.
DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# ScaNN's ops live in this namespace; SavedModel refuses ops outside core
# TensorFlow unless whitelisted (TFRS's efficient-serving guide).
SCANN_NAMESPACES = ["Scann"]


def export(
  model: model_lib.MultiObjectiveModel,
  catalogue: Mapping[str, np.ndarray],
  path: str,
  blend: str | None = None,
  k: int = 100,
  index: str = "brute_force",
) -> dict[str, Any]:
  """Writes a SavedModel with the signatures above to `path`.

  `retrieve` is exported when the model has a retrieval objective, `rank`
  and `rank_lists` when it has a ranking head.

  Args:
    model: A trained model, e.g. from `train.run_dir.load_model`.
    catalogue: {column: [C]} every candidate feature of the items to serve,
      one row per item (extra columns are ignored).
    path: The SavedModel directory.
    blend: A value model over the ranking heads, e.g.
      "click*purchase^0.5*log1p(dwell)"; None scores by the first binary
      head (the first head if none is binary).
    k: Items `retrieve` returns per query; at most the catalogue's size.
    index: "brute_force" (exact) or "scann" (approximate).

  Returns:
    serving.json's content, as written beside the SavedModel.

  Raises:
    ValueError: for a catalogue missing a candidate feature, holding an item
      id twice or a value of the wrong type; an unknown head in `blend`; an
      unknown `index`; k < 1.
  """
  heads, value_model = _checked(model, blend, k, index)
  catalogue = check_catalogue(model, catalogue)
  ids = catalogue[model.spec.item_id]
  dtypes = input_dtypes(model)
  serving = tf.Module(name="multiobj_serving")
  serving.blend = tf.Variable(
    str(value_model) if value_model else "", trainable=False, name="blend"
  )
  signatures, owners, embeddings = {}, [model], None
  if model.retrieval_objective is not None:
    k = min(k, len(ids))
    embeddings = _embeddings(model, catalogue)
    signatures, top_k = _retrieval(serving, model, embeddings, ids, dtypes, k)
    owners.append(top_k)
  else:
    logging.warning("No retrieval objective: no retrieve signature.")
  if heads:
    for name, make in signatures_lib.RANKERS.items():
      setattr(serving, name, make(model, value_model, dtypes))
      signatures[name] = getattr(serving, name).get_concrete_function()
  _track_state(serving, signatures.values(), owners)
  default = "retrieve" if "retrieve" in signatures else "rank"
  signatures[DEFAULT_SIGNATURE] = signatures[default]
  tf.saved_model.save(serving, path, signatures=signatures)
  description = _description(model, signatures, value_model, k, len(ids))
  description["default_signature"] = default
  if embeddings is not None:
    _write_embeddings(path, model.spec.item_id, ids, embeddings)
    description["catalogue_embeddings"] = CATALOGUE_EMBEDDINGS
    if index == "scann":
      _export_scann(model, embeddings, ids, dtypes, k, path)
      description["scann"] = {
        "path": SCANN_DIR,
        "signatures": ["retrieve", DEFAULT_SIGNATURE],
        "missing_id": missing_id(dtypes[model.spec.item_id]),
      }
  with open(os.path.join(path, SERVING_JSON), "w") as f:
    json.dump(description, f, indent=1)
  logging.info("Exported %s (%s).", path, ", ".join(signatures))
  return description


def _checked(model, blend, k, index):
  """(ranking heads, the value model or None) once the arguments are
  checked."""
  if index not in INDEXES:
    raise ValueError(
      f"Unknown index {index!r}; expected one of {', '.join(INDEXES)}."
    )
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}.")
  heads = [o.name for o in model.ranking_objectives]
  if SCORE in heads:
    raise ValueError(
      f"A ranking head is named {SCORE!r}, the name of the blended score."
    )
  if not blend:
    return heads, None
  if not heads:
    raise ValueError(f"blend {blend!r}: the model has no ranking head.")
  return heads, blend_lib.Blend.parse(blend, heads)


def check_catalogue(
  model: model_lib.MultiObjectiveModel,
  catalogue: Mapping[str, np.ndarray],
  where: str = "catalogue",
) -> dict[str, np.ndarray]:
  """The candidate features of `catalogue`, in the dtypes the model takes.

  Raises:
    ValueError: naming `where` and the column for a missing candidate
      feature or a value of the wrong type, or the id of an item listed
      twice.
  """
  spec = model.spec
  # An embedding feature's column is its key's (`vectors.add_columns`).
  catalogue = vectors.add_columns(catalogue, spec)
  names = [
    f.name for f in spec.features_of("candidate") if f.kind != spec_lib.KEY
  ]
  spec_lib.check_columns(catalogue, names, where)
  dtypes = input_dtypes(model)
  out = {}
  for name in names:
    column = np.asarray(catalogue[name])
    if column.ndim != 1:
      raise ValueError(
        f"{where}: column {name!r} must be one value per item, got shape "
        f"{column.shape}."
      )
    dtype = dtypes[name]
    try:
      if dtype == tf.string:
        out[name] = column.astype(str).astype(object)
      elif dtype == tf.int64:
        if column.dtype.kind not in "iu":
          raise ValueError(f"dtype {column.dtype}")
        out[name] = column.astype(np.int64)
      else:
        out[name] = column.astype(np.float32)
    except (TypeError, ValueError):
      raise ValueError(
        f"{where}: column {name!r} must hold {dtype.name} values, as in "
        f"training; got {column.dtype} (e.g. {column[:1].tolist()})."
      ) from None
  if not spec.has_item_ids:  # A key made of the features: no ids to check.
    out[spec.item_id] = np.asarray(catalogue[spec.item_id])
  ids = out[spec.item_id]
  if len(ids) == 0:
    raise ValueError(f"{where}: no items.")
  values, counts = np.unique(ids, return_counts=True)
  if (counts > 1).any():
    twice = values[counts > 1]
    raise ValueError(
      f"{where}: duplicate item ids in column {model.spec.item_id!r}: "
      f"{', '.join(map(str, twice[:5].tolist()))}"
      + (f" and {len(twice) - 5} more" if len(twice) > 5 else "")
      + "."
    )
  return out


def input_dtypes(model: model_lib.MultiObjectiveModel) -> dict[str, tf.DType]:
  """{feature name: dtype the model takes} of every feature of `model`."""
  encoders = [model.query_tower.encoder, model.candidate_tower.encoder]
  if model.context_encoder is not None:
    encoders.append(model.context_encoder)
  return {
    e.feature.name: e.input_dtype for enc in encoders for e in enc.encoders
  }


def _track_state(serving, functions, owners):
  """Makes every variable and lookup table the functions use part of the
  SavedModel, and nothing else: no optimizer slot or metric, and no Keras
  object (whose own serialization would trace every layer again)."""
  variables = {id(v): v for f in functions for v in f.variables}
  serving.state = list(variables.values())
  serving.tables = [
    o
    for owner in owners
    for o in tf.train.TrackableView(owner).descendants()
    if isinstance(o, tf.saved_model.experimental.TrackableResource)
  ]


def _embeddings(model, catalogue) -> np.ndarray:
  """[C, dim] float32: every catalogue item by the candidate tower."""
  names = [f.name for f in model.spec.features_of("candidate")]
  return index_lib.embed_catalogue(
    model.candidate_tower, catalogue, names
  ).astype(np.float32)


def _retrieval(serving, model, embeddings, ids, dtypes, k):
  """({"retrieve", "embed_query"} signatures, the exact index) on
  `serving`."""
  top_k = _build_index(embeddings, ids, "brute_force", k)
  serving.retrieve = signatures_lib.retrieve_function(
    model, top_k, dtypes, k, exact=True, catalogue=(embeddings, ids)
  )
  if serving.retrieve.boost_rows is not None:  # Tracked, so saved.
    serving.boost_rows = serving.retrieve.boost_rows
  serving.embed_query = signatures_lib.embed_query_function(model, dtypes)
  signatures = {
    "retrieve": serving.retrieve.get_concrete_function(),
    "embed_query": serving.embed_query.get_concrete_function(),
  }
  return signatures, top_k


def _export_scann(model, embeddings, ids, dtypes, k, path):
  """The ScaNN index as a SavedModel of its own in `path`/scann: `retrieve`
  (and serving_default) on the query features, approximate."""
  top_k = _build_index(embeddings, ids, "scann", k)
  if getattr(model, "boost", None) is not None:
    logging.warning(
      "The ScaNN index retrieves by the towers alone, without the bonus of "
      "the user's boosted histories' items (the exact `retrieve` adds it): "
      "merge those items into its candidates to serve them."
    )
  module = tf.Module(name="multiobj_scann")
  module.retrieve = signatures_lib.retrieve_function(
    model, top_k, dtypes, k, exact=False
  )
  retrieve = module.retrieve.get_concrete_function()
  _track_state(module, [retrieve], [model, top_k])
  tf.saved_model.save(
    module,
    os.path.join(path, SCANN_DIR),
    signatures={"retrieve": retrieve, DEFAULT_SIGNATURE: retrieve},
    options=tf.saved_model.SaveOptions(namespace_whitelist=SCANN_NAMESPACES),
  )


def _write_embeddings(path, id_name, ids, embeddings):
  """The catalogue's ids and embeddings as Parquet (an embedding a row)."""
  dim = embeddings.shape[1]
  vectors = pa.FixedSizeListArray.from_arrays(
    pa.array(embeddings.reshape(-1), pa.float32()), dim
  )
  table = pa.table({id_name: pa.array(ids), "embedding": vectors})
  pq.write_table(table, os.path.join(path, CATALOGUE_EMBEDDINGS))


def _build_index(embeddings, ids, index, k):
  size = len(embeddings)
  embeddings, ids = tf.constant(embeddings), tf.constant(ids)
  if index == "brute_force":
    layer = tfrs.layers.factorized_top_k.BruteForce(k=k, name="index")
  else:
    layer = index_lib.scann(size, k, name="index")
  logging.info("Indexing %d items (%s).", size, index)
  return layer.index(embeddings, ids)


def _describe(function) -> dict[str, Any]:
  def spec(t):
    shape = t.shape.as_list() if t.shape.rank is not None else None
    return {"dtype": t.dtype.name, "shape": shape}

  (features,), _ = function.structured_input_signature
  return {
    "inputs": {name: spec(t) for name, t in features.items()},
    "outputs": {
      name: spec(t) for name, t in function.structured_outputs.items()
    },
  }


def _description(model, signatures, value_model, k, size):
  """serving.json's content."""
  return {
    "signatures": {
      name: _describe(function) for name, function in signatures.items()
    },
    "blend": str(value_model) if value_model else None,
    "score": str(value_model)
    if value_model
    else signatures_lib.default_score(model),
    "k": k if "retrieve" in signatures else None,
    "catalogue_items": size,
    "context_serving_values": {
      f.name: f.serving_value for f in model.spec.features_of("context")
    },
  }
