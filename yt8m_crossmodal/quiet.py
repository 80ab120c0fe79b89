"""TensorFlow's, absl's and faiss's lines kept off the terminal, unless verbose.

What reaches a terminal in normal use is the package's own output: results,
progress lines and its own log messages, without absl's ``I1207 21:46:43.561
...]`` prefixes. What the libraries print is dropped:

- TensorFlow's C++ code prints several lines to file descriptor 2 when it
  loads and when it first looks for devices (oneDNN, CUDA stubs, ``failed
  call to cuInit`` on machines without a GPU, ``All log messages before
  absl::InitializeLog()``), whatever ``TF_CPP_MIN_LOG_LEVEL`` says:
  :func:`load_tensorflow` sends fd 2 to a temporary file while TensorFlow
  loads and lists its devices, then restores it. What was captured is
  dropped, or written out when loading fails (an import error must not
  vanish).
- Later C++ lines (``E0000 ... oneDNN supports DT_BOOL only on platforms
  with AVX-512. Falling back to the default Eigen-based implementation``, when
  a graph is first optimized) are what TensorFlow recovers from by itself:
  ``TF_CPP_MIN_LOG_LEVEL=3`` keeps them off (unless it is set already).
  Errors that matter reach the caller as exceptions.
- Python log records of other libraries (TensorFlow's ``signature_serialization
  ... unsupported characters``, ``INFO:tensorflow:Assets written``, Apache
  Beam's set-up, faiss's loader) are dropped below ERROR: :func:`quiet_logs`
  for the API (the loggers of those libraries), :func:`plain_logs` for the
  tools (which also print the package's own records without absl's prefix).

Verbose output keeps everything, as the libraries print it: ``--verbose``
on any tool, ``--verbosity=<level>`` (absl's flag; ``-v``), or
``YT8M_VERBOSE=1`` in the environment (the tools and the Python API).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import tempfile
from typing import Optional

VERBOSE_ENV = "YT8M_VERBOSE"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

_saved_fd: Optional[int] = None
_capture = None
_verbose: Optional[bool] = None  # Set by the tools from their flags.


def wanted_verbose() -> bool:
  """True when the library lines are wanted: the tools' verbose flags
  (:func:`set_verbose`), or ``YT8M_VERBOSE`` set (not 0) in the environment."""
  if _verbose is not None:
    return _verbose
  return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def set_verbose(verbose: bool) -> None:
  """What the tools parsed: ``--verbose``, ``--verbosity`` (or ``YT8M_VERBOSE``)."""
  global _verbose
  _verbose = bool(verbose) or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def begin() -> None:
  """Captures fd 2 (no-op when verbose output is wanted or already capturing)."""
  global _saved_fd, _capture
  if _saved_fd is not None or wanted_verbose():
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # Before TensorFlow loads.
  sys.stderr.flush()
  _capture = tempfile.TemporaryFile()
  _saved_fd = os.dup(2)
  os.dup2(_capture.fileno(), 2)
  atexit.register(end, replay=True)


def end(replay: bool = False) -> None:
  """Restores fd 2; with ``replay`` writes what was captured to it."""
  global _saved_fd, _capture
  if _saved_fd is None:
    return
  sys.stderr.flush()
  os.dup2(_saved_fd, 2)
  os.close(_saved_fd)
  _saved_fd = None
  if replay:
    _capture.seek(0)
    sys.stderr.write(_capture.read().decode(errors="replace"))
    sys.stderr.flush()
  _capture.close()
  _capture = None


def settle_tensorflow() -> None:
  """Loads TensorFlow and lists its devices (where the noise is printed)."""
  import tensorflow as tf
  tf.config.list_physical_devices()


def load_tensorflow() -> None:
  """Imports TensorFlow without its start-up lines (for the tools and the API).

  A no-op once TensorFlow is up. Verbose (:func:`wanted_verbose`): imported
  as it is. Otherwise fd 2 is captured meanwhile and replayed if it fails,
  and :func:`quiet_logs` keeps other libraries' log records off.
  """
  if "tensorflow" in sys.modules:
    return
  if wanted_verbose():
    settle_tensorflow()
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  capturing = _saved_fd is None
  if capturing:
    begin()
  try:
    settle_tensorflow()
  except BaseException:
    end(replay=True)
    raise
  if capturing:
    end()
  quiet_logs()


class _OwnRecords(logging.Filter):
  """Keeps the package's own log records, and other libraries' errors."""

  def filter(self, record: logging.LogRecord) -> bool:
    return (record.levelno >= logging.ERROR or
            os.path.abspath(record.pathname).startswith(_PACKAGE_DIR))


class PlainFormatter(logging.Formatter):
  """A record as its message; ``warning: `` / ``error: `` before those levels."""

  def format(self, record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.levelno >= logging.ERROR:
      text = "error: " + text
    elif record.levelno >= logging.WARNING:
      text = "warning: " + text
    if record.exc_info:
      text += "\n" + self.formatException(record.exc_info)
    return text


_FILTER = _OwnRecords()
# Loggers of libraries that keep their own handlers or levels.
_LIBRARY_LOGGERS = ("tensorflow", "faiss.loader", "apache_beam", "jax._src.xla_bridge")


def quiet_logs() -> None:
  """Other libraries' loggers that print through handlers of their own
  (``INFO:tensorflow:...``) at ERROR and above (no-op when verbose)."""
  if wanted_verbose():
    return
  for name in _LIBRARY_LOGGERS:
    logger = logging.getLogger(name)
    logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))


def plain_logs() -> None:
  """The tools' log lines: the package's own as plain text, others' errors only.

  On the root logger's handlers (absl's among them, where both TensorFlow's
  and the package's absl records go); a no-op when verbose. Only the tools
  call it: a program using the API keeps its logging as it set it up.
  """
  if wanted_verbose():
    return
  quiet_logs()
  for handler in _root_handlers():
    if _FILTER not in handler.filters:
      handler.addFilter(_FILTER)
    handler.setFormatter(PlainFormatter())


def _root_handlers():
  """The root logger's handlers; absl's delegates to a handler of its own."""
  for handler in logging.getLogger().handlers:
    yield getattr(handler, "python_handler", handler)
