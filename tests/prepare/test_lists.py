"""Rows to impression lists, and the logQ frequencies."""

import numpy as np
import tensorflow as tf

from multiobj.data import spec as spec_lib
from multiobj.prepare import lists as lists_lib
from multiobj.retrieval import candidates

SPEC = spec_lib.DatasetSpec(
  name="toy",
  features=(
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
    spec_lib.Feature("position", "context", "category", serving_value=1),
  ),
  labels=("click",),
  item_id="item",
  list_id="request",
)

ROWS = {
  "request": np.array([7, 5, 7, 5, 7]),
  "user": np.array([1, 2, 1, 2, 1]),
  "item": np.array([10, 11, 12, 10, 13]),
  "position": np.array([1, 1, 2, 2, 3]),
  "click": np.array([1.0, 0.0, 0.0, 1.0, 1.0]),
}


class PipelineTest(tf.test.TestCase):
  def test_groups_pads_and_masks(self):
    lists = lists_lib.to_lists(
      ROWS, SPEC, ["user", "item", "position", "click"]
    )
    # Request 5 sorts first; rows keep their order within a request.
    self.assertAllEqual(lists["user"], [2, 1])
    self.assertAllEqual(lists["item"], [[11, 10, 0], [10, 12, 13]])
    self.assertAllEqual(lists["click"], [[0, 1, 0], [1, 0, 1]])
    self.assertAllEqual(lists[lists_lib.MASK], [[1, 1, 0], [1, 1, 1]])

  def test_truncates_long_lists(self):
    lists = lists_lib.to_lists(ROWS, SPEC, ["item"], max_list_size=2)
    self.assertAllEqual(lists["item"], [[11, 10], [10, 12]])

  def test_without_list_id_each_row_is_a_list(self):
    lists = lists_lib.to_lists(
      ROWS, SPEC.replace(list_id=None), ["user", "item"]
    )
    self.assertAllEqual(lists["item"], [[10], [11], [12], [10], [13]])
    self.assertAllEqual(lists["user"], [1, 2, 1, 2, 1])

  def test_query_feature_must_be_constant_in_a_list(self):
    rows = dict(ROWS, user=np.array([1, 2, 3, 2, 1]))
    with self.assertRaisesRegex(
      ValueError,
      r"toy rows: query feature 'user' varies within list 7 \(request\)",
    ):
      lists_lib.to_lists(rows, SPEC, ["user"], where="toy rows")

  def test_empty_table(self):
    with self.assertRaisesRegex(ValueError, "train: no rows"):
      lists_lib.to_lists(
        {k: v[:0] for k, v in ROWS.items()}, SPEC, ["user"], where="train"
      )

  def test_sampling_probability(self):
    lists = lists_lib.to_lists(ROWS, SPEC, ["item", "click"])
    # Positives: item 10 twice, item 13 once -> 2/3 and 1/3; items never
    # positive (11, 12, padding) get the smallest frequency, 1/3.
    valid = lists[lists_lib.MASK] > 0
    slots, by_item = candidates.sampling_probability(
      valid,
      (lists["click"] > 0) & valid,
      lists["item"],
      np.array([13, 12, 11, 10]),
    )
    self.assertAllClose(slots, [[1 / 3, 2 / 3, 1 / 3], [2 / 3, 1 / 3, 1 / 3]])
    self.assertAllClose(by_item, [1 / 3, 1 / 3, 1 / 3, 2 / 3])

  def test_dataset_batches(self):
    lists = lists_lib.to_lists(ROWS, SPEC, ["user", "item"])
    batches = list(
      lists_lib.make_dataset(lists, batch_size=1, shuffle=True, seed=0)
    )
    self.assertLen(batches, 2)
    self.assertEqual(batches[0]["item"].shape, (1, 3))


if __name__ == "__main__":
  tf.test.main()
