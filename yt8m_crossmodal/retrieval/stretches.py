"""Catalogue-wide search of the stretches of video that fit segments of a long track.

A long soundtrack (hours) is cut into segments of ``L`` seconds every ``H``
seconds. For each segment, the stretches ``[s, s + L)`` of every catalogue
video are candidates; a stretch's fit is the mean cosine of the segment's
audio seconds with the stretch's picture seconds along the diagonal (the
alignment score of :mod:`.alignment`). Scoring every start of every video
exactly is out of reach for a real catalogue (100,000 videos are 23 M
seconds), so the search runs in two steps, both over the whole catalogue:

1. **Windows.** Each video's timeline is cut into windows of ``W`` seconds
   (the mean of their seconds, re-normalized); each segment's query is the
   mean of its own seconds. One pass over the catalogue's timelines (read
   in chunks, so memory stays bounded whatever its size) scores every
   window against every segment and keeps each segment's ``C`` best windows,
   less ``hub_weight`` x the video's hubness (items close to every query,
   :mod:`.hubness`).
2. **Stretches.** For each kept window, every start ``s`` whose stretch
   overlaps it is scored exactly (the diagonal mean over the video's stored
   seconds), and the best start is kept; each video keeps its best stretch.

Videos shorter than a segment are not candidates. The cost is one pass over
the catalogue's timelines per run (``O(windows x segments x E)``) plus
``segments x C`` short alignments; ``benchmarks/pictures.py`` measures it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from yt8m_crossmodal.retrieval import alignment
from yt8m_crossmodal.retrieval import compact_timelines as compact

# Similarity entries per chunk of the window pass (float32): 2**24 = 64 MiB.
_CHUNK_ENTRIES = 1 << 24
_MAX_ROWS = 1 << 18


@dataclasses.dataclass(frozen=True)
class Stretch:
  """One video stretch for one segment.

  Attributes:
    item: the video's catalogue row.
    start: its first second (>= 0).
    score: mean diagonal cosine of the segment with seconds
      ``[start, start + L)``.
  """

  item: int
  start: int
  score: float


def segments(total: int, length: int, hop: int) -> List[Tuple[int, int]]:
  """``[(start, end)]`` of the segments of a ``total``-second track.

  Segments of ``length`` seconds start every ``hop`` seconds; the last one
  ends at ``total`` (a track shorter than ``length`` is one segment).
  """
  total, length, hop = int(total), int(length), int(hop)
  if total <= 0:
    return []
  if total <= length:
    return [(0, total)]
  starts = list(range(0, total - length + 1, hop))
  if starts[-1] + length < total:
    starts.append(total - length)
  return [(s, s + length) for s in starts]


def _normalize(x: np.ndarray) -> np.ndarray:
  norm = np.sqrt(np.einsum("...e,...e->...", x, x))[..., None]
  return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def segment_queries(timeline: np.ndarray, spans: List[Tuple[int, int]]) -> np.ndarray:
  """[S, E] the normalized mean of each segment's seconds of ``timeline`` [T, E]."""
  timeline = np.asarray(timeline, np.float32)
  sums = np.concatenate([np.zeros((1, timeline.shape[1]), np.float64),
                         np.cumsum(timeline, axis=0, dtype=np.float64)])
  means = np.stack([sums[b] - sums[a] for a, b in spans]) if spans else np.zeros(
      (0, timeline.shape[1]))
  return _normalize(means.astype(np.float32))


