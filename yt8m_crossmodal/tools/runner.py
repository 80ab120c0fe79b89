"""The one runner of the command-line tools: flags in, one-line errors out.

:func:`run_tool` defines the flags of a config dataclass, parses them, builds
the config and calls the tool's ``main(config)``. Bad input from the user
(:class:`~yt8m_crossmodal.errors.UsageError`, ``FileNotFoundError``,
``ValueError``, TF errors for bad records) prints ``error: <one line>`` and
exits with 2; anything else keeps its traceback (a bug).
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Optional

from absl import app

from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.tools import flag_config


# TF's messages for a record whose payload does not parse (what the reader's
# wire-format check lets through: damage inside a field).
_PARSE_FAILURES = ("Invalid protocol message input", "Could not parse example input")


def _parse_failure(error: BaseException) -> bool:
  return any(m in str(getattr(error, "message", error)) for m in _PARSE_FAILURES)


def error_message(error: BaseException) -> str:
  """The one-line message of a user error (a bad record's own line if any)."""
  from yt8m_crossmodal.data import pipeline
  bad = pipeline.bad_record_message(error)
  if bad:
    return bad
  if _parse_failure(error):
    return ("a record in the input is not a valid protobuf (damaged inside a field; "
            "its file and index cannot be named)")
  text = getattr(error, "message", None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _is_user_error(error: BaseException) -> bool:
  import tensorflow as tf
  from yt8m_crossmodal.data import pipeline
  if isinstance(error, (UsageError, FileNotFoundError, ValueError, tf.errors.DataLossError)):
    return True
  return (isinstance(error, tf.errors.InvalidArgumentError)
          and (pipeline.bad_record_message(error) is not None or _parse_failure(error)))


def friendly_errors(main: Callable[[list], Any]) -> Callable[[list], Any]:
  """Wraps an absl main: user errors print ``error: ...`` and exit with 2."""
  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except Exception as e:  # pylint: disable=broad-except
      if not _is_user_error(e):
        raise
      print(f"error: {error_message(e)}", file=sys.stderr)
      sys.exit(2)
  return wrapped


def run_tool(config_class: type, main: Callable[[Any], Optional[int]]) -> None:
  """Runs ``main(config)`` with ``config`` built from the command line.

  Args:
    config_class: the tool's frozen config dataclass (one flag per field).
    main: the tool; its return value is the exit status (None: 0).
  """
  flag_config.define(config_class)

  def absl_main(argv):
    if len(argv) > 1:
      raise UsageError(f"unexpected arguments: {argv[1:]}")
    return main(flag_config.read(config_class))

  app.run(friendly_errors(absl_main))
