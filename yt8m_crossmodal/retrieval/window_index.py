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

from yt8m_crossmodal.retrieval import ann
from yt8m_crossmodal.retrieval import integrity
from yt8m_crossmodal.retrieval import stretches
from yt8m_crossmodal.retrieval.catalogue import Catalogue
from yt8m_crossmodal.retrieval.folder import IDS_TXT

INFO_FILE = "window.json"
INDEX_FILE = "windows.faiss"
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
  into a temporary memory-mapped file beside ``path``, then indexed
  (IVF-PQ, ``nlist`` lists, default about sqrt of the windows) and the
  folder is swapped into place when complete.
  """
  begin = time.time()
  parent = os.path.dirname(os.path.abspath(path)) or "."
  work = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  try:
    timelines = catalogue.timelines(target)
    total = int(np.ceil(np.asarray(catalogue.num_frames, np.float64) / width).sum()) + 1
    vectors = np.lib.format.open_memmap(os.path.join(work, "vectors.npy"), mode="w+",
                                        dtype=np.float32,
                                        shape=(total, catalogue.embedding_size))
    items, firsts, count = [], [], 0
    for rows, item, second in stretches.timeline_chunks(timelines, catalogue.num_frames):
      v, i, f = stretches.windows_of(rows, item, second, width)
      vectors[count:count + len(v)] = v
      items.append(i.astype(np.int32))
      firsts.append(f.astype(np.int32))
      count += len(v)
    vectors.flush()
    matrix = vectors[:count]
    nlist = nlist or int(max(1, min(count // 39, 2 ** round(np.log2(max(1.0, np.sqrt(count)))))))
    index = ann.build_index(matrix, "ivfpq", nlist=nlist, nprobe=DEFAULT_NPROBE, seed=seed)
    ann.save_index(index, os.path.join(work, INDEX_FILE))
    np.save(os.path.join(work, "items.npy"), np.concatenate(items))
    np.save(os.path.join(work, "firsts.npy"), np.concatenate(firsts))
    del matrix, vectors
    os.remove(os.path.join(work, "vectors.npy"))
    info = {"catalogue": _identity(catalogue, target, width), "windows": count,
            "faiss": ann.index_params(index), "seconds": round(time.time() - begin, 1),
            "index": os.path.abspath(catalogue.path) if catalogue.path else None}
    with open(os.path.join(work, INFO_FILE), "w") as f:
      json.dump(info, f, indent=2, sort_keys=True)
    if os.path.exists(path):
      old = f"{path}.old-{uuid.uuid4().hex[:8]}"
      os.rename(path, old)
      shutil.rmtree(old, ignore_errors=True)
    os.rename(work, path)
  except BaseException:
    shutil.rmtree(work, ignore_errors=True)
    raise
  logging.info("window index of %d windows built in %.0f s into %s", count,
               time.time() - begin, path)
  return load(path, catalogue, target, width)


def load(path: str, catalogue: Catalogue, target: str = "visual", width: int = 5
         ) -> WindowIndex:
  """Opens the window index in ``path`` for ``catalogue``.

  Raises:
    ValueError: the folder is not a window index, or one of another
      catalogue, modality or window width (named).
  """
  info_path = os.path.join(path, INFO_FILE)
  try:
    with open(info_path) as f:
      info = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path!r} is not a window index ({INFO_FILE}: {e})") from e
  want = _identity(catalogue, target, width)
  have = info.get("catalogue") or {}
  differs = [k for k in want if have.get(k) != want[k]]
  if differs:
    raise ValueError(f"the window index {path!r} was built for another catalogue or "
                     f"setting ({', '.join(differs)} differ): give another folder, or remove "
                     "it to build it again")
  index = ann.load_index(os.path.join(path, INDEX_FILE))
  items = np.load(os.path.join(path, "items.npy"), mmap_mode="r")
  firsts = np.load(os.path.join(path, "firsts.npy"), mmap_mode="r")
  if index.ntotal != len(items) or len(items) != len(firsts):
    raise ValueError(f"the window index {path!r} is damaged ({index.ntotal} vectors, "
                     f"{len(items)} windows): remove it to build it again")
  return WindowIndex(path, index, np.asarray(items), np.asarray(firsts), info)


def open_or_build(path: str, catalogue: Catalogue, target: str = "visual", width: int = 5
                  ) -> WindowIndex:
  """:func:`load` when ``path`` holds a window index, else :func:`build` it."""
  if os.path.exists(os.path.join(path, INFO_FILE)):
    return load(path, catalogue, target, width)
  if os.path.exists(path) and os.listdir(path):
    raise ValueError(f"{path!r} holds files but no window index: give an empty or new folder")
  return build(catalogue, path, target, width)
