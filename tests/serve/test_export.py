"""The exported SavedModel serves what the model computes, without multiobj."""

import contextlib
import csv
import dataclasses
import functools
import io
import json
import os
import re
import subprocess
import sys
from unittest import mock

import numpy as np
import pyarrow.parquet as pq
import scann  # noqa: F401  (loading a ScaNN SavedModel needs its ops)
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from experiments import export as export_script
from multiobj import experiment
from multiobj.config import TrainConfig
from multiobj.data import synthetic
from multiobj.evaluate import retrieval
from multiobj.prepare import lists as lists_lib
from multiobj.serve import blend as blend_lib
from multiobj.serve import export, signatures
from multiobj.train import run_dir
from tests.experiments.test_train import docstring_examples

FLAGS = flags.FLAGS
SMALL = synthetic.SyntheticConfig(
  num_users=200, num_items=100, num_requests=400
)
BLEND = "click*purchase^0.5*log1p(dwell)"
K = 10
QUERY = {
  # User 999999 and country "XX" were never seen: out-of-vocabulary.
  "user_id": [0, 7, 999999],
  "country": ["US", "DE", "XX"],
  "device": ["ios", "android", "web"],
  "age": [25.0, 40.0, 61.5],
}
LISTS = [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14], [50, 51, 52, 53, 54]]
NEW_ID = 100000

# Runs in a fresh interpreter: TensorFlow and NumPy only, no multiobj.
LOAD_AND_CALL = """
import json, sys
import numpy as np
import tensorflow as tf

path, inputs_path, outputs_path = sys.argv[1:]
loaded = tf.saved_model.load(path)
with open(inputs_path) as f:
  inputs = json.load(f)
out = {"blend": np.array(loaded.blend.numpy().decode())}
for name in ("retrieve", "rank"):
  function = loaded.signatures[name]
  specs = function.structured_input_signature[1]
  result = function(
    **{k: tf.constant(inputs[k], spec.dtype) for k, spec in specs.items()}
  )
  out.update({f"{name}/{k}": v.numpy() for k, v in result.items()})
assert "multiobj" not in sys.modules, "multiobj was imported"
assert "objectives" not in sys.modules, "objectives was imported"
np.savez(outputs_path, **out)
"""

# The README's TensorFlow Serving requests, in its row format ("instances":
# one object an example), through the loaded signatures; TensorFlow only.
REPLAY = """
import json, sys
import tensorflow as tf

path, requests_path = sys.argv[1:]
loaded = tf.saved_model.load(path)
with open(requests_path) as f:
  requests = json.load(f)
for request in requests:
  name = request.get("signature_name", "serving_default")
  function = loaded.signatures[name]
  specs = function.structured_input_signature[1]
  rows = request["instances"]
  result = function(
    **{k: tf.constant([r[k] for r in rows], s.dtype) for k, s in specs.items()}
  )
  print(name, sorted((k, tuple(v.shape)) for k, v in result.items()))
assert "multiobj" not in sys.modules and "scann" not in sys.modules
"""
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def _readme_requests():
  """The JSON bodies of the README's curl commands (its Serve section)."""
  with open(README) as f:
    text = f.read()
  section = text[text.index("## Serve") : text.index("## Sweep")]
  return [json.loads(b) for b in re.findall(r"curl -d '(.*?)'", section, re.S)]


def _candidates(catalogue, ids, rows):
  """[B, L] candidate features of catalogue `rows`, with item ids `ids`."""
  rows = np.asarray(rows)
  out = {n: catalogue[n][rows] for n in ("category", "price", "title")}
  out["item_id"] = np.asarray(ids, np.int64)
  return out


def _write_csv(path, table):
  names = list(table)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(names)
    writer.writerows(zip(*(table[n] for n in names), strict=True))


def _new_items(catalogue, count):
  """The features of the first `count` items, under ids never seen."""
  table = {n: catalogue[n][:count] for n in ("category", "price", "title")}
  return {"item_id": np.arange(NEW_ID, NEW_ID + count), **table}


@functools.cache
def _trained_run() -> str:
  """The directory of a small run, trained once for every test here."""
  model_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "export_run")
  experiment.run(
    TrainConfig(model_dir=model_dir).replace(synthetic=SMALL, epochs=1),
    verbose=0,
  )
  return model_dir


