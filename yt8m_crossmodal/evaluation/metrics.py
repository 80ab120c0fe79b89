"""Cross-modal retrieval metrics (pure numpy).

Used by the training callbacks and the evaluation CLI; no TensorFlow needed.

Retrieval. ``queries [N, E]`` and ``candidates [N, E]`` are aligned: the true
match of query ``i`` is candidate ``i``. Similarity is the inner product (the
embeddings are unit vectors, so it is the cosine). The rank of the true match
is 1 + the number of *other* candidates in the query's pool whose score is
**greater than or equal to** the true match's score: ties are counted
pessimistically (a distractor tied with the true match ranks ahead of it), so
a collapsed model that maps everything to one vector gets the worst rank, not
the best. A non-finite score (a NaN or Inf embedding) never helps: a query
whose true match's score is not finite gets the worst rank (its pool size),
and a NaN distractor ranks ahead of the true match. Scores are computed in float32 by one matrix product per chunk of
queries and the true match's score is read from the same product, so equal
vectors give exactly equal scores.

From the ranks: ``recall@K`` = fraction of queries with rank <= K,
``median_rank``, ``mean_rank`` and ``map`` (mean average precision; with one
relevant item per query AP = 1 / rank, i.e. the mean reciprocal rank). A
multi-relevant variant (:func:`average_precision`, ``relevance=`` of
:func:`retrieval_metrics`) takes a boolean ``[Q, N]`` relevance matrix.

Candidate pools. ``pool_size=None`` ranks against the whole set (pool of
``N``). ``pool_size=P`` gives every query a fixed random pool: its true match
plus ``P - 1`` distinct random distractors, drawn from one
``numpy.random.default_rng(seed)`` query by query, so the pools depend only on
``(N, P, seed)`` (not on chunk sizes) and both directions of
:func:`cross_modal_retrieval` use the same pools. When ``N <= P`` the whole
set is used, a warning is logged and the actual pool size ``N`` is reported.
Every result dict states ``pool_size`` (actual) and ``pool_size_requested``.

Synchronization metrics are in :mod:`yt8m_crossmodal.evaluation.sync`.
"""

from __future__ import annotations

import logging
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from yt8m_crossmodal.retrieval import hubness

__all__ = [
    "true_match_ranks",
    "candidate_pools",
    "pooled_true_match_ranks",
    "rank_metrics",
    "average_precision",
    "retrieval_metrics",
    "cross_modal_retrieval",
]

# Similarity entries per chunk (float32): 2**25 entries = 128 MiB.
_CHUNK_ENTRIES = 1 << 25


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be 2-D [N, E], got shape {x.shape}")
  return np.ascontiguousarray(x, dtype=np.float32)


