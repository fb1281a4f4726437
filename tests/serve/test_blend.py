"""Blend: parsing, NumPy and TensorFlow evaluation, guards and rejections."""

import doctest
import math
import os
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj.serve import blend as blend_lib

HEADS = ("click", "purchase", "dwell")
E = math.e
PREDICTIONS = {
  "click": np.array([0.2, 0.5, 1.0]),
  "purchase": np.array([0.04, 0.25, 0.0]),
  "dwell": np.array([0.0, E - 1, 3.0]),
}
LOG_EPSILON = -20 * math.log(2)  # log(2^-20)


def _parse(text):
  return blend_lib.Blend.parse(text, HEADS)


class BlendTest(tf.test.TestCase, parameterized.TestCase):
  def assertPathsAgree(self, blend, expected):
    """NumPy (float64) and TensorFlow (float32) give `expected`."""
    self.assertAllClose(blend(PREDICTIONS), expected, rtol=1e-12)
    tensors = {k: tf.constant(v, tf.float32) for k, v in PREDICTIONS.items()}
    out = blend.tf(tensors)
    self.assertEqual(out.dtype, tf.float32)
    self.assertAllClose(out, expected, rtol=1e-5, atol=1e-6)

  @parameterized.named_parameters(
    # click * sqrt(purchase) * log1p(dwell): 0.2 * 0.2 * 0, 0.5 * 0.5 * 1,
    # 1 * 0 * log 4.
    ("product", "click*purchase^0.5*log1p(dwell)", [0.0, 0.25, 0.0]),
    # click + 3 purchase + 0.2 dwell.
    (
      "weighted_sum",
      "click:1,purchase:3,dwell:0.2",
      [0.32, 1.25 + 0.2 * (E - 1), 1.6],
    ),
    ("negative_weight", "click:2, dwell:-0.5", [0.4, 1 - (E - 1) / 2, 0.5]),
    ("mul_before_add", "click + 2 * 3", [6.2, 6.5, 7.0]),
    ("parentheses", "(click + 2) * 3", [6.6, 7.5, 9.0]),
    ("pow_right_assoc", "2^3^2 * click", [102.4, 256.0, 512.0]),  # 2^9
    ("pow_grouped", "(2^3)^2 * click", [12.8, 32.0, 64.0]),  # 8^2
    ("neg_below_pow", "-click^2", [-0.04, -0.25, -1.0]),
    ("neg_exponent", "click^-1", [5.0, 2.0, 1.0]),
    ("sub_left_assoc", "click - purchase - dwell", [0.16, 1.25 - E, -2.0]),
    ("div_left_assoc", "click / 2 / 2", [0.05, 0.125, 0.25]),
    ("double_neg", "2 - -click", [2.2, 2.5, 3.0]),
    ("max", "max(click, purchase, 0.3)", [0.3, 0.5, 1.0]),
    ("min", "min(click, purchase)", [0.04, 0.25, 0.0]),
    ("clip", "clip(dwell, 0.5, 2)", [0.5, E - 1, 2.0]),
    # sqrt(0.04) + e^0.2 - log(0.2), ...
    (
      "functions",
      "sqrt(purchase) + exp(click) - log(click)",
      [
        0.2 + math.exp(0.2) - math.log(0.2),
        0.5 + math.exp(0.5) - math.log(0.5),
        0.0 + E - 0.0,
      ],
    ),
    ("log1p_e", "log1p(dwell) * click", [0.0, 0.5, math.log(4.0)]),
  )
  def test_values(self, text, expected):
    self.assertPathsAgree(_parse(text), expected)

  @parameterized.named_parameters(
    # Division by zero gives 0: 0.2 / 0.04, 0.5 / 0.25, 1 / 0.
    ("divide_by_zero", "click / purchase", [5.0, 2.0, 0.0]),
    ("pole", "purchase^-1", [25.0, 4.0, 0.0]),
    (
      "log_zero",
      "log(purchase)",
      [math.log(0.04), math.log(0.25), LOG_EPSILON],
    ),
    ("log_negative", "log(-click)", [LOG_EPSILON] * 3),
    # log1p(1 - e) and log1p(-3) clamp at log1p(-1 + 2^-20) = log(2^-20).
    ("log1p_below_minus_one", "log1p(-dwell)", [0.0] + [LOG_EPSILON] * 2),
    ("sqrt_negative", "sqrt(-click)", [0.0, 0.0, 0.0]),
    ("exp_overflow", "exp(1000 * click)", [math.exp(80)] * 3),
    ("negative_base_fraction", "(-click)^0.5", [0.0, 0.0, 0.0]),
    ("negative_base_integer", "(-click)^3", [-0.008, -0.125, -1.0]),
    ("zero_to_zero", "(purchase * 0)^0 + click", [1.2, 1.5, 2.0]),
  )
  def test_guards(self, text, expected):
    blend = _parse(text)
    with np.errstate(all="raise"):  # No hidden inf or NaN on the way.
      self.assertPathsAgree(blend, expected)
    self.assertTrue(np.all(np.isfinite(blend.tf(PREDICTIONS))))

  def test_float64_tensors_stay_float64(self):
    blend = _parse("click / purchase + log(dwell)")
    out = blend.tf(
      {k: tf.constant(v, tf.float64) for k, v in PREDICTIONS.items()}
    )
    self.assertEqual(out.dtype, tf.float64)
    self.assertAllClose(out, blend(PREDICTIONS), rtol=1e-12)

  def test_tf_function_and_saved_model(self):
    blend = _parse("click * purchase^0.5 + clip(dwell, 0, 2) / 10")
    spec = {h: tf.TensorSpec([None, None], tf.float32) for h in HEADS}
    module = tf.Module()
    module.score = tf.function(blend.tf, input_signature=[spec])
    path = os.path.join(self.create_tempdir().full_path, "blend")
    tf.saved_model.save(module, path)
    loaded = tf.saved_model.load(path)
    inputs = {k: v[None, :].astype(np.float32) for k, v in PREDICTIONS.items()}
    self.assertAllClose(
      loaded.score(inputs), blend(inputs), rtol=1e-5, atol=1e-6
    )

  @parameterized.named_parameters(
    (
      "weighted",
      "click:1, purchase:3 ,dwell:0.20",
      "click:1,purchase:3,dwell:0.2",
    ),
    ("weighted_negative", "click:-0.5", "click:-0.5"),
    (
      "spaces",
      "click*purchase^0.5*log1p(dwell)",
      "click * purchase^0.5 * log1p(dwell)",
    ),
    ("redundant_parens", "((click))+(purchase*2)", "click + purchase * 2"),
    ("kept_parens", "click-(purchase-dwell)", "click - (purchase - dwell)"),
    (
      "kept_parens_assoc",
      "click+(purchase+dwell)",
      "click + (purchase + dwell)",
    ),
    ("left_assoc", "(click-purchase)-dwell", "click - purchase - dwell"),
    ("pow_right", "click^(purchase^2)", "click^purchase^2"),
    ("pow_left", "(click^purchase)^2", "(click^purchase)^2"),
    ("neg_base", "(-click)^2", "(-click)^2"),
    ("neg_pow", "-(click^2)", "-click^2"),
    ("neg_exponent", "click^(-1)", "click^-1"),
    (
      "numbers",
      "max(click,purchase , 1e-3, 2.0)",
      "max(click, purchase, 0.001, 2)",
    ),
    ("neg_operand", "click*(-purchase)", "click * -purchase"),
    ("div_group", "click/(purchase*dwell)", "click / (purchase * dwell)"),
  )
  def test_canonical_form(self, text, canonical):
    blend = _parse(text)
    self.assertEqual(str(blend), canonical)
    again = _parse(str(blend))
    self.assertEqual(again, blend)
    self.assertEqual(str(again), canonical)
    self.assertEqual(hash(again), hash(blend))

  def test_heads_and_equality(self):
    self.assertEqual(_parse("dwell + click * dwell").heads, ("dwell", "click"))
    self.assertEqual(_parse("purchase:1,click:2").heads, ("purchase", "click"))
    self.assertNotEqual(_parse("click + 1"), _parse("1 + click"))
    self.assertIn("click + 1", repr(_parse("click+1")))

  def test_missing_prediction(self):
    with self.assertRaisesRegex(ValueError, r"needs heads \['dwell'\]"):
      _parse("click + dwell")({"click": [1.0]})

  def test_exact_messages(self):
    with self.assertRaises(ValueError) as bad_token:
      _parse("click=1")
    self.assertEqual(
      str(bad_token.exception), "unexpected '=' at position 5 in 'click=1'"
    )
    with self.assertRaises(ValueError) as unknown:
      _parse("views * 2")
    self.assertEqual(
      str(unknown.exception),
      "unknown head 'views' at position 0 in 'views * 2'; "
      "known heads: click, purchase, dwell",
    )

  def test_constants_beyond_float32_are_refused(self):
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "the constant 10^10^10 in 'click*10^10^10' is inf, beyond float32's "
      "range (3.4e38): every blended score would be infinite or NaN",
    ):
      _parse("click*10^10^10")
    with self.assertRaisesRegex(
      ValueError, r"the constant -2\^200 in 'click \+ -\(2\^200\)' is -1.6"
    ):
      _parse("click + -(2^200)")
    with self.assertRaisesRegex(ValueError, "number '1e39' out of range"):
      _parse("click * 1e39")
    # Within range, whatever their form.
    self.assertEqual(
      str(_parse("click * 10^30 / 2^(3*4)")), "click * 10^30 / 2^(3 * 4)"
    )

  def test_size_and_nesting_are_bounded(self):
    with self.assertRaisesWithLiteralMatch(
      ValueError,
      "blend 'click + click + click + click + click + click + click + clic "
      "... + click + click' has 401 tokens (numbers, names, "
      "operators); at most 200",
    ):
      _parse(" + ".join(["click"] * 201))
    deep = "(" * 33 + "click" + ")" * 33
    with self.assertRaisesRegex(
      ValueError, r"^parentheses nested deeper than 32 at position 32 in '"
    ):
      _parse(deep)
    self.assertEqual(str(_parse("(" * 32 + "click" + ")" * 32)), "click")

  def test_any_head_without_a_model(self):
    # Heads None: the syntax and constants are checked before a model says
    # which heads there are.
    blend = blend_lib.Blend.parse("ctr * price^0.5", None)
    self.assertEqual(blend.heads, ("ctr", "price"))
    with self.assertRaisesRegex(ValueError, "the constant"):
      blend_lib.Blend.parse("ctr * 10^10^10", None)

  @parameterized.named_parameters(
    ("empty", "", "empty"),
    ("blank", "   ", "empty"),
    ("unclosed", "(click", r"end of input at position 6 .*expected '\)'"),
    ("unopened", "click)", r"unexpected '\)' at position 5"),
    ("dangling_operator", "click +", "end of input at position 7"),
    ("two_operands", "click purchase", "unexpected 'purchase' at position 6"),
    ("double_star", "click ** 2", r"unexpected '\*' at position 7"),
    (
      "unknown_function",
      "sin(click)",
      "unknown function 'sin'.*known functions: log, log1p",
    ),
    ("arity", "clip(click, 0)", r"clip\(\) takes 3 arguments, got 2"),
    ("arity_min", "min(click)", "at least 2"),
    ("no_argument", "log()", r"unexpected '\)' at position 4"),
    ("no_head", "2 * 3", "uses no head"),
    ("overflow", "1e999 * click", "out of range"),
    ("weighted_twice", "click:1,click:2", "appears twice"),
    ("weighted_no_weight", "click:", "end of input.*expected a number"),
    ("weighted_no_colon", "click:1,purchase", "expected ':'"),
    ("weighted_mixed", "click:1 + purchase:2", r"unexpected '\+'"),
    ("weighted_unknown", "views:1", "unknown head 'views'"),
    ("weighted_trailing", "click:1,", "expected a head name"),
  )
  def test_rejects(self, text, message):
    with self.assertRaisesRegex(ValueError, message):
      _parse(text)

  @parameterized.parameters(
    "__import__('os').system('x')",
    "click.__class__",
    "click.real",
    "[x for x in ()]",
    "lambda: 1",
    "lambda x: click",
    "click if click else 0",
    "eval('click')",
    "exec('import os')",
    "getattr(click, 'real')",
    "__builtins__",
    "click; import os",
    "{}",
    "click @ click",
    "click == 1",
    "f'{click}'",
    "\\x63lick",
  )
  def test_rejects_injection(self, text):
    with self.assertRaises(ValueError):
      _parse(text)

  def test_never_calls_eval(self):
    forbidden = mock.Mock(side_effect=AssertionError("called"))
    with (
      mock.patch("builtins.eval", forbidden),
      mock.patch("builtins.exec", forbidden),
      mock.patch("builtins.compile", forbidden),
    ):
      blend = _parse("click * purchase^0.5 * log1p(dwell) + max(click, 1)")
      blend(PREDICTIONS)
      blend.tf(PREDICTIONS)
    forbidden.assert_not_called()

  def test_docstring_examples(self):
    result = doctest.testmod(blend_lib)
    self.assertGreater(result.attempted, 0)
    self.assertEqual(result.failed, 0)


if __name__ == "__main__":
  tf.test.main()
