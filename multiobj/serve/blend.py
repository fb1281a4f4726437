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
so both paths clamp at the same value. A number or a part made of numbers
alone (10^10^10) beyond float32's 3.4e38 is refused when the blend is
parsed; overflow of huge finite predictions (past 3.4e38 on the TensorFlow
path, e.g. dwell^100) is not guarded. A blend holds at most MAX_TOKENS
tokens and nests parentheses at most MAX_DEPTH deep.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence

import numpy as np

from multiobj.serve import blend_ops

EPSILON, MAX_EXP = blend_ops.EPSILON, blend_ops.MAX_EXP
# Bounds of a blend's text: tokens (numbers, names, operators), and how
# deep parentheses nest.
MAX_TOKENS = 200
MAX_DEPTH = 32
_FLOAT32_MAX = float(np.finfo(np.float32).max)
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
    self.text = text
    self.heads = None if heads is None else tuple(heads)
    self.tokens, self.i = _tokenize(text), 0
    self.used = {}  # Heads read, in order of first appearance.
    if len(self.tokens) - 1 > MAX_TOKENS:
      raise ValueError(
        f"blend {_short(text)} has {len(self.tokens) - 1} tokens (numbers, "
        f"names, operators); at most {MAX_TOKENS}"
      )
    depth = 0
    for token in self.tokens:
      depth += {"(": 1, ")": -1}.get(
        token.text if token.kind == "op" else "", 0
      )
      if depth > MAX_DEPTH:
        raise ValueError(
          f"parentheses nested deeper than {MAX_DEPTH} at position "
          f"{token.position} in {_short(text)}"
        )

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
    if not abs(value) <= _FLOAT32_MAX:
      raise ValueError(f"number {token.text!r} out of range in {self.text!r}")
    return value

  def head(self, token: _Token) -> str:
    if token.kind != "name":
      raise self.fail(token, "; expected a head name")
    if self.heads is not None and token.text not in self.heads:
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


def _short(text: str) -> str:
  """`text` quoted, its middle cut if it is long."""
  return repr(text if len(text) <= 80 else f"{text[:60]} ... {text[-15:]}")


def _children(node: tuple) -> tuple:
  match node:
    case ("number", _) | ("head", _) | ("weighted_sum", _):
      return ()
    case ("neg", operand):
      return (operand,)
    case ("call", _, args):
      return tuple(args)
  return node[1:]


def _has_head(node: tuple) -> bool:
  return node[0] in ("head", "weighted_sum") or any(
    _has_head(c) for c in _children(node)
  )


def _check_constants(node: tuple, text: str) -> None:
  """Refuses a part of the blend made of constants alone (`10^10^10`) whose
  value is not finite in float32, where a served blend computes."""
  if _has_head(node):
    for child in _children(node):
      _check_constants(child, text)
    return
  with np.errstate(all="ignore"):
    value = float(blend_ops.evaluate(node, {}, blend_ops.NUMPY_OPS))
  if not abs(value) <= _FLOAT32_MAX:
    raise ValueError(
      f"the constant {_format(node)[0]} in {_short(text)} is {value:g}, "
      "beyond float32's range (3.4e38): every blended score would be "
      "infinite or NaN"
    )


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
  def parse(cls, text: str, heads: Sequence[str] | None) -> Blend:
    """Parses a weighted sum or an expression over `heads` (None: any name
    is a head, to check a blend before a model names its heads).

    Raises:
      ValueError: naming the unknown head or function (with the known ones),
        the unexpected token and its 0-based position in `text`, a constant
        beyond float32's range, more than MAX_TOKENS tokens or parentheses
        nested deeper than MAX_DEPTH.
    """
    if not isinstance(text, str):
      raise ValueError(f"a blend is a string, got {type(text).__name__}")
    if isinstance(heads, str):
      raise ValueError(f"heads must be a sequence of names, got {heads!r}")
    parser = _Parser(text, heads)
    tree = parser.parse()
    _check_constants(tree, text)
    blend = cls(tree, parser.used)
    if not blend.heads:
      raise ValueError(
        f"blend {text!r} uses no head; known heads: {', '.join(heads or ())}"
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
    return np.asarray(blend_ops.evaluate(self._tree, env, blend_ops.NUMPY_OPS))

  def __str__(self) -> str:
    return _format(self._tree)[0]

  def __repr__(self) -> str:
    return f"Blend.parse({str(self)!r}, heads={list(self._heads)!r})"

  def __eq__(self, other) -> bool:
    return isinstance(other, Blend) and self._tree == other._tree

  def __hash__(self) -> int:
    return hash(self._tree)

  def tf(self, predictions: Mapping[str, typing.Any]) -> typing.Any:
    """The blended score of {head: tf.Tensor}, a tf.Tensor computed with
    TensorFlow ops, e.g. in a SavedModel.

    Computed in float64 if any head's tensor is float64, else in float32.
    """
    import tensorflow as tf  # noqa: PLC0415  (flags parse blends without it)

    env = self._inputs(predictions, tf.convert_to_tensor)
    wide = any(t.dtype == tf.float64 for t in env.values())
    dtype = tf.float64 if wide else tf.float32
    env = {h: tf.cast(t, dtype) for h, t in env.items()}
    return blend_ops.evaluate(self._tree, env, blend_ops.tf_ops(dtype))
