"""Reads AudioSet's per-second audio embeddings (the feature YouTube-8M ships as ``audio``).

AudioSet v1 embedding records are ``tf.train.SequenceExample``: context
``video_id``, ``start_time_seconds``, ``end_time_seconds``, ``labels`` (527
classes), feature list ``audio_embedding`` of 128 uint8 bytes per 0.96 s
frame. They hold no pictures, so they serve audio statistics
(``benchmarks/realism.py``), not cross-modal training.
"""

from __future__ import annotations

from typing import List

import numpy as np

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data.pipeline import list_files

FEATURE = "audio_embedding"


def read_audio_clips(pattern: str, limit: int = 0) -> List[np.ndarray]:
  """The ``audio_embedding`` lists of the records of ``pattern``.

  Args:
    pattern: comma-separated file patterns (local or gs://).
    limit: stop after this many clips (0: all).

  Returns:
    uint8 arrays ``[T, 128]``, one a clip, in file order.

  Raises:
    ValueError: a record that is not an AudioSet embedding record, naming
      the file and the record's index.
  """
  import tensorflow as tf  # Lazy: the rest of data/ is numpy.
  clips = []
  for path in list_files(pattern):
    for index, raw in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
      try:
        example = tf.train.SequenceExample.FromString(raw)
      except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{path} record {index}: not a SequenceExample ({e})") from e
      frames = example.feature_lists.feature_list.get(FEATURE)
      if frames is None or not frames.feature:
        raise ValueError(f"{path} record {index}: no '{FEATURE}' feature list "
                         "(not an AudioSet embedding record)")
      rows = [f.bytes_list.value[0] if f.bytes_list.value else b"" for f in frames.feature]
      if any(len(r) != feat.AUDIO_DIM for r in rows):
        raise ValueError(f"{path} record {index}: '{FEATURE}' frames must be "
                         f"{feat.AUDIO_DIM} bytes, got {sorted({len(r) for r in rows})}")
      clips.append(np.frombuffer(b"".join(rows), np.uint8).reshape(-1, feat.AUDIO_DIM))
      if limit and len(clips) >= limit:
        return clips
  return clips
