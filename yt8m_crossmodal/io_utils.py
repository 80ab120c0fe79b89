"""Small file helpers: atomic writes and writable-folder checks.

Every file a tool writes goes through a temporary sibling and a rename, so a
kill leaves either the old file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import uuid
from typing import Iterable, Iterator, List, Optional

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

  A local path is written with Python's own files (no TensorFlow needed),
  a remote one through ``tf.io.gfile``.

  Raises:
    UsageError: the write failed (a full disk, no permission, an unreachable
      bucket), naming ``path``; an earlier file at ``path`` is kept.
  """
  tmp = tmp_sibling(path)
  if not is_remote(path):
    try:
      if isinstance(data, bytes):
        with open(tmp, "wb") as f:
          f.write(data)
      else:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
          f.write(data)
      os.replace(tmp, path)
    except BaseException as e:
      with contextlib.suppress(OSError):
        os.remove(tmp)
      if isinstance(e, OSError):
        raise write_error(path, e) from e
      raise
    return
  import tensorflow as tf
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
  if not is_remote(path):
    with contextlib.suppress(OSError):
      os.remove(path)
    return
  import tensorflow as tf
  with contextlib.suppress(OSError, tf.errors.OpError):
    if tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)


def write_error(path: str, error: BaseException) -> UsageError:
  """The one-line error of a failed write of ``path`` (``error`` its cause)."""
  line = error_line(error)
  # TensorFlow's "<temporary file>; No space left on device": the file is named already.
  line = re.sub(r"^(?:/|[a-z][a-z0-9+.-]*://)\S*; ", "", line)
  return UsageError(f"cannot write {path!r}: {line}")


def free_bytes(folder: str) -> Optional[int]:
  """Bytes a process may still write in local ``folder`` (None: unknown, or remote)."""
  if is_remote(folder) or not hasattr(os, "statvfs"):
    return None
  try:
    st = os.statvfs(folder)
  except OSError:
    return None
  return st.f_bavail * st.f_frsize


def require_space(path: str, needed: int) -> None:
  """Raises :func:`write_error` (no space) when ``path``'s folder lacks ``needed`` bytes.

  For writers that cannot fail cleanly once started (HDF5 may crash the
  process on a full disk): they check first.
  """
  free = free_bytes(os.path.dirname(path) or ".")
  if free is not None and free < needed:
    raise write_error(path, OSError(
        errno.ENOSPC, f"No space left on device ({free} bytes free, about {needed} needed)"))


@contextlib.contextmanager
def naming_errors(path: str) -> Iterator[None]:
  """Turns an OSError of the writes inside into :func:`write_error` naming ``path``.

  A full disk says which file it stopped (numpy's and Python's own errors
  often name none).
  """
  try:
    yield
  except OSError as e:
    raise write_error(path, e) from e


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


# TensorFlow's prefix naming the graph node of a failed op: noise to a user.
_TF_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:[A-Za-z0-9_]+\]")


def _tensorflow():
  """TensorFlow, loaded without its start-up lines if it is not up yet."""
  from yt8m_crossmodal import quiet
  quiet.load_tensorflow()
  import tensorflow as tf
  return tf


def error_line(error: BaseException) -> str:
  """The first line of an error's message (TF's ``message`` if it has one).

  TensorFlow's ``{{function_node ...}}`` and ``[Op:...]`` are left out.
  """
  text = getattr(error, "message", None) or str(error)
  text = _TF_NODE.sub(" ", text).strip()
  return text.splitlines()[0].strip() if text else type(error).__name__


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
    try:
      with os.fdopen(fd, "w") as f:
        f.write(host_pid_tag())
    except OSError as e:  # A full disk: the lock file itself cannot be written.
      raise UsageError(f"cannot write the lock file {lock!r} of {flag}: "
                       f"{error_line(e)}") from e
    yield lock
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.remove(lock)


STAGING_PREFIX = ".staging-"
COMMIT_FILE = "COMMIT.json"


