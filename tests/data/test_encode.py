"""The offline encoder (multiobj/data/encode.py, experiments/encode_items.py):
each item's words, their latent semantic analysis against a dense NumPy
SVD of the same TF-IDF matrix, and the .npz an embedding feature reads."""

import os

import numpy as np
import tensorflow as tf
from absl import app
from absl.testing import flagsaver

from experiments import encode_items
from multiobj.data import encode, vectors
from multiobj.data import spec as spec_lib
from tests.data.test_description import write_shop

TEXTS = [
  "red apple fruit",
  "green apple fruit",
  "red car engine",
  "blue car engine wheel",
  "apple pie",
  "",
]


def _reference(texts, dim):
  """U * S of a dense SVD of the TF-IDF matrix the Keras layer gives,
  each direction's sign fixed as `lsa` fixes it."""
  layer = tf.keras.layers.TextVectorization(output_mode="tf_idf")
  layer.adapt(texts)
  weights = layer(tf.constant(texts)).numpy().astype(np.float64)
  u, s, vt = np.linalg.svd(weights, full_matrices=False)
  signs = np.sign(vt[np.arange(dim), np.abs(vt[:dim]).argmax(axis=1)])
  return (u[:, :dim] * s[:dim] * signs).astype(np.float32)


class DocumentsTest(tf.test.TestCase):
  def test_text_words_then_the_names_of_flags_set(self):
    table = {
      "title": np.array(["Toy Story (1995)", "Heat"], dtype=object),
      "animation": np.array([1, 0]),
      "crime": np.array([0, 1]),
    }
    self.assertEqual(
      encode.documents(table, ["title"], ["animation", "crime"]).tolist(),
      ["Toy Story (1995) animation ", "Heat  crime"],
    )

  def test_bad_columns_are_named(self):
    table = {"title": np.array(["a", "b"]), "flag": np.array([0, 2])}
    with self.assertRaisesRegex(
      ValueError, "No column 'genre' to encode; the table has flag, title"
    ):
      encode.documents(table, ["genre"])
    with self.assertRaisesRegex(
      ValueError, r"Flag column 'flag' holds 2 \(row 2\); flags are 0 or 1"
    ):
      encode.documents(table, ["title"], ["flag"])


class LsaTest(tf.test.TestCase):
  def test_matches_a_dense_svd_of_the_tf_idf_matrix(self):
    found = encode.lsa(TEXTS, 3)
    self.assertEqual(found.shape, (6, 3))
    self.assertAllClose(found, _reference(TEXTS, 3), atol=1e-5)
    # The empty text has no word: the zero vector.
    self.assertAllClose(found[5], np.zeros(3))

  def test_directions_beyond_the_rank_are_zeros(self):
    found = encode.lsa(["a b", "a b", "c"], 8)
    self.assertEqual(found.shape, (3, 8))
    self.assertAllClose(found[:, 2:], np.zeros((3, 6)))
    self.assertAllClose(found[0], found[1])  # The same words.

  def test_dim_below_one_is_refused(self):
    with self.assertRaisesRegex(ValueError, "dim must be >= 1, got 0"):
      encode.lsa(TEXTS, 0)


class CatalogueVectorsTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path
    items = "item_id,category,price,tags,title,sale\n" + "".join(
      f"{i},food,{1.5 + i},a,word{i % 4} common,{i % 2}\n" for i in range(20)
    )
    self.spec = write_shop(self.folder, items=items)
    self.output = os.path.join(self.folder, "out", "items.npz")

  def test_writes_what_an_embedding_feature_reads(self):
    encode.catalogue_vectors(self.spec, ["title"], ["sale"], 4, self.output)
    feature = spec_lib.Feature(
      "v", "candidate", "embedding", vectors=self.output, vectors_key="item_id"
    )
    ids, found = vectors.read(feature, integers=True)
    self.assertAllEqual(ids, np.arange(20))
    texts = [f"word{i % 4} common {'sale' if i % 2 else ''}" for i in range(20)]
    # The words of item i: its title's, and "sale" for odd items.
    self.assertAllClose(found, encode.lsa(texts, 4), atol=1e-5)

  def test_script_writes_the_file_and_names_bad_flags(self):
    with flagsaver.flagsaver(
      dataset_spec=self.spec,
      text_columns=["title"],
      flag_columns=["sale"],
      dim=4,
      output=self.output,
    ):
      encode_items.main(["encode_items.py"])
    self.assertTrue(os.path.exists(self.output))
    with flagsaver.flagsaver(
      dataset_spec=self.spec, text_columns=["nope"], output=self.output
    ):
      with self.assertRaisesRegex(app.UsageError, "No column 'nope'"):
        encode_items.main(["encode_items.py"])
    with flagsaver.flagsaver(dataset_spec=self.spec, output=self.output):
      with self.assertRaisesRegex(
        app.UsageError, "Give --text_columns or --flag_columns"
      ):
        encode_items.main(["encode_items.py"])


if __name__ == "__main__":
  tf.test.main()
