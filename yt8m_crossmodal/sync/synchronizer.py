"""Estimating each video's audio offset from its records (``yt8m-sync``).

Sign convention: ``offset_seconds = +d`` means the audio is **late** by d
seconds (what is seen at second t is heard at second t + d); shift the audio
by -d to fix it.

For each video, both tracks are encoded through the export's ``encode_audio``
/ ``encode_visual`` signatures and the audio is aligned against the visual
timeline over candidate offsets ``-S .. S`` with
:func:`yt8m_crossmodal.sync.estimator.estimate_offset`:

- full length (default): the audio timeline minus S seconds at each end is
  slid along the visual timeline;
- ``excerpt_seconds=L``: audio seconds ``[excerpt_start, excerpt_start + L)``
  are encoded on their own (as a clip would be) and slid around the same
  visual seconds;
- ``drift``: full length, also a drift (offset + rate) from windows of the
  track (:func:`yt8m_crossmodal.sync.estimator.estimate_drift`), with the
  model that fits and why;
- ``min_overlap=N``: the whole track (or the excerpt) slides along the
  pictures at any offset up to S, S up to the video's length, where both
  share at least N seconds (FFT, not quadratic in S).

The estimate's confidence is 1 - a p-value against a null distribution that
each video supplies itself (:func:`yt8m_crossmodal.sync.estimator.synchronize`):
the same on any data and model. Below ``min_confidence`` (default 0.99: p <=
0.01) the answer is "cannot synchronize" (for example music laid over
footage: nothing in the soundtrack follows the pictures second by second).

The audio and the visual track come from one set of records (``data``) or
from two (``audio_data``, ``visual_data``), paired by video id: every record
is a YT-8M frame-level record (both tracks present); the audio of the one and
the visual of the other are used. The visual side is read into memory first
(uint8, about 1 kB per second), then the audio side (128 bytes per second).
An id found more than once on either side cannot be paired: each of its
records gets an error line.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from yt8m_crossmodal.config import option
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.serving.loading import LoadedExport, load_export
from yt8m_crossmodal.sync import estimator

CANNOT = "cannot_synchronize"
SYNCHRONIZED = "synchronized"


@dataclasses.dataclass(frozen=True)
class SyncConfig:
  """Options of ``yt8m-sync`` (each field is a flag of the same name)."""

  export_dir: str = option("", "Frame-level export (model or version folder).")
  data: str = option("", "Records holding each video's own audio and visual tracks.")
  audio_data: str = option("", "Records whose audio is used (with --visual_data, "
                       "paired by video id).")
  visual_data: str = option("", "Records whose visual track is used (with --audio_data).")
  max_offset: int = option(5, "Offsets searched: -S .. S seconds.")
  excerpt_start: int = option(0, "First audio second of the excerpt (with --excerpt_seconds).")
  excerpt_seconds: int = option(0, "Encode only this many audio seconds on their own "
                            "(0: the full length).")
  min_confidence: float = option(estimator.MIN_CONFIDENCE,
                                 "Below this confidence (a probability, 1 - p-value) "
                                 "the answer is 'cannot synchronize'.")
  min_overlap: int = option(0, "0: only offsets that keep the audio seconds on the "
                        "pictures (full length: the track less --max_offset seconds at "
                        "each end). N > 0: the whole track (or excerpt) slides along the "
                        "pictures at any offset up to --max_offset (up to the video's "
                        "length) where both share at least N seconds.")
  drift: bool = option(False, "Full length: also fit a drift (offset + rate, from "
                    "30 s windows every 10 s; --max_offset per window) and say which "
                    "model fits, constant offset or drift, and why.")
  max_videos: int = option(0, "Videos synchronized (0: all).")
  batch_size: int = option(16, "Videos encoded per signature call.")
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")


def _check(cfg: SyncConfig) -> None:
  if not cfg.export_dir:
    raise UsageError("--export_dir is required")
  if bool(cfg.audio_data) != bool(cfg.visual_data):
    raise UsageError("--audio_data and --visual_data go together")
  if bool(cfg.data) == bool(cfg.audio_data):
    raise UsageError("give --data, or --audio_data with --visual_data")
  if cfg.max_offset < 1:
    raise UsageError(f"--max_offset must be >= 1, got {cfg.max_offset}")
  if not math.isfinite(cfg.min_confidence):
    raise UsageError(f"--min_confidence must be a number, got {cfg.min_confidence}")
  if cfg.excerpt_seconds < 0 or cfg.excerpt_start < 0:
    raise UsageError("--excerpt_seconds and --excerpt_start must be >= 0")
  if cfg.excerpt_start and not cfg.excerpt_seconds:
    raise UsageError("--excerpt_start needs --excerpt_seconds")
  if not 0.0 <= cfg.min_confidence <= 1.0:
    raise UsageError(f"--min_confidence is a probability in [0, 1] (1 - p-value), got "
                     f"{cfg.min_confidence}")
  if cfg.drift and cfg.excerpt_seconds:
    raise UsageError("--drift works on the full length, not with --excerpt_seconds")
  if cfg.min_overlap < 0:
    raise UsageError(f"--min_overlap must be >= 0, got {cfg.min_overlap}")
  if cfg.batch_size <= 0 or cfg.max_videos < 0:
    raise UsageError("--batch_size must be positive and --max_videos >= 0")


def _videos(pattern: str, exp: LoadedExport, cfg: SyncConfig
            ) -> Iterator[Tuple[str, np.ndarray, np.ndarray]]:
  """(id, audio uint8 [T, 128], visual uint8 [T, 1024]) per record of ``pattern``."""
  for batch in exp.read_records(pattern, cfg.batch_size, cfg.skip_bad_records):
    audio, visual = batch["audio"].numpy(), batch["visual"].numpy()
    for i, (video_id, n) in enumerate(zip(batch["id"].numpy(), batch["num_frames"].numpy())):
      yield video_id.decode(errors="replace"), audio[i, :n], visual[i, :n]


def _encode(encode_fn, items: List[np.ndarray]) -> List[np.ndarray]:
  """Timelines of variable-length uint8 feature arrays (one padded call)."""
  lengths = np.array([len(x) for x in items], np.int32)
  padded = np.zeros((len(items), max(lengths), items[0].shape[1]), np.uint8)
  for i, x in enumerate(items):
    padded[i, :len(x)] = x
  _, timelines = encode_fn(feat.dequantize(padded), lengths)
  return [np.asarray(t[:n], np.float32) for t, n in zip(timelines, lengths)]


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
                 min_confidence: float) -> Dict[str, Any]:
  """``model`` (constant_offset or drift), ``model_reason``, ``late_at_start``,
  ``rate`` and ``anchors`` ([picture second, lateness, confidence] per window)
  of :func:`yt8m_crossmodal.sync.estimator.estimate_drift` on whole timelines."""
  est = estimator.estimate_drift(audio_timeline, visual_timeline, max_offset,
                                 min_confidence=min_confidence)
  return {"model": est.model, "model_reason": est.reason,
          "late_at_start": round(est.late_at_start, 3), "rate": round(est.rate, 5),
          "anchors": [[round(p, 1), l, round(c, 4)] for p, l, c in est.anchors]}


class Synchronizer:
  """Everything ``yt8m-sync`` needs, loaded and checked once."""

  def __init__(self, cfg: SyncConfig):
    _check(cfg)
    self.cfg = cfg
    self.export = load_export(cfg.export_dir)
    self.export.require_timelines("to synchronize")
    self.encode_audio = self.export.encode_fn("audio")
    self.encode_visual = self.export.encode_fn("visual")

  def _window(self, audio_len: int, visual_len: int) -> Tuple[int, int, str]:
    """(t0, L, error): the audio seconds slid along the visual timeline."""
    cfg, s = self.cfg, self.cfg.max_offset
    if cfg.excerpt_seconds:
      start, length = cfg.excerpt_start, cfg.excerpt_seconds
      if start + length > audio_len:
        return start, 0, (f"the audio has {audio_len} seconds: no excerpt "
                          f"[{start}, {start + length})")
      if start + length > visual_len and not cfg.min_overlap:
        return start, 0, (f"the visual track has {visual_len} seconds: too short for "
                          f"the excerpt [{start}, {start + length}) (--min_overlap "
                          f"allows partial overlap)")
      return start, length, ""
    if cfg.min_overlap:
      if min(audio_len, visual_len) < cfg.min_overlap:
        return 0, 0, (f"{min(audio_len, visual_len)} seconds: shorter than "
                      f"--min_overlap={cfg.min_overlap}")
      return 0, audio_len, ""
    length = min(audio_len, visual_len) - 2 * s
    if length < 2:
      return s, 0, (f"{min(audio_len, visual_len)} seconds: too short for offsets "
                    f"up to {s} s (needs at least {2 * s + 2}; --min_overlap allows "
                    f"partial overlap)")
    return s, length, ""

  def _pairs(self) -> Iterator[Tuple[str, Optional[np.ndarray], Optional[np.ndarray], str]]:
    """(id, audio uint8 [T, 128], visual uint8 [T, 1024], error) per video."""
    cfg, exp = self.cfg, self.export
    if cfg.data:
      for video_id, audio, visual in _videos(cfg.data, exp, cfg):
        yield video_id, audio, visual, ""
      return
    visual: Dict[str, np.ndarray] = {}
    copies = collections.Counter()
    for video_id, _, v in _videos(cfg.visual_data, exp, cfg):
      visual.setdefault(video_id, v)
      copies[video_id] += 1
    audio = [(video_id, a) for video_id, a, _ in _videos(cfg.audio_data, exp, cfg)]
    audio_copies = collections.Counter(video_id for video_id, _ in audio)
    seen = set()
    for video_id, a in audio:
      seen.add(video_id)
      if video_id not in visual:
        yield video_id, None, None, (f"no record with id {video_id!r} in --visual_data "
                                     f"{cfg.visual_data!r}")
      elif copies[video_id] > 1 or audio_copies[video_id] > 1:
        flag, pattern, n = (("--visual_data", cfg.visual_data, copies[video_id])
                            if copies[video_id] > 1 else
                            ("--audio_data", cfg.audio_data, audio_copies[video_id]))
        yield video_id, None, None, (f"id {video_id!r} occurs {n} times in {flag} "
                                     f"{pattern!r}: cannot tell which records pair up")
      else:
        yield video_id, a, visual[video_id], ""
    for video_id in sorted(set(visual) - seen):
      yield video_id, None, None, (f"no record with id {video_id!r} in --audio_data "
                                   f"{cfg.audio_data!r}")

  def __call__(self) -> Iterator[Dict[str, Any]]:
    """Yields one result dict per video (see the module docstring)."""
    cfg = self.cfg
    pending: List[Tuple[str, np.ndarray, np.ndarray, int, int]] = []
    done = 0

    def flush():
      audio_clips = [a[t0:t0 + n] if cfg.excerpt_seconds else a
                     for _, a, _, t0, n in pending]
      audio_tl = _encode(self.encode_audio, audio_clips)
      visual_tl = _encode(self.encode_visual, [v for _, _, v, _, _ in pending])
      for (video_id, _, _, t0, n), a, v in zip(pending, audio_tl, visual_tl):
        excerpt = a if cfg.excerpt_seconds else a[t0:t0 + n]
        line = {"id": video_id, "audio_seconds": [t0, t0 + n]}
        line.update(estimate(excerpt, v, t0, cfg.max_offset, cfg.min_confidence,
                             cfg.min_overlap))
        if cfg.drift:
          line.update(drift_fields(a, v, cfg.max_offset, cfg.min_confidence))
        yield line
      pending.clear()

    for video_id, audio, visual, error in self._pairs():
      if cfg.max_videos and done >= cfg.max_videos:
        break
      done += 1
      if not error:
        t0, n, error = self._window(len(audio), len(visual))
      if error:
        yield {"id": video_id, "status": "error", "error": error}
        continue
      pending.append((video_id, audio, visual, t0, n))
      if len(pending) >= cfg.batch_size:
        yield from flush()
    if pending:
      yield from flush()
