"""The registry: one name one entry, errors that list the known names."""

import subprocess
import sys

from absl.testing import absltest

import objectives
from multiobj import registry


class RegistryTest(absltest.TestCase):
  def test_register_and_get(self):
    r = registry.Registry("thing")

    @r.register("a")
    def a():
      return 1

    self.assertIs(r.get("a"), a)
    self.assertEqual(r.names(), ["a"])
    self.assertIn("a", r)
    self.assertLen(r, 1)

  def test_refuses_a_name_twice(self):
    r = registry.Registry("thing")
    r.add("a", 1)
    with self.assertRaisesRegex(
      ValueError, "The thing 'a' is already registered"
    ):
      r.add("a", 2)
    self.assertEqual(r.get("a"), 1)

  def test_unknown_name_lists_the_known_ones(self):
    r = registry.Registry("thing")
    r.add("b", 1)
    r.add("a", 2)
    with self.assertRaisesRegex(
      ValueError, r"Unknown thing 'c'\. Known things: a, b\."
    ):
      r.get("c")

  def test_names_must_be_flag_friendly(self):
    r = registry.Registry("thing")
    for bad in ("", "a b", "a,b", "a:b"):
      with self.assertRaises(ValueError):
        r.add(bad, 1)

  def test_builtins_are_registered_on_import(self):
    self.assertContainsSubset(
      ["retrieval", "click", "dwell", "purchase"], objectives.names()
    )
    self.assertContainsSubset(
      ["bce", "mse", "huber", "softmax", "approx_ndcg", "pairwise_logistic"],
      objectives.LOSSES.names(),
    )
    self.assertIn("static", objectives.WEIGHTINGS.names())


class RegisterTest(absltest.TestCase):
  def test_a_registered_objective_has_its_loss_checked(self):
    for loss, message in (
      ("mse", "Objective 'bad_click' is a binary objective; loss 'mse'"),
      ("focal(gamma_typo=2)", "Loss 'focal' does not take parameters"),
    ):
      name, params = objectives.parse_call(loss)
      with self.subTest(loss=loss), self.assertRaisesRegex(ValueError, message):
        objectives.register(
          objectives.Objective(
            name="bad_click",
            kind="binary",
            label="click",
            loss=name,
            loss_params=params,
          )
        )
    self.assertNotIn("bad_click", objectives.OBJECTIVES)

  def test_every_builtin_objective_has_a_valid_loss(self):
    for name in objectives.names():
      objectives.get(name).validate_loss()

  def test_submodules_are_attributes(self):
    self.assertIs(objectives.losses.PointwiseLoss, objectives.PointwiseLoss)


class DeclareTest(absltest.TestCase):
  def test_a_declared_name_is_known_and_loads_its_module(self):
    r = registry.Registry("thing")
    r.declare("tests.objectives.declared_things", ["made"])
    self.assertIn("made", r)
    self.assertEqual(r.names(), ["made"])
    self.assertFalse(r.loaded("made"))
    r.check("made")
    with self.assertRaisesRegex(
      ValueError, r"Unknown thing 'x'\. Known things: made\."
    ):
      r.check("x")
    # The module registers into the registry it is handed (here: a global
    # it reads), as the built-in modules do.
    import tests.objectives as package

    package.THINGS = r
    try:
      self.assertEqual(r.get("made")(), "made")
    finally:
      del package.THINGS
    self.assertTrue(r.loaded("made"))

  def test_another_module_cannot_take_a_declared_name(self):
    r = registry.Registry("thing")
    r.declare("not.imported.module", ["taken"])
    with self.assertRaisesRegex(
      ValueError,
      r"The thing 'taken' is already registered \(by not\.imported\.module\)",
    ):
      r.add("taken", 1)

  def test_a_module_that_does_not_register_its_name(self):
    r = registry.Registry("thing")
    r.declare("tests.objectives", ["missing"])
    with self.assertRaisesRegex(
      ValueError,
      "tests.objectives was declared to register the thing 'missing' and "
      "did not",
    ):
      r.get("missing")

  def test_each_builtin_module_registers_what_it_declares(self):
    for entries in (objectives.LOSSES, objectives.WEIGHTINGS):
      for name in entries.names():
        declared = entries._declared.get(name)  # noqa: SLF001
        if declared is not None:
          with self.subTest(name=name):
            self.assertEqual(entries.get(name).__module__, declared)


def _fresh(code: str) -> str:
  """What `code` prints in a fresh interpreter."""
  return subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=True
  ).stdout


