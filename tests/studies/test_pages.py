"""Results pages quote the tables their reproduce command writes."""

import glob
import os
from unittest import mock

from absl import app
from absl.testing import absltest, flagsaver

from experiments import reproduce
from experiments.studies import STUDIES
from multiobj.studies import grid, pages

RESULTS = os.path.join(
  os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "docs", "results"
)
PAGE = """# A page

Some words.

<!-- reproduce:ml100k_multitask -->
old table
<!-- /reproduce:ml100k_multitask -->

More words.
"""


def _run(variant, seed, recall, knn_k, knn_recall, rmse=1.0):
  """One row of results.jsonl as `grid.run` writes it."""
  return {
    "key": ["ml100k_multitask", variant, seed],
    "metrics": {
      "retrieval_recall@100": recall,
      "retrieval_recall@10": recall / 4,
      "rating_rmse": rmse,
    },
    "baselines": {
      "retrieval_recall@100": max(0.25, knn_recall),
      "retrieval_recall@10": 0.04,
      "rating_rmse": 1.14,
    },
    "retrieval_baselines": {
      "most popular": {
        "retrieval_recall@100": 0.25,
        "retrieval_recall@10": 0.04,
      },
      f"item-KNN (k={knn_k})": {
        "retrieval_recall@100": knn_recall,
        "retrieval_recall@10": 0.03,
      },
    },
  }


class BlocksTest(absltest.TestCase):
  def test_replace_keeps_the_rest_of_the_page(self):
    text = pages.replace(PAGE, "ml100k_multitask", "new\n")
    self.assertEqual(text, PAGE.replace("old table\n", "new\n"))
    self.assertEqual(pages.blocks(text), {"ml100k_multitask": "new\n"})

  def test_a_page_without_the_block_is_refused_before_any_run(self):
    page = self.create_tempfile("page.md", content=PAGE).full_path
    argv = ["reproduce", "--study=deca", f"--page={page}", "--output_dir=x"]
    with flagsaver.flagsaver():
      reproduce.flags.FLAGS(argv)
      with mock.patch.object(reproduce, "run") as run:
        with self.assertRaisesRegex(
          app.UsageError,
          "--page: .*page.md has no block for study 'deca': add the lines "
          "'<!-- reproduce:deca -->'",
        ):
          reproduce.main(["reproduce"])
    run.assert_not_called()

  def test_a_page_without_the_block_names_the_markers(self):
    with self.assertRaisesRegex(
      ValueError,
      "no block for study 'deca': add the lines '<!-- reproduce:deca -->' "
      "and '<!-- /reproduce:deca -->'",
    ):
      pages.replace(PAGE, "deca", "new\n")


class TableTest(absltest.TestCase):
  def test_variants_then_each_baseline_then_the_strongest(self):
    # Seeds choose item-KNN's k apart (500, 500, 1000).
    results = [
      _run("joint", 0, 0.20, 500, 0.30),
      _run("joint", 1, 0.22, 500, 0.30),
      _run("joint", 2, 0.24, 1000, 0.33, rmse=1.3),
    ]
    for variant in ("rating_only", "retrieval_only"):
      results += [_run(variant, s, 0.1, 500, 0.30) for s in range(3)]
    text = reproduce.table("ml100k_multitask", results, [0, 1, 2])
    lines = text.split("\n")
    self.assertEqual(
      lines[0],
      "| variant | retrieval_recall@100 | retrieval_recall@10 | rating_rmse |",
    )
    # joint: recall@100 mean 0.22, sample std 0.02; RMSE 1, 1, 1.3: mean
    # 1.1, std sqrt((0.01 + 0.01 + 0.04) / 2) = 0.1732.
    self.assertEqual(
      lines[4],
      "| joint | 0.2200 ± 0.0200 | 0.0550 ± 0.0050 | 1.1000 ± 0.1732 |",
    )
    # The baselines of the first variant's runs (rating_only): the same on
    # every seed, so one value.
    self.assertEqual(lines[5], "| most popular | 0.2500 | 0.0400 | n/a |")
    self.assertEqual(lines[6], "| item-KNN (k=500) | 0.3000 | 0.0300 | n/a |")
    self.assertEqual(
      lines[7],
      "| strongest baseline | 0.3000 | 0.0400 | 1.1400 |",
    )
    self.assertLen(lines, 8)
    # Where seeds chose apart, the row names each choice.
    results = [_run("rating_only", 0, 0.1, 500, 0.30)]
    results.append(_run("rating_only", 1, 0.1, 1000, 0.36))
    lines = reproduce.table("ml100k_multitask", results, [0, 1]).split("\n")
    self.assertIn(
      "| item-KNN (k=500), item-KNN (k=1000) | 0.3300 ± 0.0424 |", lines[6]
    )


