"""The index folder ("catalogue") format: file names and small I/O helpers.

One folder per embedded corpus::

    meta.json                 format_version, embedding_size, num_items,
                              modalities (both, or one: a one-modality
                              index holds only that modality's files and
                              no hubness), has_timelines, max_frames, timeline_dtype,
                              ids_file, model (free-form model info), faiss
                              ({modality: {"file": ..., "kind": ..., params}}),
                              files ({name: {"bytes": ..., "sha256": ...}} of
                              every other file, checked on open; see
                              :mod:`.integrity`)
    ids.txt                   one video id per line
    audio_embeddings.npy      [N, E] float32 audio clip embeddings
    visual_embeddings.npy     [N, E] float32 visual clip embeddings
    audio_timelines.npy       [N, T, E] (float16 by default), optional
    visual_timelines.npy      [N, T, E], optional (both or neither)
    <m>_timeline_rows.npy,    the compact form of the timelines instead
    <m>_timeline_scales.npy   (timeline_dtype "int8", timeline_pool P; see
                              :mod:`.compact_timelines`)
    num_frames.npy            [N] int32 valid seconds, with the timelines
    audio_hubness.npy,        [N] float32 mean cosine of each item to its
    visual_hubness.npy        nearest items of the other modality (present
                              when meta["hubness"] gives k and the bank
                              size; see :mod:`.hubness`)
    audio_self_hubness.npy,   [N] float32 mean cosine of each item to its
    visual_self_hubness.npy   nearest *other* items of its own modality (for
                              searches that return both kinds; present when
                              meta["hubness"]["self"])
    labels.npy,               the class indices of every item, one after the
    label_offsets.npy         other (int32 [S]) and where each item's start
                              (int64 [N + 1]); present when meta["labels"]
    audio.faiss, visual.faiss optional faiss index over that modality's clip
                              embeddings (named in meta["faiss"])

``meta.json`` is written last, so a folder without it is incomplete.
"""

from __future__ import annotations

import json
import os
import stat as _stat_mod
from typing import Any, Optional

import numpy as np

from yt8m_crossmodal import io_utils

MODALITIES = ("audio", "visual")
FORMAT_VERSION = 1
META_FILE = "meta.json"
IDS_TXT = "ids.txt"
NUM_FRAMES_FILE = "num_frames.npy"
PARTS_DIR = "_parts"


def embeddings_file(modality: str) -> str:
  return f"{modality}_embeddings.npy"


def timelines_file(modality: str) -> str:
  return f"{modality}_timelines.npy"


def timeline_rows_file(modality: str) -> str:
  """Compact timelines: int8 rows ``[S, E]``."""
  return f"{modality}_timeline_rows.npy"


def timeline_scales_file(modality: str) -> str:
  """Compact timelines: float32 per-row scales ``[S]``."""
  return f"{modality}_timeline_scales.npy"


def hubness_file(modality: str) -> str:
  """[N] float32 hubness of each item (see :mod:`.hubness`)."""
  return f"{modality}_hubness.npy"


def self_hubness_file(modality: str) -> str:
  """[N] float32 hubness of each item against its own modality (see :mod:`.hubness`)."""
  return f"{modality}_self_hubness.npy"


def index_file(modality: str) -> str:
  return f"{modality}.faiss"


LABELS_FILE = "labels.npy"
LABEL_OFFSETS_FILE = "label_offsets.npy"


def catalogue_files() -> set:
  """Names of every file (and the parts folder) an index folder may hold."""
  names = {META_FILE, IDS_TXT, NUM_FRAMES_FILE, PARTS_DIR, LABELS_FILE, LABEL_OFFSETS_FILE}
  for m in MODALITIES:
    names |= {embeddings_file(m), timelines_file(m), index_file(m), hubness_file(m),
              self_hubness_file(m), timeline_rows_file(m), timeline_scales_file(m)}
  return names


def check_modality(modality: str) -> str:
  if modality not in MODALITIES:
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
  return modality


