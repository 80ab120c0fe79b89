"""A faiss index of a catalogue's timeline windows, for repeated storyboards.

Step 1 of :mod:`.stretches` reads every video's timeline at every run: for a
radio station that makes a storyboard every day against the same
catalogue, that pass is most of the time. A window index does it once: the
windows of every video (the same windows, ``W`` seconds each) go into a
faiss IVF-PQ index in a folder of their own, with each window's video and
first second; a run then asks it for each segment's best windows and reads
only the stretches it scores.

The folder (``yt8m-pictures --window_index=DIR``, built on first use)::

    windows.faiss     IVF-PQ over the window vectors (inner product)
    items.npy         int32 [M] the video (catalogue row) of each window
    firsts.npy        int32 [M] its first second
    window.json       the catalogue it was built from (its ``ids.txt`` digest
                      and size, the modality, W, its timelines' storage), the
                      index's parameters

A window index built from another catalogue (or modality, or W) is refused.
Scores are approximate (product-quantized); the stretches are then scored
exactly, so the answers only differ from the exact pass when a window the
exact pass keeps is missed (``benchmarks/pictures.py`` measures it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Dict, Tuple

from absl import logging
import numpy as np

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.retrieval import ann
from yt8m_crossmodal.retrieval import integrity
from yt8m_crossmodal.retrieval import stretches
from yt8m_crossmodal.retrieval.catalogue import Catalogue
from yt8m_crossmodal.retrieval.folder import (IDS_TXT, MAX_META_BYTES, NpyWriter, PinnedFolder,
                                              write_json, write_npy)

INFO_FILE = "window.json"
INDEX_FILE = "windows.faiss"
ITEMS_FILE = "items.npy"
FIRSTS_FILE = "firsts.npy"
DEFAULT_NPROBE = 32


def _identity(catalogue: Catalogue, target: str, width: int) -> Dict[str, Any]:
  """What a window index must have been built from to serve ``catalogue``."""
  ids = (catalogue.meta.get(integrity.FILES_KEY) or {}).get(IDS_TXT)
  if ids is None and catalogue.path:
    ids = integrity.digest(os.path.join(catalogue.path, IDS_TXT))
  return {"ids": ids, "num_items": catalogue.size, "target": target, "width": int(width),
          "timeline_dtype": catalogue.meta.get("timeline_dtype"),
          "timeline_pool": catalogue.meta.get("timeline_pool")}


class WindowIndex:
  """A loaded window index (see the module docstring)."""

  def __init__(self, path: str, index, items: np.ndarray, firsts: np.ndarray,
               info: Dict[str, Any]):
    self.path, self.index, self.items, self.firsts, self.info = path, index, items, firsts, info

  @property
  def width(self) -> int:
    return int(self.info["catalogue"]["width"])

  def search(self, queries: np.ndarray, count: int, nprobe: int = None,
             long_enough: np.ndarray = None, item_bias: np.ndarray = None
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's ``count`` best windows: ``(scores, items, firsts)`` as
    :func:`.stretches.candidate_windows` returns them (item -1 where none).

    A shortlist of 2 x ``count`` windows is taken, then windows of videos not
    ``long_enough`` are dropped and ``item_bias`` is added before keeping
    ``count``.
    """
    scores, rows = ann.search(self.index, np.asarray(queries, np.float32), 2 * count,
                              nprobe=nprobe)
    valid = rows >= 0
    items = np.where(valid, self.items[np.maximum(rows, 0)], -1).astype(np.int64)
    firsts = np.where(valid, self.firsts[np.maximum(rows, 0)], 0).astype(np.int64)
    if long_enough is not None:
      valid &= long_enough[np.maximum(items, 0)]
    if item_bias is not None:
      scores = scores + np.where(valid, item_bias[np.maximum(items, 0)], 0.0)
    scores = np.where(valid, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :count]
    items = np.take_along_axis(np.where(valid, items, -1), order, axis=1)
    return (np.take_along_axis(scores, order, axis=1), items,
            np.take_along_axis(firsts, order, axis=1))


