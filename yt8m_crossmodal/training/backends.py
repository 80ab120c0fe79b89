"""The Keras backend a training run uses: resolved, checked, switched.

Keras fixes its backend when it is first imported, from ``KERAS_BACKEND``
(else ``~/.keras/keras.json``, else TensorFlow), and ``import tensorflow``
imports Keras. A tool has imported TensorFlow long before its flags are
parsed, so ``--backend`` cannot change the backend of the running process.
:func:`switch_command` gives the command that runs the same tool again, with
the same arguments, in a fresh interpreter whose ``KERAS_BACKEND`` names the
backend (``yt8m-train`` ``exec``s it: same process id, same terminal);
``--backend=auto`` (the default) keeps the backend the process has, so
``KERAS_BACKEND=jax yt8m-train ...`` never starts a second interpreter.

TensorFlow stays the backend of the input pipeline (``tf.data``), the
TensorBoard writers and the export on every backend.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Dict, List, Tuple

from yt8m_crossmodal.errors import UsageError

BACKENDS = ("tensorflow", "jax", "torch")
# What each backend needs importable, and how to get it.
_PACKAGES = {"tensorflow": ("tensorflow", "pip install yt8m-crossmodal"),
             "jax": ("jax", "pip install 'yt8m-crossmodal[jax]'"),
             "torch": ("torch", "pip install 'yt8m-crossmodal[torch]'")}
# Set in the environment of the interpreter started by switch_command: a
# second switch would be a loop (KERAS_BACKEND not honoured), an error instead.
SWITCHED_ENV = "YT8M_CROSSMODAL_BACKEND_SWITCHED"


def active() -> str:
  """The backend Keras runs on in this process (imports Keras)."""
  import keras
  return keras.backend.backend()


def resolve(name: str) -> str:
  """``name``, or the process' own backend for ``auto``.

  Raises:
    UsageError: an unknown name.
  """
  if name == "auto":
    return active()
  if name not in BACKENDS:
    raise UsageError(f"--backend must be auto or one of {', '.join(BACKENDS)}, got {name!r}")
  return name


def require_installed(name: str) -> None:
  """Raises UsageError (with the install command) when ``name`` cannot load."""
  module, install = _PACKAGES[name]
  if importlib.util.find_spec(module) is None:
    raise UsageError(f"--backend={name} needs {module}, which is not installed: {install}")


def check_strategy(backend: str, distribution_strategy: str) -> None:
  """tf.distribute strategies drive TensorFlow's trainer only.

  Raises:
    UsageError: ``mirrored`` or ``multi_worker`` on JAX or PyTorch.
  """
  if backend != "tensorflow" and distribution_strategy != "none":
    raise UsageError(
        f"--distribution_strategy={distribution_strategy} needs --backend=tensorflow "
        f"(tf.distribute); on {backend} train with --distribution_strategy=none")


def check_active(name: str) -> None:
  """Raises UsageError when this process' Keras does not run on ``name``."""
  current = active()
  if name != current:
    raise UsageError(
        f"this process runs Keras on {current}, not {name}: set KERAS_BACKEND={name} "
        "before Keras (or TensorFlow) is imported, or run yt8m-train --backend="
        f"{name}, which does")


def switch_command(name: str, module: str,
                   argv: List[str] = None) -> Tuple[List[str], Dict[str, str]]:
  """``(argv, env)`` that run ``python -m module`` again on backend ``name``.

  Args:
    name: the backend wanted (one of :data:`BACKENDS`).
    module: the tool's module (``yt8m_crossmodal.tools.train``).
    argv: the command line (default ``sys.argv``); its arguments are kept,
      ``--flagfile`` included.

  Raises:
    UsageError: ``name`` is not installed, or this process was already
      started by a switch and still runs another backend.
  """
  require_installed(name)
  if os.environ.get(SWITCHED_ENV):
    raise UsageError(f"KERAS_BACKEND={name} was set but Keras started on {active()}")
  argv = sys.argv if argv is None else argv
  env = dict(os.environ, KERAS_BACKEND=name, **{SWITCHED_ENV: "1"})
  return [sys.executable, "-m", module, *argv[1:]], env