def infer_num_frames(*timelines: np.ndarray) -> np.ndarray:
  """Valid seconds = 1 + last non-zero second over the given timelines."""
  nonzero = np.zeros(timelines[0].shape[:2], bool)
  for t in timelines:
    nonzero |= np.any(np.asarray(t) != 0, axis=2)
  last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
  return np.where(nonzero.any(axis=1), last, 0).astype(np.int32)


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` to ``path`` aside and renames it into place."""
  io_utils.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True))


def require(folder: str, name: str) -> str:
  path = os.path.join(folder, name)
  if not os.path.exists(path):
    raise ValueError(f"Index folder {folder!r} is missing {name!r}")
  return path


def check_name(name: Any, where: str) -> str:
  """``name`` if it is a plain file name of an index folder, else ValueError.

  A name from meta.json (a folder someone sent) never reaches outside the
  folder: no separator, no ``..``, nothing hidden.
  """
  if (not isinstance(name, str) or not name or name.startswith(".") or "/" in name
      or "\\" in name or "\0" in name or os.sep in name):
    raise ValueError(f"{where}: {name!r} is not a file name of an index folder")
  return name


_DIR_FD = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class PinnedFolder:
  """An index folder opened once, so every file comes from the same version.

  The folder is opened as a directory and each file relative to it: a
  ``yt8m-embed --overwrite`` that swaps a new folder in while this one is
  read does not mix the two (the files of the folder first opened are
  read, or, once it is gone, :attr:`swapped` says so). Only plain files
  directly in the folder are opened: no symbolic link, nothing outside.
  """

  def __init__(self, path: str):
    self.path = path
    self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY) if _DIR_FD else None

  def close(self) -> None:
    if self.fd is not None:
      os.close(self.fd)
      self.fd = None

  def __enter__(self) -> "PinnedFolder":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  @property
  def swapped(self) -> bool:
    """True when ``path`` is no longer the folder that was opened."""
    if self.fd is None:
      return False
    try:
      now, pinned = os.stat(self.path), os.fstat(self.fd)
    except OSError:
      return True
    return (now.st_dev, now.st_ino) != (pinned.st_dev, pinned.st_ino)

  def _stat(self, name: str):
    if self.fd is not None:
      return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
    return os.lstat(os.path.join(self.path, name))

  def exists(self, name: str) -> bool:
    try:
      self._stat(check_name(name, self.path))
    except FileNotFoundError:
      return False
    return True

  def size(self, name: str) -> int:
    """Bytes of the plain file ``name``; ValueError if missing or not one."""
    return self._plain(name, self._stat)[1]

  def _plain(self, name: str, stat):
    check_name(name, self.path)
    try:
      st = stat(name)
    except FileNotFoundError:
      raise ValueError(f"Index folder {self.path!r} is missing {name!r}") from None
    if not _stat_mod.S_ISREG(st.st_mode):
      raise ValueError(f"{os.path.join(self.path, name)} is not a plain file (a link or a "
                       "folder): an index folder holds plain files only")
    return st, st.st_size

  def open(self, name: str, mode: str = "rb"):
    """The plain file ``name`` opened for reading (``mode`` "rb" or "r")."""
    check_name(name, self.path)
    try:
      if self.fd is not None:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=self.fd)
      else:
        fd = os.open(os.path.join(self.path, name), os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
      raise ValueError(f"Index folder {self.path!r} is missing {name!r}") from None
    except OSError as e:  # ELOOP: a symbolic link.
      raise ValueError(f"{os.path.join(self.path, name)} cannot be opened as a plain file "
                       f"({e.strerror}): an index folder holds plain files only") from None
    try:
      self._plain(name, lambda _: os.fstat(fd))
    except ValueError:
      os.close(fd)
      raise
    if "b" in mode:
      return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8")

  def load_npy(self, name: str, mmap: bool) -> np.ndarray:
    """The .npy array ``name`` (memory-mapped read-only with ``mmap``).

    Raises:
      ValueError: not a plain .npy file of plain numbers (an .npz, a pickle,
        object arrays, a truncated file), naming it.
    """
    with self.open(name) as f:
      return read_npy(f, os.path.join(self.path, name), mmap)


def read_npy(f, where: str, mmap: bool) -> np.ndarray:
  """The array of the open .npy file ``f`` (ValueError naming ``where`` if it is not one)."""
  fmt = np.lib.format
  try:
    version = fmt.read_magic(f)
    if version == (1, 0):
      shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
      shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
      raise ValueError(f"unsupported .npy version {version}")
  except (ValueError, OSError, EOFError) as e:
    raise ValueError(f"{where} is not a readable .npy array ({e}): the index is "
                     "damaged") from None
  if dtype.hasobject or dtype.kind not in "biuf":
    raise ValueError(f"{where} holds {dtype} values, not plain numbers: the index is "
                     "damaged")
  offset = f.tell()
  count = int(np.prod(shape, dtype=np.int64))
  need = offset + count * dtype.itemsize
  size = os.fstat(f.fileno()).st_size
  if size < need:
    raise ValueError(f"{where} is not a readable .npy array ({size} bytes, its header "
                     f"needs {need}): the index is damaged")
  order = "F" if fortran else "C"
  if mmap and count:
    return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
  data = np.fromfile(f, dtype=dtype, count=count)
  return data.reshape(shape, order=order)


class NpyWriter:
  """A .npy file of known shape written block by block with plain writes.

  Never memory-mapped: on a full disk (a small tmpfs included) the write
  fails with an error naming the file, where a memory map would end the
  process with SIGBUS. Every failure is a
  :class:`~yt8m_crossmodal.errors.UsageError` naming the file.
  """

  def __init__(self, path: str, shape, dtype):
    self.path = path
    self.dtype = np.dtype(dtype)
    self.shape = tuple(int(d) for d in shape)
    self.rows = 0
    with io_utils.naming_errors(path):
      self.file = open(path, "wb")
      try:
        np.lib.format.write_array_header_1_0(self.file, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": self.shape})
      except BaseException:
        self.file.close()
        raise

  def write(self, block: np.ndarray) -> None:
    """Appends rows ``block`` ``[b, *shape[1:]]``."""
    block = np.ascontiguousarray(block, dtype=self.dtype)
    if block.shape[1:] != self.shape[1:] or self.rows + len(block) > self.shape[0]:
      raise ValueError(f"{self.path}: rows {block.shape} do not fit {self.shape} after "
                       f"{self.rows} rows")
    with io_utils.naming_errors(self.path):
      self.file.write(block.data if block.size else b"")
    self.rows += len(block)

  def close(self) -> None:
    """Closes the file; ValueError unless every row was written."""
    with io_utils.naming_errors(self.path):
      self.file.close()
    if self.rows != self.shape[0]:
      raise ValueError(f"{self.path}: {self.rows} rows written of {self.shape[0]}")

  def abort(self) -> None:
    """Closes the file without checks (it is incomplete)."""
    try:
      self.file.close()
    except OSError:
      pass


def write_npy(path: str, array: np.ndarray) -> None:
  """Writes ``array`` as the .npy file ``path`` (plain writes, errors naming it)."""
  array = np.asarray(array)
  writer = NpyWriter(path, array.shape if array.ndim else (1,), array.dtype)
  try:
    writer.write(array.reshape(writer.shape))
    writer.close()
  except BaseException:
    writer.abort()
    raise

def check_meta(meta: Any, where: str) -> dict:
  """meta.json's values, checked for the types and ranges readers rely on.

  Keys a folder of an earlier version lacks are allowed; a value of the
  wrong type (a folder someone sent) is a ValueError naming the key.
  """
  if not isinstance(meta, dict):
    raise ValueError(f"{where} is not a JSON object: the index is damaged")

  def bad(key, want):
    raise ValueError(f"{where}: {key!r} must be {want}, got {meta.get(key)!r:.80}: the index "
                     "is damaged")

  def whole(key, minimum, optional=True):
    value = meta.get(key)
    if value is None and optional:
      return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
      bad(key, f"a whole number >= {minimum}")

  if meta.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
    bad("format_version", f"{FORMAT_VERSION} (a newer yt8m-crossmodal wrote it?)")
  whole("embedding_size", 1)
  whole("num_items", 0)
  whole("max_frames", 1)
  whole("timeline_pool", 1)
  modalities = meta.get("modalities", list(MODALITIES))
  if (not isinstance(modalities, list) or not modalities
      or any(m not in MODALITIES for m in modalities) or len(set(modalities)) != len(modalities)):
    bad("modalities", f"a list of one or both of {list(MODALITIES)}")
  if not isinstance(meta.get("has_timelines", False), bool):
    bad("has_timelines", "true or false")
  if meta.get("timeline_dtype") not in (None, "float16", "float32", "int8"):
    bad("timeline_dtype", "float16, float32 or int8")
  if meta.get("timeline_dtype") == "int8" and meta.get("max_frames") is None:
    bad("max_frames", "a whole number with int8 timelines")
  if not isinstance(meta.get("model") or {}, dict):
    bad("model", "an object")
  if not isinstance(meta.get("hubness") or {}, dict):
    bad("hubness", "an object")
  if not isinstance(meta.get("labels", False), bool):
    bad("labels", "true or false")
  if not isinstance(meta.get("source") or {}, dict):
    bad("source", "an object")
  faiss = meta.get("faiss") or {}
  if not isinstance(faiss, dict):
    bad("faiss", "an object")
  for target, entry in faiss.items():
    if target not in MODALITIES or not isinstance(entry, dict):
      bad("faiss", f"{{modality: {{...}}}} with modality in {MODALITIES}")
    if entry.get("file", index_file(target)) != index_file(target):
      raise ValueError(f"{where}: the faiss index of {target!r} must be the file "
                       f"{index_file(target)!r} of the folder, meta.json names "
                       f"{entry.get('file')!r:.80}: the index is damaged")
  files = meta.get("files") or {}
  if not isinstance(files, dict):
    bad("files", "an object")
  for name, entry in files.items():
    check_name(name, f"{where}: 'files'")
    if (not isinstance(entry, dict) or isinstance(entry.get("bytes"), bool)
        or not isinstance(entry.get("bytes"), int) or entry["bytes"] < 0
        or not isinstance(entry.get("sha256"), str)):
      raise ValueError(f"{where}: 'files'[{name!r}] must be {{\"bytes\": n, \"sha256\": "
                       "hex}: the index is damaged")
  return meta



# A meta.json is a few kB; a bigger one is not read (a folder someone sent).
MAX_META_BYTES = 1 << 24


def named_export(folder: str) -> Optional[str]:
  """The export an index folder's meta.json says embedded it (for messages only).

  Never used to load anything: a SavedModel is a program, and a folder
  someone sent may name any. None when the folder, its meta.json or the
  entry is missing or not as written by yt8m-embed.
  """
  try:
    with open(os.path.join(str(folder), META_FILE), "rb") as f:
      meta = json.loads(f.read(MAX_META_BYTES + 1)[:MAX_META_BYTES].decode("utf-8"))
    named = meta["model"]["export_dir"]
  except (OSError, ValueError, KeyError, TypeError, RecursionError):
    return None
  return named if isinstance(named, str) and named else None
