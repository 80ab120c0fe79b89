"""Synchronization: offset tasks, the offset estimate and its accuracy.

:func:`make_sync_tasks` draws ``(video, t0, d)`` tasks: the audio excerpt is
audio seconds ``[t0 + d, t0 + d + L)`` and the visual reference window is
``[t0 - S, t0 + L + S)``. :func:`estimate_offset` scores every candidate
offset ``o`` in ``-S .. S`` by ``mean_t <audio_excerpt[t], visual[t0 + o +
t]>`` (audio second ``u`` belongs with visual second ``u``), so the true
offset ``d`` is the best match.

Two protocols, one estimation loop (:func:`estimate_offsets`):

- :func:`sync_from_timelines`: the excerpt is cut from the full-length audio
  timeline (the encoder saw the whole video);
- :func:`sync_from_encoded_excerpts`: the excerpt's audio is encoded on its
  own, as a user's clip would be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.sync import estimator, statistics

if TYPE_CHECKING:
  from yt8m_crossmodal.evaluation.embedded_set import EmbeddedSet
  from yt8m_crossmodal.evaluation.encode import EncodeFn

def make_sync_tasks(num_frames: np.ndarray,
                    max_offset: int,
                    excerpt_seconds: int,
                    seed: int = 0) -> Tuple[np.ndarray, int]:
  """Draws one synchronization task per video that is long enough.

  A task ``(i, t0, d)`` asks to recover the offset ``d`` of the audio excerpt
  (audio seconds ``[t0 + d, t0 + d + L)`` of video i) against the visual
  reference window ``[t0 - S, t0 + L + S)``. ``t0`` is uniform in
  ``[S, num_frames - L - S]`` and ``d`` uniform in ``-S .. S`` (integers), so
  both windows lie within ``[0, num_frames)``; a video needs
  ``num_frames >= L + 2 S``.

  Args:
    num_frames: [N] valid seconds per video.
    max_offset: S >= 0.
    excerpt_seconds: L >= 1.
    seed: random seed (deterministic tasks for a seed).

  Returns:
    ``(tasks, num_skipped)``: tasks is an int64 array [M, 3] of
    ``(video_index, t0, true_offset)`` rows in video order; num_skipped is the
    number of videos too short for a task (N = M + num_skipped).
  """
  max_offset, excerpt_seconds = int(max_offset), int(excerpt_seconds)
  if max_offset < 0:
    raise ValueError(f"max_offset must be >= 0, got {max_offset}")
  if excerpt_seconds < 1:
    raise ValueError(f"excerpt_seconds must be >= 1, got {excerpt_seconds}")
  num_frames = np.asarray(num_frames, np.int64).reshape(-1)
  rng = np.random.default_rng(seed)
  ok = num_frames >= excerpt_seconds + 2 * max_offset
  videos = np.nonzero(ok)[0]
  hi = num_frames[videos] - excerpt_seconds - max_offset  # inclusive
  t0 = rng.integers(max_offset, hi + 1) if videos.size else hi
  offsets = rng.integers(-max_offset, max_offset + 1, size=videos.size)
  tasks = np.stack([videos, t0, offsets], axis=1).astype(np.int64)
  return tasks.reshape(-1, 3), int(np.count_nonzero(~ok))


def estimate_offset(audio_excerpt_timeline: np.ndarray,
                    visual_timeline: np.ndarray,
                    t0: int,
                    max_offset: int,
                    visual_len: Optional[int] = None,
                    scorer: str = estimator.OFFSET_SCORER,
                    ) -> Tuple[int, np.ndarray]:
  """Estimates the offset of an audio excerpt against a visual timeline.

  Args:
    audio_excerpt_timeline: [L, E] audio embeddings of the excerpt (audio
      seconds ``[t0 + d, t0 + d + L)`` for an unknown d).
    visual_timeline: [T, E] visual timeline of the video.
    t0: start of the excerpt at offset 0.
    max_offset: S; offsets ``-S .. S`` are scored.
    visual_len: valid seconds of ``visual_timeline`` (default T).
    scorer: one of :data:`yt8m_crossmodal.sync.statistics.SCORERS`; the
      default is the one ``yt8m-sync`` uses.

  Returns:
    ``(offset, scores)``: scores is float32 [2S + 1], the scorer's value of
    each offset (for ``mean_cosine``, ``scores[o + S] = mean_t
    cos(audio_excerpt[t], visual[t0 + o + t])``); offsets whose window
    leaves ``[0, visual_len)`` score -inf. The estimate is the best-scoring
    offset (ties: the smallest |o|, then the negative one); 0 if no offset
    is feasible (:func:`yt8m_crossmodal.sync.statistics.estimate_offset`).
  """
  est = statistics.estimate_offset(audio_excerpt_timeline, visual_timeline, t0, max_offset,
                                  scorer=scorer, visual_len=visual_len)
  return est.offset, est.scores


def sync_metrics(estimated: np.ndarray, true: np.ndarray) -> Dict[str, float]:
  """Synchronization accuracy.

  Args:
    estimated: [M] estimated offsets (seconds).
    true: [M] true offsets.

  Returns:
    ``{"sync/exact": fraction |est - true| == 0, "sync/within_1s": fraction
    <= 1, "sync/mae_seconds": mean |est - true|, "sync/tasks": M}``; the
    rates are NaN when M == 0.
  """
  estimated = np.asarray(estimated, np.float64).reshape(-1)
  true = np.asarray(true, np.float64).reshape(-1)
  if estimated.shape != true.shape:
    raise ValueError(f"{estimated.size} estimates for {true.size} true offsets")
  if estimated.size == 0:
    nan = float("nan")
    return {"sync/exact": nan, "sync/within_1s": nan,
            "sync/mae_seconds": nan, "sync/tasks": 0}
  err = np.abs(estimated - true)
  return {
      "sync/exact": float(np.mean(err == 0)),
      "sync/within_1s": float(np.mean(err <= 1)),
      "sync/mae_seconds": float(np.mean(err)),
      "sync/tasks": int(estimated.size),
  }


def estimate_offsets(tasks: np.ndarray, excerpts, visual_timelines,
                     max_offset: int, num_frames=None
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Estimates the offset of every task, with ``yt8m-sync``'s confidence.

  Args:
    tasks: int [M, 3] rows ``(video, t0, true offset)``.
    excerpts: M audio excerpt timelines, each [L, E].
    visual_timelines: per video [T_i, E] (a list or an [N, T, E] array).
    max_offset: S.
    num_frames: [N] valid seconds per video (default: each timeline's length).

  Returns:
    ``(estimated int64 [M], scores float32 [M, 2S + 1], confidence float64
    [M])``: offsets and scores in the tasks' convention (``scores[:, o +
    S]``: the excerpt placed at picture second ``t0 + o``, i.e. audio late by
    ``-o``); the confidence of
    :func:`yt8m_crossmodal.sync.estimator.synchronize`.
  """
  estimated = np.zeros([len(tasks)], np.int64)
  scores = np.zeros([len(tasks), 2 * max_offset + 1], np.float32)
  confidence = np.zeros([len(tasks)], np.float64)
  for j, (i, t0, _) in enumerate(tasks):
    length = None if num_frames is None else int(num_frames[i])
    est = estimator.synchronize(excerpts[j], visual_timelines[i], t0, max_offset, length)
    estimated[j], scores[j], confidence[j] = -est.late, est.scores[::-1], est.confidence
  return estimated, scores, confidence