def _inputs(signature, values):
  """Tensors of `values` in the dtypes serving.json gives `signature`."""
  return {
    name: tf.constant(values[name], spec["dtype"])
    for name, spec in signature["inputs"].items()
  }


def _serving_json(path):
  with open(os.path.join(path, export.SERVING_JSON)) as f:
    return json.load(f)


class ExportTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model, _ = run_dir.load_model(_trained_run())
    root = tf.compat.v1.test.get_temp_dir()
    cls.catalogue = synthetic.generate(SMALL).catalogue
    cls.export_dir = os.path.join(root, "export")
    export.export(cls.model, cls.catalogue, cls.export_dir, blend=BLEND, k=K)

  def _query_tensors(self):
    dtypes = export.input_dtypes(self.model)
    return {n: tf.constant(v, dtypes[n]) for n, v in QUERY.items()}

  def _expected_retrieval(self, catalogue, k):
    query = self.model.query_tower(self._query_tensors()).numpy()
    scores = query @ retrieval.catalogue_embeddings(self.model, catalogue).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    ids = catalogue["item_id"][top]
    return ids, np.take_along_axis(scores, top, axis=1)

  def _expected_ranking(self, candidates):
    shape = candidates["item_id"].shape
    batch = {
      **self._query_tensors(),
      **{n: tf.constant(v) for n, v in candidates.items()},
      lists_lib.MASK: tf.ones(shape),
      "position": tf.zeros(shape, tf.int64),  # Replaced by serving_inputs.
    }
    model = self.model
    outputs = model(model.serving_inputs(batch), training=False)
    predictions = {k: v.numpy() for k, v in model.predictions(outputs).items()}
    # Served in seconds; the head learns log1p seconds.
    predictions["dwell"] = np.expm1(predictions["dwell"])
    heads = [o.name for o in model.ranking_objectives]
    predictions["score"] = blend_lib.Blend.parse(BLEND, heads)(predictions)
    return predictions

  def test_fresh_process_reproduces_the_model(self):
    candidates = _candidates(self.catalogue, LISTS, LISTS)
    inputs = {**QUERY, **{k: v.tolist() for k, v in candidates.items()}}
    work = self.create_tempdir().full_path
    inputs_path = os.path.join(work, "inputs.json")
    outputs_path = os.path.join(work, "outputs.npz")
    with open(inputs_path, "w") as f:
      json.dump(inputs, f)
    subprocess.run(
      [
        sys.executable,
        "-c",
        LOAD_AND_CALL,
        self.export_dir,
        inputs_path,
        outputs_path,
      ],
      check=True,
      cwd=work,  # Nothing of this repository is importable from there.
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    served = dict(np.load(outputs_path))
    # The vocabularies travel as the SavedModel's assets, not as paths
    # into the run directory.
    assets = os.listdir(os.path.join(self.export_dir, "assets"))
    for name in ("user_id", "item_id", "category", "title"):
      self.assertTrue(
        any(a.startswith(f"{name}-") for a in assets), (name, assets)
      )

    ids, scores = self._expected_retrieval(self.catalogue, K)
    self.assertAllEqual(served["retrieve/ids"], ids)
    self.assertAllClose(served["retrieve/scores"], scores, atol=1e-5)
    expected = self._expected_ranking(candidates)
    self.assertCountEqual(
      [k for k in served if k.startswith("rank/")],
      ["rank/click", "rank/dwell", "rank/purchase", "rank/score"],
    )
    for name, value in expected.items():
      self.assertEqual(served[f"rank/{name}"].shape, (3, 5), msg=name)
      self.assertAllClose(
        served[f"rank/{name}"], value, atol=1e-5, rtol=1e-5, msg=name
      )
    self.assertEqual(
      str(served["blend"]), "click * purchase^0.5 * log1p(dwell)"
    )

  def test_an_external_index_on_the_exported_embeddings_matches_retrieve(self):
    # The catalogue's embeddings, read from the Parquet file and searched by
    # ScaNN's own NumPy searcher (exact dot products) with embed_query's
    # output, give retrieve's ids and scores.
    from scann.scann_ops.py import scann_ops_pybind  # noqa: PLC0415

    table = pq.read_table(
      os.path.join(self.export_dir, export.CATALOGUE_EMBEDDINGS)
    )
    self.assertEqual(table.column_names, ["item_id", "embedding"])
    ids = table["item_id"].to_numpy()
    vectors = table["embedding"].combine_chunks()
    catalogue = vectors.flatten().to_numpy().reshape(len(vectors), -1)
    description = _serving_json(self.export_dir)
    self.assertEqual(
      description["catalogue_embeddings"], export.CATALOGUE_EMBEDDINGS
    )
    loaded = tf.saved_model.load(self.export_dir)
    signatures = description["signatures"]
    query = loaded.signatures["embed_query"](
      **_inputs(signatures["embed_query"], QUERY)
    )["embedding"].numpy()
    self.assertEqual(query.shape, (3, catalogue.shape[1]))
    searcher = (
      scann_ops_pybind.builder(catalogue, K, "dot_product")
      .score_brute_force()
      .build()
    )
    neighbors, scores = searcher.search_batched(query)
    served = loaded.signatures["retrieve"](
      **_inputs(signatures["retrieve"], QUERY)
    )
    self.assertAllEqual(ids[neighbors], served["ids"].numpy())
    self.assertAllClose(scores, served["scores"].numpy(), atol=1e-5)

  def test_the_readme_s_requests_run_as_written(self):
    work = self.create_tempdir().full_path
    requests = _readme_requests()
    self.assertEqual(
      [r["signature_name"] for r in requests], ["retrieve", "rank"]
    )
    path = os.path.join(work, "requests.json")
    with open(path, "w") as f:
      json.dump(requests, f)
    printed = subprocess.run(
      [sys.executable, "-c", REPLAY, self.export_dir, path],
      check=True,
      capture_output=True,
      text=True,
      cwd=work,  # Nothing of this repository is importable from there.
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    ).stdout.splitlines()
    self.assertEqual(
      printed,
      [
        f"retrieve [('ids', (1, {K})), ('scores', (1, {K}))]",
        "rank [('click', (1, 3)), ('dwell', (1, 3)), ('purchase', (1, 3)), "
        "('score', (1, 3))]",
      ],
    )

  def test_saved_model_cli_runs_the_default_signature(self):
    # The tool TensorFlow Serving's users check a model with; without a
    # signature named, it and TF Serving call serving_default: retrieve.
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    work = self.create_tempdir().full_path
    exprs = (  # Python literals (the tool evaluates nothing else).
      "user_id=[0, 7, 999999];country=[b'US', b'DE', b'XX'];"
      "device=[b'ios', b'android', b'web'];age=[25.0, 40.0, 61.5]"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = [cli, "run", "--dir", self.export_dir, "--tag_set", "serve"]
    subprocess.run(
      [*run, "--signature_def", "serving_default", "--input_exprs", exprs]
      + ["--outdir", work],
      check=True,
      capture_output=True,
      env=env,
    )
    ids, scores = self._expected_retrieval(self.catalogue, K)
    self.assertAllEqual(np.load(os.path.join(work, "ids.npy")), ids)
    self.assertAllClose(
      np.load(os.path.join(work, "scores.npy")), scores, atol=1e-5
    )
    shown = subprocess.run(
      [cli, "show", "--dir", self.export_dir, "--all"],
      check=True,
      capture_output=True,
      text=True,
      env=env,
    ).stdout
    for name in (
      "serving_default",
      "retrieve",
      "embed_query",
      "rank",
      "rank_lists",
    ):
      self.assertIn(f"signature_def['{name}']", shown)
    self.assertEqual(
      _serving_json(self.export_dir)["default_signature"], "retrieve"
    )

  def test_serving_json_describes_the_signatures(self):
    description = _serving_json(self.export_dir)
    query = {
      "user_id": {"dtype": "int64", "shape": [None]},
      "country": {"dtype": "string", "shape": [None]},
      "device": {"dtype": "string", "shape": [None]},
      "age": {"dtype": "float32", "shape": [None]},
    }
    retrieve = description["signatures"]["retrieve"]
    self.assertEqual(retrieve["inputs"], query)
    self.assertEqual(
      retrieve["outputs"],
      {
        "ids": {"dtype": "int64", "shape": [None, K]},
        "scores": {"dtype": "float32", "shape": [None, K]},
      },
    )
    rank = description["signatures"]["rank"]
    self.assertEqual(
      rank["inputs"],
      {
        **query,
        "item_id": {"dtype": "int64", "shape": [None, None]},
        "category": {"dtype": "string", "shape": [None, None]},
        "price": {"dtype": "float32", "shape": [None, None]},
        "title": {"dtype": "string", "shape": [None, None]},
      },
    )
    self.assertCountEqual(
      rank["outputs"], ["click", "dwell", "purchase", "score"]
    )
    self.assertEqual(
      description["blend"], "click * purchase^0.5 * log1p(dwell)"
    )
    self.assertEqual(description["k"], K)
    self.assertEqual(description["catalogue_items"], 100)
    # The loaded signatures take exactly these inputs.
    loaded = tf.saved_model.load(self.export_dir)
    for name, signature in description["signatures"].items():
      specs = loaded.signatures[name].structured_input_signature[1]
      self.assertEqual(
        {k: s.dtype.name for k, s in specs.items()},
        {k: v["dtype"] for k, v in signature["inputs"].items()},
      )

  def test_items_unseen_in_training_are_served(self):
    new = _new_items(self.catalogue, 20)
    path = self.create_tempdir().full_path
    # k is clamped to the 20 items: each query gets every one of them.
    export.export(self.model, new, path, k=100)
    loaded = tf.saved_model.load(path)
    top = loaded.signatures["retrieve"](**self._query_tensors())
    self.assertEqual(top["ids"].shape, (3, 20))
    for row in top["ids"].numpy():
      self.assertCountEqual(row, new["item_id"])
    ids, scores = self._expected_retrieval(new, 20)
    self.assertAllEqual(top["ids"], ids)
    self.assertAllClose(top["scores"], scores, atol=1e-5)
    # Ranking new items; without a blend the score is the click head's.
    candidates = _candidates(self.catalogue, np.add(LISTS, NEW_ID), LISTS)
    ranked = loaded.signatures["rank"](
      **self._query_tensors(),
      **{k: tf.constant(v) for k, v in candidates.items()},
    )
    self.assertAllClose(ranked["score"], ranked["click"])
    self.assertTrue(np.isfinite(ranked["score"].numpy()).all())

  def test_rank_lists_scores_lists_of_any_length_unpadded(self):
    loaded = tf.saved_model.load(self.export_dir)
    query = self._query_tensors()
    candidates = _candidates(self.catalogue, LISTS, LISTS)
    lengths = [5, 2, 3]
    flat = {
      k: np.concatenate([v[i, :n] for i, n in enumerate(lengths)])
      for k, v in candidates.items()
    }
    served = loaded.signatures["rank_lists"](
      **query,
      **{k: tf.constant(v) for k, v in flat.items()},
      list_lengths=tf.constant(lengths, tf.int64),
    )
    self.assertCountEqual(served, ["click", "dwell", "purchase", "score"])
    # Each list scored alone by `rank`, unpadded: the same numbers, in the
    # order the candidates were given.
    for name in served:
      alone = [
        loaded.signatures["rank"](
          **{k: v[i : i + 1] for k, v in query.items()},
          **{k: tf.constant(v[i : i + 1, :n]) for k, v in candidates.items()},
        )[name].numpy()[0]
        for i, n in enumerate(lengths)
      ]
      self.assertEqual(served[name].shape, (10,), msg=name)
      self.assertAllClose(
        served[name], np.concatenate(alone), atol=1e-5, rtol=1e-5, msg=name
      )

  def test_rank_lists_names_lengths_that_do_not_fit(self):
    loaded = tf.saved_model.load(self.export_dir)
    query = self._query_tensors()
    flat = {
      k: tf.constant(v.reshape(-1))
      for k, v in _candidates(self.catalogue, LISTS, LISTS).items()
    }
    rank_lists = loaded.signatures["rank_lists"]
    with self.assertRaisesRegex(
      tf.errors.InvalidArgumentError,
      "input item_id: as many values as the lengths in input list_lengths "
      "sum to",
    ):
      rank_lists(**query, **flat, list_lengths=tf.constant([5, 5, 4], tf.int64))
    with self.assertRaisesRegex(
      tf.errors.InvalidArgumentError,
      "input list_lengths: one length a list, as many as the rows of input "
      "user_id",
    ):
      rank_lists(**query, **flat, list_lengths=tf.constant([15], tf.int64))

  def test_signatures_name_a_bad_input(self):
    loaded = tf.saved_model.load(self.export_dir)
    query = self._query_tensors()
    candidates = {
      k: tf.constant(v)
      for k, v in _candidates(self.catalogue, LISTS, LISTS).items()
    }
    bad_age = {**query, "age": tf.constant([25.0, np.nan, 61.5])}
    for name, call in (
      ("retrieve", lambda q, c: loaded.signatures["retrieve"](**q)),
      ("rank", lambda q, c: loaded.signatures["rank"](**q, **c)),
    ):
      with self.subTest(name):
        with self.assertRaisesRegex(
          tf.errors.InvalidArgumentError,
          "input 'age': a value is NaN or infinite",
        ):
          call(bad_age, candidates)
    inf_price = dict(candidates)
    inf_price["price"] = tf.constant(np.full((3, 5), np.inf, np.float32))
    with self.assertRaisesRegex(
      tf.errors.InvalidArgumentError, "input 'price': a value is NaN"
    ):
      loaded.signatures["rank"](**query, **inf_price)
    short = dict(candidates)
    short["title"] = candidates["title"][:, :4]  # Lists of 4, not 5.
    with self.assertRaisesRegex(
      tf.errors.InvalidArgumentError,
      "input title: its shape differs from that of input item_id",
    ):
      loaded.signatures["rank"](**query, **short)
    two_users = {**query, "country": query["country"][:2]}
    with self.assertRaisesRegex(
      tf.errors.InvalidArgumentError,
      "input country: its shape differs from that of input item_id",
    ):
      loaded.signatures["rank"](**two_users, **candidates)

  def test_scann_fills_the_slots_it_leaves_empty(self):
    # A batch where one query found two items and the other one.
    scores = tf.constant([[0.75, 0.5], [0.25, float("nan")]])
    ids = tf.constant([[7, 3], [4, 0]], tf.int64)
    scores, ids = signatures.fill_misses(scores, ids, k=3)
    inf = float("-inf")
    self.assertAllEqual(scores, [[0.75, 0.5, inf], [0.25, inf, inf]])
    self.assertAllEqual(ids, [[7, 3, -1], [4, -1, -1]])


class ExportScriptTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model_dir = _trained_run()
    cls.catalogue = synthetic.generate(SMALL).catalogue

  def _run_example(self, example, paths):
    args = [a for a in example if a.split("=")[0][2:] not in paths]
    args += [f"--{name}={value}" for name, value in paths.items()]
    with (
      flagsaver.flagsaver(),
      contextlib.redirect_stdout(io.StringIO()) as out,
    ):
      FLAGS(["export.py", *args])
      export_script.main(["export.py"])
    return out.getvalue()

  def test_docstring_examples_run(self):
    default, new_catalogue = docstring_examples(export_script)
    export_dir = self.create_tempdir().full_path
    out = self._run_example(
      default, {"model_dir": self.model_dir, "export_dir": export_dir}
    )
    self.assertIn(
      "Exported retrieve, embed_query, rank, rank_lists (serving_default: "
      "retrieve)",
      out,
    )
    self.assertIn("100 items (brute_force), k=100, score = click.", out)

    work = self.create_tempdir().full_path
    catalogue_path = os.path.join(work, "new_items.csv")
    new = _new_items(self.catalogue, 30)
    _write_csv(catalogue_path, new)
    export_dir = os.path.join(work, "export")
    paths = {
      "model_dir": self.model_dir,
      "export_dir": export_dir,
      "catalogue": catalogue_path,
    }
    out = self._run_example(new_catalogue, paths)
    self.assertIn("30 items (scann), k=20", out)
    # The main SavedModel loads without ScaNN (a fresh process that never
    # imports it, as stock TensorFlow Serving); the index is its own.
    subprocess.run(
      [
        sys.executable,
        "-c",
        f"import tensorflow as tf; tf.saved_model.load({export_dir!r})",
      ],
      check=True,
      capture_output=True,
      cwd=work,
    )
    description = _serving_json(export_dir)
    self.assertEqual(description["scann"]["path"], export.SCANN_DIR)
    loaded = tf.saved_model.load(os.path.join(export_dir, export.SCANN_DIR))
    retrieve = description["signatures"]["retrieve"]
    top = loaded.signatures["retrieve"](**_inputs(retrieve, QUERY))
    ids, scores = top["ids"].numpy(), top["scores"].numpy()
    self.assertEqual(ids.shape, (3, 20))
    found = ids != -1
    self.assertTrue(found[:, 0].all())
    self.assertContainsSubset(ids[found], new["item_id"])
    self.assertTrue(np.isneginf(scores[~found]).all())
    main = tf.saved_model.load(export_dir)
    self.assertEqual(main.blend.numpy().decode(), description["blend"])
    self.assertEqual(
      description["blend"], "click * purchase^0.5 * log1p(dwell)"
    )
    self.assertEqual(description["scann"]["missing_id"], -1)

  def _config(self, **changes):
    return export_script.ExportConfig(
      model_dir=self.model_dir,
      export_dir=self.create_tempdir().full_path,
      **changes,
    )

  def test_catalogue_without_a_candidate_feature(self):
    table = _new_items(self.catalogue, 5)
    del table["title"]
    path = os.path.join(self.create_tempdir().full_path, "items.csv")
    _write_csv(path, table)
    with self.assertRaisesRegex(
      ValueError, re.escape(f"{path}: missing column 'title'; columns present:")
    ):
      export_script.run(self._config(catalogue=path))

  def test_catalogue_with_an_id_twice(self):
    table = _new_items(self.catalogue, 5)
    table["item_id"][3] = table["item_id"][1]
    path = os.path.join(self.create_tempdir().full_path, "items.jsonl")
    columns = {k: v.tolist() for k, v in table.items()}
    with open(path, "w") as f:
      for i in range(5):
        f.write(json.dumps({k: v[i] for k, v in columns.items()}) + "\n")
    with self.assertRaisesRegex(
      ValueError,
      re.escape(
        f"{path}: duplicate item ids in column 'item_id': {NEW_ID + 1}."
      ),
    ):
      export_script.run(self._config(catalogue=path))

  def test_blend_with_an_unknown_head(self):
    with self.assertRaisesRegex(
      ValueError,
      "--blend: unknown head 'like' at position 6 in 'click\\*like'; known "
      "heads: click, dwell, purchase",
    ):
      export_script.run(self._config(blend="click*like"))

  def test_a_blend_that_overflows_is_refused_before_the_model_loads(self):
    with (
      mock.patch.object(run_dir, "load_model", side_effect=AssertionError),
      self.assertRaisesWithLiteralMatch(
        ValueError,
        "--blend: the constant 10^10^10 in 'click*10^10^10' is inf, beyond "
        "float32's range (3.4e38): every blended score would be infinite or "
        "NaN.",
      ),
    ):
      export_script.run(self._config(blend="click*10^10^10"))

  def test_an_unfinished_run_is_refused_unless_allowed(self):
    folder = self.create_tempdir().full_path
    run_dir.write_json(folder, run_dir.CONFIG, {"config": {}})
    config = self._config()
    with self.assertRaisesRegex(ValueError, f"^{folder} holds an unfinished"):
      export_script.run(dataclasses.replace(config, model_dir=folder))
    # Allowed, it goes on to read the run (here: nothing to read).
    with self.assertRaisesRegex(Exception, "feature_stats.json"):
      export_script.run(
        dataclasses.replace(config, model_dir=folder, allow_unfinished=True)
      )

  def test_rejects_stray_arguments(self):
    with self.assertRaisesRegex(Exception, "Unexpected arguments: extra"):
      export_script.main(["export.py", "extra"])


if __name__ == "__main__":
  tf.test.main()
