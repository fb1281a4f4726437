"""The data-only baselines against hand computations, learned from training
lists read a chunk at a time."""

import numpy as np
from absl.testing import absltest

import objectives
from multiobj.data import synthetic
from multiobj.evaluate import baselines
from multiobj.prepare import lists as lists_lib

CLICK = objectives.Objective(
  name="click", kind="binary", label="click", loss="bce", metrics=("logloss",)
)
DWELL = objectives.Objective(
  name="dwell",
  kind="regression",
  label="dwell",
  loss="mse",
  label_transform="log1p",
  metrics=("rmse",),
)

# Two chunks of training lists; the third slot of the first chunk is padding
# (its click and dwell must not count).
FIRST = {
  lists_lib.MASK: np.array([[1, 1, 0], [1, 1, 0]], np.float32),
  "item_id": np.array([[1, 2, 9], [2, 3, 9]]),
  "click": np.array([[1, 0, 1], [1, 0, 1]], np.float32),
  "dwell": np.array([[30, 0, 99], [5, 0, 99]], np.float32),
}
SECOND = {
  lists_lib.MASK: np.ones((1, 3), np.float32),
  "item_id": np.array([[1, 3, 2]]),
  "click": np.array([[0, 1, 1]], np.float32),
  "dwell": np.array([[0, 10, 20]], np.float32),
}


class LearnTest(absltest.TestCase):
  def test_counts_by_hand_whatever_the_chunks(self):
    whole = {k: np.concatenate([FIRST[k], SECOND[k]]) for k in FIRST}
    for chunks in ([FIRST, SECOND], [SECOND, FIRST], [whole]):
      learned = baselines.learn([CLICK, DWELL], synthetic.SPEC, chunks)
      ids, sums = learned["click"]
      np.testing.assert_array_equal(ids, [1, 2, 3])
      # Shows and clicks: item 1 shown twice, clicked once; item 2 three
      # times, twice; item 3 twice, once. Item 9 is padding only.
      np.testing.assert_array_equal(sums, [[2, 1], [3, 2], [2, 1]])
      _, dwell = learned["dwell"]
      np.testing.assert_allclose(
        dwell.sum(axis=0), [7, np.log1p([30, 5, 10, 20]).sum()]
      )

  def test_no_training_lists(self):
    learned = baselines.learn([CLICK, DWELL], synthetic.SPEC, [])
    self.assertEqual(learned["click"][1].shape, (0, 2))


class BaselineMetricsTest(absltest.TestCase):
  def test_smoothed_item_rate_and_training_mean(self):
    learned = baselines.learn([CLICK, DWELL], synthetic.SPEC, [FIRST, SECOND])
    test = {
      lists_lib.MASK: np.ones((1, 2), np.float32),
      "item_id": np.array([[1, 4]]),  # Item 4 never shown in training.
      "click": np.array([[1, 0]], np.float32),
      "dwell": np.array([[3, 0]], np.float32),
    }
    got = baselines.baseline_metrics(
      [CLICK, DWELL], synthetic.SPEC, learned, test, {"item_id": np.arange(5)}
    )
    rate = 4 / 7  # Clicks over shows in training.
    first = (1 + 20 * rate) / (2 + 20)  # Item 1's rate, smoothed by 20 shows.
    self.assertAlmostEqual(
      got["click_logloss"], -(np.log(first) + np.log(1 - rate)) / 2
    )
    mean = np.log1p([30, 5, 10, 20]).sum() / 7
    self.assertAlmostEqual(
      got["dwell_rmse"], np.sqrt(((np.log1p(3) - mean) ** 2 + mean**2) / 2)
    )


if __name__ == "__main__":
  absltest.main()
