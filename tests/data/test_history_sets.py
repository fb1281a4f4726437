"""Built histories of a split dataset: sets of the user's training events,
the behaviour of events of several labels, and which split's rows get
which history (history.build_sets, event_items, add_to_splits)."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj.data import history
from multiobj.data import spec as spec_lib


def sets_by_hand(users, items, events, max_length, separator="|"):
  """Each row's set: its user's event rows in row order but itself."""
  out = []
  for r, u in enumerate(users):
    kept = [
      str(items[j])
      for j in range(len(users))
      if events[j] and users[j] == u and j != r
    ]
    out.append(separator.join(kept[-max_length:]))
  return out


def _ordered_by_hand(users, when, items, events, max_length, ties=False):
  """Each row's history: its user's events strictly before it in time
  (ties in row order), the last max_length; with `ties`, also those at its
  time on an earlier row."""
  out = []
  for r, (u, t) in enumerate(zip(users, when, strict=True)):
    before = sorted(
      (when[j], j)
      for j in range(len(users))
      if events[j]
      and users[j] == u
      and (when[j] < t or (ties and when[j] == t and j < r))
    )
    kept = [str(items[j]) for _, j in before]
    out.append("|".join(kept[-max_length:]))
  return out


def _spec(max_length=3, **options):
  """A log of views and buys with one built history, "h"."""
  return spec_lib.DatasetSpec(
    name="d",
    features=(
      spec_lib.Feature("user", "query", "id"),
      spec_lib.Feature("item", "candidate", "id"),
      spec_lib.Feature(
        "h", "query", "history", max_length=max_length, **options
      ),
    ),
    labels=("view", "cart", "buy"),
    item_id="item",
    user_id="user",
    timestamp="t",
  )


def _random_splits(seed, n=(60, 20, 20)):
  """{"train", "valid", "test"} tables of a random log of few users."""
  rng = np.random.default_rng(seed)
  splits = {}
  for name, size in zip(("train", "valid", "test"), n, strict=True):
    splits[name] = {
      "user": rng.choice(["a", "b", "c", "d"], size).astype(object),
      "item": rng.integers(0, 15, size),
      "t": rng.integers(0, 40, size),
      "view": (rng.random(size) < 0.5).astype(np.float32),
      "cart": np.zeros(size, np.float32),
      "buy": (rng.random(size) < 0.2).astype(np.float32),
    }
  return splits


def _concatenated(splits, column):
  return np.concatenate([splits[name][column] for name in splits])


class BuildSetsTest(tf.test.TestCase, parameterized.TestCase):
  def test_a_small_log_by_hand(self):
    users = np.array(["u", "v", "u", "u", "v", "u"], dtype=object)
    items = np.array([10, 20, 11, 12, 21, 13])
    events = np.array([1, 1, 0, 1, 0, 1]) > 0
    # u's events are rows 0, 3, 5 (items 10, 12, 13): an event leaves
    # itself out, row 2 (no event) sees all three. v's one event (row 1)
    # sees nothing; row 4 sees it.
    self.assertEqual(
      history.build_sets(users, items, events, 5).tolist(),
      ["12|13", "", "10|12|13", "10|13", "20", "10|12"],
    )
    # The last two of each, joined by the separator asked for.
    self.assertEqual(
      history.build_sets(users, items, events, 2, ";").tolist(),
      ["12;13", "", "12;13", "10;13", "20", "10;12"],
    )

  @parameterized.parameters(0, 1, 2)
  def test_a_random_log_matches_the_definition(self, seed):
    rng = np.random.default_rng(seed)
    n = 300
    users = rng.integers(0, 15, n)
    items = rng.integers(100, 140, n)
    events = rng.random(n) < 0.5
    for max_length in (1, 3, 7, 500):
      with self.subTest(max_length=max_length):
        self.assertEqual(
          history.build_sets(users, items, events, max_length).tolist(),
          sets_by_hand(users, items, events, max_length),
        )

  def test_no_event_at_all(self):
    users = np.array([1, 2, 1])
    got = history.build_sets(users, np.array([5, 6, 7]), np.zeros(3, bool), 4)
    self.assertEqual(got.tolist(), ["", "", ""])


class EventItemsTest(tf.test.TestCase):
  def test_one_label_gives_the_items(self):
    rows = {"item": np.array([3, 4, 5]), "view": np.array([1.0, 0.0, 2.0])}
    items, events = history.event_items(
      rows,
      _spec(),
      spec_lib.Feature("h", "query", "history", built_from="view"),
    )
    self.assertEqual(items.tolist(), ["3", "4", "5"])
    self.assertEqual(events.tolist(), [True, False, True])

  def test_the_last_positive_label_in_built_from_order_wins(self):
    feature = spec_lib.Feature(
      "h", "query", "history", built_from=("view", "cart", "buy")
    )
    rows = {
      "item": np.array([1, 2, 3, 4, 5, 6]),
      "view": np.array([1, 0, 1, 1, 0, 0]),
      "cart": np.array([0, 1, 1, 0, 0, 0]),
      "buy": np.array([0, 0, 0, 1, 1, 0]),
    }
    items, events = history.event_items(rows, _spec(), feature)
    # Row 3: view and cart, so cart; row 4: view and buy, so buy; row 6:
    # no label positive, so no event (its text is never used).
    self.assertEqual(
      items[:5].tolist(), ["1:view", "2:cart", "3:cart", "4:buy", "5:buy"]
    )
    self.assertEqual(events.tolist(), [True] * 5 + [False])
    # In another order of built_from, another label wins.
    feature = spec_lib.Feature(
      "h", "query", "history", built_from=("buy", "cart", "view")
    )
    items, _ = history.event_items(rows, _spec(), feature)
    self.assertEqual(
      items[:5].tolist(), ["1:view", "2:cart", "3:view", "4:view", "5:buy"]
    )
    # The item of each, as the vocabulary reads it.
    self.assertEqual(history.items_of(items[:5]).tolist(), list("12345"))


class AddToSplitsTest(tf.test.TestCase):
  def test_every_position_leaves_training_rows_empty(self):
    splits = _random_splits(0)
    spec = _spec(built_from="view", every_position=True)
    out = history.add_to_splits(splits, spec)
    self.assertEqual(list(out["train"]["h"]), [""] * 60)
    # Valid and test rows: the user's views before, in every split (a test
    # row sees an earlier valid or training view), those at the row's own
    # time too when their row comes first in (train, valid, test) order, as
    # the training windows read them.
    users, when = _concatenated(splits, "user"), _concatenated(splits, "t")
    expected = _ordered_by_hand(
      users,
      when,
      _concatenated(splits, "item"),
      _concatenated(splits, "view") > 0,
      3,
      ties=True,
    )
    strict = _ordered_by_hand(
      users, when, _concatenated(splits, "item"),
      _concatenated(splits, "view") > 0, 3,
    )  # fmt: skip
    self.assertNotEqual(expected[60:], strict[60:])  # The log has such ties.
    self.assertEqual(out["valid"]["h"].tolist(), expected[60:80])
    self.assertEqual(out["test"]["h"].tolist(), expected[80:])
    self.assertTrue(any(out["test"]["h"]))
    # The input tables are left as they were.
    self.assertNotIn("h", splits["train"])

  def test_without_every_position_training_rows_get_theirs(self):
    splits = _random_splits(1)
    out = history.add_to_splits(splits, _spec(built_from="view"))
    expected = _ordered_by_hand(
      _concatenated(splits, "user"),
      _concatenated(splits, "t"),
      _concatenated(splits, "item"),
      _concatenated(splits, "view") > 0,
      3,
    )
    self.assertEqual(_concatenated(out, "h").tolist(), expected)

  def test_a_set_is_the_users_training_events_but_the_rows_own(self):
    splits = _random_splits(2)
    spec = _spec(max_length=50, built_from=("view", "buy"), ordered=False)
    out = history.add_to_splits(splits, spec)
    users = _concatenated(splits, "user")
    view, buy = _concatenated(splits, "view"), _concatenated(splits, "buy")
    items = [
      f"{i}:{'buy' if b > 0 else 'view'}"
      for i, b in zip(_concatenated(splits, "item"), buy, strict=True)
    ]
    # Only training rows are events: a valid or test row's own view is in
    # no history, and each sees all of its user's training events.
    train = np.arange(len(users)) < 60
    expected = sets_by_hand(users, items, ((view > 0) | (buy > 0)) & train, 50)
    self.assertEqual(_concatenated(out, "h").tolist(), expected)

  def test_a_set_is_kept_to_its_last_items(self):
    splits = {
      "train": {
        "user": np.array([1, 1, 1, 1]),
        "item": np.array([7, 8, 9, 6]),
        "view": np.array([1, 1, 0, 1]),
      },
      "test": {
        "user": np.array([1]),
        "item": np.array([5]),
        "view": np.array([1]),
      },
    }
    spec = spec_lib.DatasetSpec(
      name="d",
      features=(
        spec_lib.Feature("user", "query", "id"),
        spec_lib.Feature("item", "candidate", "id"),
        spec_lib.Feature(
          "h",
          "query",
          "history",
          built_from="view",
          max_length=2,
          ordered=False,
        ),
      ),
      labels=("view",),
      item_id="item",
      user_id="user",
    )
    out = history.add_to_splits(splits, spec)
    # Training views 7, 8, 6 (9 is no view): each event without itself,
    # the last two; the test row sees the last two of all three.
    self.assertEqual(out["train"]["h"].tolist(), ["8|6", "7|6", "8|6", "7|8"])
    self.assertEqual(out["test"]["h"].tolist(), ["8|6"])

  def test_a_set_needs_a_training_split(self):
    splits = _random_splits(0)
    del splits["train"]
    with self.assertRaisesRegex(
      ValueError,
      "History 'h' is the user's training events, and dataset 'd' has no "
      "training split",
    ):
      history.add_to_splits(splits, _spec(built_from="view", ordered=False))

  def test_a_spec_without_built_histories_changes_nothing(self):
    # "h" is a history given as a column: nothing to build.
    splits = _random_splits(0)
    self.assertIs(history.add_to_splits(splits, _spec()), splits)


if __name__ == "__main__":
  tf.test.main()
