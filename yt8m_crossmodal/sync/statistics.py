"""Offset scorers and figures of merit for comparing sync estimators (benchmarks).

Not on the production path (that is :mod:`.estimator`, what ``yt8m-sync``,
``yt8m-evaluate``, :func:`yt8m_crossmodal.synchronize` and the
``estimate_offset`` signature use): these place an excerpt by any of the
scorers the benchmarks compare, give the peak-vs-rest z-score of a score curve,
and score confidences (ROC AUC, best threshold).

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
* ``weighted`` (what :func:`.estimator.synchronize` picks by): ``centered``,
  but each audio second's cosine is weighted by the length of its centered
  row (the score is ``sum_t <a_t, v_t / |v_t|> / sum_t |a_t|``): the
  seconds where the sound changes (events) count more than quiet ones.

:func:`estimate_offset`'s confidence is a peak-vs-rest z-score: ``(best -
mean(rest)) / std(rest)`` over the feasible offsets other than the best; it
measures the shape of the score curve and does not carry over between data
sets and models (:func:`.estimator.synchronize`'s confidence does).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from yt8m_crossmodal.retrieval import alignment
from yt8m_crossmodal.sync.estimator import OFFSET_SCORER, center, unit_rows, weighted_rows

SCORERS = ("mean_cosine", "centered", "double_centered", "weighted")
# estimate_offset's peak z-score from double_centered (best ROC AUC of aligned
# vs unaligned soundtracks), and this threshold on it (the best on music_over:
# 2.46; on texture: 3.09); yt8m-sync used both before its confidence was
# calibrated against a null.
CONFIDENCE_SCORER = "double_centered"
DEFAULT_MIN_CONFIDENCE = 2.5


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
  """Centered moving average of [T, E] rows over ``width`` seconds (edges shrink)."""
  c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0)])
  t = np.arange(len(x))
  lo = np.clip(t - width // 2, 0, len(x))
  hi = np.clip(t + width - width // 2, 0, len(x))
  return (c[hi] - c[lo]) / (hi - lo)[:, None]


def _center(x: np.ndarray, detrend: int) -> np.ndarray:
  """[T, E] rows minus their mean over time (``detrend > 1``: a moving one)."""
  x = np.asarray(x, np.float64)
  if detrend > 1:
    return x - _moving_average(x, detrend)
  return center(x)


@dataclasses.dataclass
class OffsetEstimate:
  """A placement of an excerpt in the pictures, by scorer.

  Attributes:
    offset: d, where the excerpt sits: it matches pictures ``[t0 + d,
      t0 + d + L)`` (an excerpt of an aligned track cut at audio second
      t0 + d). Given the same arrays and t0, :func:`.estimator.synchronize` answers the
      lateness ``-d`` (+ = audio late).
    scores: [2S + 1], d = -S .. S (-inf where infeasible).
    confidence: the peak z-score (for comparing scorers; not a probability).
  """

  offset: int
  scores: np.ndarray
  confidence: float


def peak_zscore(scores: np.ndarray) -> float:
  """(best - mean of the others) / std of the others, over finite scores."""
  s = scores[np.isfinite(scores)]
  if len(s) < 3:
    return 0.0
  best = int(np.argmax(s))
  rest = np.delete(s, best)
  return float((s[best] - rest.mean()) / max(rest.std(), 1e-6))


def _scores(audio: np.ndarray, window: np.ndarray, scorer: str, detrend: int) -> np.ndarray:
  """Mean diagonal score of each start of [L, E] ``audio`` in [T, E] ``window``."""
  if scorer == "weighted":
    audio, window = weighted_rows(_center(audio, detrend)), unit_rows(_center(window, detrend))
  elif scorer == "centered":
    audio, window = unit_rows(_center(audio, detrend)), unit_rows(_center(window, detrend))
  else:
    audio, window = unit_rows(audio), unit_rows(window)
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

  With the default scorer it places the excerpt where :func:`.estimator.synchronize`
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