def build(catalogue: Catalogue, path: str, target: str = "visual", width: int = 5,
          nlist: int = 0, seed: int = 0) -> WindowIndex:
  """Builds the window index of ``catalogue`` into the new folder ``path``.

  The windows are computed in one pass over the timelines (bounded memory)
  into a temporary file beside ``path`` (plain writes: a full disk is an
  error naming the file, never SIGBUS), then indexed (IVF-PQ, ``nlist``
  lists, default about sqrt of the windows) and the folder is swapped into
  place when complete.
  """
  begin = time.time()
  parent = os.path.dirname(os.path.abspath(path)) or "."
  with io_utils.naming_errors(parent):
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  try:
    timelines = catalogue.timelines(target)
    total = int(np.ceil(np.asarray(catalogue.num_frames, np.float64) / width).sum()) + 1
    vectors_path = os.path.join(work, "vectors.npy")
    vectors = NpyWriter(vectors_path, (total, catalogue.embedding_size), np.float32)
    items, firsts, count = [], [], 0
    try:
      for rows, item, second in stretches.timeline_chunks(timelines, catalogue.num_frames):
        v, i, f = stretches.windows_of(rows, item, second, width)
        vectors.write(v)
        items.append(i.astype(np.int32))
        firsts.append(f.astype(np.int32))
        count += len(v)
      vectors.write(np.zeros((total - count, catalogue.embedding_size), np.float32))
      vectors.close()
    except BaseException:
      vectors.abort()
      raise
    matrix = np.load(vectors_path, mmap_mode="r")[:count]
    nlist = nlist or int(max(1, min(count // 39, 2 ** round(np.log2(max(1.0, np.sqrt(count)))))))
    index = ann.build_index(matrix, "ivfpq", nlist=nlist, nprobe=DEFAULT_NPROBE, seed=seed)
    try:
      ann.save_index(index, os.path.join(work, INDEX_FILE))
    except RuntimeError as e:  # faiss' own write error (a full disk).
      raise io_utils.write_error(os.path.join(work, INDEX_FILE), e) from e
    write_npy(os.path.join(work, ITEMS_FILE), np.concatenate(items))
    write_npy(os.path.join(work, FIRSTS_FILE), np.concatenate(firsts))
    del matrix
    os.remove(vectors_path)
    info = {"catalogue": _identity(catalogue, target, width), "windows": count,
            "faiss": ann.index_params(index), "seconds": round(time.time() - begin, 1),
            "index": os.path.abspath(catalogue.path) if catalogue.path else None}
    write_json(os.path.join(work, INFO_FILE), info)
    with io_utils.naming_errors(path):
      if not (os.path.exists(path) and io_utils.exchange_paths(work, path)):
        if os.path.exists(path):
          old = f"{path}.old-{uuid.uuid4().hex[:8]}"
          os.rename(path, old)
          shutil.rmtree(old, ignore_errors=True)
        os.rename(work, path)
  finally:
    shutil.rmtree(work, ignore_errors=True)  # After an exchange: the earlier index.
  logging.info("window index of %d windows built in %.0f s into %s", count,
               time.time() - begin, path)
  return load(path, catalogue, target, width)


def load(path: str, catalogue: Catalogue, target: str = "visual", width: int = 5
         ) -> WindowIndex:
  """Opens the window index in ``path`` for ``catalogue``.

  The folder may have come from someone else: only plain files directly in
  it are read, ``window.json`` is checked for type, the arrays must be plain
  whole numbers naming rows and seconds of ``catalogue``.

  Raises:
    ValueError: the folder is not a window index, or one of another
      catalogue, modality or window width, or damaged (named).
  """
  try:
    folder = PinnedFolder(path)
  except OSError as e:
    raise ValueError(f"{path!r} is not a window index ({e.strerror or e})") from None
  with folder:
    info_path = os.path.join(path, INFO_FILE)
    try:
      if folder.size(INFO_FILE) > MAX_META_BYTES:
        raise ValueError(f"{folder.size(INFO_FILE)} bytes")
      with folder.open(INFO_FILE) as f:
        info = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:
      raise ValueError(f"{path!r} is not a window index ({INFO_FILE}: "
                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    have = info.get("catalogue") if isinstance(info, dict) else None
    if not isinstance(have, dict):
      raise ValueError(f"{info_path} is not a window index's {INFO_FILE} (no 'catalogue' "
                       "object): remove the folder to build it again")
    want = _identity(catalogue, target, width)
    differs = [k for k in want if have.get(k) != want[k]]
    if differs:
      raise ValueError(f"the window index {path!r} was built for another catalogue or "
                       f"setting ({', '.join(differs)} differ): give another folder, or "
                       "remove it to build it again")
    with folder.open(INDEX_FILE) as f:
      index = ann.load_index(os.path.join(path, INDEX_FILE), f)
    items = folder.load_npy(ITEMS_FILE, False)
    firsts = folder.load_npy(FIRSTS_FILE, False)
  longest = int(np.max(catalogue.num_frames)) if catalogue.size else 0
  if (index.ntotal != len(items) or items.shape != firsts.shape or items.ndim != 1
      or int(getattr(index, "d", -1)) != catalogue.embedding_size
      or items.dtype.kind not in "iu" or firsts.dtype.kind not in "iu"
      or (len(items) and (items.min() < 0 or items.max() >= catalogue.size
                          or firsts.min() < 0 or firsts.max() >= max(longest, 1)))):
    raise ValueError(f"the window index {path!r} is damaged ({index.ntotal} vectors, "
                     f"{len(items)} windows, not rows and seconds of the catalogue): remove "
                     "it to build it again")
  return WindowIndex(path, index, items.astype(np.int32), firsts.astype(np.int32), info)


def open_or_build(path: str, catalogue: Catalogue, target: str = "visual", width: int = 5
                  ) -> WindowIndex:
  """:func:`load` when ``path`` holds a window index, else :func:`build` it."""
  if os.path.exists(os.path.join(path, INFO_FILE)):
    return load(path, catalogue, target, width)
  if os.path.exists(path) and os.listdir(path):
    raise ValueError(f"{path!r} holds files but no window index: give an empty or new folder")
  return build(catalogue, path, target, width)
