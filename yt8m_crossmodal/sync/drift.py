"""A constant offset or a drift (lateness = offset + rate * t) from the whole track.

What ``yt8m-sync --drift`` and ``ym.synchronize(..., drift=True)`` add to the
offset of :mod:`.estimator`. A soundtrack whose clock runs ``1 + r`` times the
pictures' (a 25 fps conversion of 24 fps material: r = 0.04) is heard at audio
second ``late + (1 + r) t`` for picture second t: its lateness grows by r a
second. The whole track is searched for that path:

1. for every rate r in ``[-MAX_RATE, MAX_RATE]`` (steps that move the lateness
   by half a second over the pictures), the audio timeline is read on the
   pictures' clock (row j: audio second ``(1 + r) j``, the nearest one) and
   slid along the pictures like a constant offset, lateness at the start
   ``-S .. S``, where both share at least half the shorter track
   (:func:`yt8m_crossmodal.sync.estimator.overlap_scores`); the path with
   the best ``weighted`` score wins;
2. its confidence is the estimator's null statistic for the resampled audio
   (:func:`yt8m_crossmodal.sync.estimator.null_confidence`) with K = the
   offsets times the distinct rates (paths whose lateness at the end of the
   pictures differs by :data:`DISTINCT_SECONDS` or more): one confidence for
   the path against a null of paths;
3. the path is reported as a drift when it moves the lateness by at least
   :data:`MIN_CHANGE` second over the pictures and scores at least
   :data:`MIN_GAIN` (relative) better than the best constant offset;
   otherwise one constant offset is enough.

The 30 s windows' own best offsets (every 10 s) come with it as ``anchors``,
to show the evidence along the track; they do not choose the model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Tuple

import numpy as np

from yt8m_crossmodal.sync import estimator

MAX_RATE = 0.05        # rates searched: -5% .. +5%
RATE_STEP_SECONDS = 0.5  # one rate step moves the lateness at the end by this much
DISTINCT_SECONDS = 2.0   # paths count as distinct when their ends differ by this much
MIN_CHANGE = 1.0         # a drift must move the lateness by at least this many seconds
MIN_GAIN = 0.02          # ... and score this much (relative) above one offset
DRIFT_WINDOW = 30
DRIFT_HOP = 10


@dataclasses.dataclass
class DriftEstimate:
  """What :func:`estimate_drift` found.

  Attributes:
    model: ``"constant_offset"`` or ``"drift"``.
    reason: why, in words.
    late_at_start: lateness at picture second 0 (seconds, + = audio late);
      at picture second t it is ``late_at_start + rate * t``.
    rate: lateness gained per picture second (0 for a constant offset).
    confidence: 1 - ``p_value`` of the best path (any rate) against the
      null of paths.
    p_value: its p-value.
    constant_late: the best constant offset of the whole track.
    anchors: ``[(picture second, lateness, confidence)]`` of each 30 s window.
  """

  model: str
  reason: str
  late_at_start: float
  rate: float
  confidence: float
  p_value: float
  constant_late: int
  anchors: list


def rate_grid(seconds: int, max_rate: float = MAX_RATE) -> np.ndarray:
  """Rates searched for ``seconds`` of pictures: 0, then steps of
  ``RATE_STEP_SECONDS / seconds`` up to ``max_rate`` each way."""
  step = RATE_STEP_SECONDS / max(int(seconds), 1)
  n = int(math.floor(max_rate / step + 1e-9))
  return step * np.arange(-n, n + 1)


def on_picture_clock(audio: np.ndarray, rate: float) -> np.ndarray:
  """[J, E]: row j is audio row ``round((1 + rate) j)`` (the audio read on the
  pictures' clock), for every j that stays within the audio."""
  n = int(math.floor((len(audio) - 1) / (1.0 + rate) + 1e-9)) + 1
  rows = np.round((1.0 + rate) * np.arange(max(n, 0))).astype(np.int64)
  return audio[np.clip(rows, 0, len(audio) - 1)]


def _windows(audio: np.ndarray, visual: np.ndarray, max_offset: int, window: int,
             hop: int) -> List[Tuple[float, int, float]]:
  """(picture second of the window's middle, lateness, confidence) per window."""
  anchors = []
  for start in range(0, max(len(audio) - window, 0) + 1, hop):
    est = estimator.synchronize(audio[start:start + window], visual, start, max_offset,
                                min_overlap=max(window // 2, 1))
    anchors.append((float(start + window / 2.0 - est.late), int(est.late),
                    float(est.confidence)))
  return anchors


def estimate_drift(audio: np.ndarray, visual: np.ndarray, max_offset: int,
                   max_rate: float = MAX_RATE, window: int = DRIFT_WINDOW,
                   hop: int = DRIFT_HOP) -> DriftEstimate:
  """The lateness path of a whole soundtrack: a constant offset or a drift.

  Args:
    audio: [La, E] the whole audio timeline.
    visual: [T, E] the whole visual timeline.
    max_offset: S, the lateness at picture second 0 searched (-S .. S).
    max_rate: the rates searched, ``-max_rate .. max_rate``.
    window, hop: the anchors' windows (seconds).

  Returns:
    :class:`DriftEstimate` (module docstring); with nothing to compare
    (tracks shorter than a few seconds), a constant offset 0 at confidence 0.
  """
  audio = np.asarray(audio, np.float64)
  visual = np.asarray(visual, np.float64)
  s, total = int(max_offset), len(visual)
  anchors = _windows(audio, visual, s, window, hop)
  overlap = max(min(len(audio), total) // 2, 1)
  best, constant = None, None
  for rate in rate_grid(total, max_rate):
    clocked = on_picture_clock(audio, rate)
    if min(len(clocked), total) < overlap:
      continue
    scores, shared = estimator.overlap_scores(clocked, visual, 0, s, overlap)
    if not np.isfinite(scores).any():
      continue
    late = estimator._pick(scores, s)
    path = (float(scores[late + s]), float(rate), late, clocked, int(shared[late + s]),
            int(np.isfinite(scores).sum()))
    if rate == 0.0:
      constant = path
    if best is None or path[0] > best[0] + 1e-12:
      best = path
  if best is None or constant is None:
    return DriftEstimate("constant_offset", "too short to compare offsets", 0.0, 0.0, 0.0,
                         1.0, 0, anchors)
  score, rate, late, clocked, shared, count = best
  distinct = 1 + int(2 * max_rate * total / DISTINCT_SECONDS)
  first = max(0, late)
  confidence, p_value, _ = estimator.null_confidence(
      clocked[first:first + shared], visual, first - late, count * distinct)
  change = abs(rate) * total
  gain = (score - constant[0]) / max(abs(score), 1e-12)
  late_at_start = (1.0 + rate) * late
  if change >= MIN_CHANGE and gain >= MIN_GAIN:
    return DriftEstimate(
        "drift", f"the best path moves the lateness {change:.1f} s over the "
        f"{total} s of pictures (rate {rate:+.4f}) and scores {100 * gain:.0f}% above "
        "one offset", late_at_start, rate, confidence, p_value, constant[2], anchors)
  why = (f"the best path moves the lateness {change:.1f} s (under {MIN_CHANGE:g} s)"
         if change < MIN_CHANGE else
         f"the best path (rate {rate:+.4f}) scores {100 * gain:.1f}% above one offset "
         f"(under {100 * MIN_GAIN:g}%)")
  return DriftEstimate("constant_offset", f"one offset is enough: {why}",
                       float(constant[2]), 0.0, confidence, p_value, constant[2], anchors)
