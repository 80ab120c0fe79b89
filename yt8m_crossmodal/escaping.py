"""Text from data (ids, names, paths) made safe for the medium it is written to.

One helper per medium; every writer of that medium goes through it, so an id
taken from a record someone sent cannot run as a formula, a script or math:

- CSV opened in a spreadsheet: :func:`csv_cell` (OWASP's advice on CSV
  injection: a cell that starts with ``= + - @``, a tab or a carriage return,
  after any leading white space, gets a leading apostrophe, so the spreadsheet
  shows it as text; plain numbers are left alone). :func:`csv_value` undoes it.
- HTML: :func:`html_text` (``& < > " '`` escaped: safe as element text and
  inside an attribute in either kind of quotes; always quote attributes).
- Mechanical Turk batch files, whose values MTurk pastes into the task's HTML
  as they are: :func:`mturk_cell` (CSV, then HTML); :func:`mturk_value`
  undoes both on a value read back from MTurk's results file.
- TSV (TensorBoard projector ``metadata.tsv``): :func:`tsv_field` (tab, line
  breaks and backslash written as ``\\t``, ``\\n``, ``\\r``, ``\\\\``).
- Plots (matplotlib text, where a pair of ``$`` starts math mode and ``\\cmd``
  is a math command): :func:`plot_text` (every ``$`` escaped: no math mode).
- JSON lines: :func:`json_line_text` (a JSON text with the characters some
  line readers take as line breaks, U+0085, U+2028 and U+2029, written as
  ``\\uXXXX``; JSON escapes the others).
- A terminal (the text tables of the search-like tools): :func:`terminal_text`
  (control characters, escape sequences and line breaks shown as ``\\xNN``).
"""

from __future__ import annotations

import html
import numbers
import re
import unicodedata
from typing import Any

# First characters a spreadsheet reads as the start of a formula (OWASP), with
# their full-width forms (some spreadsheets fold them), and the apostrophe that
# marks an escaped cell (so csv_value can undo csv_cell exactly).
_FORMULA_START = frozenset("=+-@\t\r\n'\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _needs_apostrophe(text: str) -> bool:
  if not text or _NUMBER.fullmatch(text):
    return False
  if text[0] in _FORMULA_START:
    return True
  stripped = text.lstrip(" \u00a0")
  return stripped != text and stripped[:1] in _FORMULA_START


def csv_cell(value: Any) -> Any:
  """``value`` for a CSV cell that a spreadsheet shows as text and never runs.

  Numbers (and None, as "") pass as they are; a text that a spreadsheet would
  take as a formula gets a leading apostrophe (``=1+1`` -> ``'=1+1``). Write
  the rows with ``csv.writer``, which quotes separators and quotes.
  """
  if value is None:
    return ""
  if isinstance(value, numbers.Number) and not isinstance(value, bool):
    return value
  text = str(value)
  return "'" + text if _needs_apostrophe(text) else text


def csv_value(cell: str) -> str:
  """The text :func:`csv_cell` was given, from the cell it made."""
  cell = "" if cell is None else str(cell)
  return cell[1:] if cell.startswith("'") and _needs_apostrophe(cell[1:]) else cell


def html_text(value: Any) -> str:
  """``value`` as HTML text, also safe inside a quoted attribute value."""
  return html.escape(str(value), quote=True)


def mturk_cell(value: Any) -> Any:
  """A Mechanical Turk batch value: MTurk pastes it into the HTML as it is.

  A safe CSV cell (:func:`csv_cell`), then HTML-escaped, the apostrophe
  included: the worker's page shows the text and runs nothing, a quote
  cannot leave the attribute it is put in, and the escaped cell still
  starts with no formula character (an escape starts with ``&``).
  """
  if isinstance(value, numbers.Number) and not isinstance(value, bool):
    return value
  return html_text(csv_cell("" if value is None else value))


def mturk_value(cell: str) -> str:
  """The text :func:`mturk_cell` was given, from the value MTurk hands back."""
  return csv_value(html.unescape("" if cell is None else str(cell)))


def tsv_field(value: Any) -> str:
  """``value`` as one TSV field: no tab or line break, backslash-escaped."""
  return (str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
          .replace("\r", "\\r"))


def plot_text(value: Any) -> str:
  """``value`` as matplotlib text shown as it is (no math mode)."""
  return str(value).replace("$", r"\$")


def terminal_text(value: Any) -> str:
  """``value`` for a terminal: control characters (escape sequences, tabs, line
  breaks, U+2028) shown as ``\\xNN``, so a table keeps its rows and colours."""
  text = str(value)
  if all(unicodedata.category(c)[0] != "C" and c not in "\u2028\u2029" for c in text):
    return text
  return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c)[0] == "C"
                 or c in "\u2028\u2029" else c for c in text)


_JSON_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_line_text(text: str) -> str:
  """A JSON text (``json.dumps``) safe as one line of a JSON-lines file: also
  for readers that split at U+0085, U+2028 or U+2029 (Python's ``splitlines``,
  older JavaScript). The JSON value is unchanged."""
  if not any(c in text for c in _JSON_LINE_BREAKS):
    return text
  return "".join(_JSON_LINE_BREAKS.get(c, c) for c in text)
