"""A constant offset or a drift (offset + rate) from windows of the whole track.

What ``yt8m-sync --drift`` and ``ym.synchronize(..., drift=True)`` add to the
offset of :mod:`.estimator`.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np

from yt8m_crossmodal.sync.estimator import MIN_CONFIDENCE, synchronize

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
