"""The one runner of the command-line tools: flags in, one-line errors out.

:func:`run_tool` defines the flags of a config dataclass, parses them, builds
the config and calls the tool's ``main(config)``. Bad input from the user
(:class:`~yt8m_crossmodal.errors.UsageError`, ``FileNotFoundError``,
``ValueError``, TF errors for bad records) prints ``error: <one line>`` and
exits with 2; anything else keeps its traceback (a bug).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import sys
from typing import Any, Callable, Optional

from absl import app

from yt8m_crossmodal import progress
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.tools import flag_config
from yt8m_crossmodal import quiet

HELP_FLAGS = ("--help", "-help", "-?", "--helpshort", "-helpshort")
HELPFULL_FLAGS = ("--helpfull", "-helpfull")


# TF's messages for a record whose payload does not parse (what the reader's
# wire-format check lets through: damage inside a field).
_PARSE_FAILURES = ("Invalid protocol message input", "Could not parse example input")


# TF's messages for a field of the wrong type or shape (the batch parse fails;
# with --skip_bad_records the reader names and skips the record instead).
_TYPE_FAILURE = re.compile(r"((?:Context feature|Feature list|Key): [^,.]+(?:, Index: \d+)?)\."
                           r"\s+(Data types don't match|Number of values != expected)")


def _parse_failure(error: BaseException) -> bool:
  text = str(getattr(error, "message", error))
  return any(m in text for m in _PARSE_FAILURES) or bool(_TYPE_FAILURE.search(text))


def error_message(error: BaseException) -> str:
  """The one-line message of a user error (a bad record's own line if any)."""
  from yt8m_crossmodal.data import pipeline
  bad = pipeline.bad_record_message(error)
  if bad:
    return bad
  typed = _TYPE_FAILURE.search(str(getattr(error, "message", error)))
  if typed:
    return (f"a record in the input has a field of the wrong type or shape ({typed.group(1)}: "
            f"{typed.group(2)}): --skip_bad_records names and skips it, yt8m-validate lists it")
  if _parse_failure(error):
    return ("a record in the input is not a valid protobuf (damaged inside a field; "
            "its file and index cannot be named)")
  from yt8m_crossmodal import io_utils
  return io_utils.error_line(error)  # Without TensorFlow's {{function_node ...}}.


# What the machine, not the program, refuses: a full disk or quota, a read-only
# file system (one line naming the file, exit 2, wherever it happens).
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
_DISK_MESSAGES = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def _is_user_error(error: BaseException) -> bool:
  import tensorflow as tf
  from yt8m_crossmodal.data import pipeline
  if isinstance(error, (UsageError, FileNotFoundError, ValueError, tf.errors.DataLossError)):
    return True
  if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
    return True
  if isinstance(error, tf.errors.OpError) and any(m in error.message for m in _DISK_MESSAGES):
    return True
  return (isinstance(error, tf.errors.InvalidArgumentError)
          and (pipeline.bad_record_message(error) is not None or _parse_failure(error)))


def friendly_errors(main: Callable[[list], Any]) -> Callable[[list], Any]:
  """Wraps an absl main: user errors print ``error: ...`` and exit with 2."""
  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except BrokenPipeError:
      output_closed()
    except Exception as e:  # pylint: disable=broad-except
      if not _is_user_error(e):
        raise
      print(f"error: {error_message(e)}", file=sys.stderr)
      sys.exit(2)
  return wrapped


# Exit status when the reader of stdout went away (``yt8m-search ... | head``),
# as a tool killed by SIGPIPE would report it.
SIGPIPE_STATUS = 141


def output_closed() -> None:
  """Ends the process quietly after stdout's reader closed the pipe."""
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail too.
  sys.exit(SIGPIPE_STATUS)


def _tool_name(tool_module: str) -> str:
  """``yt8m-<tool>`` for ``yt8m_crossmodal.tools.<tool>`` (or ``python -m``)."""
  module = sys.modules.get(tool_module)
  path = getattr(module, "__file__", None) or sys.argv[0]
  return "yt8m-" + os.path.splitext(os.path.basename(path))[0].replace("_", "-")


def print_help(tool_module: str, full: bool) -> None:
  """The tool's docstring and its own flags (``full``: every flag), stdout."""
  from absl import flags
  module = sys.modules.get(tool_module)
  name = _tool_name(tool_module)
  print(f"usage: {name} [flags]\n")
  if module is not None and module.__doc__:
    print(module.__doc__.strip() + "\n")
  if full:
    print(flags.FLAGS.get_help())
  else:
    print("Flags:")
    print(flags.FLAGS.module_help(name))
    print("\n(--helpfull lists every flag, TensorFlow's and absl's too.)")


def _help(tool_module: str, full: bool) -> None:
  try:
    print_help(tool_module, full)
    sys.stdout.flush()
  except BrokenPipeError:
    output_closed()
  sys.exit(0)


def run_tool(config_class: type, main: Callable[[Any], Optional[int]]) -> None:
  """Runs ``main(config)`` with ``config`` built from the command line.

  ``--help`` prints the tool's docstring and its own flags, ``--helpfull``
  every flag; both exit with 0.

  Args:
    config_class: the tool's frozen config dataclass (one flag per field).
    main: the tool; its return value is the exit status (None: 0).
  """
  from absl import flags
  names = flag_config.define(config_class)
  flag_config.define_switch(
      "progress", True, "Show a progress line (count, rate, ETA) on a terminal; "
      "--noprogress: never.")
  names.append("progress")
  for name in names:
    flags.FLAGS.register_key_flag_for_module(_tool_name(main.__module__), flags.FLAGS[name])
  if any(a in HELP_FLAGS for a in sys.argv[1:]):  # Quick: TensorFlow is not loaded.
    quiet.end()
    _help(main.__module__, full=False)
  quiet.settle_tensorflow()
  quiet.end()
  if any(a in HELPFULL_FLAGS for a in sys.argv[1:]):  # TensorFlow's flags too.
    _help(main.__module__, full=True)

  def absl_main(argv):
    if len(argv) > 1:
      raise UsageError(f"unexpected arguments: {argv[1:]}")
    progress.ENABLED = flag_config.switch("progress")
    return main(flag_config.read(config_class))

  app.run(friendly_errors(absl_main), flags_parser=parse_flags)


def parse_flags(argv: list) -> list:
  """absl's flag parsing, a bad value or unknown flag as one ``error:`` line, exit 2."""
  from absl import flags
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"error: {error_message(e)} (--help lists the flags)", file=sys.stderr)
    sys.exit(2)
