"""Choosing pictures across the segments of a broadcast: no video fills it all.

Each segment comes with its candidate stretches ranked by fit
(:mod:`.stretches`). Taken alone, every segment would often pick the same
few videos: those that fit speech or music in general. :func:`choose` walks
the segments in time order and gives each its ``k`` best stretches, from
``k`` different videos, leaving out any video already suggested for a
segment that started less than ``repeat_gap`` seconds before: the next
best video takes its place. A video thus appears at most once in any
``repeat_gap`` seconds of the broadcast (``repeat_gap = 0``: no limit).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence


@dataclasses.dataclass(frozen=True)
class Pick:
  """A suggested stretch for a segment.

  Attributes:
    item: the video's catalogue row.
    start: its first second.
    score: what the picks are ranked by.
    stretch_score: the stretch's fit (mean diagonal cosine).
    clip_score: the whole video's fit to the segment (clip embeddings).
  """

  item: int
  start: int
  score: float
  stretch_score: float
  clip_score: float


def choose(ranked: Sequence[Sequence[Pick]], segment_starts: Sequence[int], k: int,
           repeat_gap: float) -> List[List[Pick]]:
  """Each segment's ``k`` picks (see the module docstring).

  Args:
    ranked: per segment, its candidates, best first (one per video).
    segment_starts: per segment, its first second in the broadcast.
    k: picks per segment.
    repeat_gap: seconds before a video may be suggested again.

  Returns:
    Per segment, at most ``k`` picks, best first.
  """
  last: Dict[int, float] = {}
  out = []
  for picks, start in zip(ranked, segment_starts):
    chosen: List[Pick] = []
    for pick in picks:
      if len(chosen) == k:
        break
      if pick.item in last and start - last[pick.item] < repeat_gap:
        continue
      if any(c.item == pick.item for c in chosen):
        continue
      chosen.append(pick)
    for pick in chosen:
      last[pick.item] = start
    out.append(chosen)
  return out
