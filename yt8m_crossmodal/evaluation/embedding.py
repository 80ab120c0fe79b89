"""Embedding a data set and scoring it, whatever does the encoding.

The same code serves the training callback (Keras encoders in the process)
and ``yt8m-evaluate`` (the exported SavedModel's signatures, as a serving
client would call them), through an *encode function*
(:mod:`yt8m_crossmodal.evaluation.encode`).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.evaluation import metrics
from yt8m_crossmodal.evaluation import sync
from yt8m_crossmodal.evaluation.embedded_set import EmbeddedSet
from yt8m_crossmodal.evaluation.encode import EncodeFn
from yt8m_crossmodal.retrieval import hubness


def embed_dataset(dataset, encode_audio: EncodeFn, encode_visual: EncodeFn,
                  limit: int = 0, keep_audio_features: bool = False,
                  progress: Optional[Callable[[int], None]] = None) -> EmbeddedSet:
  """Encodes every video of ``dataset`` (batches from ``make_dataset``).

  Args:
    dataset: iterable of batch dicts (``id``, ``audio``, ``visual``,
      ``num_frames``, ``labels``), uint8 or float features.
    encode_audio / encode_visual: encode functions (module docstring); None
      for a modality not read (one-modality records): its embeddings and
      timelines are then None.
    limit: stop after this many videos (0: all).
    keep_audio_features: keep each video's uint8 audio features (for
      :func:`yt8m_crossmodal.evaluation.sync.sync_from_encoded_excerpts`).
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
    audio = batch["audio"][:n] if encode_audio is not None else None
    visual = batch["visual"][:n] if encode_visual is not None else None
    lengths = batch["num_frames"][:n].astype(np.int32)
    ae, at = encode_audio(feat.to_float(audio), lengths) if audio is not None else (None, None)
    ve, vt = encode_visual(feat.to_float(visual), lengths) if visual is not None else (None, None)
    timelines = (at is not None or audio is None) and (vt is not None or visual is None)
    ids += [x.decode() if isinstance(x, bytes) else str(x) for x in batch["id"][:n]]
    a_emb.append(None if ae is None else np.asarray(ae, np.float32))
    v_emb.append(None if ve is None else np.asarray(ve, np.float32))
    frames.append(lengths)
    labels.append(batch["labels"][:n])
    for i, t in enumerate(lengths):
      if timelines and at is not None:
        a_tl.append(np.asarray(at[i, :t], np.float32))
      if timelines and vt is not None:
        v_tl.append(np.asarray(vt[i, :t], np.float32))
      if keep_audio_features and audio is not None and audio.ndim == 3:
        a_feat.append(np.asarray(audio[i, :t]))
    if progress:
      progress(len(ids))
    if limit and len(ids) >= limit:
      break
  if not ids:
    raise ValueError("no videos to embed")
  joined = lambda parts: None if parts[0] is None else np.concatenate(parts)
  return EmbeddedSet(
      ids=ids, audio_embedding=joined(a_emb), visual_embedding=joined(v_emb),
      num_frames=np.concatenate(frames), labels=np.concatenate(labels),
      audio_timelines=a_tl if timelines and encode_audio is not None else None,
      visual_timelines=v_tl if timelines and encode_visual is not None else None,
      audio_features=a_feat if keep_audio_features and a_feat else None)


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
                      seed: int = 0, ks=(1, 5, 10),
                      hub_weight: float = 0.0) -> Dict[str, float]:
  """Clip retrieval (both ways, per pool size), timeline R@1 and sync.

  Keys of pooled results are prefixed ``pool<P>/`` (``all/`` for the whole
  set); with ``hub_weight`` > 0 the same figures ranked as ``yt8m-search``
  ranks (``cos - w * hubness``, see
  :func:`~yt8m_crossmodal.evaluation.metrics.cross_modal_retrieval`) are
  added as ``hub_pool<P>/`` and ``hub_all/``. Sync needs ``encode_audio``
  and timelines.
  """
  out: Dict[str, float] = {"num_videos": len(embedded)}
  rankings = [("", 0.0)] + ([("hub_", hub_weight)] if hub_weight else [])
  hub_values = (hubness.hubness_pair(embedded.audio_embedding, embedded.visual_embedding)
                if hub_weight else None)
  for label, weight in rankings:
    for pool in pool_sizes:
      res = metrics.cross_modal_retrieval(embedded.audio_embedding,
                                          embedded.visual_embedding, ks=ks,
                                          pool_size=pool, seed=seed, hub_weight=weight,
                                          hubness_values=hub_values)
      prefix = label + ("all/" if pool is None else f"pool{pool}/")
      out.update({prefix + k: v for k, v in res.items()})
  if embedded.has_timelines:
    out.update(timeline_retrieval(embedded, pool_size=pool_sizes[-1], seed=seed))
    if encode_audio is not None and embedded.audio_features is not None:
      out.update(sync.sync_from_encoded_excerpts(embedded, encode_audio, max_offset,
                                                 excerpt_seconds, seed))
  return out