def _score(tasks, estimated, skipped, confidence=None, aligned=None) -> Dict[str, float]:
  """:func:`sync_metrics` over the aligned tasks, plus the confidence's figures.

  ``aligned`` [M] bool (None: all, and no confidence figures): tasks whose
  soundtrack belongs to the pictures; the others count as refusals or false
  answers, not as misses.
  """
  mask = np.ones([len(tasks)], bool) if aligned is None else np.asarray(aligned, bool)
  out = sync_metrics(estimated[mask], np.reshape(tasks, (-1, 3))[mask, 2])
  out["sync/skipped"] = skipped
  if confidence is not None and aligned is not None and len(tasks):
    answered = confidence >= estimator.MIN_CONFIDENCE
    nan = float("nan")
    out["sync/aligned_answered"] = float(answered[mask].mean()) if mask.any() else nan
    out["sync/unaligned_tasks"] = int((~mask).sum())
    out["sync/unaligned_refused"] = float((~answered[~mask]).mean()) if (~mask).any() else nan
    out["sync/confidence_auc"] = statistics.roc_auc(confidence, mask)
  return out


def sync_from_timelines(audio_timelines, visual_timelines, num_frames,
                        max_offset: int, excerpt_seconds: int, seed: int = 0
                        ) -> Dict[str, float]:
  """Sync accuracy with excerpts cut from full-length audio timelines.

  Args:
    audio_timelines / visual_timelines: per video [T_i, E] (lists, or
      [N, T, E] arrays zero past num_frames).
    num_frames: [N] valid seconds per video.
    max_offset: S.
    excerpt_seconds: L.
    seed: seed of :func:`make_sync_tasks`.

  Returns:
    :func:`sync_metrics` plus ``"sync/skipped"`` (videos too short).
  """
  tasks, skipped = make_sync_tasks(num_frames, max_offset, excerpt_seconds, seed)
  excerpts = [audio_timelines[i][t0 + d:t0 + d + excerpt_seconds] for i, t0, d in tasks]
  estimated, _, confidence = estimate_offsets(tasks, excerpts, visual_timelines,
                                              max_offset, num_frames)
  return _score(tasks, estimated, skipped, confidence)


