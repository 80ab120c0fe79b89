"""The one runner of the command-line tools: flags in, one-line errors out.

:func:`run_tool` defines the flags of a config dataclass, parses them, builds
the config, checks it and its paths (:func:`yt8m_crossmodal.paths.check_config`,
or the tool's own check) **before TensorFlow loads**, then loads TensorFlow
quietly and calls the tool's ``main(config)``: a mistake in a flag is
answered at once, not after the seconds TensorFlow takes to load. Bad input
from the user (:class:`~yt8m_crossmodal.errors.UsageError`,
``FileNotFoundError``, ``ValueError``, TF errors for bad records) prints
``error: <one line>`` and exits with 2; anything else keeps its traceback
(a bug).

Every tool has two switches of its own besides its config's flags:
``--progress`` (progress lines on a terminal) and ``--verbose`` (the lines of
TensorFlow, absl and the other libraries, which :mod:`yt8m_crossmodal.quiet`
keeps off otherwise; ``--verbosity=N`` and ``YT8M_VERBOSE=1`` do the same).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import sys
from typing import Any, Callable, Optional

from absl import app

from yt8m_crossmodal import paths
from yt8m_crossmodal import progress
from yt8m_crossmodal import quiet
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.tools import flag_config

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
  if "tensorflow" in sys.modules:  # Else no record was read.
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
  if isinstance(error, (UsageError, FileNotFoundError, ValueError)):
    return True
  if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
    return True
  if "tensorflow" not in sys.modules:  # No TF error can have happened.
    return False
  import tensorflow as tf
  from yt8m_crossmodal.data import pipeline
  if isinstance(error, tf.errors.DataLossError):
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


# The switches of every tool (not config fields): name -> (default, help).
SWITCHES = {
    "progress": (True, "Show a progress line (count, rate, ETA) on a terminal; "
                 "--noprogress: never."),
    "verbose": (False, "Also show the lines of TensorFlow, absl and the other libraries "
                "(start-up, C++ logs, INFO:tensorflow...), which are kept off otherwise; "
                "--verbosity=N or YT8M_VERBOSE=1 do the same."),
}


def run_tool(config_class: type, main: Callable[[Any], Optional[int]],
             check: Optional[Callable[[Any], None]] = None) -> None:
  """Runs ``main(config)`` with ``config`` built from the command line.

  In order: ``--help`` (the tool's docstring and its own flags) and
  ``--helpfull`` (every flag) print and exit with 0; the flags are parsed and
  the config built and checked, all before TensorFlow loads (a mistake is one
  ``error:`` line and exit 2 within a second); then TensorFlow loads without
  its start-up lines and ``main`` runs.

  Args:
    config_class: the tool's frozen config dataclass (one flag per field).
    main: the tool; its return value is the exit status (None: 0).
    check: ``check(config)`` raises UsageError for bad flags or paths, with
      no TensorFlow (default: :func:`yt8m_crossmodal.paths.check_config`,
      the config's ``validate()`` and its path fields).
  """
  from absl import flags
  names = flag_config.define(config_class)
  for name, (default, help_text) in SWITCHES.items():
    flag_config.define_switch(name, default, help_text)
    names.append(name)
  for name in names:
    flags.FLAGS.register_key_flag_for_module(_tool_name(main.__module__), flags.FLAGS[name])
  if any(a in HELP_FLAGS for a in sys.argv[1:]):  # Quick: TensorFlow is not loaded.
    _help(main.__module__, full=False)
  if any(a in HELPFULL_FLAGS for a in sys.argv[1:]):  # TensorFlow's flags too.
    quiet.load_tensorflow()
    _help(main.__module__, full=True)
  check = check or paths.check_config

  def absl_main(argv):
    quiet.set_verbose(flag_config.switch("verbose") or flags.FLAGS["verbosity"].present)
    if len(argv) > 1:
      raise UsageError(f"unexpected arguments: {argv[1:]}")
    config = flag_config.read(config_class)
    check(config)  # Before TensorFlow loads.
    progress.ENABLED = flag_config.switch("progress")
    quiet.load_tensorflow()
    quiet.plain_logs()
    return main(config)

  app.run(friendly_errors(absl_main), flags_parser=parse_flags)


def parse_flags(argv: list) -> list:
  """absl's flag parsing, a bad value or unknown flag as one ``error:`` line, exit 2."""
  from absl import flags
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"error: {error_message(e)} (--help lists the flags)", file=sys.stderr)
    sys.exit(2)