class FamilyTest(absltest.TestCase):
  def test_a_baseline_fitted_on_every_behaviour_is_its_own_row(self):
    # A family is the name without the chosen parameter: the same method
    # fitted on every behaviour is another family, not a spread of one.
    self.assertEqual(reproduce._family("item-KNN (k=500)"), "item-KNN")
    self.assertEqual(
      reproduce._family("EASE^R (lambda=10, every behaviour)"),
      "EASE^R (every behaviour)",
    )
    self.assertEqual(reproduce._family("own items"), "own items")


class ValueTest(absltest.TestCase):
  def test_timing_best_epoch_and_seconds_to_a_validation_value(self):
    row = {
      "metrics": {"retrieval_full_ndcg@10": 0.2},
      "timing": {"fit_seconds": 90.0, "epoch_seconds": [40.0, 30.0, 20.0]},
      "best_epoch": 3,
      "validation": {"val_retrieval_full_ndcg@10": [0.05, 0.11, 0.15]},
    }
    self.assertEqual(reproduce.value(row, "retrieval_full_ndcg@10"), 0.2)
    self.assertEqual(reproduce.value(row, "timing.fit_seconds"), 90.0)
    self.assertEqual(reproduce.value(row, "best_epoch"), 3)
    # 0.10 first reached after the second epoch: 40 + 30 seconds.
    target = "seconds_to:val_retrieval_full_ndcg@10>=0.1"
    self.assertEqual(reproduce.value(row, target), 70.0)
    never = "seconds_to:val_retrieval_full_ndcg@10>=0.5"
    self.assertIsNone(reproduce.value(row, never))


class PublishedPagesTest(absltest.TestCase):
  def test_every_block_is_the_table_of_its_kept_runs(self):
    checked = set()
    for page in sorted(glob.glob(os.path.join(RESULTS, "*.md"))):
      with open(page) as f:
        found = pages.blocks(f.read())
      for name, body in found.items():
        with self.subTest(page=os.path.basename(page), study=name):
          self.assertIn(name, STUDIES)
          results = grid.read(pages.results_path(page, name))
          self.assertNotEmpty(results, "no runs kept beside the page")
          seeds = sorted({r["key"][-1] for r in results})
          relative = os.path.join("docs", "results", os.path.basename(page))
          expected = pages.body(
            reproduce.command(name, seeds, relative),
            reproduce.table(name, results, seeds),
          )
          self.assertEqual(body, expected)
          checked.add(name)
    # Every table published this way; a block dropped from its page fails.
    self.assertLessEqual(
      {
        "ml100k_multitask",
        "ml100k_tuned",
        "deca",
        "deca_tuned",
        "taobao_tuned",
        "tfrs_tutorial_tuned",
        "features_ml100k",
        "features_ml100k_vectors",
        "features_ml100k_cold_vectors",
        "features_ml100k_vocabularies",
        "features_synthetic",
        "taobao",
        "ml100k_cold_start",
        "trunks_taobao",
      },
      checked,
    )


if __name__ == "__main__":
  absltest.main()