def sync_tasks_and_excerpts(embedded: "EmbeddedSet", max_offset: int, excerpt_seconds: int,
                            seed: int = 0, late: Optional[np.ndarray] = None):
  """Draws sync tasks and cuts their audio excerpts.

  Args:
    late: [N] each soundtrack's lateness as stored (NaN: unaligned; None:
      all 0). The cut moves by it (within the audio), so that the task's true
      offset stays ``d`` where it can.

  Returns:
    ``(tasks [M, 3] int64 rows (video, t0, true offset), excerpts uint8 or
    float [M, L, 128], skipped)``: the excerpt of task j is audio seconds
    ``[c, c + L)`` of its video, ``c = t0 + d + late``: pictures
    ``[t0 + d, t0 + d + L)``, so true offset ``d``; where the audio ends
    first, the cut stops at its edge and the true offset is ``c - late - t0``.
  """
  if embedded.audio_features is None:
    raise ValueError("sync evaluation needs the audio features (keep_audio_features=True)")
  tasks, skipped = make_sync_tasks(embedded.num_frames, max_offset,
                                   excerpt_seconds, seed)
  shift = np.zeros([len(embedded.num_frames)], np.int64)
  if late is not None:
    shift = np.nan_to_num(np.asarray(late, np.float64)).astype(np.int64)
  tasks = tasks.copy()
  cuts = []
  for j, (i, t0, d) in enumerate(tasks):
    cut = int(np.clip(t0 + d + shift[i], 0, embedded.num_frames[i] - excerpt_seconds))
    tasks[j, 2] = cut - shift[i] - t0
    cuts.append(embedded.audio_features[i][cut:cut + excerpt_seconds])
  excerpts = (np.stack(cuts) if cuts else
              np.zeros((0, excerpt_seconds, feat.AUDIO_DIM), np.uint8))
  return tasks, excerpts, skipped


def sync_from_encoded_excerpts(embedded: "EmbeddedSet", encode_audio: "EncodeFn",
                               max_offset: int, excerpt_seconds: int, seed: int = 0,
                               batch_size: int = 128, return_details: bool = False,
                               late: Optional[np.ndarray] = None):
  """Sync accuracy with audio excerpts encoded on their own.

  For each video long enough, audio seconds ``[t0 + d, t0 + d + L)`` are cut
  out (the soundtrack shifted by a true offset ``d`` in ``[-S, S]``), encoded
  alone, as a user's clip would be, and aligned against the video's visual
  timeline around ``t0`` (:func:`estimate_offset`).

  Args:
    late: [N] each video's soundtrack lateness as stored (+ = audio late;
      NaN: the soundtrack does not belong to the pictures), from the truth
      file; None: all in sync (:func:`sync_tasks_and_excerpts`).

  Returns:
    :func:`sync_metrics` over aligned soundtracks plus ``sync/skipped``,
    ``sync/aligned_answered``, ``sync/unaligned_tasks``,
    ``sync/unaligned_refused`` (at the default confidence threshold) and
    ``sync/confidence_auc`` (aligned vs unaligned); with ``return_details``
    also ``(tasks, estimated, scores [M, 2S + 1])``.
  """
  if not embedded.has_timelines:
    raise ValueError("synchronization needs timelines (a frame-level model)")
  tasks, excerpts, skipped = sync_tasks_and_excerpts(embedded, max_offset,
                                                     excerpt_seconds, seed, late)
  timelines: List[np.ndarray] = []
  for start in range(0, len(tasks), batch_size):
    chunk = excerpts[start:start + batch_size]
    lengths = np.full([len(chunk)], excerpt_seconds, np.int32)
    _, encoded = encode_audio(feat.to_float(chunk), lengths)
    timelines.extend(np.asarray(encoded))
  estimated, scores, confidence = estimate_offsets(tasks, timelines,
                                                   embedded.visual_timelines, max_offset)
  aligned = None
  if late is not None:
    aligned = ~np.isnan(np.asarray(late, np.float64)[tasks[:, 0]])
  out = _score(tasks, estimated, skipped, confidence, aligned)
  if return_details:
    return out, (tasks, estimated, scores)
  return out
