"""Frame-level YouTube-8M records of extracted features, and ids from file names."""

from __future__ import annotations

import os
import re
from typing import List, Optional, Sequence

import numpy as np

from yt8m_crossmodal.data import features as feat


def sequence_example(video_id: str, rgb: Optional[np.ndarray], audio: Optional[np.ndarray],
                     labels: Sequence[int] = (), mean_rgb: Optional[np.ndarray] = None,
                     mean_audio: Optional[np.ndarray] = None) -> bytes:
  """One serialized ``tf.train.SequenceExample`` in the YouTube-8M layout.

  Context ``id`` (bytes), ``labels`` (int64, sorted; only when given) and,
  as the YouTube-8M extractor writes them, ``mean_rgb`` / ``mean_audio``
  (float32 means of the features before quantization, so the record also
  reads as a video-level one); feature lists ``rgb`` (one 1024-byte value per
  second) and ``audio`` (one 128-byte value per second), each only when the
  modality is present.

  Args:
    video_id: the id.
    rgb: uint8 ``[T, 1024]`` or None.
    audio: uint8 ``[T', 128]`` or None.
    labels: class indices.
    mean_rgb: float ``[1024]`` or None.
    mean_audio: float ``[128]`` or None.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  se = tf.train.SequenceExample()
  context = se.context.feature
  context["id"].bytes_list.value.append(video_id.encode("utf-8"))
  if len(labels):
    context["labels"].int64_list.value.extend(sorted(int(v) for v in labels))
  for key, values, dim in (("mean_rgb", mean_rgb, feat.VISUAL_DIM),
                           ("mean_audio", mean_audio, feat.AUDIO_DIM)):
    if values is not None:
      values = np.asarray(values, np.float32).reshape(-1)
      if values.shape != (dim,):
        raise ValueError(f"{key} must have {dim} values, got {values.shape}")
      context[key].float_list.value.extend(values.tolist())
  for key, frames, dim in (("rgb", rgb, feat.VISUAL_DIM), ("audio", audio, feat.AUDIO_DIM)):
    if frames is None:
      continue
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 2 or frames.shape[1] != dim:
      raise ValueError(f"{key} must be uint8 [T, {dim}], got {frames.dtype} {frames.shape}")
    feature_list = se.feature_lists.feature_list[key]
    for row in frames:
      feature_list.feature.add().bytes_list.value.append(row.tobytes())
  return se.SerializeToString()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def media_ids(paths: Sequence[str]) -> List[str]:
  """One id per path, from its file name: unique, readable, safe.

  The file name without its extension, every run of characters other than
  letters, digits, ``.``, ``_`` and ``-`` turned into ``_`` (``holiday
  2019.mp4`` -> ``holiday_2019``); a name met again gets ``-2``, ``-3``...
  in the order of ``paths`` (``a/clip.mp4``, ``b/clip.mp4`` -> ``clip``,
  ``clip-2``).
  """
  seen = set()
  out = []
  for path in paths:
    stem = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
    base = _UNSAFE.sub("_", stem).strip("_") or "media"
    candidate, n = base, 1
    while candidate in seen:
      n += 1
      candidate = f"{base}-{n}"
    seen.add(candidate)
    out.append(candidate)
  return out


def shard_name(prefix: str, shard: int) -> str:
  """``<prefix>0000.tfrecord``, as ``yt8m-synth`` names its shards."""
  return f"{prefix}{shard:04d}.tfrecord"
