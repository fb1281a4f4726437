"""The Pareto plot labels every trial, legibly."""

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from absl.testing import absltest  # noqa: E402

from multiobj.studies.sweep import plots  # noqa: E402


class LabelTest(absltest.TestCase):
  def test_every_point_labelled_and_no_two_labels_overlap(self):
    fig, ax = plt.subplots(figsize=(4, 4))
    # A cluster of five trials nearly on one spot, and two apart.
    points = [(0.5 + i * 1e-4, 0.8 + i * 1e-4) for i in range(5)]
    points += [(0.1, 0.1), (0.9, 0.2)]
    ax.scatter(*zip(*points, strict=True))
    plots.label_points(
      ax, [(x, y, str(n), "black") for n, (x, y) in enumerate(points)]
    )
    fig.canvas.draw()
    self.assertCountEqual(
      [t.get_text() for t in ax.texts], [str(n) for n in range(7)]
    )
    boxes = [t.get_window_extent() for t in ax.texts]
    for a, b in itertools.combinations(boxes, 2):
      self.assertFalse(a.overlaps(b), f"{a} and {b}")
    plt.close(fig)


if __name__ == "__main__":
  absltest.main()
