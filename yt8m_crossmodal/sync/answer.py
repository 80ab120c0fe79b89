"""One video's synchronization answer from its two timelines (numpy only).

What ``yt8m-sync`` prints for a video and :func:`yt8m_crossmodal.synchronize`
returns: which audio seconds are slid along the pictures (:func:`window`),
the best offset with its null-calibrated confidence (:func:`estimate`) and,
on request, the drift model and the answer it makes (:func:`drift_fields`).
Sign: + = audio late.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from yt8m_crossmodal.sync import drift, estimator

CANNOT = "cannot_synchronize"
SYNCHRONIZED = "synchronized"


def window(audio_len: int, visual_len: int, max_offset: int, excerpt_start: int = 0,
           excerpt_seconds: int = 0, min_overlap: int = 0) -> Tuple[int, int, str]:
  """The audio seconds slid along the pictures, as ``yt8m-sync`` takes them.

  Returns:
    ``(t0, L, error)``: audio seconds ``[t0, t0 + L)``; ``error`` says why
    there are none (L = 0) for these lengths and options.
  """
  s = max_offset
  if excerpt_seconds:
    start, length = excerpt_start, excerpt_seconds
    if start + length > audio_len:
      return start, 0, (f"the audio has {audio_len} seconds: no excerpt "
                        f"[{start}, {start + length})")
    if start + length > visual_len and not min_overlap:
      return start, 0, (f"the visual track has {visual_len} seconds: too short for "
                        f"the excerpt [{start}, {start + length}) (--min_overlap "
                        f"allows partial overlap)")
    return start, length, ""
  if min_overlap:
    if min(audio_len, visual_len) < min_overlap:
      return 0, 0, (f"{min(audio_len, visual_len)} seconds: shorter than "
                    f"--min_overlap={min_overlap}")
    return 0, audio_len, ""
  length = min(audio_len, visual_len) - 2 * s
  if length < 2:
    return s, 0, (f"{min(audio_len, visual_len)} seconds: too short for offsets "
                  f"up to {s} s (needs at least {2 * s + 2}; --min_overlap allows "
                  f"partial overlap)")
  return s, length, ""


def estimate(audio_timeline: np.ndarray, visual_timeline: np.ndarray, t0: int,
             max_offset: int, min_confidence: float, min_overlap: int = 0) -> Dict[str, Any]:
  """The answer for one video from its timelines.

  Args:
    audio_timeline: [L, E] audio seconds ``[t0, t0 + L)`` of the track as it is.
    visual_timeline: [T, E] the pictures.
    t0: where the audio seconds start.
    max_offset: S; offsets -S .. S are tried.
    min_confidence: below it the answer is "cannot synchronize".
    min_overlap: > 0: partial overlap of at least this many seconds allowed.

  Returns:
    ``offset_seconds`` (+ = audio late; None when it cannot synchronize),
    ``best_offset_seconds`` (the best offset whatever the confidence),
    ``confidence`` (1 - ``p_value``), ``p_value``, ``status`` and ``scores``
    (offset in seconds, as a string -> score; None where the offset leaves
    the pictures). See :func:`yt8m_crossmodal.sync.estimator.synchronize`.
  """
  est = estimator.synchronize(audio_timeline, visual_timeline, t0, max_offset,
                              min_overlap=min_overlap)
  ok = est.confidence >= min_confidence
  lates = np.arange(-max_offset, max_offset + 1)
  return {
      "offset_seconds": est.late if ok else None,
      "best_offset_seconds": est.late,
      "confidence": round(float(est.confidence), 6),
      "p_value": float(f"{est.p_value:.4g}"),
      "status": SYNCHRONIZED if ok else CANNOT,
      "scores": {str(int(o)): (round(float(v), 5) if np.isfinite(v) else None)
                 for o, v in zip(lates, est.scores)},
  }


def drift_fields(audio_timeline: np.ndarray, visual_timeline: np.ndarray, max_offset: int,
                 min_confidence: float, constant: Dict[str, Any]) -> Dict[str, Any]:
  """The drift model of whole timelines, and the answer it makes of ``constant``.

  Args:
    audio_timeline, visual_timeline: the whole tracks.
    max_offset: S, the lateness at picture second 0 searched.
    min_confidence: below it the answer is "cannot synchronize".
    constant: :func:`estimate`'s answer for the same video.

  Returns:
    ``model`` (constant_offset or drift), ``model_reason``, ``late_at_start``,
    ``rate`` (lateness at picture second t: ``late_at_start + rate * t``),
    ``path_confidence`` and ``path_p_value`` (the best path against a null of
    paths), ``constant_confidence`` (the best constant offset's), ``anchors`` ([picture second, lateness, confidence] of each 30 s
    window) of :func:`yt8m_crossmodal.sync.drift.estimate_drift`, and the
    answer: ``p_value`` the smaller of the constant offset's and the path's,
    doubled (either may answer), ``confidence`` 1 - that, ``status``, and
    ``offset_seconds`` the lateness at picture second 0, rounded (None when
    it cannot synchronize).
  """
  est = drift.estimate_drift(audio_timeline, visual_timeline, max_offset)
  p_value = min(1.0, 2.0 * min(float(constant["p_value"]), est.p_value))
  ok = 1.0 - p_value >= min_confidence
  return {"model": est.model, "model_reason": est.reason,
          "late_at_start": round(est.late_at_start, 3), "rate": round(est.rate, 5),
          "path_confidence": round(est.confidence, 6),
          "path_p_value": float(f"{est.p_value:.4g}"),
          "constant_confidence": constant["confidence"],
          "anchors": [[round(p, 1), l, round(c, 4)] for p, l, c in est.anchors],
          "confidence": round(1.0 - p_value, 6), "p_value": float(f"{p_value:.4g}"),
          "status": SYNCHRONIZED if ok else CANNOT,
          "offset_seconds": int(round(est.late_at_start)) if ok else None}
