"""Shared plumbing of the command-line tools: clean one-line errors."""

from __future__ import annotations

import functools
import os
import sys

# Keep TF's C++ start-up chatter out of the tools' output (set before TF loads).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from typing import Callable

from absl import app


class UsageError(ValueError):
  """Bad input from the user (missing file, wrong shape...): one-line error."""


def _message(error: BaseException) -> str:
  from yt8m_crossmodal.data import reader
  bad = reader.bad_record_message(error)
  if bad:
    return bad
  text = getattr(error, "message", None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def friendly_errors(main: Callable[[list], object]) -> Callable[[list], object]:
  """Wraps an absl main: user errors print ``error: ...`` and exit with 2.

  User errors are ``UsageError``, ``FileNotFoundError``, ``ValueError`` and
  TF errors raised for bad records; anything else keeps its traceback.
  """
  @functools.wraps(main)
  def wrapped(argv):
    import tensorflow as tf
    try:
      return main(argv)
    except (UsageError, FileNotFoundError, ValueError, tf.errors.DataLossError) as e:
      print(f"error: {_message(e)}", file=sys.stderr)
      sys.exit(2)
    except tf.errors.InvalidArgumentError as e:
      from yt8m_crossmodal.data import reader
      if reader.bad_record_message(e) is None:
        raise
      print(f"error: {_message(e)}", file=sys.stderr)
      sys.exit(2)
  return wrapped


def run(main: Callable[[list], object]) -> None:
  app.run(friendly_errors(main))
