"""The offset of a soundtrack against its pictures, with a calibrated confidence.

What ``yt8m-sync``, ``yt8m-evaluate``, :func:`yt8m_crossmodal.synchronize` and
the ``estimate_offset`` signature (its TensorFlow mirror,
:mod:`yt8m_crossmodal.serving.offset_signature`) compute, on any per-second
embeddings (model timelines or CCA projections). The drift model is
:mod:`.drift`; scorers for comparing estimators, and the figures of merit of
the benchmarks, are :mod:`.statistics`.

:func:`synchronize` reports the offset as **lateness** (+ = audio late): the
one that maximizes the ``weighted`` score (each side minus its mean over the
window, the pictures' rows unit length, each audio second's cosine weighted
by the length of its centered row: ``sum_t <a_t, v_t / |v_t|> / sum_t
|a_t|``, so the seconds where the sound changes count more than quiet ones),
and a confidence that means the same on any data and model: the probability,
under a null distribution that each video supplies itself, that no offset
would score as well by chance (1 - a p-value):

1. both timelines lose their slow content: each row minus the nearer of the
   medians of the seconds before and after it (:data:`RESIDUAL_SIDE` for the
   audio, :data:`PICTURE_RESIDUAL_SIDE` for the pictures)
   (:func:`nearer_side_residual`): scene changes, which a foreign soundtrack
   edited to the same cuts shares, drop out with the scenes; what is left is
   what happens within a second or two;
2. each residual picture second is scaled to unit length, so a picture
   second with a loud event of its own (one the soundtrack does not have)
   weighs no more in the null than any other (its dot products would make the
   null heavy-tailed, and a short excerpt's p-value too small); each residual
   audio second is weighted by its own length, so the seconds where something
   happens in the sound carry the statistic; the weighted audio is scored
   against these pictures at every circular lag (FFT: ``O(T log T)`` per
   dimension), the picked offset's lag included (:func:`null_scores`). The
   pictures' residual is :data:`PICTURE_RESIDUAL_SIDE` seconds a side (the
   audio's :data:`RESIDUAL_SIDE`): a picture event of 3-4 s (a door seen for
   seconds, heard once), which the 3 s residual takes for a step, stays in
   it, while the audio's residual alone keeps the scenes out (a product
   needs both sides);
3. the lags farther than :data:`NULL_GUARD` seconds from the picked one are
   the null: ``z = (score - mean) / spread``, where the spread is the null's
   standard deviation or, when larger, what its :data:`NULL_TAIL` highest
   scores imply for a normal null (:func:`null_spread`): when the same kinds
   of events recur in sound and pictures, chance coincidences make the null's
   upper tail heavier than a normal one, and the spread follows that tail;
4. ``confidence = Phi(z) ** K`` (K feasible offsets searched: the chance
   that the best of K null offsets stays below the score), ``p_value = 1 -
   confidence``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Optional, Tuple

import numpy as np

# What picks the offset (the best exact rate on 20 s excerpts of the event
# families, docs/results.md; the other scorers are in .statistics).
OFFSET_SCORER = "weighted"
# synchronize(): answer when the confidence is at least this (p <= 0.01).
MIN_CONFIDENCE = 0.99
RESIDUAL_SIDE = 3
PICTURE_RESIDUAL_SIDE = 5
NULL_GUARD = 2
NULL_TAIL = 5
MIN_NULL_LAGS = 8


def unit_rows(x: np.ndarray) -> np.ndarray:
  """[T, E] rows scaled to unit length (zero rows stay near zero)."""
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def center(x: np.ndarray) -> np.ndarray:
  """[T, E] rows minus their mean over time."""
  x = np.asarray(x, np.float64)
  return x - x.mean(0, keepdims=True)


def weighted_rows(x: np.ndarray) -> np.ndarray:
  """[L, E] rows over their mean length: the mean of ``<row, unit>`` over
  rows is then the mean cosine weighted by row length (``weighted`` score)."""
  return x / max(float(np.linalg.norm(x, axis=-1).mean()), 1e-12)


@dataclasses.dataclass
class SyncEstimate:
  """What :func:`synchronize` found.

  Attributes:
    late: the best offset in seconds, + = audio late (what is seen at second
      t is heard at t + late).
    scores: [2S + 1] offset scores, index ``late + S``; -inf where the offset
      leaves the pictures.
    confidence: 1 - p_value, in [0, 1].
    p_value: the chance of a score as good from a null offset.
    null_lags: how many lags the null had (0: too short to tell).
  """

  late: int
  scores: np.ndarray
  confidence: float
  p_value: float
  null_lags: int


def nearer_side_residual(x: np.ndarray, side: int = RESIDUAL_SIDE) -> np.ndarray:
  """[T, E] rows minus the nearer of two medians: of the ``side`` rows before
  and of the ``side`` rows after (edges repeated).

  Within a stretch of slow content both medians are that content; at a step
  (a scene change) the row's own side is the nearer one, so the step leaves
  no trace (a centered running median leaves a bias at noisy edges); an event
  of up to ``side - 1`` seconds differs from both sides and stays.
  """
  x = np.asarray(x, np.float64)
  if len(x) == 0:
    return x
  k = side
  padded = np.concatenate([np.repeat(x[:1], k, 0), x, np.repeat(x[-1:], k, 0)])
  windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1, axis=0)
  before, after = np.median(windows[..., :k], -1), np.median(windows[..., k + 1:], -1)
  nearer = (np.linalg.norm(x - before, axis=-1, keepdims=True)
            <= np.linalg.norm(x - after, axis=-1, keepdims=True))
  return x - np.where(nearer, before, after)


def circular_scores(audio: np.ndarray, visual: np.ndarray) -> np.ndarray:
  """[T]: ``c[k] = mean_t <audio[t], visual[(t + k) mod T]>`` (FFT).

  Args:
    audio: [L, E] with L <= T.
    visual: [T, E].
  """
  n, length = len(visual), len(audio)
  fa = np.fft.rfft(audio, n=n, axis=0)
  fv = np.fft.rfft(visual, n=n, axis=0)
  return np.fft.irfft((np.conj(fa) * fv).sum(1), n=n) / length


def linear_scores(audio: np.ndarray, window: np.ndarray) -> np.ndarray:
  """[W - L + 1]: ``mean_t <audio[t], window[t + k]>`` (FFT, not quadratic in W)."""
  length, width = len(audio), len(window)
  n = 1 << int(math.ceil(math.log2(length + width)))
  fa = np.fft.rfft(audio, n=n, axis=0)
  fw = np.fft.rfft(window, n=n, axis=0)
  return np.fft.irfft((np.conj(fa) * fw).sum(1), n=n)[:width - length + 1] / length


def max_of_null_probability(z: float, count: int) -> Tuple[float, float]:
  """``(Phi(z) ** count, 1 - Phi(z) ** count)``: the chance that ``count``
  standard normals all stay below z, and its complement (exact when small)."""
  tail = 0.5 * math.erfc(z / math.sqrt(2.0))  # 1 - Phi(z), exact in the tail
  if tail >= 1.0:
    return 0.0, 1.0
  log_all_below = count * math.log1p(-tail)
  return math.exp(log_all_below), -math.expm1(log_all_below)


def null_spread(null: np.ndarray) -> float:
  """The null's spread: its std, or what its top scores imply if larger.

  The i-th highest of m null scores (i <= :data:`NULL_TAIL` and <= m / 4)
  sits near the normal quantile ``q_i = Phi^-1(1 - (i - 1/2) / m)``; the
  spread is the largest of ``std`` and ``(score_i - mean) / q_i``, so a null
  with a heavy upper tail (chance coincidences of recurring events) is not
  read as a narrow normal one.

  Args:
    null: [m] null scores, m >= 4.
  """
  null = np.asarray(null, np.float64)
  m = len(null)
  top = np.sort(null)[::-1][:max(1, min(NULL_TAIL, m // 4))]
  normal = statistics.NormalDist()
  q = np.array([normal.inv_cdf(1.0 - (i + 0.5) / m) for i in range(len(top))])
  return float(max(null.std(), np.max((top - null.mean()) / q), 1e-12))


def null_scores(audio: np.ndarray, visual: np.ndarray) -> np.ndarray:
  """[T]: the null statistic of ``audio`` at every circular lag of ``visual``.

  The audio's :data:`RESIDUAL_SIDE` residual (:func:`nearer_side_residual`)
  weighted by its own length, against the pictures'
  :data:`PICTURE_RESIDUAL_SIDE` residual scaled to unit length:
  ``c[k] = mean_t <a_t |a_t|, v_(t+k) / |v_(t+k)|>``.

  Args:
    audio: [L, E] timeline (L <= T).
    visual: [T, E] the valid visual timeline.
  """
  residual = nearer_side_residual(audio)
  weighted = residual * np.linalg.norm(residual, axis=-1, keepdims=True)
  return circular_scores(weighted, unit_rows(nearer_side_residual(visual,
                                                                  PICTURE_RESIDUAL_SIDE)))


def null_confidence(audio: np.ndarray, visual: np.ndarray, lag: int,
                    count: int) -> Tuple[float, float, int]:
  """(confidence, p-value, null lags) of placing ``audio`` at circular ``lag`` of ``visual``.

  :func:`null_scores` at every circular lag; the lags farther than
  :data:`NULL_GUARD` from ``lag`` are the null, its spread :func:`null_spread`
  (module docstring).

  Args:
    audio: [L, E] timeline (L <= T).
    visual: [T, E] the valid visual timeline.
    lag: the picked offset as a circular lag (visual row of audio row 0).
    count: K, the feasible offsets the pick was made among.
  """
  scores = null_scores(audio, visual)
  n = len(scores)
  dist = np.abs((np.arange(n) - lag + n // 2) % n - n // 2)
  null = scores[dist > NULL_GUARD]
  if len(null) < MIN_NULL_LAGS:
    return 0.0, 1.0, 0
  z = (scores[lag % n] - null.mean()) / null_spread(null)
  return (*max_of_null_probability(float(z), max(int(count), 1)), int(len(null)))


def _pick(scores: np.ndarray, s: int) -> int:
  """The best lateness of [2S + 1] scores (ties: smallest |late|, then audio late)."""
  lates = np.arange(-s, s + 1)
  tied = lates[scores >= np.max(scores) - 1e-9]
  return int(tied[np.lexsort((-tied, np.abs(tied)))[0]])


def overlap_scores(audio: np.ndarray, visual: np.ndarray, t0: int, max_offset: int,
                   min_overlap: int) -> Tuple[np.ndarray, np.ndarray]:
  """Weighted scores of every lateness whose overlap is at least ``min_overlap`` s.

  Audio row u (second t0 + u) late by ``late`` shows picture ``t0 + u - late``;
  the score is the ``weighted`` scorer's over the seconds both tracks have.

  Returns:
    ``(scores [2S + 1] (-inf where the overlap is too short), overlap [2S + 1])``.
  """
  s, length, total = int(max_offset), len(audio), len(visual)
  a, v = center(audio), unit_rows(center(visual))
  weight = np.concatenate([[0.0], np.cumsum(np.linalg.norm(a, axis=-1))])
  n = 1 << int(math.ceil(math.log2(length + total)))
  corr = np.fft.irfft((np.conj(np.fft.rfft(a, n=n, axis=0))
                       * np.fft.rfft(v, n=n, axis=0)).sum(1), n=n)
  lates = np.arange(-s, s + 1)
  place = t0 - lates  # picture of audio row 0
  first, last = np.maximum(0, -place), np.minimum(length, total - place)
  overlap = last - first
  ok = overlap >= max(int(min_overlap), 1)
  scores = np.full([2 * s + 1], -np.inf)
  shared = weight[np.clip(last[ok], 0, length)] - weight[np.clip(first[ok], 0, length)]
  scores[ok] = corr[place[ok] % n] / np.maximum(shared, 1e-12)
  return scores, np.maximum(overlap, 0)


def synchronize(audio: np.ndarray, visual: np.ndarray, t0: int, max_offset: int,
                visual_len: Optional[int] = None, min_overlap: int = 0) -> SyncEstimate:
  """The audio's lateness against the pictures, with a calibrated confidence.

  Args:
    audio: [L, E] audio timeline of seconds ``[t0, t0 + L)`` of the track
      as it is (an excerpt, the whole track less S seconds at each end, or
      with ``min_overlap`` the whole track).
    visual: [T, E] visual timeline.
    t0: where the audio seconds start.
    max_offset: S; lateness -S .. S is tried (any S: the search is FFT).
    visual_len: valid seconds of ``visual`` (default T).
    min_overlap: 0: only offsets that keep every audio second on the
      pictures; > 0: any offset where audio and pictures share at least this
      many seconds (partial overlap; scores are over the shared seconds).

  Returns:
    :class:`SyncEstimate` (module docstring). The offset maximizes the
    ``weighted`` score (ties: the smallest |offset|, then audio late).
  """
  s, t0 = int(max_offset), int(t0)
  audio = np.asarray(audio, np.float64)
  visual = np.asarray(visual, np.float64)
  total = len(visual) if visual_len is None else min(int(visual_len), len(visual))
  visual = visual[:total]
  length = len(audio)
  scores = np.full([2 * s + 1], -np.inf)
  if min_overlap > 0:
    if length and total:
      scores, overlap = overlap_scores(audio, visual, t0, s, min_overlap)
    if not np.isfinite(scores).any():
      return SyncEstimate(0, scores.astype(np.float32), 0.0, 1.0, 0)
    late = _pick(scores, s)
    first = max(0, late - t0)  # the audio rows on the pictures
    shared = audio[first:first + overlap[late + s]]
    confidence, p_value, null_lags = null_confidence(shared, visual, t0 + first - late,
                                                     int(np.isfinite(scores).sum()))
    return SyncEstimate(late, scores.astype(np.float32), confidence, p_value, null_lags)
  lo, hi = max(-s, -t0), min(s, total - length - t0)  # placements: visual t0 + o
  if length == 0 or hi < lo:
    return SyncEstimate(0, scores.astype(np.float32), 0.0, 1.0, 0)
  a = weighted_rows(center(audio))
  w = unit_rows(center(visual[t0 + lo:t0 + hi + length]))
  placed = linear_scores(a, w)
  scores[s - hi:s - lo + 1] = placed[::-1]  # index late + S, late = -o
  late = _pick(scores, s)
  confidence, p_value, null_lags = null_confidence(audio, visual, t0 - late, hi - lo + 1)
  return SyncEstimate(late, scores.astype(np.float32), confidence, p_value, null_lags)
