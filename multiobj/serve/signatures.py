"""The functions a SavedModel serves (`export.py` writes them): `retrieve`,
`rank` on lists padded to one length, and `rank_lists` on lists of any
lengths, given flat.

  rank_lists  query features, each [batch]; candidate features, each
              [total], the lists one after the other; `list_lengths`
              [batch] int64, the candidates of each list
              -> {head: [total] for each ranking head, "score": [total]}

`rank_lists` is `rank` for clients whose lists differ in length (most
recommendation requests): nothing to pad, and the model sees each list as
it is (its mask marks the padding it adds inside), so a listwise head's
score of a list does not depend on the longest list of the batch.
"""

import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.data import vectors
from multiobj.prepare import lists as lists_lib
from multiobj.retrieval import candidates as candidates_lib

SCORE = "score"
LIST_LENGTHS = "list_lengths"


def missing_id(dtype: tf.DType):
  """The id of a slot ScaNN left empty: -1, or "" for string ids."""
  return "" if dtype == tf.string else -1


def spec(dtypes, names, shape):
  return {n: tf.TensorSpec(shape, dtypes[n], name=n) for n in names}


def inputs_of(model, role) -> list[str]:
  """The inputs a signature takes for the features of `role`: not an item
  key, nor an embedding feature (looked up by its key's input)."""
  return [
    f.name
    for f in model.spec.features_of(role)
    if f.kind not in (spec_lib.KEY, "embedding")
  ]


def retrieve_function(model, top_k, dtypes, k, exact, catalogue=None):
  """`retrieve`: query features -> the top `k` items of `top_k`'s index.
  A model with a boost (`model/boost.py`) scores every item of `catalogue`
  ((embeddings, ids), the index's) exactly instead, the bonus of the
  query's boosted histories' items added."""
  names = inputs_of(model, "query")
  boosted = getattr(model, "boost", None) is not None and exact
  rows = None
  if boosted:
    embeddings, ids = (tf.constant(x) for x in catalogue)
    rows = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        candidates_lib.id_key(ids), tf.range(tf.size(ids, tf.int64))
      ),
      default_value=-1,
    )

  @tf.function(input_signature=[spec(dtypes, names, [None])], autograph=False)
  def retrieve(features):
    features = _looked_up(model, checked(features, names, [], names[0]))
    query = model.query_tower(features)
    if boosted:
      keys = model.boost.keys_of(features)
      found = tf.matmul(query, embeddings, transpose_b=True)
      found += model.boost.over(keys, rows.lookup, ids.shape[0])
      scores, at = tf.math.top_k(found, k=k)
      return {"ids": tf.gather(ids, at), "scores": scores}
    scores, ids_found = top_k(query, k=k)
    if not exact:
      scores, ids_found = fill_misses(scores, ids_found, k)
    return {"ids": ids_found, "scores": scores}

  # The catalogue's rows by id, a resource the SavedModel must track.
  retrieve.boost_rows = rows
  return retrieve


def embed_query_function(model, dtypes):
  """`embed_query`: query features, each [batch] -> {"embedding": [batch,
  dim]}, the query tower's output, whose dot product with an item's
  embedding is `retrieve`'s score."""
  names = inputs_of(model, "query")

  @tf.function(input_signature=[spec(dtypes, names, [None])], autograph=False)
  def embed_query(features):
    features = _looked_up(model, checked(features, names, [], names[0]))
    return {"embedding": model.query_tower(features)}

  return embed_query


def checked(features, query, candidate, reference):
  """`features` once every input is checked: its rows (and, for candidate
  inputs, list lengths) match those of `reference`, and its numbers are
  finite. A failed check names the input (InvalidArgumentError)."""
  shape = tf.shape(features[reference])
  checks = []
  for name in [*query, *candidate]:
    value = features[name]
    dims = shape[:1] if name in query else shape
    checks.append(
      tf.debugging.assert_equal(
        tf.shape(value)[: len(value.shape)],
        dims[: len(value.shape)],
        # (No quotes: TensorFlow escapes them in an assertion's message.)
        message=f"input {name}: its shape differs from that of input "
        f"{reference} ([batch] for query inputs, [batch, list] for "
        "candidate inputs)",
      )
    )
    if value.dtype.is_floating:
      checks.append(
        tf.debugging.assert_all_finite(
          value, message=f"input {name!r}: a value is NaN or infinite"
        )
      )
  with tf.control_dependencies(checks):
    return {k: tf.identity(v) for k, v in features.items()}


def fill_misses(scores, ids, k):
  # ScaNN returns as many columns as the most items it found for a query of
  # the batch, at most k; a query with fewer gets NaN scores and index 0,
  # which would read as the first catalogue item. Such slots become
  # (-inf, missing_id) and the result [batch, k].
  found = tf.logical_not(tf.math.is_nan(scores))
  missing = tf.constant(missing_id(ids.dtype), ids.dtype)
  scores = tf.where(found, scores, float("-inf"))
  ids = tf.where(found, ids, missing)
  pad = [[0, 0], [0, k - tf.shape(ids)[1]]]
  scores = tf.pad(scores, pad, constant_values=float("-inf"))
  ids = tf.pad(ids, pad, constant_values=missing)
  return tf.ensure_shape(scores, [None, k]), tf.ensure_shape(ids, [None, k])


