"""Embedding features: precomputed vectors read and checked from their file,
looked up by id in the model, kept by its checkpoint and its export."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import loaders, vectors
from multiobj.data import spec as spec_lib
from multiobj.model import features as features_lib
from multiobj.prepare import stats as stats_lib
from multiobj.serve import export
from multiobj.train import run_dir
from tests import tiny
from tests.data.test_description import COLUMNS, write_shop

WIDTH = 6
# Vectors for items 0..17 of the shop's 20: items 18 and 19 have none.
VECTORS = np.random.default_rng(0).normal(size=(18, WIDTH))
IDS = tuple(range(18))
ENTRY = {
  "name": "item_vector",
  "role": "candidate",
  "type": "embedding",
  "vectors": {"path": "v.parquet"},
  "normalize": True,
}


def _write_parquet(folder, ids=IDS, rows=VECTORS, name="v.parquet"):
  path = os.path.join(folder, name)
  pq.write_table(pa.table({"item_id": list(ids), "vector": list(rows)}), path)
  return path


def _feature(path, **changes):
  return spec_lib.Feature(
    "v",
    "candidate",
    "embedding",
    vectors=path,
    vectors_key="item_id",
    **changes,
  )


class ReadTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def test_parquet_and_npz_give_the_same_sorted_table(self):
    order = np.random.default_rng(1).permutation(18)
    parquet = _write_parquet(self.folder, order, VECTORS[order])
    npz = os.path.join(self.folder, "v.npz")
    np.savez(npz, ids=np.arange(18), vectors=VECTORS)
    for path in (parquet, npz):
      ids, found = vectors.read(_feature(path), integers=True)
      self.assertAllEqual(ids, np.arange(18))
      self.assertAllClose(found, VECTORS)
      self.assertEqual(found.dtype, np.float32)
    _, unit = vectors.read(_feature(npz, normalize=True), integers=True)
    self.assertAllClose(
      unit, VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    )
    ids, _ = vectors.read(_feature(npz), integers=False)
    self.assertEqual(ids.tolist(), sorted(str(i) for i in range(18)))

  def test_bad_files_name_the_file_and_the_id(self):
    nan = VECTORS.copy()
    nan[4, 2] = np.nan
    ragged = [list(v) for v in VECTORS]
    ragged[7] = ragged[7][:3]
    cases = [
      (
        lambda: _write_parquet(self.folder, rows=nan),
        r"v\.parquet: the vector of id 4 holds NaN or infinity \(1 such",
      ),
      (
        lambda: _write_parquet(self.folder, rows=ragged),
        r"v\.parquet: the vector of id 7 has width 3; the first has 6",
      ),
      (
        lambda: _write_parquet(self.folder, ids=[0] * 18),
        r"v\.parquet: id 0 has two vectors",
      ),
      (
        lambda: _write_parquet(self.folder, ids=[f"x{i}" for i in range(18)]),
        r"v\.parquet: the ids are not integers \(e\.g\. 'x0'\)",
      ),
      (
        lambda: os.path.join(self.folder, "absent.parquet"),
        r"Embedding feature 'v': vectors file .*absent\.parquet does not exist",
      ),
    ]
    for write, message in cases:
      with self.subTest(message=message):
        path = write()
        with self.assertRaisesRegex(ValueError, message):
          vectors.read(_feature(path), integers=True)

  def test_a_file_without_the_columns_says_what_it_needs(self):
    path = os.path.join(self.folder, "other.parquet")
    pq.write_table(pa.table({"id": [1], "emb": [[0.5]]}), path)
    with self.assertRaisesRegex(
      ValueError,
      r"other\.parquet: no column 'item_id'; a Parquet file of vectors holds "
      r"the key column \('item_id'\) and 'vector' \(lists of floats\); it has "
      r"id, emb\.",
    ):
      vectors.read(_feature(path), integers=True)

  def test_the_spec_checks_what_an_embedding_needs(self):
    cases = [
      (
        lambda: spec_lib.Feature("v", "candidate", "embedding"),
        "Embedding feature 'v' needs a file of vectors",
      ),
      (
        lambda: spec_lib.Feature("v", "candidate", "id", normalize=True),
        "Feature 'v': normalize applies to embedding features only",
      ),
      (
        lambda: spec_lib.DatasetSpec(
          name="d",
          features=(
            spec_lib.Feature("user", "query", "id"),
            spec_lib.Feature("item", "candidate", "id"),
            spec_lib.Feature(
              "v", "candidate", "embedding", vectors="f", vectors_key="user"
            ),
          ),
          labels=(),
          item_id="item",
        ),
        "Embedding feature 'v': vectors_key 'user' must be an id or category "
        r"feature of the same role \(candidate\)",
      ),
    ]
    for make, message in cases:
      with self.subTest(message=message):
        with self.assertRaisesRegex(ValueError, message):
          make()


class LookupTest(tf.test.TestCase):
  def test_known_ids_get_their_vector_and_others_the_learnt_one(self):
    for integers in (True, False):
      with self.subTest(integers=integers):
        ids = np.arange(18) if integers else np.arange(18).astype(str)
        ids = ids.astype(np.int64 if integers else object)
        stats = stats_lib.FeatureStats(
          {},
          {},
          {"v": {"vectors": 18, "width": WIDTH, "integers": integers}},
          {"v": (ids, VECTORS.astype(np.float32))},
        )
        layer = features_lib.FeatureEmbedding(_feature("f"), stats, 8, 4)
        layer.missing.assign(tf.fill([WIDTH], 7.0))
        values = [3, 17, 18, -1] if integers else ["3", "17", "18", "x"]
        got = layer.lookup_vectors(tf.constant(values)).numpy()
        self.assertAllClose(got[:2], VECTORS[[3, 17]])
        self.assertAllClose(got[2:], np.full((2, WIDTH), 7.0))
        self.assertEqual(layer(tf.constant(values)).shape, (4, 8))


class RunTest(tf.test.TestCase):
  """The shop log with item vectors: trained, rebuilt, exported."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    folder = tf.compat.v1.test.get_temp_dir()
    _write_parquet(folder)
    path = write_shop(folder, columns=[*COLUMNS, ENTRY])
    cls.config = config_lib.TrainConfig(
      model_dir=os.path.join(folder, "run")
    ).replace(
      dataset="json", dataset_spec=path, model=tiny.SMALL_MODEL, epochs=1
    )
    cls.result = experiment.run(cls.config, verbose=0)

  def test_the_run_reports_the_coverage(self):
    with open(os.path.join(self.config.model_dir, "metrics.json")) as f:
      found = json.load(f)["data"]["embeddings"]["item_vector"]
    data = loaders.load(self.config.data, 0)
    train = data.split("train")["item_id"]
    self.assertEqual(
      found,
      {
        "vectors": 18,
        "width": WIDTH,
        "integers": True,
        "occurrences_without_vector": float(np.mean(train >= 18)),
      },
    )

  def test_a_rebuilt_model_has_the_vectors_from_its_checkpoint(self):
    model, _ = run_dir.load_model(self.config.model_dir)
    layer = model.candidate_tower.encoder.by_feature["item_vector"]
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    self.assertAllClose(layer.vectors.numpy(), unit)
    self.assertAllEqual(layer.keys.numpy(), np.arange(18))
    trained = layer.trainable_weights
    self.assertFalse(any(v is layer.vectors for v in trained))
    self.assertTrue(any(v is layer.missing for v in trained))
    # The learnt default moved from its zeros: items 18 and 19 trained it.
    self.assertGreater(float(tf.reduce_sum(tf.abs(layer.missing))), 0.0)

  def test_the_exported_model_looks_vectors_up_by_id(self):
    model, _ = run_dir.load_model(self.config.model_dir)
    data = loaders.load(self.config.data, 0)
    path = self.create_tempdir().full_path
    export.export(model, data.catalogue, path, k=5)
    loaded = tf.saved_model.load(path)
    inputs = loaded.signatures["rank"].structured_input_signature[1]
    self.assertNotIn("item_vector", inputs)
    self.assertIn("item_id", inputs)
    catalogue = export.check_catalogue(model, data.catalogue)
    names = [f.name for f in data.spec.features_of("candidate")]
    expected = model.candidate_tower({n: catalogue[n] for n in names})
    with open(os.path.join(path, export.SERVING_JSON)) as f:
      self.assertNotIn("item_vector", json.dumps(json.load(f)["signatures"]))
    # The catalogue embeddings the export wrote are the tower's.
    written = pq.read_table(os.path.join(path, export.CATALOGUE_EMBEDDINGS))
    self.assertAllClose(
      np.stack(written["embedding"].to_numpy(zero_copy_only=False)),
      expected,
      atol=1e-5,
    )
