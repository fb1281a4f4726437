"""Beyond-accuracy metrics of slates against hand computations."""

import itertools

import numpy as np
import tensorflow as tf

from multiobj.evaluate import slates as slates_lib


class BeyondAccuracyTest(tf.test.TestCase):
  def test_catalogue_coverage(self):
    # Items {0, 2, 3} of 5, padding ignored.
    slates = np.array([[0, 2, -1], [2, 3, -1]])
    self.assertAlmostEqual(slates_lib.catalogue_coverage(slates, 5), 0.6)
    with self.assertRaisesRegex(ValueError, "outside"):
      slates_lib.catalogue_coverage(np.array([[0, 5]]), 5)
    with self.assertRaisesRegex(ValueError, "int"):
      slates_lib.catalogue_coverage(np.array([[0.0, 1.0]]), 5)

  def test_diversity_by_category(self):
    categories = np.array(["x", "x", "y", "z"])
    slates = np.array([[0, 1, 2, 3], [0, 0, -1, -1], [2, -1, -1, -1]])
    # Slate 1: 6 pairs, one same-category (0, 1): 5/6. Slate 2: item 0 twice,
    # one same pair: 0. Slate 3: one item, left out. Mean (5/6 + 0) / 2.
    value, info = slates_lib.intra_list_diversity(
      slates, item_categories=categories
    )
    self.assertAlmostEqual(value, 5 / 12)
    self.assertEqual(info, {"slates": 2, "skipped_short": 1})

  def test_diversity_by_embedding(self):
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    # Slate 1: cos 0, 1/sqrt2, 1/sqrt2 -> mean distance 1 - sqrt2 / 3. Slate
    # 2: 0 and 3 point the same way: 0. Slate 3: a zero vector: distance 1.
    slates = np.array([[0, 1, 2], [0, 3, -1], [4, 1, -1], [-1, -1, -1]])
    value, info = slates_lib.intra_list_diversity(slates, item_embeddings=emb)
    self.assertAlmostEqual(value, (1 - np.sqrt(2) / 3 + 0 + 1) / 3)
    self.assertEqual(info, {"slates": 3, "skipped_short": 1})

  def test_diversity_by_embedding_matches_pairwise_loop(self):
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(30, 4))
    slates = rng.integers(-1, 30, (20, 5))
    expected = []
    for slate in slates:
      e = emb[slate[slate >= 0]]
      if len(e) < 2:
        continue
      u = e / np.linalg.norm(e, axis=1, keepdims=True)
      pairs = itertools.combinations(range(len(u)), 2)
      expected.append(np.mean([1 - u[i] @ u[j] for i, j in pairs]))
    value, _ = slates_lib.intra_list_diversity(slates, item_embeddings=emb)
    self.assertAlmostEqual(value, np.mean(expected))

  def test_diversity_needs_exactly_one_source(self):
    with self.assertRaisesRegex(ValueError, "exactly one"):
      slates_lib.intra_list_diversity(np.array([[0, 1]]))
    with self.assertRaisesRegex(ValueError, "exactly one"):
      slates_lib.intra_list_diversity(
        np.array([[0, 1]]), item_categories=[0, 1], item_embeddings=np.eye(2)
      )

  def test_novelty(self):
    popularity = np.array([8, 4, 1, 0])
    slates = np.array([[0, 1, -1], [2, 3, -1]])
    # U = 8: -log2(8/8) = 0, -log2(4/8) = 1, -log2(1/8) = 3, and item 3
    # (never seen) floored at one user: 3. Mean over 4 items: 7/4.
    self.assertAlmostEqual(
      slates_lib.novelty(slates, popularity, num_users=8), 1.75
    )
    # Default U is the number of slates, 2: popularity 8 exceeds it.
    with self.assertRaisesRegex(ValueError, "count users"):
      slates_lib.novelty(slates, popularity)
    padding_only = np.full((2, 2), -1)
    self.assertTrue(np.isnan(slates_lib.novelty(padding_only, popularity, 8)))

  def test_popularity_percentile(self):
    popularity = np.array([10, 3, 3, 0, 7])
    # Ascending ranks: item 3 -> 1, items 1, 2 -> 2.5, item 4 -> 4, item 0 ->
    # 5; percentile (rank - 1) / 4: 1, .375, .375, 0, .75.
    slates = np.array([[0, 1], [3, -1]])
    self.assertAlmostEqual(
      slates_lib.popularity_percentile(slates, popularity), (1 + 0.375 + 0) / 3
    )
    self.assertEqual(slates_lib.popularity_percentile([[0, 1]], [5, 5]), 0.5)


if __name__ == "__main__":
  tf.test.main()
