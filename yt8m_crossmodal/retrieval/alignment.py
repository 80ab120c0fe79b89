"""Temporal alignment of per-second embedding timelines (pure numpy).

A timeline is an array ``[T, E]`` of per-second unit vectors, zero past the
video's ``num_frames``. Aligning a query timeline ``q`` (``L`` seconds) against
a reference timeline ``r`` (``T_r`` seconds) scores every relative start ``s``
(the query's first second sits at reference second ``s``) by the mean cosine
similarity along the diagonal::

    score(s) = mean_t <q[t], r[s + t]>      over the overlapping seconds t

Shared by synchronization (:func:`yt8m_crossmodal.evaluation.metrics.
estimate_offset`), timeline re-ranking and segment localization
(:mod:`yt8m_crossmodal.retrieval`).

Conventions:

* ``L <= T_r`` (the usual case): starts ``s = 0 .. T_r - L``; every start
  overlaps all ``L`` query seconds, so ``T_r - L + 1`` scores.
* ``L > T_r`` (query longer than the reference): the reference slides inside
  the query instead. Starts are ``s = T_r - L .. 0`` (negative: the reference's
  first second sits at query second ``-s``); every start overlaps all ``T_r``
  reference seconds and the mean is over those ``T_r`` seconds. This gives
  ``L - T_r + 1`` scores.
* ``L == 0`` or ``T_r == 0``: no scores (empty array);
  :func:`best_alignment` returns ``(0, -inf)``.

In both non-empty cases the scores are ordered by ascending start; the start of
``scores[i]`` is ``alignment_starts(L, T_r)[i] = min(0, T_r - L) + i``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "alignment_starts",
    "diagonal_scores",
    "best_alignment",
    "diagonal_means",
    "best_alignments",
]


def _trim(x: np.ndarray, length: Optional[int], name: str) -> np.ndarray:
  """Returns ``x[:length]`` as float32 (2-D check)."""
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be a [time, embedding] array, got shape "
                     f"{x.shape}")
  if length is not None:
    length = int(length)
    if length < 0:
      raise ValueError(f"{name} length must be >= 0, got {length}")
    x = x[:length]
  return np.asarray(x, dtype=np.float32)


def alignment_starts(query_len: int, reference_len: int) -> np.ndarray:
  """Start seconds matching the entries of :func:`diagonal_scores`.

  Args:
    query_len: L, seconds in the query.
    reference_len: T_r, seconds in the reference.

  Returns:
    int64 array ``[|T_r - L| + 1]``: ``0 .. T_r - L`` when ``L <= T_r``,
    ``T_r - L .. 0`` otherwise; empty when either length is 0.
  """
  query_len, reference_len = int(query_len), int(reference_len)
  if query_len <= 0 or reference_len <= 0:
    return np.zeros([0], np.int64)
  diff = reference_len - query_len
  return np.arange(min(0, diff), max(0, diff) + 1, dtype=np.int64)


def diagonal_scores(query: np.ndarray,
                    reference: np.ndarray,
                    reference_len: Optional[int] = None,
                    query_len: Optional[int] = None) -> np.ndarray:
  """Mean diagonal similarity of ``query`` at every start in ``reference``.

  Computes the ``[L, T_r]`` similarity matrix once and sums its diagonals
  through a strided view (no Python loop over starts).

  Args:
    query: [L, E] query timeline (rows past ``query_len`` are ignored).
    reference: [T, E] reference timeline (rows past ``reference_len`` are
      ignored).
    reference_len: valid seconds of ``reference`` (default: ``T``).
    query_len: valid seconds of ``query`` (default: ``L``).

  Returns:
    float32 array ``[T_r - L + 1]`` when ``L <= T_r`` where entry ``s`` is
    ``mean_{t < L} <query[t], reference[s + t]>``; ``[L - T_r + 1]`` when
    ``L > T_r`` (the reference slides inside the query, see the module
    docstring; entry ``i`` is start ``T_r - L + i``); ``[0]`` when either
    length is 0. Use :func:`alignment_starts` for the start of each entry.

  Raises:
    ValueError: if the inputs are not 2-D or their widths differ.
  """
  q = _trim(query, query_len, "query")
  r = _trim(reference, reference_len, "reference")
  if q.shape[1] != r.shape[1]:
    raise ValueError(f"query width {q.shape[1]} != reference width "
                     f"{r.shape[1]}")
  if q.shape[0] == 0 or r.shape[0] == 0:
    return np.zeros([0], np.float32)
  return diagonal_means(q @ r.T)


def diagonal_means(sim: np.ndarray) -> np.ndarray:
  """Mean of each diagonal of an ``[L, T_r]`` similarity matrix.

  The diagonals of :func:`diagonal_scores` (same entries and order), for a
  similarity computed or transformed by the caller (e.g. centered).
  """
  sim = np.ascontiguousarray(sim)
  length, ref_len = sim.shape
  s0, s1 = sim.strides
  if length <= ref_len:
    num = ref_len - length + 1
    # view[t, s] = sim[t, s + t]
    view = np.lib.stride_tricks.as_strided(
        sim, shape=(length, num), strides=(s0 + s1, s1), writeable=False)
    return (view.sum(axis=0, dtype=np.float64) / length).astype(np.float32)
  num = length - ref_len + 1
  # view[u, j] = sim[j + u, u]: the reference starts at query second j,
  # i.e. at start s = -j.
  view = np.lib.stride_tricks.as_strided(
      sim, shape=(ref_len, num), strides=(s0 + s1, s0), writeable=False)
  scores = view.sum(axis=0, dtype=np.float64) / ref_len
  return scores[::-1].astype(np.float32)  # Ascending start: -(L-T_r) .. 0.


def best_alignment(query: np.ndarray,
                   reference: np.ndarray,
                   reference_len: Optional[int] = None,
                   query_len: Optional[int] = None) -> Tuple[int, float]:
  """Best start of ``query`` inside ``reference``.

  Args:
    query: [L, E] query timeline.
    reference: [T, E] reference timeline.
    reference_len: valid seconds of ``reference`` (default: ``T``).
    query_len: valid seconds of ``query`` (default: ``L``).

  Returns:
    ``(start, score)``: the start second with the highest
    :func:`diagonal_scores` entry (ties: the earliest start) and that mean
    cosine score. Negative starts happen only when the query is longer than
    the reference. ``(0, -inf)`` when either timeline is empty.
  """
  q = _trim(query, query_len, "query")
  r = _trim(reference, reference_len, "reference")
  scores = diagonal_scores(q, r)
  if scores.size == 0:
    return 0, float("-inf")
  starts = alignment_starts(q.shape[0], r.shape[0])
  best = int(np.argmax(scores))
  return int(starts[best]), float(scores[best])


def best_alignments(query: np.ndarray,
                    references: np.ndarray,
                    reference_lens: Optional[Sequence[int]] = None,
                    query_len: Optional[int] = None,
                    chunk_size: int = 64) -> Tuple[np.ndarray, np.ndarray]:
  """:func:`best_alignment` of one query against many references.

  References at least as long as the query are aligned in batches (one
  batched matrix product and a strided diagonal sum per chunk); shorter ones
  fall back to :func:`best_alignment` (reference slides inside the query).

  Args:
    query: [L, E] query timeline.
    references: [C, T, E] reference timelines (any float dtype, e.g. a
      float16 memory map; converted to float32 chunk by chunk).
    reference_lens: [C] valid seconds per reference (default: ``T`` each;
      clipped to ``T``).
    query_len: valid seconds of ``query`` (default: ``L``).
    chunk_size: references per batched product (bounds memory to about
      ``chunk_size * T * (E + L)`` floats).

  Returns:
    ``(starts [C] int64, scores [C] float32)``; score ``-inf`` (start 0) for
    an empty reference or query.
  """
  q = _trim(query, query_len, "query")
  references = np.asarray(references) if not isinstance(
      references, np.ndarray) else references
  if references.ndim != 3:
    raise ValueError(f"references must be [C, T, E], got shape "
                     f"{references.shape}")
  num, max_t, width = references.shape
  if width != q.shape[1]:
    raise ValueError(f"query width {q.shape[1]} != reference width {width}")
  if reference_lens is None:
    lens = np.full([num], max_t, np.int64)
  else:
    lens = np.minimum(np.asarray(reference_lens, np.int64).reshape(-1), max_t)
    if lens.shape[0] != num:
      raise ValueError(f"{lens.shape[0]} reference_lens for {num} references")
  starts = np.zeros([num], np.int64)
  scores = np.full([num], -np.inf, np.float32)
  length = q.shape[0]
  if num == 0 or length == 0:
    return starts, scores
  long_enough = np.nonzero(lens >= length)[0]
  for i in np.nonzero((lens < length) & (lens > 0))[0]:
    starts[i], scores[i] = best_alignment(
        q, np.asarray(references[i], np.float32), int(lens[i]))
  if long_enough.size == 0:
    return starts, scores
  # Only the first max(lens) seconds matter for the batched part.
  width_t = int(lens[long_enough].max())
  num_starts = width_t - length + 1
  step = max(1, int(chunk_size))
  for begin in range(0, long_enough.size, step):
    idx = long_enough[begin:begin + step]
    refs = np.asarray(references[idx, :width_t], dtype=np.float32)
    sim = np.ascontiguousarray(np.matmul(q[None], refs.transpose(0, 2, 1)))
    sc, s0, s1 = sim.strides  # sim: [c, L, width_t]
    view = np.lib.stride_tricks.as_strided(
        sim, shape=(idx.size, length, num_starts),
        strides=(sc, s0 + s1, s1), writeable=False)
    diag = view.sum(axis=1, dtype=np.float64) / length  # [c, num_starts]
    invalid = np.arange(num_starts)[None, :] > (lens[idx] - length)[:, None]
    diag[invalid] = -np.inf
    best = np.argmax(diag, axis=1)
    starts[idx] = best
    scores[idx] = diag[np.arange(idx.size), best]
  return starts, scores