class FileSet:
  """Files of one folder (local or gs://) replaced together, as one unit.

  Each file is written into a staging folder inside ``folder`` (through
  :meth:`path`); :meth:`commit` writes the list of files (the commit record)
  and then renames them into ``folder`` in order, the last one last, and
  removes the old files named with :meth:`remove`. A kill before the commit
  record leaves the old files as they were; a kill after it is completed by
  :func:`recover_file_sets` (the next writer of the folder calls it), so the
  folder never keeps a new file beside an old one of the same set.
  """

  def __init__(self, folder: str):
    import tensorflow as tf
    self.folder = folder
    self.staging = os.path.join(folder, f"{STAGING_PREFIX}{host_pid_tag()}-"
                                f"{uuid.uuid4().hex[:8]}")
    try:
      tf.io.gfile.makedirs(self.staging)
    except (OSError, tf.errors.OpError) as e:
      raise write_error(self.staging, e) from e
    self.removed: List[str] = []

  def path(self, name: str) -> str:
    """Where to write the file ``name`` of the set (in the staging folder)."""
    return os.path.join(self.staging, name)

  def remove(self, name: str) -> None:
    """Removes ``folder/name`` when the set is committed (an old file not in it)."""
    self.removed.append(name)

  def commit(self, last: Optional[str] = None) -> List[str]:
    """Moves the staged files into the folder (``last`` last); returns their names."""
    import tensorflow as tf
    names = sorted(n for n in tf.io.gfile.listdir(self.staging)
                   if not n.startswith(".") and n != COMMIT_FILE)
    if last in names:
      names = [n for n in names if n != last] + [last]
    atomic_write(os.path.join(self.staging, COMMIT_FILE),
                 json.dumps({"files": names, "removed": self.removed}))
    _roll_forward(self.folder, self.staging, names, self.removed)
    return names

  def abort(self) -> None:
    """Drops the staged files (the folder keeps its old ones)."""
    import tensorflow as tf
    with contextlib.suppress(OSError, tf.errors.OpError):
      if tf.io.gfile.exists(self.staging):
        tf.io.gfile.rmtree(self.staging)


def _roll_forward(folder: str, staging: str, names: Iterable[str],
                  removed: Iterable[str]) -> None:
  """The renames and removals of a committed :class:`FileSet` that are left."""
  import tensorflow as tf
  try:
    for name in names:
      source = os.path.join(staging, name)
      if tf.io.gfile.exists(source):
        tf.io.gfile.rename(source, os.path.join(folder, name), overwrite=True)
    for name in removed:
      remove_quietly(os.path.join(folder, name))
    tf.io.gfile.rmtree(staging)
  except (OSError, tf.errors.OpError) as e:
    raise write_error(folder, e) from e


def recover_file_sets(folder: str) -> List[str]:
  """Completes the committed :class:`FileSet` s of ``folder``; drops the others.

  A staging folder without its commit record belongs to a writer that
  stopped before committing (or to a live one of another host, left alone).

  Returns:
    The staging folders handled.
  """
  import tensorflow as tf
  if not tf.io.gfile.isdir(folder):
    return []
  done = []
  for entry in sorted(tf.io.gfile.listdir(folder)):
    entry = entry.rstrip("/")
    if not entry.startswith(STAGING_PREFIX):
      continue
    staging = os.path.join(folder, entry)
    record = os.path.join(staging, COMMIT_FILE)
    if tf.io.gfile.exists(record):
      try:
        with tf.io.gfile.GFile(record) as f:
          plan = json.load(f)
        names, removed = list(plan["files"]), list(plan["removed"])
      except (ValueError, KeyError, TypeError, OSError, tf.errors.OpError):
        continue  # Not ours to guess about.
      if any("/" in n or n.startswith(".") for n in names + removed):
        continue
      _roll_forward(folder, staging, names, removed)
    elif not process_alive(entry[len(STAGING_PREFIX):].split("-")[0]):
      with contextlib.suppress(OSError, tf.errors.OpError):
        tf.io.gfile.rmtree(staging)
    else:
      continue
    done.append(staging)
  return done


_RENAME_EXCHANGE = 2  # renameat2(2) flag (Linux >= 3.15).
_AT_FDCWD = -100


def exchange_paths(a: str, b: str) -> bool:
  """Swaps two existing paths in one atomic step (Linux ``renameat2``).

  Returns:
    False when this system or file system cannot (the caller renames in two
    steps); raises OSError for any other failure.
  """
  import ctypes
  import sys
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = libc.renameat2
  except (OSError, AttributeError):
    return False
  renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                        ctypes.c_uint]
  if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
    return True
  code = ctypes.get_errno()
  if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
    return False
  raise OSError(code, os.strerror(code), a)
