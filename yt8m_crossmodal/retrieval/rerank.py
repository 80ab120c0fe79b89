"""Temporal re-ranking of clip results and segment localization."""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from yt8m_crossmodal.retrieval import alignment
from yt8m_crossmodal.retrieval.catalogue import Catalogue


class RerankResult(NamedTuple):
  """Re-ranked candidates, all [C] and sorted by descending ``scores``.

  Attributes:
    indices: catalogue indices in the new order.
    scores: combined scores ``alpha * clip + (1 - alpha) * timeline``.
    starts: best start second of the query inside each candidate's timeline.
    timeline_scores: best mean diagonal similarity per candidate.
    clip_scores: the input clip scores, reordered.
  """

  indices: np.ndarray
  scores: np.ndarray
  starts: np.ndarray
  timeline_scores: np.ndarray
  clip_scores: np.ndarray


def localize(query_timeline: np.ndarray,
             candidate_timelines: np.ndarray,
             candidate_lens: Optional[Sequence[int]] = None,
             query_len: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
  """Best start of a short query clip inside each candidate timeline.

  Args:
    query_timeline: [L, E] query timeline.
    candidate_timelines: [C, T, E] candidate timelines (float16 ok).
    candidate_lens: [C] valid seconds per candidate (default T).
    query_len: valid seconds of the query (default L).

  Returns:
    ``(starts [C] int64, scores [C] float32)``: start second and mean cosine
    along the best diagonal (see :mod:`yt8m_crossmodal.retrieval.alignment`; a
    candidate shorter than the query gets a negative start, an empty one
    score -inf).
  """
  return alignment.best_alignments(query_timeline, candidate_timelines,
                                   candidate_lens, query_len)


# Weight of the clip score against the timeline alignment (yt8m-search --rerank_alpha).
DEFAULT_ALPHA = 0.5


def rerank_by_timeline(query_timeline: np.ndarray,
                       query_len: Optional[int],
                       candidate_indices: Sequence[int],
                       catalogue: Catalogue,
                       clip_scores: Sequence[float],
                       alpha: float = DEFAULT_ALPHA,
                       modality: str = "visual") -> RerankResult:
  """Re-scores retrieved candidates by their best timeline alignment.

  Args:
    query_timeline: [L, E] query timeline (other modality than ``modality``).
    query_len: valid seconds of the query (None: L).
    candidate_indices: [C] catalogue indices (e.g. a row of a search
      result); entries < 0 (missing ANN results) are dropped.
    catalogue: catalogue with timelines.
    clip_scores: [C] clip-level scores of the candidates.
    alpha: weight of the clip score in [0, 1] (1: clip order only).
    modality: modality of the candidates' timelines.

  Returns:
    :class:`RerankResult` sorted by the combined score (stable: ties keep the
    input order). Candidates whose timeline is empty get timeline score
    -inf and sort last (unless alpha == 1).
  """
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f"alpha must be in [0, 1], got {alpha}")
  idx = np.asarray(candidate_indices, np.int64).reshape(-1)
  clip = np.asarray(clip_scores, np.float32).reshape(-1)
  if idx.shape != clip.shape:
    raise ValueError(f"{idx.size} candidates but {clip.size} clip scores")
  keep = idx >= 0
  idx, clip = idx[keep], clip[keep]
  if idx.size and idx.max() >= catalogue.size:
    raise ValueError(f"Candidate index {idx.max()} >= catalogue size "
                     f"{catalogue.size}")
  catalogue.timelines(modality)  # ValueError when none are stored.
  query = np.asarray(query_timeline)
  if query.ndim != 2 or query.shape[1] != catalogue.embedding_size:
    raise ValueError(f"Query timeline width {query.shape[-1]} != catalogue "
                     f"width {catalogue.embedding_size}")
  refs = catalogue.timeline_rows(modality, idx)
  starts, tl_scores = localize(query, refs, catalogue.num_frames[idx],
                               query_len)
  if alpha == 1.0:
    combined = clip.astype(np.float64)
  else:
    with np.errstate(invalid="ignore"):
      combined = alpha * clip.astype(np.float64) + (1 - alpha) * tl_scores
    combined[~np.isfinite(tl_scores)] = -np.inf
  order = np.argsort(-combined, kind="stable")
  return RerankResult(indices=idx[order], scores=combined[order].astype(
      np.float32), starts=starts[order], timeline_scores=tl_scores[order],
                      clip_scores=clip[order])
