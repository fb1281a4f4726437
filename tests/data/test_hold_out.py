"""splits.hold_out: a validation split of each user's positive rows of one
label, held out of the training rows of a log split as files."""

import collections

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj.data import spec as spec_lib
from multiobj.data import splits

SPEC = spec_lib.DatasetSpec(
  name="shop",
  features=(
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
  ),
  labels=("view", "buy"),
  item_id="item",
  user_id="user",
)


def _log(seed, n=400):
  """Views and buys of 30 users, each row one or the other."""
  rng = np.random.default_rng(seed)
  buy = (rng.random(n) < 0.3).astype(np.float32)
  return {
    "user": rng.integers(0, 30, n),
    "item": np.arange(n),  # Names each row.
    "view": 1 - buy,
    "buy": buy,
  }


class HoldOutTest(tf.test.TestCase, parameterized.TestCase):
  def test_a_small_log_by_hand(self):
    rows = {
      "user": np.array(["a", "a", "b", "a", "c", "c", "b"], dtype=object),
      "item": np.array([1, 2, 3, 4, 5, 6, 7]),
      "view": np.array([0, 1, 0, 0, 1, 0, 0]),
      "buy": np.array([1, 0, 1, 1, 0, 1, 1]),
    }
    train, valid = splits.hold_out(rows, SPEC, "buy", per_user=1, seed=0)
    # a buys 1 and 4, b buys 3 and 7: one of each is held out; c buys
    # only 6, which stays in training. Views never move.
    held = dict(zip(valid["user"], valid["item"].tolist(), strict=True))
    self.assertLen(valid["item"], 2)
    self.assertIn(held["a"], (1, 4))
    self.assertIn(held["b"], (3, 7))
    held = held.values()
    self.assertEqual(
      train["item"].tolist(), [i for i in range(1, 8) if i not in held]
    )
    self.assertEqual(sorted(train), sorted(rows))

  @parameterized.parameters(1, 2, 5)
  def test_per_user_rows_and_one_left_in_training(self, per_user):
    rows = _log(0)
    train, valid = splits.hold_out(rows, SPEC, "buy", per_user, seed=3)
    buys = collections.Counter(rows["user"][rows["buy"] > 0].tolist())
    held = collections.Counter(valid["user"].tolist())
    kept = collections.Counter(train["user"][train["buy"] > 0].tolist())
    for user, count in buys.items():
      with self.subTest(user=user):
        # A user of k buys gives min(per_user, k - 1), keeping one.
        self.assertEqual(held[user], min(per_user, count - 1))
        self.assertEqual(kept[user], count - held[user])
        self.assertGreaterEqual(kept[user], 1)
    self.assertTrue(all(valid["buy"] > 0))
    # Train and valid partition the rows, each in the rows' order.
    self.assertEqual(len(train["item"]) + len(valid["item"]), 400)
    self.assertCountEqual(
      np.concatenate([train["item"], valid["item"]]), rows["item"]
    )
    self.assertTrue(all(np.diff(train["item"]) > 0))
    self.assertTrue(all(np.diff(valid["item"]) > 0))
    # Every row of another label stays in training, as it was.
    views = rows["item"][rows["view"] > 0]
    self.assertAllEqual(train["item"][train["view"] > 0], views)
    for name in rows:
      self.assertAllEqual(train[name], rows[name][train["item"]])
      self.assertAllEqual(valid[name], rows[name][valid["item"]])

  def test_the_same_seed_holds_out_the_same_rows(self):
    rows = _log(1)
    first = splits.hold_out(rows, SPEC, "buy", seed=7)[1]["item"]
    again = splits.hold_out(rows, SPEC, "buy", seed=7)[1]["item"]
    other = splits.hold_out(rows, SPEC, "buy", seed=8)[1]["item"]
    self.assertAllEqual(first, again)
    self.assertNotAllEqual(first, other)
    # Another seed draws other rows, of the same users.
    self.assertLen(other, len(first))

  def test_the_draw_is_uniform_over_a_users_rows(self):
    # One user with buys 0..3: over 400 seeds each is held out about 100
    # times (binomial, sd 8.7; 60 is 4.6 sd away).
    rows = {
      "user": np.zeros(4, np.int64),
      "item": np.arange(4),
      "view": np.zeros(4),
      "buy": np.ones(4),
    }
    counts = collections.Counter(
      int(splits.hold_out(rows, SPEC, "buy", seed=s)[1]["item"][0])
      for s in range(400)
    )
    self.assertEqual(sorted(counts), [0, 1, 2, 3])
    self.assertGreater(min(counts.values()), 60)

  def test_no_positive_row_is_refused(self):
    rows = _log(2)
    rows["buy"] = np.zeros_like(rows["buy"])
    with self.assertRaisesRegex(
      ValueError,
      "Dataset 'shop': no training row has 'buy' positive, so none can be "
      "held out for validation",
    ):
      splits.hold_out(rows, SPEC, "buy")


if __name__ == "__main__":
  tf.test.main()
