"""A value model: one ranking score from the predictions of several heads.

Configured by a string in one of two syntaxes:

  weighted sum  click:1,purchase:3,dwell:0.2 = 1*click + 3*purchase + 0.2*dwell
  expression    click * purchase^0.5 * log1p(dwell)

An expression holds numbers, head names, + - * / ^, unary minus, parentheses
and calls of these functions, the only ones known:

  log(x)  log1p(x)  exp(x)  sqrt(x)  min(a, b, ...)  max(a, b, ...)
  clip(x, lo, hi) = min(max(x, lo), hi)

Precedence, loosest first: + -, then * /, then unary minus, then ^; all
left-associative except ^, which is right-associative and binds tighter than
unary minus: 2^3^2 = 2^9 and -x^2 = -(x^2), while x^-1 is allowed.

A hand-written tokenizer and recursive-descent parser turn the text into a
small tree; nothing reaches eval, exec, compile or the ast module, so a config
string can name the given heads and call the listed functions, nothing else.

Guards, identical on the NumPy and TensorFlow paths, so that no operation
turns finite predictions into inf or NaN:

  a / b     0 where b == 0 (as tf.math.divide_no_nan).
  log(x)    log(max(x, EPSILON)); log1p(x) is log1p(max(x, EPSILON - 1)).
  sqrt(x)   sqrt(max(x, 0)).
  exp(x)    exp(min(x, MAX_EXP)), finite in float32.
  a ^ b     0 where a == 0 and b < 0 (a pole, like 1 / 0); a negative base
            with a non-integer exponent has no real power and counts as 0.

EPSILON = 2^-20 (about 9.5e-7) is exact in float32, and so is -1 + EPSILON,
so both paths clamp at the same value. Overflow of huge finite values (past
float32's 3.4e38 on the TensorFlow path, e.g. dwell^100) is not guarded.
"""

from __future__ import annotations

import functools
import operator
import re
import typing
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

EPSILON = 2.0**-20
MAX_EXP = 80.0
# Name: (fewest, most) arguments; None = any number.
FUNCTIONS = {
  "log": (1, 1),
  "log1p": (1, 1),
  "exp": (1, 1),
  "sqrt": (1, 1),
  "min": (2, None),
  "max": (2, None),
  "clip": (3, 3),
}
_TOKEN = re.compile(
  r"(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
  r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
  r"|(?P<op>[-+*/^(),:])"
)
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_NEG, _POW, _ATOM = 3, 4, 5


class _Token(typing.NamedTuple):
  kind: str  # "number", "name", "op" or "end".
  text: str
  position: int


# The parsed tree is made of tuples, hashable and compared exactly:
#   ("number", value)  ("head", name)  ("neg", node)  (op, left, right)
#   ("call", function, args)  ("weighted_sum", ((head, weight), ...))


def _tokenize(text: str) -> list[_Token]:
  tokens, position = [], 0
  while True:
    while position < len(text) and text[position].isspace():
      position += 1
    if position == len(text):
      return [*tokens, _Token("end", "", position)]
    match = _TOKEN.match(text, position)
    if not match:
      raise ValueError(
        f"unexpected {text[position]!r} at position {position} in {text!r}"
      )
    tokens.append(_Token(match.lastgroup, match.group(), position))
    position = match.end()


