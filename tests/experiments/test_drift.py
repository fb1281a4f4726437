"""experiments/drift.py against a hand count."""

import numpy as np
from absl.testing import absltest

from experiments import drift
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib

SPEC = spec_lib.DatasetSpec(
  name="toy",
  features=(
    spec_lib.Feature("user", "query", "id"),
    spec_lib.Feature("item", "candidate", "id"),
  ),
  labels=("seen",),
  item_id="item",
  user_id="user",
  timestamp="time",
)


class DriftTest(absltest.TestCase):
  def test_counts_by_hand(self):
    # Train, in time order: item 1 three times early, item 2 twice late.
    train = {
      "user": np.array([1, 1, 2, 2, 3]),
      "item": np.array([2, 1, 1, 2, 1]),
      "time": np.array([5, 1, 2, 4, 3]),
      "seen": np.ones(5),
    }
    test = {
      "user": np.array([1, 4, 5, 6]),
      "item": np.array([2, 2, 3, 1]),
      "time": np.array([6, 7, 8, 9]),
      "seen": np.array([1.0, 1.0, 1.0, 0.0]),  # The last is no pair.
    }
    data = dataset_lib.Dataset(
      spec=SPEC,
      splits={"train": train, "test": test},
      catalogue={"item": np.array([1, 2, 3])},
    )
    lines = drift.report(data, "seen", k=1)
    self.assertEqual(lines[0], "toy: 5 training pairs (seen > 0).")
    # Pairs (1, 2), (4, 2), (5, 3): one user and two items seen in train.
    self.assertEqual(
      lines[1],
      "test: 3 pairs; user seen in train 33.3%, item seen in train 66.7%",
    )
    # Over all of train, item 1 is the most popular: no pair found. Over
    # its latest half (times 4 and 5: item 2 twice), two of three.
    self.assertEqual(
      lines[2], "  most popular over all of train: recall@1 0.0000"
    )
    self.assertEqual(
      lines[3], "  most popular over latest 50% of train: recall@1 0.6667"
    )


if __name__ == "__main__":
  absltest.main()
