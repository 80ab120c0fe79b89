"""Integrity of index folders: recorded sizes and SHA-256 digests, finite rows.

:class:`~.catalogue_writer.CatalogueWriter` records the size and SHA-256 of
every file it writes in ``meta.json["files"]`` (faiss files are added when
they are saved); :func:`verify` checks them when a folder is opened:

- ``"fast"`` (the default): the size of every recorded file and the digest
  of every file but the timelines (ids, clip embeddings, ``num_frames``,
  hubness, compact scales, faiss files: what a search reads whole), and that
  every clip embedding row is finite;
- ``"full"``: also the digests of the timelines (and their rows finite);
- ``"none"``: nothing (a folder this process has just written).

A folder written before the digests existed gets the finite-row checks only
(and a warning).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Iterable

from absl import logging
import numpy as np

from yt8m_crossmodal.retrieval.folder import PinnedFolder

FILES_KEY = "files"
VERIFY_LEVELS = ("none", "fast", "full")
_CHUNK = 1 << 22


def digest(path: str) -> Dict[str, Any]:
  """``{"bytes": size, "sha256": hex digest}`` of the file ``path``."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(_CHUNK), b""):
      h.update(block)
  return {"bytes": os.path.getsize(path), "sha256": h.hexdigest()}


def record(folder: str, names: Iterable[str]) -> Dict[str, Dict[str, Any]]:
  """The :func:`digest` of each file ``names`` of ``folder``, by name."""
  return {name: digest(os.path.join(folder, name)) for name in sorted(names)}


def check_finite_rows(array: np.ndarray, where: str, ids=None, start: int = 0,
                      chunk: int = 65536) -> None:
  """Raises ValueError naming the first row of ``array`` holding NaN or Inf.

  Args:
    array: ``[N, ...]`` rows (a memory map is read ``chunk`` rows at a time).
    where: the file the rows come from (for the message).
    ids: optional N ids, to name the video too.
    start: row number of ``array[0]`` in the file.
    chunk: rows read at a time.
  """
  for s in range(0, array.shape[0], chunk):
    block = np.asarray(array[s:s + chunk])
    finite = np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1)
    if not finite.all():
      row = s + int(np.argmin(finite))
      video = f" (video {ids[row]!r})" if ids is not None and row < len(ids) else ""
      raise ValueError(f"{where}: row {start + row}{video} holds NaN or Inf "
                       f"({int((~finite).sum())} such rows near it): the index is damaged; "
                       "rebuild it with yt8m-embed")


def _digest_file(f) -> str:
  h = hashlib.sha256()
  for block in iter(lambda: f.read(_CHUNK), b""):
    h.update(block)
  return h.hexdigest()


def verify(folder, meta: Dict[str, Any], hashed: Iterable[str], level: str) -> None:
  """Checks the files recorded in ``meta["files"]`` (see the module docstring).

  Args:
    folder: the index folder, a
      :class:`~yt8m_crossmodal.retrieval.folder.PinnedFolder` (the files
      checked are the files then read) or a path.
    meta: its meta.json.
    hashed: names whose digest is checked at ``"fast"`` (``"full"``: all).
    level: one of :data:`VERIFY_LEVELS`.

  Raises:
    ValueError: a file is missing, or its size or digest differs from the
      recorded one (the file and both values named).
  """
  if level not in VERIFY_LEVELS:
    raise ValueError(f"verify must be one of {', '.join(VERIFY_LEVELS)}, got {level!r}")
  recorded = meta.get(FILES_KEY)
  if level == "none":
    return
  if not recorded:
    logging.warning("index folder %r records no checksums (written before they existed): "
                    "only its rows are checked; re-embed it to have them",
                    getattr(folder, "path", folder))
    return
  if isinstance(folder, str):
    with PinnedFolder(folder) as pinned:
      return verify(pinned, meta, hashed, level)
  hashed = set(hashed)
  for name, want in sorted(recorded.items()):
    path = os.path.join(folder.path, name)
    if not folder.exists(name):
      raise ValueError(f"index folder {folder.path!r} is missing {name!r} (listed in "
                       "meta.json)")
    size = folder.size(name)
    if size != want.get("bytes"):
      raise ValueError(f"{path}: {size} bytes, meta.json recorded {want.get('bytes')} "
                       "(truncated or damaged): rebuild the index with yt8m-embed")
    if level == "full" or name in hashed:
      with folder.open(name) as f:
        got = _digest_file(f)
      if got != want.get("sha256"):
        raise ValueError(f"{path}: SHA-256 {got[:12]}... differs from the one meta.json "
                         f"recorded ({str(want.get('sha256'))[:12]}...): the file is damaged "
                         "or was changed; rebuild the index with yt8m-embed")