class _Parser:
  """Recursive descent over the tokens, one method per precedence level."""

  def __init__(self, text: str, heads: Sequence[str]):
    self.text, self.heads = text, tuple(heads)
    self.tokens, self.i = _tokenize(text), 0
    self.used = {}  # Heads read, in order of first appearance.

  def fail(self, token: _Token, hint: str = "") -> ValueError:
    what = "end of input" if token.kind == "end" else repr(token.text)
    where = f"at position {token.position} in {self.text!r}"
    return ValueError(f"unexpected {what} {where}{hint}")

  def peek(self) -> str:
    token = self.tokens[self.i]
    return token.text if token.kind == "op" else ""

  def take(self) -> _Token:
    self.i += 1
    return self.tokens[self.i - 1]

  def expect(self, op: str) -> None:
    token = self.take()
    if token.kind != "op" or token.text != op:
      raise self.fail(token, f"; expected {op!r}")

  def number(self, token: _Token) -> float:
    if token.kind != "number":
      raise self.fail(token, "; expected a number")
    value = float(token.text)
    if not np.isfinite(value):
      raise ValueError(f"number {token.text!r} out of range in {self.text!r}")
    return value

  def head(self, token: _Token) -> str:
    if token.kind != "name":
      raise self.fail(token, "; expected a head name")
    if token.text not in self.heads:
      raise ValueError(
        f"unknown head {token.text!r} at position {token.position} in "
        f"{self.text!r}; known heads: {', '.join(self.heads)}"
      )
    self.used[token.text] = None
    return token.text

  def parse(self):
    if self.tokens[0].kind == "end":
      raise ValueError("empty blend: give a weighted sum or an expression")
    weighted = any(t.kind == "op" and t.text == ":" for t in self.tokens)
    tree = self.weighted_sum() if weighted else self.sum()
    if self.tokens[self.i].kind != "end":
      raise self.fail(self.tokens[self.i])
    return tree

  def weighted_sum(self) -> tuple:
    terms = {}
    while True:
      token = self.take()
      name = self.head(token)
      if name in terms:
        raise ValueError(f"head {name!r} appears twice in {self.text!r}")
      self.expect(":")
      sign = 1.0
      if self.peek() == "-":
        self.take()
        sign = -1.0
      terms[name] = sign * self.number(self.take())
      if self.peek() != ",":
        return ("weighted_sum", tuple(terms.items()))
      self.take()

  def sum(self):
    node = self.product()
    while self.peek() in ("+", "-"):
      node = (self.take().text, node, self.product())
    return node

  def product(self):
    node = self.unary()
    while self.peek() in ("*", "/"):
      node = (self.take().text, node, self.unary())
    return node

  def unary(self):
    if self.peek() == "-":
      self.take()
      return ("neg", self.unary())
    base = self.atom()
    if self.peek() == "^":
      self.take()
      return ("^", base, self.unary())  # Right-associative.
    return base

  def atom(self):
    token = self.take()
    if token.kind == "number":
      return ("number", self.number(token))
    if token.kind == "op" and token.text == "(":
      node = self.sum()
      self.expect(")")
      return node
    if token.kind != "name":
      raise self.fail(token)
    if self.peek() == "(":
      return self.call(token)
    return ("head", self.head(token))

  def call(self, token: _Token) -> tuple:
    if token.text not in FUNCTIONS:
      raise ValueError(
        f"unknown function {token.text!r} at position {token.position} in "
        f"{self.text!r}; known functions: {', '.join(FUNCTIONS)}"
      )
    self.expect("(")
    args = [self.sum()]
    while self.peek() == ",":
      self.take()
      args.append(self.sum())
    self.expect(")")
    fewest, most = FUNCTIONS[token.text]
    if len(args) < fewest or (most is not None and len(args) > most):
      wanted = f"{fewest}" if fewest == most else f"at least {fewest}"
      raise ValueError(
        f"{token.text}() takes {wanted} arguments, got {len(args)}, at "
        f"position {token.position} in {self.text!r}"
      )
    return ("call", token.text, tuple(args))


def _number_text(value: float) -> str:
  if value.is_integer() and abs(value) < 1e15:
    return str(int(value))
  return repr(value)


def _format(node: tuple) -> tuple[str, int]:
  """Canonical text of `node`, fewest parentheses, and its precedence."""
  match node:
    case ("number", value):
      return _number_text(value), _ATOM
    case ("head", name):
      return name, _ATOM
    case ("call", function, args):
      return f"{function}({', '.join(_format(a)[0] for a in args)})", _ATOM
    case ("weighted_sum", terms):
      return ",".join(f"{h}:{_number_text(w)}" for h, w in terms), 0
    case ("neg", operand):
      text, inner = _format(operand)
      return "-" + (text if inner >= _NEG else f"({text})"), _NEG
  op, left, right = node
  (left, lp), (right, rp) = _format(left), _format(right)
  if op == "^":
    left = left if lp > _POW else f"({left})"
    return f"{left}^{right if rp >= _NEG else f'({right})'}", _POW
  p = _PRECEDENCE[op]
  # Parentheses keep the tree: a - (b - c), and also a + (b + c).
  left = left if lp >= p else f"({left})"
  return f"{left} {op} {right if rp > p else f'({right})'}", p