def _compact_chunks(timelines: compact.CompactTimelines, max_rows: int
                    ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """(rows float32 [R, E], item [R], second [R]) of consecutive videos."""
  offsets, pool, n = timelines.offsets, timelines.pool, len(timelines)
  item = 0
  while item < n:
    stop = int(np.searchsorted(offsets, offsets[item] + max_rows, side="right")) - 1
    stop = min(n, max(stop, item + 1))
    a, b = int(offsets[item]), int(offsets[stop])
    rows = np.multiply(np.asarray(timelines.rows[a:b]), np.asarray(timelines.scales[a:b])[:, None],
                       dtype=np.float32)
    counts = offsets[item + 1:stop + 1] - offsets[item:stop]
    items = np.repeat(np.arange(item, stop), counts)
    first = np.repeat(offsets[item:stop] - a, counts)
    yield rows, items, (np.arange(b - a) - first) * pool
    item = stop


def _dense_chunks(timelines: np.ndarray, num_frames: np.ndarray, max_rows: int
                  ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """As :func:`_compact_chunks` for a dense [N, T, E] (memory-mapped) array."""
  n, t = timelines.shape[:2]
  step = max(1, max_rows // max(1, t))
  for s in range(0, n, step):
    block = np.asarray(timelines[s:s + step], np.float32)
    lens = np.minimum(np.asarray(num_frames[s:s + step], np.int64), t)
    valid = np.arange(t)[None, :] < lens[:, None]
    items, seconds = np.nonzero(valid)
    yield block[items, seconds], items + s, seconds


def timeline_chunks(timelines, num_frames: np.ndarray, max_rows: int = 1 << 16
                    ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """The valid seconds of every video, chunk by chunk, in catalogue order.

  Yields:
    ``(rows float32 [R, E], item [R], second [R])`` (for pooled compact
    timelines a row stands for ``pool`` seconds from ``second``).
  """
  if isinstance(timelines, compact.CompactTimelines):
    yield from _compact_chunks(timelines, max_rows)
  else:
    yield from _dense_chunks(timelines, num_frames, max_rows)


def windows_of(rows: np.ndarray, items: np.ndarray, seconds: np.ndarray, width: int
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Windows of ``width`` seconds of consecutive rows (one video's seconds in order).

  Returns:
    ``(vectors [M, E] unit, item [M], first second [M])``.
  """
  if rows.shape[0] == 0:
    return rows, items, seconds
  key = items * (1 << 32) + seconds // int(width)
  starts = np.flatnonzero(np.diff(key, prepend=key[0] - 1))
  ends = np.append(starts[1:], key.size)
  sums = rows[starts].copy()  # A window holds at most ``width`` rows: add them row by row
  for j in range(1, int(width)):  # (np.add.reduceat is slow along axis 0).
    more = np.flatnonzero(starts + j < ends)
    if more.size == 0:
      break
    sums[more] += rows[starts[more] + j]
  return _normalize(sums), items[starts], (seconds[starts] // int(width)) * int(width)


def _merge_top(best: Tuple[np.ndarray, ...], scores: np.ndarray, items: np.ndarray,
               firsts: np.ndarray, count: int) -> Tuple[np.ndarray, ...]:
  """Running top ``count`` per query row of (score, item, first second)."""
  b_scores, b_items, b_firsts = best
  take = min(count, scores.shape[1])
  if take < scores.shape[1]:
    top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
  else:
    top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
  c_scores = np.concatenate([b_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
  c_items = np.concatenate([b_items, items[top]], axis=1)
  c_firsts = np.concatenate([b_firsts, firsts[top]], axis=1)
  keep = min(count, c_scores.shape[1])
  order = np.argsort(-c_scores, axis=1, kind="stable")[:, :keep]
  return (np.take_along_axis(c_scores, order, axis=1),
          np.take_along_axis(c_items, order, axis=1),
          np.take_along_axis(c_firsts, order, axis=1))


def candidate_windows(queries: np.ndarray, timelines, num_frames: np.ndarray, width: int,
                      count: int, min_seconds: int = 1,
                      item_bias: Optional[np.ndarray] = None
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Each query's ``count`` best windows over the whole catalogue (step 1).

  Args:
    queries: [S, E] unit segment queries.
    timelines: [N, T, E] dense or compact timelines of the target modality.
    num_frames: [N] valid seconds per video.
    width: W, seconds per window.
    count: C, windows kept per query.
    min_seconds: videos shorter than this are skipped (the segment length).
    item_bias: optional [N] added to every window score of a video.

  Returns:
    ``(scores [S, C'], items [S, C'], first seconds [S, C'])``, best first
    (C' = min(C, windows); ``item`` -1 where there are fewer).
  """
  queries = np.asarray(queries, np.float32)
  num = queries.shape[0]
  best = (np.full((num, 0), -np.inf, np.float32), np.zeros((num, 0), np.int64),
          np.zeros((num, 0), np.int64))
  long_enough = np.asarray(num_frames) >= int(min_seconds)
  # About 2**24 scores and at most 2**18 rows (256 MiB at E = 256) a chunk.
  max_rows = min(_MAX_ROWS, int(width) * max(64, _CHUNK_ENTRIES // max(1, num)))
  for rows, items, seconds in timeline_chunks(timelines, num_frames, max_rows):
    keep = long_enough[items]
    if not keep.all():
      rows, items, seconds = rows[keep], items[keep], seconds[keep]
    vectors, w_items, w_firsts = windows_of(rows, items, seconds, width)
    if vectors.shape[0] == 0:
      continue
    scores = queries @ vectors.T
    if item_bias is not None:
      scores += item_bias[w_items][None, :]
    best = _merge_top(best, scores, w_items, w_firsts, count)
  return best


def item_seconds(timelines, item: int, first: int, stop: int) -> np.ndarray:
  """Seconds ``[first, stop)`` of video ``item``'s timeline as float32 [stop - first, E]."""
  if isinstance(timelines, compact.CompactTimelines):
    pool = timelines.pool
    a = int(timelines.offsets[item]) + first // pool
    b = int(timelines.offsets[item]) + -(-stop // pool)
    rows = np.multiply(np.asarray(timelines.rows[a:b]), np.asarray(timelines.scales[a:b])[:, None],
                       dtype=np.float32)
    if pool > 1:
      rows = np.repeat(rows, pool, axis=0)[first % pool:first % pool + stop - first]
    return rows
  return np.asarray(timelines[item, first:stop], np.float32)


def best_stretch(segment: np.ndarray, timelines, length_of_item: int, item: int,
                 window_first: int, width: int) -> Stretch:
  """The best start of ``segment`` [L, E] in video ``item`` among the stretches that
  overlap its window ``[window_first, window_first + width)`` (step 2)."""
  length = segment.shape[0]
  lo = max(0, window_first - length + 1)
  hi = min(int(length_of_item) - length, window_first + width - 1)
  if hi < lo:
    lo = hi = max(0, min(lo, int(length_of_item) - length))
  rows = item_seconds(timelines, item, lo, hi + length)
  scores = alignment.diagonal_scores(segment, rows)
  best = int(np.argmax(scores))
  return Stretch(item, lo + best, float(scores[best]))


def stretches(timeline: np.ndarray, spans: List[Tuple[int, int]], timelines,
              num_frames: np.ndarray, width: int = 5, count: int = 200,
              item_bias: Optional[np.ndarray] = None,
              window_search: Optional[Callable] = None) -> List[List[Stretch]]:
  """For each segment, the best stretch of each candidate video, best first.

  Args:
    timeline: [T, E] the long track's timeline (query modality).
    spans: its segments (:func:`segments`).
    timelines: the catalogue's timelines of the target modality (dense or
      compact), ``num_frames`` [N] their valid seconds.
    width: W, window seconds of step 1.
    count: C, windows kept per segment in step 1.
    item_bias: optional [N] added to every window score of a video in step 1
      (``-w * hubness``).
    window_search: step 1 from a faiss index of the windows instead of a
      pass over the timelines: ``fn(queries, count, long_enough, item_bias)
      -> (scores, items, firsts)`` (:meth:`.window_index.WindowIndex.search`).

  Returns:
    One list per segment of :class:`Stretch` (one per video, by score).
  """
  if not spans:
    return []
  length = max(b - a for a, b in spans)
  queries = segment_queries(timeline, spans)
  if window_search is None:
    _, items, firsts = candidate_windows(queries, timelines, num_frames, width, count,
                                         min_seconds=length, item_bias=item_bias)
  else:
    _, items, firsts = window_search(queries, count, np.asarray(num_frames) >= length,
                                     item_bias)
  out = []
  for j, (a, b) in enumerate(spans):
    segment = np.asarray(timeline[a:b], np.float32)
    best = {}
    for item, first in zip(items[j], firsts[j]):
      if item < 0:
        continue
      found = best_stretch(segment, timelines, num_frames[item], int(item), int(first),
                           width)
      if item not in best or found.score > best[item].score:
        best[int(item)] = found
    out.append(sorted(best.values(), key=lambda s: -s.score))
  return out
