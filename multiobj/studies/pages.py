"""Results pages whose tables the command beside them writes.

A page marks each table a study writes, with the command that writes it:

  <!-- reproduce:ml100k_tuned -->
  ```sh
  python -m experiments.reproduce --study=ml100k_tuned ...
  ```

  | variant | retrieval_recall@100 | ... |
  ...
  <!-- /reproduce:ml100k_tuned -->

`experiments/reproduce.py --page=PAGE` rewrites the block from its runs
and keeps their results beside the page (`runs/<study>.jsonl`), from which
the test suite computes every block again: a number edited by hand, or
runs that are not the ones the page quotes, fail it.
"""

import os
import re

_BLOCK = re.compile(
  r"<!-- reproduce:(?P<name>[\w.-]+) -->\n(?P<body>.*?)"
  r"<!-- /reproduce:(?P=name) -->",
  re.DOTALL,
)


def blocks(text: str) -> dict[str, str]:
  """{study: the body of its block} of a page's text."""
  return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def body(command: str, table: str) -> str:
  """A block's body: the command in a shell code block, then the table."""
  return f"```sh\n{command}\n```\n\n{table}\n"


def replace(text: str, name: str, new_body: str) -> str:
  """`text` with the body of the block of `name` replaced; raises
  ValueError, naming the marker to add, when the page has no such block."""
  found = [m for m in _BLOCK.finditer(text) if m["name"] == name]
  if not found:
    raise ValueError(
      f"The page has no block for study {name!r}: add the lines "
      f"'<!-- reproduce:{name} -->' and '<!-- /reproduce:{name} -->' where "
      "its table goes."
    )
  (match,) = found
  start, end = match.span("body")
  return text[:start] + new_body + text[end:]


def results_path(page: str, name: str) -> str:
  """Where the runs behind a page's block are kept: `runs/<study>.jsonl`
  beside the page."""
  return os.path.join(os.path.dirname(page), "runs", f"{name}.jsonl")