def _numpy_divide(a, b):
  zero = b == 0
  return np.where(zero, 0.0, a / np.where(zero, 1.0, b))


# The primitives of each path; the guards are written once, over them.
_PRIMITIVES = "equal floor minimum maximum log log1p exp sqrt".split()
_NUMPY_OPS = {name: getattr(np, name) for name in _PRIMITIVES} | dict(
  const=np.float64, where=np.where, power=np.power, divide=_numpy_divide
)


def _tf_ops(dtype: tf.DType) -> dict:
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


def _evaluate(node, env, ops):
  match node:
    case ("number", value):
      return ops["const"](value)
    case ("head", name):
      return env[name]
    case ("weighted_sum", terms):
      weighted = (ops["const"](w) * env[h] for h, w in terms)
      return functools.reduce(operator.add, weighted)
    case ("neg", operand):
      return -_evaluate(operand, env, ops)
    case ("call", function, args):
      return _call(function, [_evaluate(a, env, ops) for a in args], ops)
  op, left, right = node
  a, b = _evaluate(left, env, ops), _evaluate(right, env, ops)
  if op == "/":
    return ops["divide"](a, b)
  if op == "^":
    return _power(ops, a, b)
  return _ARITHMETIC[op](a, b)


class Blend:
  """A parsed blend: call it on NumPy predictions, or `.tf` on tensors.

  >>> b = Blend.parse("click:1, purchase:3", heads=["click", "purchase"])
  >>> b({"click": [0.5, 0.0], "purchase": [0.1, 0.2]})
  array([0.8, 0.6])
  >>> print(Blend.parse("(click)*((purchase))^2", ["click", "purchase"]))
  click * purchase^2
  """

  def __init__(self, tree, heads: Sequence[str]):
    """Use `Blend.parse`."""
    self._tree, self._heads = tree, tuple(heads)

  @classmethod
  def parse(cls, text: str, heads: Sequence[str]) -> Blend:
    """Parses a weighted sum or an expression over `heads`.

    Raises:
      ValueError: naming the unknown head or function (with the known ones),
        or the unexpected token and its 0-based position in `text`.
    """
    if not isinstance(text, str):
      raise ValueError(f"a blend is a string, got {type(text).__name__}")
    if isinstance(heads, str):
      raise ValueError(f"heads must be a sequence of names, got {heads!r}")
    parser = _Parser(text, heads)
    blend = cls(parser.parse(), parser.used)
    if not blend.heads:
      raise ValueError(
        f"blend {text!r} uses no head; known heads: {', '.join(heads)}"
      )
    return blend

  @property
  def heads(self) -> tuple[str, ...]:
    """The heads the blend reads, in order of first appearance."""
    return self._heads

  def _inputs(self, predictions: Mapping, convert) -> dict:
    missing = [h for h in self._heads if h not in predictions]
    if missing:
      raise ValueError(
        f"blend {self} needs heads {missing}, not among the predictions "
        f"{sorted(predictions)}"
      )
    return {h: convert(predictions[h]) for h in self._heads}

  def __call__(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
    """The blended score, in float64, of `{head: array-like}` predictions."""
    env = self._inputs(predictions, lambda x: np.asarray(x, np.float64))
    return np.asarray(_evaluate(self._tree, env, _NUMPY_OPS))

  def __str__(self) -> str:
    return _format(self._tree)[0]

  def __repr__(self) -> str:
    return f"Blend.parse({str(self)!r}, heads={list(self._heads)!r})"

  def __eq__(self, other) -> bool:
    return isinstance(other, Blend) and self._tree == other._tree

  def __hash__(self) -> int:
    return hash(self._tree)

  def tf(self, predictions: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The blended score computed with TensorFlow ops, e.g. in a SavedModel.

    Computed in float64 if any head's tensor is float64, else in float32.
    """
    env = self._inputs(predictions, tf.convert_to_tensor)
    wide = any(t.dtype == tf.float64 for t in env.values())
    dtype = tf.float64 if wide else tf.float32
    env = {h: tf.cast(t, dtype) for h, t in env.items()}
    return _evaluate(self._tree, env, _tf_ops(dtype))