def natural_scale(model, predictions):
  out = dict(predictions)
  for o in model.ranking_objectives:
    if o.label_transform == "log1p":
      out[o.name] = tf.math.expm1(out[o.name])
  return out


def default_score(model) -> str | None:
  binary = [o.name for o in model.ranking_objectives if o.kind == "binary"]
  heads = [o.name for o in model.ranking_objectives]
  return (binary or heads or [None])[0]


def rank_function(model, value_model, dtypes):
  """`rank`: candidate features [batch, list_size], every slot an item."""
  query, candidate = _names(model)
  signature = {
    **spec(dtypes, query, [None]),
    **spec(dtypes, candidate, [None, None]),
  }

  @tf.function(input_signature=[signature], autograph=False)
  def rank(features):
    item = _reference(model, candidate)
    features = _looked_up(model, checked(features, query, candidate, item))
    mask = tf.ones(tf.shape(features[item]), tf.float32)
    return _scores(model, value_model, dtypes, features, mask)

  return rank


def rank_lists_function(model, value_model, dtypes):
  """`rank_lists`: candidate features flat [total], `list_lengths` [batch]."""
  query, candidate = _names(model)
  signature = {
    **spec(dtypes, query, [None]),
    **spec(dtypes, candidate, [None]),
    LIST_LENGTHS: tf.TensorSpec([None], tf.int64, name=LIST_LENGTHS),
  }

  @tf.function(input_signature=[signature], autograph=False)
  def rank_lists(features):
    features = dict(features)
    lengths = features.pop(LIST_LENGTHS)
    item = _reference(model, candidate)
    checks = [
      tf.debugging.assert_equal(
        tf.size(lengths, tf.int64),
        tf.shape(features[query[0]], tf.int64)[0],
        message=f"input {LIST_LENGTHS}: one length a list, as many as the "
        f"rows of input {query[0]}",
      ),
      tf.debugging.assert_non_negative(
        lengths, message=f"input {LIST_LENGTHS}: a length is negative"
      ),
    ]
    checks += [
      tf.debugging.assert_equal(
        tf.size(features[name], tf.int64),
        tf.reduce_sum(lengths),
        message=f"input {name}: as many values as the lengths in input "
        f"{LIST_LENGTHS} sum to",
      )
      for name in candidate
    ]
    with tf.control_dependencies(checks):
      lengths = tf.identity(lengths)
    padded = dict(features)
    for name in candidate:
      ragged = tf.RaggedTensor.from_row_lengths(features[name], lengths)
      padded[name] = ragged.to_tensor(_padding(dtypes[name]))
    features = _looked_up(model, checked(padded, query, candidate, item))
    mask = tf.sequence_mask(
      lengths, tf.shape(features[item])[1], dtype=tf.float32
    )
    outputs = _scores(model, value_model, dtypes, features, mask)
    # Back to the flat order of the candidates given.
    return {k: tf.boolean_mask(v, mask > 0) for k, v in outputs.items()}

  return rank_lists


def _looked_up(model, features):
  """`features` with each embedding feature's input: its key's."""
  return vectors.add_columns(features, model.spec)


def _reference(model, candidate):
  """The input whose shape the others' must match: the item id, or without
  ids the first candidate feature."""
  return model.spec.item_id if model.spec.has_item_ids else candidate[0]


def _names(model):
  """The query and candidate inputs: the features, the item id first among
  the candidate's, never an item key (a log without item ids)."""
  return inputs_of(model, "query"), inputs_of(model, "candidate")


def _padding(dtype):
  return "" if dtype == tf.string else tf.zeros([], dtype)


def _scores(model, value_model, dtypes, features, mask):
  """Each head's predictions on its natural scale and the score, [batch,
  list_size], for the candidates in `features` where `mask` is 1; context
  features at their serving values."""
  inputs = dict(features)
  # The model reads which slots hold an item from the mask.
  inputs[lists_lib.MASK] = mask
  for feature in model.spec.features_of("context"):
    value = feature.serving_value
    if dtypes[feature.name] == tf.string:
      value = str(value)
    inputs[feature.name] = tf.fill(
      tf.shape(mask), tf.constant(value, dtypes[feature.name])
    )
  outputs = model(inputs, training=False)
  predictions = natural_scale(model, model.predictions(outputs))
  if value_model:
    score = value_model.tf(predictions)
  else:
    score = predictions[default_score(model)]
  return {**predictions, SCORE: tf.cast(score, tf.float32)}


# The ranking signatures, by name.
RANKERS = {"rank": rank_function, "rank_lists": rank_lists_function}
