"""Progress lines for long loops: count, rate and ETA on stderr.

``Progress(label, total)`` rewrites one line (``\\r``) at most every
``interval`` seconds and ends it on :meth:`Progress.close`. It prints only
when :data:`ENABLED` and stderr is a terminal, so logs, pipes and tests stay
clean; the tools set :data:`ENABLED` from ``--progress`` / ``--noprogress``.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

ENABLED = True


def seconds(s: float) -> str:
  """``42s``, ``3m07s`` or ``1h05m``."""
  s = int(round(s))
  return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (
      f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


class Progress:
  """One self-updating progress line.

  Args:
    label: what is counted, e.g. "embedded videos".
    total: expected count (None: unknown, no ETA).
    stream: where to write (default ``sys.stderr``).
    interval: seconds between updates.
    force: write even when ``stream`` is not a terminal (tests).
  """

  def __init__(self, label: str, total: Optional[int] = None,
               stream: Optional[TextIO] = None, interval: float = 0.5,
               force: bool = False):
    self.label, self.total = label, total
    self.stream = stream or sys.stderr
    self.interval = interval
    self.active = force or (ENABLED and getattr(self.stream, "isatty", lambda: False)())
    self.count = 0
    self.start = self._last = time.monotonic()
    self._shown = False

  def line(self) -> str:
    elapsed = max(time.monotonic() - self.start, 1e-9)
    rate = self.count / elapsed
    text = f"{self.label}: {self.count}"
    if self.total:
      text += f"/{self.total} ({100 * self.count / self.total:.0f}%)"
    text += f", {rate:.1f}/s, {seconds(elapsed)}"
    if self.total and rate > 0 and self.count < self.total:
      text += f", ETA {seconds((self.total - self.count) / rate)}"
    return text

  def update(self, count: int) -> None:
    """Sets the count done so far; redraws at most every ``interval`` seconds."""
    self.count = count
    now = time.monotonic()
    if self.active and now - self._last >= self.interval:
      self._last = now
      self.stream.write("\r" + self.line() + "\033[K")
      self.stream.flush()
      self._shown = True

  def close(self) -> None:
    """Writes the final line (if anything was shown) and a newline."""
    if self.active and self._shown:
      self.stream.write("\r" + self.line() + "\033[K\n")
      self.stream.flush()
