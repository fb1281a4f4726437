"""Per-user retrieval evaluation: users, their positives, recall and hits."""

import numpy as np
import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.evaluate import retrieval
from multiobj.prepare import lists as lists_lib

# Users clicking items: the smallest description retrieval evaluation reads.
TOY_SPEC = spec_lib.DatasetSpec(
  name="toy",
  features=(
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
  ),
  labels=("click",),
  item_id="item",
  user_id="user",
)


class RetrievalPiecesTest(tf.test.TestCase):
  def test_user_recall(self):
    # User A: positives {1, 2}, top [1, 5, 2]; user B: positive {7}, top [3, 4, 9].
    top = np.array([[1, 5, 2], [3, 4, 9]])
    out = retrieval.user_recall(
      top, [np.array([1, 2]), np.array([7])], [1, 3], "r_"
    )
    self.assertAlmostEqual(out["r_user_recall@1"], (0.5 + 0) / 2)
    self.assertAlmostEqual(out["r_user_recall@3"], (1 + 0) / 2)
    self.assertAlmostEqual(out["r_hit_rate@1"], 0.5)
    self.assertAlmostEqual(out["r_hit_rate@3"], 0.5)

  def test_user_queries(self):
    lists = {
      "user": np.array([5, 3, 5]),
      "item": np.array([[10, 11], [12, 10], [13, 11]]),
      "click": np.array([[1, 0], [0, 0], [0, 1]]),
      lists_lib.MASK: np.ones((3, 2)),
    }
    users = retrieval.UserQueries(
      TOY_SPEC, lists, "click", np.array([13, 12, 11, 10])
    )
    # User 3 has no positive and is left out; user 5 clicked 10 and 11, which
    # are catalogue rows 3 and 2.
    self.assertAllEqual(users.users, [5])
    self.assertAllEqual(users.positives[0], [2, 3])
    self.assertAllEqual(users.query["user"], [5])

  def test_popularity_counts_users_not_clicks(self):
    train = {
      "user": np.array([1, 1, 2]),
      "item": np.array([[10, 11], [10, 12], [10, 11]]),
      "click": np.array([[1, 0], [1, 1], [1, 0]]),
      lists_lib.MASK: np.ones((3, 2)),
    }
    counts, users = retrieval.popularity(
      TOY_SPEC, train, "click", np.array([10, 11, 12])
    )
    # Item 10: users 1 (twice) and 2 -> 2; item 12: user 1 -> 1.
    self.assertAllEqual(counts, [2, 0, 1])
    self.assertEqual(users, 2)


if __name__ == "__main__":
  tf.test.main()
