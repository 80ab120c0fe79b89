"""Small file helpers: atomic writes and writable-folder checks.

Every file a tool writes goes through a temporary sibling and a rename, so a
kill leaves either the old file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from typing import Iterator

from yt8m_crossmodal.errors import UsageError


def is_remote(path: str) -> bool:
  """True for a URL-like path (``gs://...``) that only ``tf.io.gfile`` reaches."""
  return "://" in str(path)


def abspath(path: str) -> str:
  """``os.path.abspath`` of a local path; a remote one (``gs://``) as it is."""
  return str(path) if is_remote(path) else os.path.abspath(path)


def tmp_sibling(path: str) -> str:
  """A unique temporary name next to ``path`` (same folder, same filesystem)."""
  folder, name = os.path.split(path)
  return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write(path: str, data) -> None:
  """Writes ``data`` (str or bytes) to ``path`` (local or gs://) via a temporary file.

  Raises:
    UsageError: the write failed (a full disk, no permission, an unreachable
      bucket), naming ``path``; an earlier file at ``path`` is kept.
  """
  import tensorflow as tf
  tmp = tmp_sibling(path)
  try:
    with tf.io.gfile.GFile(tmp, "wb" if isinstance(data, bytes) else "w") as f:
      f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException as e:
    remove_quietly(tmp)
    if isinstance(e, (OSError, tf.errors.OpError)):
      raise write_error(path, e) from e
    raise


def atomic_write_text(path: str, text: str) -> None:
  """:func:`atomic_write` of a text."""
  atomic_write(path, text)


def remove_quietly(path: str) -> None:
  """Removes file ``path`` if it is there; a failure to remove is ignored."""
  import tensorflow as tf
  with contextlib.suppress(OSError, tf.errors.OpError):
    if tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)


def write_error(path: str, error: BaseException) -> UsageError:
  """The one-line error of a failed write of ``path`` (``error`` its cause)."""
  return UsageError(f"cannot write {path!r}: {error_line(error)}")


def writable_dir(path: str, flag: str) -> None:
  """Creates folder ``path`` if needed and checks that files can be written there.

  A local folder is checked with the standard library (no TensorFlow: the
  tools run this before TensorFlow loads); a remote one with ``tf.io.gfile``.

  Raises:
    UsageError: ``path`` is a file, cannot be created or is not writable.
  """
  if not is_remote(path):
    if os.path.exists(path) and not os.path.isdir(path):
      raise UsageError(f"{flag} {path!r} is a file, not a folder")
    try:
      os.makedirs(path, exist_ok=True)
    except OSError as e:
      raise UsageError(f"cannot create {flag} {path!r}: {error_line(e)}") from e
    probe = os.path.join(path, f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
      with open(probe, "w"):
        pass
      os.remove(probe)
    except OSError as e:
      raise UsageError(f"{flag} {path!r} is not writable: {error_line(e)}") from e
    return
  tf = _tensorflow()
  try:
    is_file = tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
  except tf.errors.OpError as e:
    raise UsageError(f"cannot reach {flag} {path!r}: {error_line(e)}") from e
  if is_file:
    raise UsageError(f"{flag} {path!r} is a file, not a folder")
  try:
    tf.io.gfile.makedirs(path)
  except (OSError, tf.errors.OpError) as e:
    raise UsageError(f"cannot create {flag} {path!r}: {error_line(e)}") from e
  probe = os.path.join(path, f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  try:
    with tf.io.gfile.GFile(probe, "w") as f:
      f.write("")
    tf.io.gfile.remove(probe)
  except (OSError, tf.errors.OpError) as e:
    raise UsageError(f"{flag} {path!r} is not writable: {error_line(e)}") from e


def _tensorflow():
  """TensorFlow, loaded without its start-up lines if it is not up yet."""
  from yt8m_crossmodal import quiet
  quiet.load_tensorflow()
  import tensorflow as tf
  return tf


def error_line(error: BaseException) -> str:
  """The first line of an error's message (TF's ``message`` if it has one)."""
  text = getattr(error, "message", None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def host_pid_tag() -> str:
  """``<host>_<pid>`` (no dashes) naming this process in temporary names."""
  host = socket.gethostname().replace("-", "_").replace(".", "_") or "host"
  return f"{host}_{os.getpid()}"


def process_alive(tag: str) -> bool:
  """False when ``tag`` (:func:`host_pid_tag`) names a dead process on this host.

  A process of another host (or an unreadable tag) counts as alive.
  """
  host, _, pid = tag.rpartition("_")
  if host != host_pid_tag().rpartition("_")[0] or not pid.isdigit():
    return True
  try:
    os.kill(int(pid), 0)
  except ProcessLookupError:
    return False
  except OSError:
    return True
  return True


def lock_file(path: str) -> str:
  """The lock file of output ``path``: ``<parent>/.<name>.lock``."""
  folder, name = os.path.split(os.path.normpath(path))
  return os.path.join(folder, f".{name}.lock")


@contextlib.contextmanager
def exclusive_output(path: str, flag: str) -> Iterator[str]:
  """Holds the :func:`lock_file` of local ``path`` while this process writes it.

  A lock left by a killed process of this host is taken over.

  Yields:
    The lock file's path (removed on exit).

  Raises:
    UsageError: another live process holds the lock (named with the file).
  """
  lock = lock_file(path)
  for attempt in range(2):
    try:
      fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      break
    except FileExistsError:
      try:
        with open(lock) as f:
          holder = f.read().strip()
      except OSError:
        holder = ""
      if attempt or not holder or process_alive(holder):
        raise UsageError(
            f"{flag} {path!r} is being written by another process ({holder or 'unknown'}; "
            f"lock file {lock!r}): wait for it to finish, or remove the lock file if that "
            "process is gone") from None
      with contextlib.suppress(FileNotFoundError):
        os.remove(lock)  # Left by a killed run of this host.
    except OSError as e:
      raise UsageError(f"cannot create the lock file {lock!r} of {flag}: {error_line(e)}") from e
  try:
    with os.fdopen(fd, "w") as f:
      f.write(host_pid_tag())
    yield lock
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.remove(lock)
