"""Start-up noise of TensorFlow and faiss kept off the terminal.

TensorFlow's C++ code prints several lines to file descriptor 2 when it loads
and when it first looks for devices (oneDNN, CUDA stubs, ``failed call to
cuInit`` on machines without a GPU), whatever ``TF_CPP_MIN_LOG_LEVEL`` says;
faiss logs a ``ModuleNotFoundError`` for its AVX-512 build; Apache Beam
(``yt8m-embed --runner``) logs its set-up at INFO and a failed bundle's
traceback at ERROR before it raises the error, which the tool reports itself
(one line for bad input, the traceback for a bug). :func:`begin`
sends fd 2 to a temporary file (the ``tools`` package calls it before any
tool module imports TensorFlow; :func:`load_tensorflow` does it for the Python API); :func:`end` restores it once TensorFlow is
up. What was captured is dropped, or written out when the process dies
before :func:`end` (an import error must not vanish).

TensorFlow's C++ code also logs, at ERROR, what it recovers from by itself
long after start-up: ``oneDNN supports DT_INT64 only on platforms with
AVX-512. Falling back to the default Eigen-based implementation`` when the
first training or embedding step is optimized. :func:`begin` sets
``TF_CPP_MIN_LOG_LEVEL=3`` (unless it is set already), which keeps those
lines off; errors that matter reach the tools as exceptions.

``--verbosity`` / ``-v`` on the command line, or ``YT8M_VERBOSE=1``, keeps
everything.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import tempfile
from typing import Optional

_saved_fd: Optional[int] = None
_capture = None


def wanted_verbose(argv=None) -> bool:
  argv = sys.argv if argv is None else argv
  return (os.environ.get("YT8M_VERBOSE", "") not in ("", "0") or
          any(a.startswith(("--verbosity", "-v")) for a in argv[1:]))


def begin() -> None:
  """Captures fd 2 (no-op when verbose output is wanted or already capturing)."""
  global _saved_fd, _capture
  if _saved_fd is not None or wanted_verbose():
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # Before TensorFlow loads.
  logging.getLogger("faiss.loader").setLevel(logging.ERROR)
  logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
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
  """Imports TensorFlow for the Python API with its start-up noise dropped.

  A no-op once TensorFlow is up, or when verbose output is wanted (as
  :func:`begin`); what fd 2 received meanwhile is replayed if it fails.
  """
  if "tensorflow" in sys.modules or wanted_verbose([]):
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
