"""Scoring temporal re-ranking: Recall@1 before and after, per direction."""

from __future__ import annotations

from typing import Dict

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.evaluation import embedding
from yt8m_crossmodal.evaluation.reports import DIRECTIONS


def rerank_metrics(embedded: embedding.EmbeddedSet, top: int, alpha: float
                   ) -> Dict[str, float]:
  """R@1 before/after re-ranking each query's top clip candidates by timeline.

  Args:
    embedded: an embedded set with timelines.
    top: N, clip candidates per query (exact search over the whole set).
    alpha: weight of the clip score in the combined score.

  Returns:
    ``rerank/<dir>_recall@1_before``, ``rerank/<dir>_recall@1_after``,
    ``rerank/<dir>_recall@<N>`` for ``dir`` in a2v, v2a, plus ``rerank/top``
    and ``rerank/alpha``.
  """
  n = len(embedded)
  top = min(top, n)
  catalogue = retrieval.Catalogue(
      ids=list(range(n)), audio_embeddings=embedded.audio_embedding,
      visual_embeddings=embedded.visual_embedding,
      audio_timelines=embedded.padded_timelines("audio"),
      visual_timelines=embedded.padded_timelines("visual"),
      num_frames=embedded.num_frames)
  out: Dict[str, float] = {"rerank/top": top, "rerank/alpha": alpha}
  for name, query, target in DIRECTIONS:
    scores, indices = retrieval.exact_search(catalogue.embeddings(query),
                                             catalogue.embeddings(target), top)
    timelines = embedded.audio_timelines if query == "audio" else embedded.visual_timelines
    before = after = within = 0
    for i in range(n):
      result = retrieval.rerank_by_timeline(timelines[i], int(embedded.num_frames[i]),
                                            indices[i], catalogue, scores[i], alpha,
                                            modality=target)
      before += int(indices[i, 0] == i)
      after += int(result.indices.size > 0 and result.indices[0] == i)
      within += int(i in indices[i])
    out[f"rerank/{name}_recall@1_before"] = before / n
    out[f"rerank/{name}_recall@1_after"] = after / n
    out[f"rerank/{name}_recall@{top}"] = within / n
  return out
