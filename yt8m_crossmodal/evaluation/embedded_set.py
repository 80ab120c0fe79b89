"""The embeddings, timelines and labels of a set of videos (numpy)."""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np


@dataclasses.dataclass
class EmbeddedSet:
  """Everything known about a set of N embedded videos.

  Timelines and audio features are per-video lists (lengths differ): item i is
  ``[num_frames[i], E]`` (or ``[num_frames[i], 128]`` uint8 for the audio
  features kept for synchronization).
  """

  ids: List[str]
  audio_embedding: Optional[np.ndarray]   # [N, E]; None when only the pictures were read
  visual_embedding: Optional[np.ndarray]  # [N, E]; None when only the sound was read
  num_frames: np.ndarray        # [N]
  labels: np.ndarray            # [N, C] multi-hot (float32)
  audio_timelines: Optional[List[np.ndarray]] = None
  visual_timelines: Optional[List[np.ndarray]] = None
  audio_features: Optional[List[np.ndarray]] = None

  def __len__(self):
    return len(self.ids)

  @property
  def has_timelines(self) -> bool:
    return self.visual_timelines is not None or self.audio_timelines is not None

  def padded_timelines(self, modality: str) -> np.ndarray:
    """Timelines padded with zeros to the longest video: [N, T, E]."""
    items = self.audio_timelines if modality == "audio" else self.visual_timelines
    t = max(len(x) for x in items)
    out = np.zeros((len(items), t, items[0].shape[-1]), np.float32)
    for i, x in enumerate(items):
      out[i, :len(x)] = x
    return out
