"""Estimating each video's audio offset from its records (``yt8m-sync``).

Sign convention: ``offset_seconds = +d`` means the audio is **late** by d
seconds (what is seen at second t is heard at second t + d); shift the audio
by -d to fix it.

For each video, both tracks are encoded through the export's ``encode_audio``
/ ``encode_visual`` signatures and the audio is aligned against the visual
timeline over candidate offsets ``-S .. S`` with
:func:`yt8m_crossmodal.sync.estimator.synchronize`:

- full length (default): the audio timeline minus S seconds at each end is
  slid along the visual timeline;
- ``excerpt_seconds=L``: audio seconds ``[excerpt_start, excerpt_start + L)``
  are encoded on their own (as a clip would be) and slid around the same
  visual seconds;
- ``drift``: full length, also the lateness path of the whole track, a
  constant offset or a drift (offset + rate), with the model that fits and
  why (:func:`yt8m_crossmodal.sync.drift.estimate_drift`); the answer
  (``status``, ``confidence``, ``offset_seconds``: the lateness at picture
  second 0) is then the model's (:func:`yt8m_crossmodal.sync.answer.drift_fields`);
- ``min_overlap=N``: the whole track (or the excerpt) slides along the
  pictures at any offset up to S, S up to the video's length, where both
  share at least N seconds (FFT, not quadratic in S).

The estimate's confidence is 1 - a p-value against a null distribution that
each video supplies itself (:func:`yt8m_crossmodal.sync.estimator.synchronize`):
the same on any data and model. Below ``min_confidence`` (default 0.99: p <=
0.01) the answer is "cannot synchronize" (for example music laid over
footage: nothing in the soundtrack follows the pictures second by second).

Every second of each record is used, whatever the export's ``max_frames``
(the encoders take any length). The audio and the visual track come from
one set of records (``data``) or
from two (``audio_data``, ``visual_data``), paired by video id: the audio of
the one and the visual of the other are used, so a record there may hold that
track alone (a dub extracted from a sound file, silent footage). The visual side is read into memory first
(uint8, about 1 kB per second), then the audio side (128 bytes per second).
An id found more than once on either side cannot be paired: each of its
records gets an error line.
"""

from __future__ import annotations

import collections
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from yt8m_crossmodal.jobs.config import SyncConfig
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.serving.loading import LoadedExport, load_export
from yt8m_crossmodal.sync.answer import drift_fields, estimate, window




# Seconds read per record: all of them (not the export's max_frames, which
# would crop a long record without a word): the encoders take any length.
WHOLE_RECORD = 1 << 20


def _videos(pattern: str, exp: LoadedExport, cfg: SyncConfig,
            modalities: Tuple[str, ...] = ("audio", "visual")
            ) -> Iterator[Tuple[str, Optional[np.ndarray], Optional[np.ndarray]]]:
  """(id, audio uint8 [T, 128], visual uint8 [T, 1024]) per record of ``pattern``, whole.

  With one of ``modalities``, records holding only that one are read too (a
  dub's sound-only record, silent footage), and the other is None.
  """
  for batch in exp.read_records(pattern, cfg.batch_size, cfg.skip_bad_records,
                                modalities=modalities, max_frames=WHOLE_RECORD):
    tracks = {m: batch[m].numpy() if m in batch else None for m in ("audio", "visual")}
    for i, (video_id, n) in enumerate(zip(batch["id"].numpy(), batch["num_frames"].numpy())):
      yield (video_id.decode(errors="replace"),
             *(None if x is None else x[i, :n] for x in (tracks["audio"], tracks["visual"])))


def _encode(encode_fn, items: List[np.ndarray]) -> List[np.ndarray]:
  """Timelines of variable-length uint8 feature arrays (one padded call)."""
  lengths = np.array([len(x) for x in items], np.int32)
  padded = np.zeros((len(items), max(lengths), items[0].shape[1]), np.uint8)
  for i, x in enumerate(items):
    padded[i, :len(x)] = x
  _, timelines = encode_fn(feat.dequantize(padded), lengths)
  return [np.asarray(t[:n], np.float32) for t, n in zip(timelines, lengths)]


class Synchronizer:
  """Everything ``yt8m-sync`` needs, loaded and checked once."""

  def __init__(self, cfg: SyncConfig):
    cfg.validate()
    self.cfg = cfg
    self.export = load_export(cfg.export_dir)
    self.export.require_timelines("to synchronize")
    self.encode_audio = self.export.encode_fn("audio")
    self.encode_visual = self.export.encode_fn("visual")

  def _pairs(self) -> Iterator[Tuple[str, Optional[np.ndarray], Optional[np.ndarray], str]]:
    """(id, audio uint8 [T, 128], visual uint8 [T, 1024], error) per video."""
    cfg, exp = self.cfg, self.export
    if cfg.data:
      for video_id, audio, visual in _videos(cfg.data, exp, cfg):
        yield video_id, audio, visual, ""
      return
    visual: Dict[str, np.ndarray] = {}
    copies = collections.Counter()
    for video_id, _, v in _videos(cfg.visual_data, exp, cfg, ("visual",)):
      visual.setdefault(video_id, v)
      copies[video_id] += 1
    audio = [(video_id, a) for video_id, a, _ in _videos(cfg.audio_data, exp, cfg, ("audio",))]
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
          line.update(drift_fields(a, v, cfg.max_offset, cfg.min_confidence, line))
        yield line
      pending.clear()

    for video_id, audio, visual, error in self._pairs():
      if cfg.max_videos and done >= cfg.max_videos:
        break
      done += 1
      if not error:
        t0, n, error = window(len(audio), len(visual), cfg.max_offset, cfg.excerpt_start,
                              cfg.excerpt_seconds, cfg.min_overlap)
      if error:
        yield {"id": video_id, "status": "error", "error": error}
        continue
      pending.append((video_id, audio, visual, t0, n))
      if len(pending) >= cfg.batch_size:
        yield from flush()
    if pending:
      yield from flush()
