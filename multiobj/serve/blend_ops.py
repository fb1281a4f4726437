"""How a parsed blend (`blend.py`) is computed: one evaluator over the tree,
on NumPy or on TensorFlow, with each operation's guard written once over the
primitives of both (see `blend.py` for the guards)."""

import functools
import operator

import numpy as np

EPSILON = 2.0**-20
MAX_EXP = 80.0
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _numpy_divide(a, b):
  zero = b == 0
  return np.where(zero, 0.0, a / np.where(zero, 1.0, b))


# The primitives of each path; the guards are written once, over them.
_PRIMITIVES = "equal floor minimum maximum log log1p exp sqrt".split()
NUMPY_OPS = {name: getattr(np, name) for name in _PRIMITIVES} | dict(
  const=np.float64, where=np.where, power=np.power, divide=_numpy_divide
)


def tf_ops(dtype) -> dict:
  """The operations in TensorFlow, computing in `dtype` (a tf.DType)."""
  # Imported here: the parser's users (every script's flags) need no
  # TensorFlow.
  import tensorflow as tf  # noqa: PLC0415

  return {name: getattr(tf.math, name) for name in _PRIMITIVES} | dict(
    const=lambda value: tf.constant(value, dtype),
    where=tf.where,
    power=tf.pow,
    divide=tf.math.divide_no_nan,
  )


def _power(ops, a, b):
  zero, one = ops["const"](0.0), ops["const"](1.0)
  integer = ops["equal"](b, ops["floor"](b))
  base = ops["where"](integer, a, ops["maximum"](a, zero))
  pole = ops["equal"](base, zero) & (b < zero)
  safe = ops["power"](ops["where"](pole, one, base), b)
  return ops["where"](pole, zero, safe)


def _call(function: str, x: list, ops):
  """`function` of the evaluated arguments `x`, with its guard."""
  const = ops["const"]
  if function == "log":
    return ops["log"](ops["maximum"](x[0], const(EPSILON)))
  if function == "log1p":
    return ops["log1p"](ops["maximum"](x[0], const(EPSILON - 1.0)))
  if function == "exp":
    return ops["exp"](ops["minimum"](x[0], const(MAX_EXP)))
  if function == "sqrt":
    return ops["sqrt"](ops["maximum"](x[0], const(0.0)))
  if function == "clip":
    return ops["minimum"](ops["maximum"](x[0], x[1]), x[2])
  return functools.reduce(ops[function + "imum"], x)  # minimum or maximum.


def evaluate(node, env, ops):
  match node:
    case ("number", value):
      return ops["const"](value)
    case ("head", name):
      return env[name]
    case ("weighted_sum", terms):
      weighted = (ops["const"](w) * env[h] for h, w in terms)
      return functools.reduce(operator.add, weighted)
    case ("neg", operand):
      return -evaluate(operand, env, ops)
    case ("call", function, args):
      return _call(function, [evaluate(a, env, ops) for a in args], ops)
  op, left, right = node
  a, b = evaluate(left, env, ops), evaluate(right, env, ops)
  if op == "/":
    return ops["divide"](a, b)
  if op == "^":
    return _power(ops, a, b)
  return _ARITHMETIC[op](a, b)