class FreshProcessTest(absltest.TestCase):
  def test_names_and_flag_errors_without_tensorflow(self):
    # Every name is known, --help has its text and a flag error its message
    # before TensorFlow is imported (it takes seconds).
    code = (
      "import sys\n"
      "from absl import flags\n"
      "import objectives, experiments.train, experiments.evaluate\n"
      "import experiments.export, experiments.prepare, experiments.reproduce\n"
      "print(len(objectives.LOSSES), len(objectives.WEIGHTINGS))\n"
      "try:\n"
      "  flags.FLAGS(['train', '--model_dir=x', '--weighting=nope'])\n"
      "except flags.IllegalFlagValueError as e:\n"
      "  print(str(e).splitlines()[0])\n"
      "print('tensorflow' in sys.modules)\n"
    )
    out = _fresh(code).splitlines()
    self.assertEqual(out[0], "15 6")
    self.assertStartsWith(
      out[1], "flag --weighting=nope: Unknown weighting strategy 'nope'."
    )
    self.assertEqual(out[2], "False")

  def test_a_losses_error_names_the_flag_in_a_fresh_process(self):
    # There the loss's module is imported by the check, not before it.
    code = (
      "import objectives\n"
      "try:\n"
      "  objectives.select('click', 'click:mse')\n"
      "except ValueError as e:\n"
      "  print(e)\n"
    )
    out = _fresh(code)
    self.assertStartsWith(
      out, "--losses: Objective 'click' is a binary objective; loss 'mse'"
    )

  def test_import_registers_every_builtin(self):
    # In a fresh interpreter, so that no test module's own imports hide a
    # built-in module that `import objectives` fails to load.
    code = (
      "import objectives\n"
      "print(','.join(objectives.names()))\n"
      "print(','.join(objectives.LOSSES.names()))\n"
      "print(','.join(objectives.WEIGHTINGS.names()))\n"
    )
    out = _fresh(code).splitlines()
    self.assertEqual(
      out[0].split(","),
      ["cart", "click", "dwell", "like", "purchase", "rating", "retrieval"],
    )
    self.assertEqual(
      out[1].split(","),
      sorted(
        "approx_ndcg bce bootstrap dwell_weighted focal gce huber lambda listmle "
        "mse pairwise_logistic rce sce softmax tce".split()
      ),
    )
    self.assertEqual(
      out[2].split(","),
      ["dwa", "gradnorm", "mgda", "pcgrad", "static", "uncertainty"],
    )


class SelectTest(absltest.TestCase):
  def test_weights_and_defaults(self):
    selected = objectives.select("retrieval:1,click:2.5,dwell")
    self.assertEqual(
      [o.name for o in selected], ["retrieval", "click", "dwell"]
    )
    self.assertEqual(
      [o.weight for o in selected], [1.0, 2.5, objectives.get("dwell").weight]
    )

  def test_loss_override(self):
    (click,) = objectives.select("click", "click:pairwise_logistic")
    self.assertEqual(click.loss, "pairwise_logistic")

  def test_errors_name_the_flag_and_entry(self):
    cases = {
      "clik:1": r"--objectives: Unknown objective 'clik'\. Known objectives: .*click",
      "click:abc": r"--objectives: weight 'abc' of objective 'click' is not a number",
      "click:-1": r"weight '-1' of objective 'click' must be a finite number >= 0",
      "click:nan": r"weight 'nan' of objective 'click' must be a finite number",
      "click,,dwell": r"--objectives: empty entry",
      "click,click": r"--objectives: 'click' is given twice",
      "click:": r"--objectives: entry 'click:' has nothing after ':'",
    }
    for text, message in cases.items():
      with self.subTest(text=text):
        with self.assertRaisesRegex(ValueError, message):
          objectives.select(text)

  def test_loss_errors(self):
    with self.assertRaisesRegex(
      ValueError, r"--losses: Unknown loss 'nope'\. Known losses: .*bce"
    ):
      objectives.select("click", "click:nope")
    with self.assertRaisesRegex(
      ValueError,
      r"Objective 'click' is a binary objective; loss 'mse' serves regression",
    ):
      objectives.select("click", "click:mse")
    with self.assertRaisesRegex(
      ValueError, r"--losses: objective 'dwell' is not among"
    ):
      objectives.select("click", "dwell:mse")


class ObjectiveTest(absltest.TestCase):
  def test_rejects_bad_fields(self):
    base = dict(name="x", kind="binary", label="y", loss="bce")
    with self.assertRaisesRegex(ValueError, "unknown kind 'binaryy'"):
      objectives.Objective(**{**base, "kind": "binaryy"})
    with self.assertRaisesRegex(
      ValueError, "unknown metric 'rmse' for a binary objective"
    ):
      objectives.Objective(**base, metrics=("rmse",))
    with self.assertRaisesRegex(ValueError, "unknown metric 'ndcg@x'"):
      objectives.Objective(**base, metrics=("ndcg@x",))
    with self.assertRaisesRegex(ValueError, "weight must be >= 0"):
      objectives.Objective(**base, weight=-1.0)
    with self.assertRaisesRegex(ValueError, "unknown label_transform 'sqrt'"):
      objectives.Objective(**base, label_transform="sqrt")


if __name__ == "__main__":
  absltest.main()
