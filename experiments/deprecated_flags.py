"""Flags kept so that older commands still run, and what replaces them.

  --purchase_space, --purchase_given   replaced by --funnels:
      --purchase_space=clicked              --funnels=purchase:click
      --purchase_space=entire               --funnels=purchase:click:entire
      --purchase_space=clicked --purchase_given=cart
                                            --funnels=purchase:cart
      --purchase_space=impression           no --funnels

Each use logs a warning naming its replacement.
"""

from absl import flags, logging

PURCHASE_SPACE = flags.DEFINE_enum(
  "purchase_space",
  None,
  ["impression", "clicked", "entire"],
  "Deprecated: use --funnels=purchase:GIVEN (clicked) or "
  "--funnels=purchase:GIVEN:entire (entire); impression is no funnel.",
)
PURCHASE_GIVEN = flags.DEFINE_string(
  "purchase_given",
  None,
  "Deprecated: the GIVEN of --funnels=purchase:GIVEN (default click).",
)


def funnels(given_funnels: str) -> str:
  """`given_funnels` (--funnels), or what the deprecated --purchase_space
  and --purchase_given say, with a warning naming the --funnels that
  replaces them."""
  space, given = PURCHASE_SPACE.value, PURCHASE_GIVEN.value
  if space is None and given is None:
    return given_funnels
  check_not_both(given_funnels, space, given)
  space = space or "impression"
  text = ""
  if space != "impression":
    text = f"purchase:{given or 'click'}" + (
      ":entire" if space == "entire" else ""
    )
  logging.warning(
    "--purchase_space and --purchase_given are deprecated: use %s.",
    f"--funnels={text}" if text else "no --funnels",
  )
  return text


def check_not_both(given_funnels, space, given) -> None:
  """Raises ValueError when --funnels and its deprecated aliases are both
  given."""
  if given_funnels and (space is not None or given is not None):
    raise ValueError(
      "--purchase_space and --purchase_given are deprecated aliases of "
      "--funnels; give --funnels alone."
    )
