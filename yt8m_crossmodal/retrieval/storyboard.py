"""Choosing pictures across the segments of a broadcast: no video fills it all.

Each segment comes with its candidate stretches ranked by fit
(:mod:`.stretches`). Taken alone, every segment would often pick the same
few videos: those that fit speech or music in general. :func:`choose`
gives each segment ``k`` stretches from ``k`` different videos such that no
video is suggested for two segments that start less than ``repeat_gap``
seconds apart: a video appears at most once in any ``repeat_gap`` seconds
of the broadcast (``repeat_gap = 0``: no limit). The candidates of all
segments are taken best first (a greedy matching), so a strong fit is
placed before a weak one can take its video: a video that fits minute 12
very well is not used up as a third choice at minute 10.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np

from yt8m_crossmodal.retrieval import stretches
from yt8m_crossmodal.retrieval.catalogue import Catalogue, gather_rows


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
    ranked: per segment, its candidates (at most one per video).
    segment_starts: per segment, its first second in the broadcast.
    k: picks per segment.
    repeat_gap: seconds that must separate two segments given the same video.

  Returns:
    Per segment, at most ``k`` picks, best first (fewer only when every
    other candidate's video is taken nearby).
  """
  order = sorted(((pick.score, j, n) for j, picks in enumerate(ranked)
                  for n, pick in enumerate(picks)), key=lambda e: (-e[0], e[1], e[2]))
  used: Dict[int, List[float]] = {}
  chosen: List[List[Pick]] = [[] for _ in ranked]
  for _, j, n in order:
    if len(chosen[j]) >= k:
      continue
    pick, start = ranked[j][n], segment_starts[j]
    times = used.setdefault(pick.item, [])
    if any(abs(start - t) < repeat_gap or t == start for t in times):
      continue
    chosen[j].append(pick)
    times.append(start)
  return [sorted(picks, key=lambda p: -p.score) for picks in chosen]


# Weight of a video's clip fit against its stretch's own fit (yt8m-pictures --clip_weight).
DEFAULT_CLIP_WEIGHT = 0.5


def plan(catalogue: Catalogue, timeline: np.ndarray, segment_clips: np.ndarray,
         spans: Sequence[Tuple[int, int]], k: int = 3, repeat_gap: float = 300,
         window: int = 5, candidates: int = 200, hub_weight: float = 0.5,
         clip_weight: float = DEFAULT_CLIP_WEIGHT, target: str = "visual", windows=None,
         nprobe: int = 0) -> List[List[Pick]]:
  """The storyboard's picks: stretches found catalogue-wide, ranked, chosen.

  Args:
    catalogue: with timelines of ``target``.
    timeline: [T, E] the soundtrack's timeline (the other modality).
    segment_clips: [S, E] each segment's clip embedding (encoded alone).
    spans: the S segments (:func:`~.stretches.segments`).
    k, repeat_gap: see :func:`choose`.
    window, candidates: W and C of :func:`~.stretches.stretches`.
    hub_weight: w of ``-w * hubness`` (window scores and clip scores).
    clip_weight: a pick's score is ``clip_weight * clip + (1 - clip_weight)
      * stretch``.
    windows: a :class:`~.window_index.WindowIndex` of ``target`` (its ``W``)
      for step 1 instead of the pass over every timeline; ``nprobe``: its
      IVF lists visited (0: its default).

  Returns:
    Per segment, its picks (:func:`choose`).
  """
  query = "audio" if target == "visual" else "visual"
  hub = catalogue.item_hubness(target, query)
  bias = (-hub_weight * hub if hub_weight and hub is not None
          else np.zeros([catalogue.size], np.float32))
  search = None
  if windows is not None:
    window = windows.width
    search = (lambda q, c, ok, b: windows.search(q, c, nprobe or None, ok, b))
  found = stretches.stretches(timeline, list(spans), catalogue.timelines(target),
                              catalogue.num_frames, window, candidates, bias, search)
  ranked = []
  for j, cands in enumerate(found):
    items = np.array([c.item for c in cands], np.int64)
    clip = (gather_rows(catalogue.embeddings(target), items) @ segment_clips[j]
            + bias[items]) if items.size else np.zeros([0])
    picks = [Pick(c.item, c.start, clip_weight * float(cs) + (1 - clip_weight) * c.score,
                  c.score, float(cs)) for c, cs in zip(cands, clip)]
    ranked.append(sorted(picks, key=lambda p: -p.score))
  return choose(ranked, [a for a, _ in spans], k, repeat_gap)
