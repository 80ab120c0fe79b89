"""Embedding a data set and scoring it, whatever does the encoding.

The same code serves the training callback (Keras encoders in the process)
and ``yt8m-evaluate`` (the exported SavedModel's signatures, as a serving
client would call them). An *encode function* takes dequantized features and
lengths and returns embeddings and timelines:

  encode(features float32 [B, T, D], num_frames int32 [B])
      -> (embedding float32 [B, E], timeline float32 [B, T, E] or None)

Video-level encoders take ``[B, D]`` and return ``(embedding, None)``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.evaluation import metrics

EncodeFn = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, Optional[np.ndarray]]]


@dataclasses.dataclass
class EmbeddedSet:
  """Everything known about a set of N embedded videos.

  Timelines and audio features are per-video lists (lengths differ): item i is
  ``[num_frames[i], E]`` (or ``[num_frames[i], 128]`` uint8 for the audio
  features kept for synchronization).
  """

  ids: List[str]
  audio_embedding: np.ndarray   # [N, E]
  visual_embedding: np.ndarray  # [N, E]
  num_frames: np.ndarray        # [N]
  labels: np.ndarray            # [N, C] multi-hot (float32)
  audio_timelines: Optional[List[np.ndarray]] = None
  visual_timelines: Optional[List[np.ndarray]] = None
  audio_features: Optional[List[np.ndarray]] = None

  def __len__(self):
    return len(self.ids)

  @property
  def has_timelines(self) -> bool:
    return self.visual_timelines is not None

  def padded_timelines(self, modality: str) -> np.ndarray:
    """Timelines padded with zeros to the longest video: [N, T, E]."""
    items = self.audio_timelines if modality == "audio" else self.visual_timelines
    t = max(len(x) for x in items)
    out = np.zeros((len(items), t, items[0].shape[-1]), np.float32)
    for i, x in enumerate(items):
      out[i, :len(x)] = x
    return out


def _as_float(x: np.ndarray) -> np.ndarray:
  return feat.dequantize(x) if x.dtype == np.uint8 else x.astype(np.float32)


def embed_dataset(dataset, encode_audio: EncodeFn, encode_visual: EncodeFn,
                  limit: int = 0, keep_audio_features: bool = False,
                  progress: Optional[Callable[[int], None]] = None) -> EmbeddedSet:
  """Encodes every video of ``dataset`` (batches from ``make_dataset``).

  Args:
    dataset: iterable of batch dicts (``id``, ``audio``, ``visual``,
      ``num_frames``, ``labels``), uint8 or float features.
    encode_audio / encode_visual: encode functions (module docstring).
    limit: stop after this many videos (0: all).
    keep_audio_features: keep each video's uint8 audio features (for
      :func:`sync_evaluation`, which re-encodes audio excerpts).
    progress: called with the number of videos done after each batch.

  Returns:
    An :class:`EmbeddedSet`.
  """
  ids, a_emb, v_emb, frames, labels = [], [], [], [], []
  a_tl, v_tl, a_feat = [], [], []
  timelines = None
  for batch in dataset:
    batch = {k: np.asarray(v) for k, v in batch.items()}
    n = len(batch["id"])
    if limit:
      n = min(n, limit - len(ids))
    if n <= 0:
      break
    audio, visual = batch["audio"][:n], batch["visual"][:n]
    lengths = batch["num_frames"][:n].astype(np.int32)
    ae, at = encode_audio(_as_float(audio), lengths)
    ve, vt = encode_visual(_as_float(visual), lengths)
    timelines = at is not None and vt is not None
    ids += [x.decode() if isinstance(x, bytes) else str(x) for x in batch["id"][:n]]
    a_emb.append(np.asarray(ae, np.float32))
    v_emb.append(np.asarray(ve, np.float32))
    frames.append(lengths)
    labels.append(batch["labels"][:n])
    for i, t in enumerate(lengths):
      if timelines:
        a_tl.append(np.asarray(at[i, :t], np.float32))
        v_tl.append(np.asarray(vt[i, :t], np.float32))
      if keep_audio_features and audio.ndim == 3:
        a_feat.append(np.asarray(audio[i, :t]))
    if progress:
      progress(len(ids))
    if limit and len(ids) >= limit:
      break
  if not ids:
    raise ValueError("no videos to embed")
  return EmbeddedSet(
      ids=ids, audio_embedding=np.concatenate(a_emb), visual_embedding=np.concatenate(v_emb),
      num_frames=np.concatenate(frames), labels=np.concatenate(labels),
      audio_timelines=a_tl if timelines else None,
      visual_timelines=v_tl if timelines else None,
      audio_features=a_feat if keep_audio_features and a_feat else None)


def sync_tasks_and_excerpts(embedded: EmbeddedSet, max_offset: int, excerpt_seconds: int,
                            seed: int = 0):
  """Draws sync tasks and cuts their audio excerpts.

  Returns:
    ``(tasks [M, 3] int64 rows (video, t0, true offset), excerpts uint8 or
    float [M, L, 128], skipped)``: the excerpt of task j is audio seconds
    ``[t0 + d, t0 + d + L)`` of its video: the audio shifted by ``d``.
  """
  if embedded.audio_features is None:
    raise ValueError("sync evaluation needs the audio features (keep_audio_features=True)")
  tasks, skipped = metrics.make_sync_tasks(embedded.num_frames, max_offset,
                                           excerpt_seconds, seed)
  excerpts = np.stack([
      embedded.audio_features[i][t0 + d:t0 + d + excerpt_seconds] for i, t0, d in tasks
  ]) if len(tasks) else np.zeros((0, excerpt_seconds, feat.AUDIO_DIM), np.uint8)
  return tasks, excerpts, skipped


def sync_evaluation(embedded: EmbeddedSet, encode_audio: EncodeFn, max_offset: int,
                    excerpt_seconds: int, seed: int = 0, batch_size: int = 128,
                    return_details: bool = False):
  """Synchronization accuracy with audio excerpts encoded on their own.

  For each video long enough, audio seconds ``[t0 + d, t0 + d + L)`` are cut
  out (the soundtrack shifted by a true offset ``d`` in ``[-S, S]``), encoded
  alone, as a user's clip would be, and aligned against the video's visual
  timeline around ``t0`` (:func:`metrics.estimate_offset`).

  Returns:
    :func:`metrics.sync_metrics` plus ``sync/skipped``; with
    ``return_details`` also ``(tasks, estimated, scores [M, 2S + 1])``.
  """
  if not embedded.has_timelines:
    raise ValueError("synchronization needs timelines (a frame-level model)")
  tasks, excerpts, skipped = sync_tasks_and_excerpts(embedded, max_offset,
                                                     excerpt_seconds, seed)
  estimated = np.zeros([len(tasks)], np.int64)
  scores = np.zeros([len(tasks), 2 * max_offset + 1], np.float32)
  for start in range(0, len(tasks), batch_size):
    chunk = excerpts[start:start + batch_size]
    lengths = np.full([len(chunk)], excerpt_seconds, np.int32)
    _, timelines = encode_audio(_as_float(chunk), lengths)
    for j, tl in enumerate(np.asarray(timelines)):
      i, t0, _ = tasks[start + j]
      estimated[start + j], scores[start + j] = metrics.estimate_offset(
          tl, embedded.visual_timelines[i], t0, max_offset)
  out = metrics.sync_metrics(estimated, tasks[:, 2] if len(tasks) else estimated)
  out["sync/skipped"] = skipped
  if return_details:
    return out, (tasks, estimated, scores)
  return out


def timeline_retrieval(embedded: EmbeddedSet, pool_size: Optional[int] = None,
                       seed: int = 0) -> Dict[str, float]:
  """Recall@1 of matching one random second across videos by timeline.

  For each video a random valid second t is drawn; the audio timeline vector
  at t is the query and the visual timeline vectors at the same second of all
  videos (or of a pool) are the candidates: is the right video first?

  Returns:
    ``{"timeline/a2v_recall@1": ..., "timeline/v2a_recall@1": ...}``.
  """
  if not embedded.has_timelines:
    return {}
  rng = np.random.default_rng(seed)
  seconds = [int(rng.integers(0, max(1, n))) for n in embedded.num_frames]
  a = np.stack([tl[t] for tl, t in zip(embedded.audio_timelines, seconds)])
  v = np.stack([tl[t] for tl, t in zip(embedded.visual_timelines, seconds)])
  res = metrics.cross_modal_retrieval(a, v, ks=(1,), pool_size=pool_size, seed=seed)
  return {"timeline/a2v_recall@1": res["a2v/recall@1"],
          "timeline/v2a_recall@1": res["v2a/recall@1"]}


def evaluate_embedded(embedded: EmbeddedSet, encode_audio: Optional[EncodeFn],
                      pool_sizes=(None,), max_offset: int = 5, excerpt_seconds: int = 20,
                      seed: int = 0, ks=(1, 5, 10)) -> Dict[str, float]:
  """Clip retrieval (both ways, per pool size), timeline R@1 and sync.

  Keys of pooled results are prefixed ``pool<P>/`` (``all/`` for the whole
  set); sync needs ``encode_audio`` and timelines.
  """
  out: Dict[str, float] = {"num_videos": len(embedded)}
  for pool in pool_sizes:
    res = metrics.cross_modal_retrieval(embedded.audio_embedding,
                                        embedded.visual_embedding, ks=ks,
                                        pool_size=pool, seed=seed)
    prefix = "all/" if pool is None else f"pool{pool}/"
    out.update({prefix + k: v for k, v in res.items()})
  if embedded.has_timelines:
    out.update(timeline_retrieval(embedded, pool_size=pool_sizes[-1], seed=seed))
    if encode_audio is not None and embedded.audio_features is not None:
      out.update(sync_evaluation(embedded, encode_audio, max_offset, excerpt_seconds, seed))
  return out
