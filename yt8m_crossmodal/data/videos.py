"""YT-8M records one video at a time, as numpy (:func:`read_videos`).

What the Python API's ``read_records`` yields: each video's id, labels and
features, the input that ``Encoder.encode_audio`` / ``encode_visual`` take.
The records go through the same reader as training and the tools
(:func:`yt8m_crossmodal.data.pipeline.make_dataset`: every record checked,
a bad one named by file and index), in file order. Importing this module
imports no TensorFlow (the API's names load quickly).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Sequence

import numpy as np

# Labels accepted (the 2017 vocabulary, the larger one; 2018 and later: 3862).
NUM_CLASSES = 4716


@dataclasses.dataclass(frozen=True)
class Video:
  """One video of YT-8M records.

  Attributes:
    id: the video id (``id``, or ``video_id`` in 2017 records).
    labels: [L] int32 class indices.
    audio: frame level: [T, 128] uint8 as stored, one row a second (float32
      in [-2, 2] when read with ``dequantize=True``); video level: [128]
      float32 (``mean_audio``).
    visual: frame level: [T, 1024] (``rgb``); video level: [1024]
      (``mean_rgb``). None for a modality not read (``modalities``).
    feature_level: "frame" or "video".
    file: the file it was read from, and ``index`` its record index there.

  >>> video = next(read_records(records))
  >>> video.feature_level, video.audio.shape == (video.num_frames, 128), video.labels.dtype
  ('frame', True, dtype('int32'))
  """

  id: str
  labels: np.ndarray
  audio: Optional[np.ndarray]
  visual: Optional[np.ndarray]
  feature_level: str
  file: str
  index: int

  @property
  def num_frames(self) -> int:
    """Seconds of the video (T; 1 at video level)."""
    if self.feature_level != "frame":
      return 1
    return len(self.audio if self.audio is not None else self.visual)


def read_videos(pattern: str, feature_level: str = "auto", dequantize: bool = False,
                max_videos: int = 0, skip_bad_records: bool = False,
                num_classes: int = NUM_CLASSES, batch_size: int = 16,
                modalities: Sequence[str] = ("audio", "visual")) -> Iterator[Video]:
  """Yields the videos of ``pattern`` in file order (files sorted, records in order).

  Args:
    pattern: comma-separated file globs, local or gs://.
    feature_level: "frame", "video", or "auto" (the level of the first
      record that reads as either).
    dequantize: frame features as float32 in [-2, 2] instead of uint8.
    max_videos: stop after this many (0: all).
    skip_bad_records: skip bad records (logged) instead of raising.
    num_classes: labels at or above it make a record bad.
    batch_size: records decoded at once.
    modalities: ("audio",) or ("visual",): read that modality alone, and
      records that hold only it too (yt8m-extract's sound-only or silent
      files); the other is None.

  Raises:
    PathNotFoundError: nothing matches ``pattern``.
    tf.errors.InvalidArgumentError: a bad record (named by file and index),
      unless ``skip_bad_records``.
  """
  from yt8m_crossmodal.data import pipeline  # TensorFlow: not on importing Video.
  level = feature_level
  if level == "auto":
    level = pipeline.first_record_level(pattern, 1 << 20) or pipeline.FRAME
  ds = pipeline.make_dataset(pattern, feature_level=level, batch_size=batch_size,
                             num_classes=num_classes, max_frames=1 << 20,
                             skip_bad_records=skip_bad_records, dequantize=dequantize,
                             with_provenance=True, file_order=True, prefetch=False,
                             modalities=modalities, seed=0)  # seed: batches in order.
  count = 0
  for batch in ds.as_numpy_iterator():
    for i in range(len(batch["id"])):
      n = int(batch["num_frames"][i])
      cut = ((lambda x: x[i, :n].copy()) if level == pipeline.FRAME  # Not a view of the batch.
             else (lambda x: x[i].copy()))
      yield Video(id=batch["id"][i].decode(errors="replace"),
                  labels=np.flatnonzero(batch["labels"][i]).astype(np.int32),
                  audio=cut(batch["audio"]) if "audio" in batch else None,
                  visual=cut(batch["visual"]) if "visual" in batch else None,
                  feature_level=level, file=batch["file"][i].decode(errors="replace"),
                  index=int(batch["record_index"][i]))
      count += 1
      if max_videos and count >= max_videos:
        return
