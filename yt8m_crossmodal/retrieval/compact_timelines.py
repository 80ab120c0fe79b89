"""Compact timelines: int8 rows with a per-row scale, optionally pooled in time.

The float formats store timelines as a dense ``[N, max_frames, E]`` array,
padding included: ``2 * 300 * E`` bytes per video at float16. The compact
format (``yt8m-embed --timeline_dtype=int8``) stores, per modality, only the
valid seconds of every video, one after another (ragged), each row as E int8
values and one float32 scale:

    <modality>_timeline_rows.npy     int8    [S, E]
    <modality>_timeline_scales.npy   float32 [S]

Row ``r`` stands for the unit vector ``rows[r] * scales[r]`` (``scale =
max|x| / 127``, so every element is within half a quantization step,
``scale / 2``, of the float value). With time pooling ``P``
(``--timeline_pool``), a row is the re-normalized mean of ``P`` consecutive
seconds (the last one of a video: of the seconds left). Video ``i`` has
``ceil(num_frames[i] / P)`` rows starting at ``sum_{j<i} ceil(num_frames[j] /
P)`` (``num_frames.npy`` is stored as in the float formats).

Cost: ``(E + 4) / P`` bytes per video-second and modality, against ``2 E``
(float16) or ``4 E`` (float32) per second of ``max_frames``.

:class:`CompactTimelines` reads the files memory-mapped and looks like the
dense ``[N, max_frames, E]`` float32 array to the code that gathers rows
(:func:`~yt8m_crossmodal.retrieval.catalogue.gather_rows`): indexing it
dequantizes only the videos asked for, each pooled row repeated ``P`` times
(so localization has a resolution of ``P`` seconds), zeros past
``num_frames``.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from yt8m_crossmodal.retrieval.folder import (timeline_rows_file as rows_file,
                                              timeline_scales_file as scales_file)

__all__ = ["COMPACT_DTYPE", "rows_file", "scales_file", "stored_rows",
           "bytes_per_second", "encode", "Encoded", "CompactTimelines"]

COMPACT_DTYPE = "int8"
_QMAX = 127.0


def stored_rows(num_frames: np.ndarray, pool: int) -> np.ndarray:
  """Rows stored per video: ``ceil(num_frames / pool)``, int64 ``[N]``."""
  num_frames = np.maximum(np.asarray(num_frames, np.int64), 0)
  return -(-num_frames // int(pool))


def bytes_per_second(embedding_size: int, pool: int = 1) -> float:
  """Stored bytes per video-second and modality: ``(E + 4) / pool``."""
  return (int(embedding_size) + 4) / int(pool)


def _flat_seconds(num_frames: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """``(item, second)`` of every valid second, in item then second order."""
  num_frames = np.maximum(np.asarray(num_frames, np.int64), 0)
  item = np.repeat(np.arange(num_frames.size), num_frames)
  first = np.cumsum(num_frames) - num_frames
  second = np.arange(item.size) - first[item]
  return item, second


class Encoded(NamedTuple):
  """Compact rows of a batch of videos, video after video.

  Attributes:
    rows: int8 [S, E].
    scales: float32 [S].
  """

  rows: np.ndarray
  scales: np.ndarray


def encode(timelines: np.ndarray, num_frames: np.ndarray, pool: int = 1
           ) -> Encoded:
  """Quantizes a batch of timelines to the compact rows.

  Args:
    timelines: [B, T, E] float timelines (unit rows, zeros past num_frames).
    num_frames: [B] valid seconds (<= T).
    pool: seconds averaged into one row (>= 1).

  Returns:
    ``(rows int8 [S, E], scales float32 [S])`` with ``S = sum ceil(
    num_frames / pool)``, video after video.
  """
  pool = int(pool)
  if pool < 1:
    raise ValueError(f"timeline pool must be >= 1, got {pool}")
  timelines = np.asarray(timelines)
  num_frames = np.minimum(np.asarray(num_frames, np.int64).reshape(-1),
                          timelines.shape[1])
  item, second = _flat_seconds(num_frames)
  x = np.asarray(timelines[item, second], np.float32)  # [sum num_frames, E]
  if pool > 1 and x.shape[0]:
    counts = stored_rows(num_frames, pool)
    group = (np.cumsum(counts) - counts)[item] + second // pool
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    x = np.add.reduceat(x, starts, axis=0)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
  scales = (np.abs(x).max(axis=1) if x.size else np.zeros([x.shape[0]])) / _QMAX
  scales = scales.astype(np.float32)
  safe = np.where(scales > 0, scales, 1.0)[:, None]
  rows = np.clip(np.rint(x / safe), -_QMAX, _QMAX).astype(np.int8)
  return Encoded(rows, scales)


class CompactTimelines:
  """The compact rows of one modality, seen as a ``[N, T, E]`` float32 array.

  Supports ``len``, ``shape``, ``ndim``, ``dtype`` and indexing by an int,
  a slice or an int array of videos (optionally followed by more indices,
  applied to the dequantized ``[k, T, E]`` result); ``np.asarray`` gives the
  whole dense array (small catalogues only).

  Attributes:
    rows: int8 [S, E] (a memory map when loaded from a folder).
    scales: float32 [S].
    num_frames: [N] valid seconds.
    pool: seconds per stored row.
    max_frames: T of the dense view.
  """

  def __init__(self, rows: np.ndarray, scales: np.ndarray,
               num_frames: np.ndarray, pool: int, max_frames: int):
    self.rows, self.scales = rows, scales
    self.num_frames = np.asarray(num_frames, np.int64).reshape(-1)
    self.pool, self.max_frames = int(pool), int(max_frames)
    counts = stored_rows(self.num_frames, self.pool)
    self.offsets = np.concatenate([[0], np.cumsum(counts)])
    if rows.ndim != 2 or scales.shape != (rows.shape[0],):
      raise ValueError(f"compact timeline rows {rows.shape} and scales "
                       f"{scales.shape} do not match")
    if self.offsets[-1] != rows.shape[0]:
      raise ValueError(f"compact timelines hold {rows.shape[0]} rows, but "
                       f"num_frames and pool {self.pool} need {self.offsets[-1]}")

  @property
  def shape(self) -> Tuple[int, int, int]:
    return (self.num_frames.size, self.max_frames, int(self.rows.shape[1]))

  @property
  def ndim(self) -> int:
    return 3

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.float32)

  @property
  def nbytes(self) -> int:
    """Bytes stored (rows and scales)."""
    return int(self.rows.nbytes + self.scales.nbytes)

  def __len__(self) -> int:
    return self.num_frames.size

  def __getitem__(self, key):
    rest = ()
    if isinstance(key, tuple):
      key, rest = key[0], key[1:]
    if isinstance(key, (int, np.integer)):
      out = self._dense(np.array([int(key)]))[0]
      return out[rest] if rest else out
    out = self._dense(np.arange(len(self))[key])
    return out[(slice(None),) + rest] if rest else out

  def __array__(self, dtype=None, copy=None):
    out = self._dense(np.arange(len(self)))
    return out if dtype is None else out.astype(dtype)

  def encoded(self, items: np.ndarray) -> Encoded:
    """The stored rows of ``items`` as they are, video after video."""
    items = np.asarray(items, np.int64).reshape(-1)
    counts = self.offsets[items + 1] - self.offsets[items]
    which = np.repeat(np.arange(items.size), counts)
    src = self.offsets[items][which] + (np.arange(which.size) - (np.cumsum(counts) - counts)[which])
    return Encoded(np.asarray(self.rows[src]), np.asarray(self.scales[src]))

  def _dense(self, items: np.ndarray) -> np.ndarray:
    """[k, T, E] float32 timelines of ``items`` (zeros past num_frames)."""
    items = np.asarray(items, np.int64).reshape(-1)
    n = len(self)
    if items.size and (items.min() < -n or items.max() >= n):
      raise IndexError(f"video index out of range for {n} timelines")
    items = items % max(n, 1)
    out = np.zeros((items.size, self.max_frames, self.rows.shape[1]), np.float32)
    for j, i in enumerate(items):  # A video's rows are contiguous: slices, no gather.
      n = min(int(self.num_frames[i]), self.max_frames)
      start, stop = self.offsets[i], self.offsets[i + 1]
      values = np.multiply(self.rows[start:stop], self.scales[start:stop, None],
                           dtype=np.float32)
      out[j, :n] = values if self.pool == 1 else np.repeat(values, self.pool, axis=0)[:n]
    return out
