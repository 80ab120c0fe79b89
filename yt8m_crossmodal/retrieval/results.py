"""One query's search results as ``yt8m-search`` reports them."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from yt8m_crossmodal.retrieval.catalogue import Catalogue
from yt8m_crossmodal.retrieval.rerank import DEFAULT_ALPHA, localize, rerank_by_timeline


def ranked_results(catalogue: Catalogue, target: str, scores: np.ndarray,
                   indices: np.ndarray, k: int,
                   query_timeline: Optional[np.ndarray] = None,
                   query_len: Optional[int] = None, rerank: int = 0,
                   rerank_alpha: float = DEFAULT_ALPHA, with_starts: bool = False
                   ) -> List[Dict[str, Any]]:
  """The top ``k`` of one query, best first.

  Args:
    catalogue: what was searched.
    target: the modality searched ("visual" for an audio query).
    scores, indices: [C] one row of :meth:`Catalogue.search` (C >= k, or
      >= ``rerank``); indices < 0 (missing ANN results) are dropped.
    k: results kept.
    query_timeline: [L, E] the query's timeline (for re-ranking and starts).
    query_len: its valid seconds (None: L).
    rerank: re-score the top ``rerank`` by timeline alignment (0: off).
    rerank_alpha: weight of the clip score when re-ranking.
    with_starts: add ``best_start_second`` and ``timeline_score`` (where in
      each result the query fits best).

  Returns:
    One dict per result: ``id``, ``score``, ``rank`` (from 1), ``row`` (its
    catalogue index), and with re-ranking or ``with_starts``
    ``best_start_second`` (>= 0: the result's second where the query's
    first second fits) and ``timeline_score`` (re-ranking adds
    ``clip_score``). A result shorter than the query fits *inside* it: then
    ``best_start_second`` is 0 and ``query_start_second`` says which second
    of the query (counted from its first second used) lines up with it.
  """
  if query_timeline is not None and not np.isfinite(np.asarray(query_timeline)).all():
    raise ValueError("the query's timeline holds NaN or Inf: it cannot be aligned")
  keep = indices >= 0
  scores, indices = scores[keep], indices[keep]
  results = []
  if rerank:
    rr = rerank_by_timeline(query_timeline, query_len, indices[:rerank], catalogue,
                            scores[:rerank], rerank_alpha, modality=target)
    for rank in range(min(k, rr.indices.size)):
      results.append(dict({
          "id": catalogue.ids[rr.indices[rank]], "score": float(rr.scores[rank]),
          "rank": rank + 1, "row": int(rr.indices[rank]),
          "clip_score": float(rr.clip_scores[rank]),
          "timeline_score": float(rr.timeline_scores[rank])}, **starts_of(rr.starts[rank])))
    return results
  indices, scores = indices[:k], scores[:k]
  starts = tl_scores = None
  if with_starts:
    refs = catalogue.timeline_rows(target, indices)
    starts, tl_scores = localize(query_timeline, refs, catalogue.num_frames[indices],
                                 query_len)
  for rank, (i, s) in enumerate(zip(indices, scores)):
    item = {"id": catalogue.ids[i], "score": float(s), "rank": rank + 1, "row": int(i)}
    if starts is not None:
      item.update(starts_of(starts[rank]))
      item["timeline_score"] = float(tl_scores[rank])
    results.append(item)
  return results


def starts_of(start: int) -> Dict[str, int]:
  """``best_start_second`` (never negative) and, for a result shorter than the
  query (an alignment start < 0), ``query_start_second``."""
  start = int(start)
  if start >= 0:
    return {"best_start_second": start}
  return {"best_start_second": 0, "query_start_second": -start}
