"""Offset estimation between an audio excerpt and a visual timeline.

Works on any per-second embeddings: CCA projections or model timelines.
Scorers over candidate offsets ``o`` in ``[-S, S]``:

* ``mean_cosine``: the mean diagonal cosine of the raw rows;
* ``double_centered``: the cosine matrix of the raw unit rows minus its
  row means and column means (over the reference window), then the mean
  diagonal: a second that is similar to everything (a hub) counts less;
* ``centered``: rows minus a temporal mean (the excerpt's own mean for the
  audio, the whole reference window's mean for the visual; with
  ``detrend > 1`` a moving average of that many seconds instead), then L2
  normalized, then the mean diagonal cosine. Centering removes what every
  offset shares (per-video style, slow scene content), so the score is
  driven by what changes from second to second (events);
* ``weighted`` (what :func:`synchronize` picks by): ``centered``, but each
  audio second's cosine is weighted by the length of its centered row (the
  score is ``sum_t <a_t, v_t / |v_t|> / sum_t |a_t|``): the seconds where
  the sound changes (events) count more than quiet ones.

:func:`estimate_offset`'s confidence is a peak-vs-rest z-score: ``(best -
mean(rest)) / std(rest)`` over the feasible offsets other than the best; it
measures the shape of the score curve and does not carry over between data
sets and models.

:func:`synchronize` (what ``yt8m-sync``, ``yt8m-evaluate`` and the
``estimate_offset`` signature use) reports the offset as **lateness** (+ =
audio late) and a confidence that means the same on any data and model: the
probability, under a null distribution that each video supplies itself,
that no offset would score as well by chance (1 - a p-value):

1. both timelines lose their slow content: each row minus the nearer of the
   medians of the :data:`RESIDUAL_SIDE` seconds before and after it
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
   dimension), the picked offset's lag included;
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

from yt8m_crossmodal.retrieval import alignment

SCORERS = ("mean_cosine", "centered", "double_centered", "weighted")
# What yt8m-sync and yt8m-evaluate use: the offset from weighted (the best
# exact rate on 20 s excerpts of the event families, docs/results.md; of the
# other three, centered: benchmarks/sync_ablation.py), estimate_offset's
# peak z-score from double_centered (best ROC AUC
# of aligned vs unaligned soundtracks), and this threshold on it (the best
# on music_over: 2.46; on texture: 3.09).
OFFSET_SCORER = "weighted"
CONFIDENCE_SCORER = "double_centered"
DEFAULT_MIN_CONFIDENCE = 2.5  # estimate_offset's z-score (benchmarks only)
# synchronize(): answer when the confidence is at least this (p <= 0.01).
MIN_CONFIDENCE = 0.99
RESIDUAL_SIDE = 3
NULL_GUARD = 2
NULL_TAIL = 5
MIN_NULL_LAGS = 8


@dataclasses.dataclass
class OffsetEstimate:
  """A placement of an excerpt in the pictures, by scorer.

  Attributes:
    offset: d, where the excerpt sits: it matches pictures ``[t0 + d,
      t0 + d + L)`` (an excerpt of an aligned track cut at audio second
      t0 + d). Given the same arrays and t0, :func:`synchronize` answers the
      lateness ``-d`` (+ = audio late).
    scores: [2S + 1], d = -S .. S (-inf where infeasible).
    confidence: the peak z-score (for comparing scorers; not a probability).
  """

  offset: int
  scores: np.ndarray
  confidence: float


def _normalize(x: np.ndarray) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
  """Centered moving average of [T, E] rows over ``width`` seconds (edges shrink)."""
  c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0)])
  t = np.arange(len(x))
  lo = np.clip(t - width // 2, 0, len(x))
  hi = np.clip(t + width - width // 2, 0, len(x))
  return (c[hi] - c[lo]) / (hi - lo)[:, None]


def center(x: np.ndarray, detrend: int = 0) -> np.ndarray:
  """[T, E] rows minus their mean over time (``detrend > 1``: a moving one)."""
  x = np.asarray(x, np.float64)
  if detrend > 1:
    return x - _moving_average(x, detrend)
  return x - x.mean(0, keepdims=True)


def peak_zscore(scores: np.ndarray) -> float:
  """(best - mean of the others) / std of the others, over finite scores."""
  s = scores[np.isfinite(scores)]
  if len(s) < 3:
    return 0.0
  best = int(np.argmax(s))
  rest = np.delete(s, best)
  return float((s[best] - rest.mean()) / max(rest.std(), 1e-6))


def _weighted(x: np.ndarray) -> np.ndarray:
  """[L, E] rows over their mean length: the mean of ``<row, unit>`` over
  rows is then the mean cosine weighted by row length (``weighted`` scorer)."""
  return x / max(float(np.linalg.norm(x, axis=-1).mean()), 1e-12)


def _scores(audio: np.ndarray, window: np.ndarray, scorer: str, detrend: int) -> np.ndarray:
  """Mean diagonal score of each start of [L, E] ``audio`` in [T, E] ``window``."""
  if scorer == "weighted":
    audio, window = _weighted(center(audio, detrend)), _normalize(center(window, detrend))
  elif scorer == "centered":
    audio, window = _normalize(center(audio, detrend)), _normalize(center(window, detrend))
  else:
    audio, window = _normalize(audio), _normalize(window)
  if scorer == "double_centered":
    sim = audio @ window.T
    sim = sim - sim.mean(1, keepdims=True) - sim.mean(0, keepdims=True)
    return alignment.diagonal_means(sim)
  return alignment.diagonal_means(audio @ window.T)


def estimate_offset(audio: np.ndarray, visual: np.ndarray, t0: int,
                    max_offset: int, scorer: str = OFFSET_SCORER, detrend: int = 0,
                    visual_len: Optional[int] = None,
                    confidence_scorer: Optional[str] = None) -> OffsetEstimate:
  """Estimates the offset of an audio excerpt against a visual timeline, by scorer.

  With the default scorer it places the excerpt where :func:`synchronize`
  (``yt8m-sync``, :func:`yt8m_crossmodal.synchronize`) does: ``offset`` is
  minus that lateness. Its confidence is the peak z-score, for comparing
  scorers, not a probability.

  Args:
    audio: [L, E] excerpt (audio seconds ``[t0 + d, t0 + d + L)``, d unknown).
    visual: [T, E] visual timeline of the video.
    t0: start of the excerpt at offset 0.
    max_offset: S; offsets ``-S .. S`` are scored.
    scorer: what picks the offset (module docstring).
    detrend: moving-average width for ``centered`` and ``weighted`` (0:
      plain mean).
    visual_len: valid seconds of ``visual`` (default T).
    confidence_scorer: whose scores the confidence (peak z-score) is taken
      from (default: ``scorer``'s).

  Returns:
    :class:`OffsetEstimate`; ``scores`` are ``scorer``'s (-inf where the
    offset leaves the visual timeline); ties go to the smallest |o|, then the
    negative.
  """
  confidence_scorer = confidence_scorer or scorer
  for name in (scorer, confidence_scorer):
    if name not in SCORERS:
      raise ValueError(f"scorer must be one of {SCORERS}, got {name!r}")
  s, t0 = int(max_offset), int(t0)
  audio = np.asarray(audio, np.float64)
  visual = np.asarray(visual, np.float64)
  total = len(visual) if visual_len is None else min(int(visual_len), len(visual))
  length = len(audio)
  scores = np.full([2 * s + 1], -np.inf)
  lo, hi = max(-s, -t0), min(s, total - length - t0)
  if length == 0 or hi < lo:
    return OffsetEstimate(0, scores.astype(np.float32), 0.0)
  window = visual[t0 + lo:t0 + hi + length]
  scores[lo + s:hi + s + 1] = _scores(audio, window, scorer, detrend)
  offsets = np.arange(-s, s + 1)
  best = np.max(scores)
  tied = offsets[scores == best]
  offset = int(tied[np.lexsort((tied, np.abs(tied)))[0]])
  if confidence_scorer == scorer:
    confidence = peak_zscore(scores)
  else:
    confidence = peak_zscore(_scores(audio, window, confidence_scorer, detrend))
  return OffsetEstimate(offset, scores.astype(np.float32), confidence)


def best_threshold(confidence: np.ndarray, positive: np.ndarray) -> Tuple[float, float]:
  """The threshold on ``confidence`` that best separates ``positive``.

  Returns:
    ``(threshold, accuracy)`` of ``confidence >= threshold`` (the lowest such
    threshold among the best).
  """
  confidence = np.asarray(confidence, np.float64)
  positive = np.asarray(positive, bool)
  candidates = np.concatenate([np.unique(confidence), [np.inf]])
  acc = [np.mean((confidence >= c) == positive) for c in candidates]
  i = int(np.argmax(acc))
  return float(candidates[i]), float(acc[i])


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
  """Area under the ROC curve of ``scores`` for bool labels ``positive``."""
  scores = np.asarray(scores, np.float64)
  positive = np.asarray(positive, bool)
  n_pos, n_neg = positive.sum(), (~positive).sum()
  if not n_pos or not n_neg:
    return float("nan")
  order = np.argsort(scores, kind="mergesort")
  ranks = np.empty(len(scores))
  sorted_scores = scores[order]
  # Average ranks over ties.
  _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
  avg = first + (counts - 1) / 2.0 + 1
  ranks[order] = np.repeat(avg, counts)
  return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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


def null_confidence(audio: np.ndarray, visual: np.ndarray, lag: int,
                    count: int) -> Tuple[float, float, int]:
  """(confidence, p-value, null lags) of placing ``audio`` at circular ``lag`` of ``visual``.

  Residuals of both (:func:`nearer_side_residual`), the pictures' scaled to
  unit length per second and the audio's weighted by their own length,
  scored at every circular lag; the lags farther than :data:`NULL_GUARD`
  from ``lag`` are the null, its spread :func:`null_spread` (module
  docstring).

  Args:
    audio: [L, E] timeline (L <= T).
    visual: [T, E] the valid visual timeline.
    lag: the picked offset as a circular lag (visual row of audio row 0).
    count: K, the feasible offsets the pick was made among.
  """
  residual = nearer_side_residual(audio)
  weighted = residual * np.linalg.norm(residual, axis=-1, keepdims=True)
  scores = circular_scores(weighted, _normalize(nearer_side_residual(visual)))
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
  a, v = center(audio), _normalize(center(visual))
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
  a = _weighted(center(audio))
  w = _normalize(center(visual[t0 + lo:t0 + hi + length]))
  placed = linear_scores(a, w)
  scores[s - hi:s - lo + 1] = placed[::-1]  # index late + S, late = -o
  late = _pick(scores, s)
  confidence, p_value, null_lags = null_confidence(audio, visual, t0 - late, hi - lo + 1)
  return SyncEstimate(late, scores.astype(np.float32), confidence, p_value, null_lags)


DRIFT_WINDOW = 30
DRIFT_HOP = 10


@dataclasses.dataclass
class DriftEstimate:
  """What :func:`estimate_drift` found.

  Attributes:
    model: ``"constant_offset"`` or ``"drift"``.
    reason: why, in words.
    late_at_start: lateness at picture second 0 (seconds, + = audio late).
    rate: lateness gained per picture second (0 for a constant offset).
    anchors: ``[(picture second, lateness, confidence)]`` of each window.
  """

  model: str
  reason: str
  late_at_start: float
  rate: float
  anchors: list


def _line(x: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
  """Least-squares ``(intercept, slope)`` of y on x."""
  slope, intercept = np.polyfit(x, y, 1)
  return float(intercept), float(slope)


def estimate_drift(audio: np.ndarray, visual: np.ndarray, max_offset: int,
                   window: int = DRIFT_WINDOW, hop: int = DRIFT_HOP,
                   min_confidence: float = MIN_CONFIDENCE) -> DriftEstimate:
  """A constant offset or a drift (offset + rate) from windows of the track.

  Each ``window``-second stretch of the audio (every ``hop`` s) is placed on
  the pictures on its own (:func:`synchronize`, partial overlap of half a
  window); the confident windows are anchors ``(picture second, lateness)``.
  A line through them (outliers over 2 s dropped) is the drift; it is
  reported when it moves the lateness by at least 1 s over the anchors'
  span and fits them better than their median (mean error at least 0.25 s
  smaller); otherwise the offset is constant (the median anchor).

  Args:
    audio: [La, E] the whole audio timeline.
    visual: [T, E] the whole visual timeline.
    max_offset: S, the lateness searched per window.

  Returns:
    :class:`DriftEstimate`; with fewer than 3 confident windows, a constant
    offset from those there are (or 0 with none), saying so.
  """
  audio = np.asarray(audio, np.float64)
  anchors = []
  for start in range(0, max(len(audio) - window, 0) + 1, hop):
    est = synchronize(audio[start:start + window], visual, start, max_offset,
                      min_overlap=max(window // 2, 1))
    center_second = start + window / 2.0 - est.late
    anchors.append((float(center_second), int(est.late), float(est.confidence)))
  sure = [(p, l) for p, l, c in anchors if c >= min_confidence]
  if len(sure) < 3:
    late = float(np.median([l for _, l in sure])) if sure else 0.0
    return DriftEstimate("constant_offset", f"{len(sure)} confident windows of "
                         f"{len(anchors)}: too few to fit a drift", late, 0.0, anchors)
  p, l = np.array(sure, np.float64).T
  keep = np.ones(len(p), bool)
  for _ in range(3):
    a, b = _line(p[keep], l[keep])
    keep = np.abs(a + b * p - l) <= 2.0
    if keep.sum() < 3:
      keep = np.ones(len(p), bool)
      a, b = _line(p, l)
      break
  constant = float(np.median(l))
  err_const = float(np.mean(np.abs(l[keep] - constant)))
  err_line = float(np.mean(np.abs(l[keep] - (a + b * p[keep]))))
  change = abs(b) * (p[keep].max() - p[keep].min())
  if change >= 1.0 and err_line <= err_const - 0.25:
    return DriftEstimate("drift", f"{int(keep.sum())} confident windows: lateness moves "
                         f"{change:.1f} s over them (rate {b:+.4f}); mean error "
                         f"{err_line:.2f} s for the line, {err_const:.2f} s for one "
                         "offset", a, b, anchors)
  return DriftEstimate("constant_offset", f"{len(sure)} confident windows agree on "
                       f"one offset (a line moves it {change:.1f} s, mean error "
                       f"{err_line:.2f} s vs {err_const:.2f} s)", constant, 0.0, anchors)