def _check_pair(queries: np.ndarray,
                candidates: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  queries = _as_matrix(queries, "queries")
  candidates = _as_matrix(candidates, "candidates")
  if queries.shape[0] != candidates.shape[0]:
    raise ValueError(f"queries and candidates must be aligned: {queries.shape[0]}"
                     f" queries vs {candidates.shape[0]} candidates")
  if queries.shape[1] != candidates.shape[1]:
    raise ValueError(f"query width {queries.shape[1]} != candidate width "
                     f"{candidates.shape[1]}")
  if queries.shape[0] == 0:
    raise ValueError("No queries: retrieval metrics need N >= 1")
  return queries, candidates


def _ranks(sims: np.ndarray, true: np.ndarray) -> np.ndarray:
  """1-based ranks of ``true`` [B] in ``sims`` [B, P] (ties and NaN pessimistic).

  A non-finite true score gets the worst rank P.
  """
  ahead = (sims >= true[:, None]) | np.isnan(sims)
  ranks = np.count_nonzero(ahead, axis=1)
  return np.where(np.isfinite(true), np.maximum(ranks, 1), sims.shape[1])


def true_match_ranks(queries: np.ndarray,
                     candidates: np.ndarray,
                     chunk_size: Optional[int] = None) -> np.ndarray:
  """Rank of each query's true match among all candidates.

  Memory stays bounded for large N: queries are processed in chunks of
  ``chunk_size`` rows, each needing a ``[chunk_size, N]`` float32 block.

  Args:
    queries: [N, E] query embeddings.
    candidates: [N, E] candidate embeddings; candidate i matches query i.
    chunk_size: queries per chunk (default: about 2**25 / N, at least 1).

  Returns:
    int64 array [N] of ranks in 1..N (1 = best; ties pessimistic; N for a
    non-finite true score).
  """
  queries, candidates = _check_pair(queries, candidates)
  n = queries.shape[0]
  if chunk_size is None:
    chunk_size = max(1, _CHUNK_ENTRIES // n)
  ranks = np.empty([n], np.int64)
  for start in range(0, n, chunk_size):
    stop = min(n, start + chunk_size)
    sims = queries[start:stop] @ candidates.T  # [B, N]
    rows = np.arange(stop - start)
    true = sims[rows, start + rows]
    # Count includes the true match itself (sims >= true), which gives the
    # 1-based rank with ties counted against the true match.
    ranks[start:stop] = _ranks(sims, true)
  return ranks


def _iter_pools(n: int, pool_size: int, seed: int,
                chunk_size: int) -> Iterator[Tuple[int, np.ndarray]]:
  """Yields ``(start, pools [B, P])`` in query order; column 0 = true match."""
  rng = np.random.default_rng(seed)
  for start in range(0, n, chunk_size):
    stop = min(n, start + chunk_size)
    pools = np.empty([stop - start, pool_size], np.int64)
    for row, i in enumerate(range(start, stop)):
      others = rng.choice(n - 1, size=pool_size - 1, replace=False)
      others += others >= i  # Skip the true match.
      pools[row, 0] = i
      pools[row, 1:] = others
    yield start, pools


def candidate_pools(n: int, pool_size: int, seed: int = 0) -> np.ndarray:
  """The fixed random candidate pools used by :func:`pooled_true_match_ranks`.

  Args:
    n: number of queries/candidates N.
    pool_size: P, with 1 <= P < N.
    seed: random seed; the pools depend only on ``(n, pool_size, seed)``.

  Returns:
    int64 array [N, P]; row i holds i (the true match) in column 0 followed by
    P - 1 distinct distractor indices != i.
  """
  if not 1 <= pool_size < n:
    raise ValueError(f"pool_size must be in [1, {n}), got {pool_size}")
  return np.concatenate(
      [p for _, p in _iter_pools(n, pool_size, seed, 4096)], axis=0)


def pooled_true_match_ranks(queries: np.ndarray,
                            candidates: np.ndarray,
                            pool_size: int,
                            seed: int = 0,
                            chunk_size: int = 1024) -> Tuple[np.ndarray, int]:
  """Rank of each query's true match within its fixed random pool.

  Args:
    queries: [N, E] query embeddings.
    candidates: [N, E] candidate embeddings; candidate i matches query i.
    pool_size: requested pool size P (true match + P - 1 distractors).
    seed: random seed of the pools (see :func:`candidate_pools`).
    chunk_size: at most this many queries per chunk; memory is bounded by
      about 2**25 floats per chunk (a [B, N] score block when N <= 32 P,
      else B gathered [P, E] candidate sets).

  Returns:
    ``(ranks [N] int64 in 1..P', P')`` where ``P' = min(P, N)`` is the actual
    pool size; when ``P >= N`` this is :func:`true_match_ranks`.
  """
  queries, candidates = _check_pair(queries, candidates)
  n = queries.shape[0]
  pool_size = int(pool_size)
  if pool_size < 1:
    raise ValueError(f"pool_size must be >= 1, got {pool_size}")
  if pool_size >= n:
    return true_match_ranks(queries, candidates), n
  ranks = np.empty([n], np.int64)
  if n <= 32 * pool_size:
    # Scoring all N candidates by one matrix product and picking the pool's
    # scores is cheaper than gathering P candidate vectors per query.
    chunk_size = max(1, min(int(chunk_size), _CHUNK_ENTRIES // n))
    for start, pools in _iter_pools(n, pool_size, seed, chunk_size):
      stop = start + pools.shape[0]
      sims = np.take_along_axis(queries[start:stop] @ candidates.T, pools,
                                axis=1)  # [B, P]
      ranks[start:stop] = _ranks(sims, sims[:, 0])
    return ranks, pool_size
  chunk_size = max(1, min(int(chunk_size), _CHUNK_ENTRIES // (
      pool_size * queries.shape[1]) or 1))
  for start, pools in _iter_pools(n, pool_size, seed, chunk_size):
    stop = start + pools.shape[0]
    gathered = candidates[pools]  # [B, P, E]
    sims = np.matmul(gathered, queries[start:stop, :, None])[..., 0]  # [B, P]
    ranks[start:stop] = _ranks(sims, sims[:, 0])
  return ranks, pool_size


def _check_ks(ks: Sequence[int]) -> Tuple[int, ...]:
  ks = tuple(int(k) for k in ks)
  if any(k <= 0 for k in ks):
    raise ValueError(f"Recall cut-offs must be positive, got {ks}")
  return ks


def rank_metrics(ranks: np.ndarray,
                 ks: Sequence[int] = (1, 5, 10),
                 prefix: str = "") -> Dict[str, float]:
  """Recall@K, median/mean rank and mAP from true-match ranks.

  Args:
    ranks: [N] 1-based ranks of the true match (one relevant item each).
    ks: recall cut-offs.
    prefix: prepended to every key (e.g. ``"a2v/"``).

  Returns:
    ``{prefix + "recall@K": ..., prefix + "median_rank": ...,
    prefix + "mean_rank": ..., prefix + "map": ...}`` (floats; ``map`` is
    mean(1 / rank)).
  """
  ks = _check_ks(ks)
  ranks = np.asarray(ranks, np.float64).reshape(-1)
  if ranks.size == 0:
    raise ValueError("No ranks")
  out = {f"{prefix}recall@{k}": float(np.mean(ranks <= k)) for k in ks}
  out[f"{prefix}median_rank"] = float(np.median(ranks))
  out[f"{prefix}mean_rank"] = float(np.mean(ranks))
  out[f"{prefix}map"] = float(np.mean(1.0 / ranks))
  return out


def average_precision(scores: np.ndarray, relevance: np.ndarray) -> np.ndarray:
  """Average precision per query with any number of relevant candidates.

  Candidates are sorted by descending score; among equal scores the
  non-relevant ones come first (pessimistic ties, as for the ranks).

  Args:
    scores: [Q, N] similarity of each query to each candidate.
    relevance: [Q, N] boolean, True where the candidate is relevant.

  Returns:
    float64 array [Q]: mean over relevant candidates of precision at their
    rank; NaN for a query without relevant candidates.
  """
  scores = np.asarray(scores, np.float64)
  relevance = np.asarray(relevance, bool)
  if scores.shape != relevance.shape or scores.ndim != 2:
    raise ValueError(f"scores {scores.shape} and relevance {relevance.shape} "
                     "must both be [Q, N]")
  # Primary key: score descending; secondary: relevant last among ties.
  order = np.lexsort((relevance, -scores), axis=1)
  rel_sorted = np.take_along_axis(relevance, order, axis=1)
  hits = np.cumsum(rel_sorted, axis=1)
  positions = np.arange(1, scores.shape[1] + 1)[None, :]
  precision_sum = np.sum(np.where(rel_sorted, hits / positions, 0.0), axis=1)
  num_relevant = rel_sorted.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(num_relevant > 0, precision_sum / num_relevant, np.nan)


def retrieval_metrics(queries: np.ndarray,
                      candidates: np.ndarray,
                      ks: Sequence[int] = (1, 5, 10),
                      pool_size: Optional[int] = None,
                      seed: int = 0,
                      prefix: str = "",
                      relevance: Optional[np.ndarray] = None
                      ) -> Dict[str, float]:
  """One retrieval direction: ranks of the true matches and their metrics.

  Args:
    queries: [N, E] query embeddings.
    candidates: [N, E] candidates; candidate i is query i's true match.
    ks: recall cut-offs.
    pool_size: None for the whole set, else a fixed random pool of this size
      per query (see the module docstring).
    seed: seed of the pools.
    prefix: prepended to the metric keys.
    relevance: optional [N, N] boolean matrix of relevant candidates per
      query (whole set only); adds ``prefix + "map_multi"`` (mean AP over
      queries with at least one relevant candidate). Dense: meant for
      moderate N.

  Returns:
    Flat dict of floats: see :func:`rank_metrics`, plus ``pool_size``
    (actual), ``pool_size_requested`` and ``num_queries``.
  """
  queries, candidates = _check_pair(queries, candidates)
  n = queries.shape[0]
  ks = _check_ks(ks)
  if pool_size is None:
    ranks, actual = true_match_ranks(queries, candidates), n
    requested = n
  else:
    requested = int(pool_size)
    ranks, actual = pooled_true_match_ranks(queries, candidates, requested,
                                            seed)
    if requested > n:
      logging.warning(
          "Requested candidate pool of %d but only %d items: ranking against "
          "the whole set (pool_size=%d).", requested, n, n)
  out = rank_metrics(ranks, ks, prefix)
  if relevance is not None:
    if pool_size is not None and actual < n:
      raise ValueError("relevance= is only supported with the whole set "
                       "(pool_size=None)")
    relevance = np.asarray(relevance, bool)
    if relevance.shape != (n, n):
      raise ValueError(f"relevance must be [{n}, {n}], got {relevance.shape}")
    aps = []
    step = max(1, _CHUNK_ENTRIES // (8 * n))
    for start in range(0, n, step):
      sims = queries[start:start + step] @ candidates.T
      aps.append(average_precision(sims, relevance[start:start + step]))
    aps = np.concatenate(aps)
    out[f"{prefix}map_multi"] = (float(np.nanmean(aps))
                                 if np.any(~np.isnan(aps)) else float("nan"))
  out["pool_size"] = actual
  out["pool_size_requested"] = requested
  out["num_queries"] = n
  return out


def cross_modal_retrieval(audio_emb: np.ndarray,
                          visual_emb: np.ndarray,
                          ks: Sequence[int] = (1, 5, 10),
                          pool_size: Optional[int] = None,
                          seed: int = 0,
                          hub_weight: float = 0.0,
                          hubness_values: Optional[Tuple[np.ndarray, np.ndarray]] = None
                          ) -> Dict[str, float]:
  """Audio->visual and visual->audio retrieval metrics.

  Args:
    audio_emb: [N, E] audio clip embeddings.
    visual_emb: [N, E] visual clip embeddings of the same N videos.
    ks: recall cut-offs.
    pool_size: None (whole set) or the candidate pool size P.
    seed: seed of the pools (the same pools serve both directions).
    hub_weight: rank by ``cos - w * hubness(candidate)`` with the hubness
      of each candidate against this set's other modality, as ``yt8m-search``
      ranks in an index of this set (0: plain inner products).
    hubness_values: (audio [N], visual [N]) from
      :func:`~yt8m_crossmodal.retrieval.hubness.hubness_pair` of these
      embeddings, for callers that score several pools or seeds (None:
      computed here when ``hub_weight`` > 0).

  Returns:
    Flat dict, e.g. ``{"a2v/recall@1", "a2v/recall@5", "a2v/recall@10",
    "a2v/median_rank", "a2v/mean_rank", "a2v/map", "v2a/...", "pool_size",
    "pool_size_requested", "num_queries"}``. ``pool_size`` is the actual
    pool (``min(P, N)``).
  """
  if hub_weight:
    audio_emb, visual_emb = _check_pair(audio_emb, visual_emb)
    audio_hub, visual_hub = (hubness_values if hubness_values is not None
                             else hubness.hubness_pair(audio_emb, visual_emb))
    a2v = retrieval_metrics(*hubness.corrected(audio_emb, visual_emb, visual_hub, hub_weight),
                            ks, pool_size, seed, "a2v/")
    v2a = retrieval_metrics(*hubness.corrected(visual_emb, audio_emb, audio_hub, hub_weight),
                            ks, pool_size, seed, "v2a/")
  else:
    a2v = retrieval_metrics(audio_emb, visual_emb, ks, pool_size, seed, "a2v/")
    v2a = retrieval_metrics(visual_emb, audio_emb, ks, pool_size, seed, "v2a/")
  out = {k: v for k, v in a2v.items() if "/" in k}
  out.update({k: v for k, v in v2a.items() if "/" in k})
  for key in ("pool_size", "pool_size_requested", "num_queries"):
    out[key] = a2v[key]
  return out
