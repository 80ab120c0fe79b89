"""``--format=table|jsonl`` (and where the answer goes: stdout or ``--output``).

``auto`` (the default of the search-like tools) is a table on a terminal, JSON
lines when stdout is a pipe or a file (what a script reads), and HTML when
``--output`` ends in ``.html``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

from yt8m_crossmodal import escaping
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.errors import UsageError

FORMATS = ("auto", "table", "jsonl", "html")
FORMAT_HELP = ("How answers are written: table (aligned columns, rounded scores), jsonl "
               "(one JSON object a line), html (a page with links and pictures), or auto: "
               "a table on a terminal, html when --output ends in .html, else jsonl.")


def resolve(fmt: str, output: str = "", stream=None) -> str:
  """The format ``auto`` stands for (see the module docstring)."""
  if fmt not in FORMATS:
    raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
  if fmt != "auto":
    return fmt
  if output.lower().endswith((".html", ".htm")):
    return "html"
  stream = sys.stdout if stream is None else stream
  is_tty = getattr(stream, "isatty", lambda: False)()
  return "table" if is_tty and not output else "jsonl"


def printable(text: Any) -> str:
  """``text`` safe on a terminal (:func:`yt8m_crossmodal.escaping.terminal_text`)."""
  return escaping.terminal_text(text)


def json_line(obj: Dict[str, Any], what: str = "") -> str:
  """``obj`` as one line of strict JSON (never NaN or Infinity, never a character a
  line reader splits at: :func:`yt8m_crossmodal.escaping.json_line_text`).

  Raises:
    UsageError: a value is not finite (naming ``what``).
  """
  try:
    return escaping.json_line_text(json.dumps(obj, allow_nan=False, ensure_ascii=False))
  except ValueError as e:
    raise UsageError(f"the results of {what or 'a query'} hold a score that is NaN or "
                     "Inf: the index or the export is damaged") from e


@dataclasses.dataclass(frozen=True)
class Column:
  """One column of a text table.

  Attributes:
    key: the row dict's key.
    header: the column's title.
    right: right-aligned (numbers).
    width: at most this many characters (longer cells end in "...").
    show: value -> text (default ``str``; None shows as "").
  """

  key: str
  header: str
  right: bool = False
  width: int = 40
  show: Optional[Callable[[Any], str]] = None


def score(value: Any) -> str:
  return "" if value is None else f"{float(value):.3f}"


def _cell(column: Column, row: Dict[str, Any]) -> str:
  value = row.get(column.key)
  text = "" if value is None else (column.show(value) if column.show else
                                   (", ".join(map(str, value)) if isinstance(value, list)
                                    else str(value)))
  text = printable(text)
  return text if len(text) <= column.width else text[:max(1, column.width - 3)] + "..."


def table(columns: Sequence[Column], rows: Sequence[Dict[str, Any]], indent: str = "  "
          ) -> str:
  """Rows as aligned text columns under a header line; columns empty in every row
  are left out."""
  cells = [[_cell(c, r) for c in columns] for r in rows]
  keep = [j for j in range(len(columns)) if any(row[j] for row in cells)]
  widths = {j: max([len(columns[j].header)] + [len(row[j]) for row in cells]) for j in keep}

  def line(values: List[str]) -> str:
    parts = [(values[j].rjust(widths[j]) if columns[j].right else values[j].ljust(widths[j]))
             for j in keep]
    return (indent + "  ".join(parts)).rstrip()

  out = [line([c.header for c in columns])]
  out += [line(row) for row in cells]
  return "\n".join(out) + "\n"


class Output:
  """Where an answer goes: stdout as it comes, or ``path`` when complete.

  A file is written aside and renamed into place by :meth:`close`, so an
  interrupted run leaves no half-written answer.
  """

  def __init__(self, path: str = ""):
    self.path = path
    self._parts: List[str] = []

  def write(self, text: str) -> None:
    if self.path:
      self._parts.append(text)
    else:
      sys.stdout.write(text)
      sys.stdout.flush()

  def close(self) -> None:
    if self.path:
      io_utils.atomic_write_text(self.path, "".join(self._parts))
