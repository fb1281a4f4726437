"""Training lists of a sequence log: windows of each user's rows in time
order, scored at every position (prepare/windows.py)."""

import collections

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj.data import spec as spec_lib
from multiobj.prepare import lists as lists_lib
from multiobj.prepare import windows

MASK = lists_lib.MASK
EVENTS = windows.EVENTS + "h"


def _spec(max_length, **changes):
  return spec_lib.DatasetSpec(
    name="seq",
    features=(
      spec_lib.Feature("user", "query", "id"),
      spec_lib.Feature("item", "candidate", "id"),
      spec_lib.Feature(
        "h",
        "query",
        "history",
        built_from=("view", "buy"),
        max_length=max_length,
        every_position=True,
      ),
    ),
    labels=("view", "buy"),
    item_id="item",
    user_id="user",
    timestamp="t",
    **changes,
  )


def _event_type(view, buy):
  """By the definition: 0, or 1 + the last positive label of (view, buy)."""
  return 2 if buy > 0 else 1 if view > 0 else 0


class ExampleTest(tf.test.TestCase):
  def test_the_docstrings_example(self):
    # events   e0 e1 e2 e3 e4 e5 e6 e7      max_length 3
    # windows  [e0 e1] [e1 e2 e3 e4] [e4 e5 e6 e7]
    # e_k is item 100 + k at time k, the rows given out of order; e3 and
    # e6 are bought as well as viewed.
    order = [5, 2, 7, 0, 3, 6, 1, 4]
    rows = {
      "user": np.full(8, 9),
      "item": np.array([100 + k for k in order]),
      "t": np.array(order, np.float64),
      "view": np.ones(8, np.float32),
      "buy": np.array([k in (3, 6) for k in order], np.float32),
      "h": np.full(8, "", dtype=object),
    }
    lists = windows.to_lists(rows, _spec(3), ["user", "item", "buy", "h"])
    self.assertAllEqual(
      lists["item"],
      [[100, 101, 0, 0], [101, 102, 103, 104], [104, 105, 106, 107]],
    )
    # A later window's first row (e1, e4) is input only; e0 is scored,
    # from nothing (the model drops a slot with no event before it).
    self.assertAllEqual(lists[MASK], [[1, 1, 0, 0], [0, 1, 1, 1], [0, 1, 1, 1]])
    self.assertAllEqual(
      lists[EVENTS], [[1, 1, 0, 0], [1, 1, 2, 1], [1, 1, 2, 1]]
    )
    self.assertAllEqual(lists["buy"], [[0] * 4, [0, 0, 1, 0], [0, 0, 1, 0]])
    self.assertAllEqual(lists["user"], [9, 9, 9])
    self.assertAllEqual(lists["h"], ["", "", ""])
    self.assertCountEqual(lists, ["user", "item", "buy", "h", EVENTS, MASK])

  def test_one_row_is_one_window(self):
    rows = {
      "user": np.array([1]),
      "item": np.array([5]),
      "t": np.array([0]),
      "view": np.array([0.0]),
      "buy": np.array([1.0]),
    }
    lists = windows.to_lists(rows, _spec(2), ["item"])
    self.assertAllEqual(lists["item"], [[5, 0, 0]])
    self.assertAllEqual(lists[MASK], [[1, 0, 0]])
    self.assertAllEqual(lists[EVENTS], [[2, 0, 0]])


class RandomLogTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters((1, 0), (2, 1), (4, 2), (50, 3))
  def test_windows_cover_each_users_rows_in_time_order(self, max_length, seed):
    rng = np.random.default_rng(seed)
    n = 300
    rows = {
      "user": rng.choice(["a", "b", "c", "d", "e", "f", "g"], n).astype(object),
      "row": np.arange(1, n + 1),  # Names each row; padding is 0.
      "item": rng.integers(1, 30, n),
      "t": rng.integers(0, 40, n),  # Many ties: then row order.
      "view": (rng.random(n) < 0.6).astype(np.float32),
      "buy": (rng.random(n) < 0.2).astype(np.float32),
    }
    rows["user"][0] = "lone"  # A user of one row.
    length = max_length + 1
    with self.assertLogs(level="WARNING") as logs:
      lists = windows.to_lists(rows, _spec(max_length), ["user", "row"])
    # Rows with neither label take slots, and the log says how many.
    none = int(((rows["view"] == 0) & (rows["buy"] == 0)).sum())
    self.assertIn(
      f"data: {none} of {n} training rows are no event of history 'h'",
      logs.output[0],
    )
    self.assertEqual(lists["row"].shape[1], length)
    self.assertAllEqual(lists[MASK] > 0, lists[MASK] == 1)
    # Every row is scored exactly once, in all the lists.
    scored = lists["row"][lists[MASK] > 0]
    self.assertCountEqual(scored, rows["row"])
    # Each slot's event type, by the definition.
    present = lists["row"] > 0
    row = lists["row"][present] - 1
    expected = [
      _event_type(rows["view"][r], rows["buy"][r]) for r in row.tolist()
    ]
    self.assertAllEqual(lists[EVENTS][present], expected)
    self.assertAllEqual(lists[EVENTS][~present], np.zeros((~present).sum()))
    by_user = collections.defaultdict(list)
    for k, user in enumerate(lists["user"]):
      by_user[user].append(k)
    self.assertCountEqual(by_user, set(rows["user"]))
    for user, ks in by_user.items():
      with self.subTest(user=user):
        mine = np.flatnonzero(rows["user"] == user)
        in_time = (mine[np.lexsort((mine, rows["t"][mine]))] + 1).tolist()
        windows_of = [lists["row"][k][present[k]].tolist() for k in ks]
        masks = [lists[MASK][k][present[k]].tolist() for k in ks]
        # The windows in time order, by their last row.
        ranked = sorted(
          range(len(ks)), key=lambda w: in_time.index(windows_of[w][-1])
        )
        windows_of = [windows_of[w] for w in ranked]
        masks = [masks[w] for w in ranked]
        # Every window but the user's first is full; the newest ends at
        # the user's last row.
        for w in windows_of[1:]:
          self.assertLen(w, length)
        self.assertEqual(windows_of[-1][-1], in_time[-1])
        # Consecutive windows share one row, input only in the later.
        joined = list(windows_of[0])
        self.assertEqual(masks[0], [1] * len(windows_of[0]))
        for before, after, mask in zip(
          windows_of, windows_of[1:], masks[1:], strict=False
        ):
          self.assertEqual(after[0], before[-1])
          self.assertEqual(mask, [0] + [1] * (len(after) - 1))
          joined += after[1:]
        self.assertEqual(joined, in_time)


class RefusedTest(tf.test.TestCase):
  def test_a_spec_with_a_list_id_is_refused(self):
    rows = {
      "user": np.array([1, 1]),
      "item": np.array([5, 6]),
      "t": np.array([0, 1]),
      "request": np.array([0, 0]),
      "view": np.array([1, 1]),
      "buy": np.array([0, 0]),
    }
    with self.assertRaisesRegex(
      ValueError,
      "training rows: histories trained at every position read each user's "
      "rows as one sequence, and 'request' groups them into lists: set "
      "every_position to false",
    ):
      windows.to_lists(
        rows, _spec(3, list_id="request"), ["item"], where="training rows"
      )

  def test_without_a_sequence_lists_are_impressions(self):
    spec = _spec(3)
    plain = spec.replace(
      features=spec.features[:2]
      + (spec_lib.Feature("h", "query", "history", built_from="view"),)
    )
    rows = {
      "user": np.array([1, 1, 2]),
      "item": np.array([5, 6, 7]),
      "t": np.array([0, 1, 2]),
      "view": np.array([1, 1, 1]),
      "buy": np.array([0, 0, 0]),
    }
    lists = windows.to_lists(rows, plain, ["item"])
    # No list_id: a list a row, as lists.to_lists makes them.
    self.assertAllEqual(lists["item"], [[5], [6], [7]])
    self.assertNotIn(EVENTS, lists)


if __name__ == "__main__":
  tf.test.main()
