"""Exact top-k inner-product search over a (memory-mapped) catalogue matrix.

All similarities are inner products of unit vectors (cosine).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def check_k(k: int) -> int:
  if int(k) != k or k <= 0:
    raise ValueError(f"k must be a positive integer, got {k}")
  return int(k)


def check_catalogue_matrix(matrix: np.ndarray) -> np.ndarray:
  if not isinstance(matrix, np.ndarray):
    matrix = np.asarray(matrix)
  if matrix.ndim != 2:
    raise ValueError(f"Catalogue matrix must be [N, E], got shape "
                     f"{matrix.shape}")
  if matrix.shape[0] == 0:
    raise ValueError("Empty catalogue: no items to search")
  return matrix


def check_queries(queries: np.ndarray, width: int) -> np.ndarray:
  """[Q, E] float32 C-contiguous queries (a 1-D query becomes [1, E])."""
  queries = np.asarray(queries)
  if queries.ndim == 1:
    queries = queries[None, :]
  if queries.ndim != 2:
    raise ValueError(f"Queries must be [Q, E], got shape {queries.shape}")
  if queries.shape[1] != width:
    raise ValueError(f"Query width {queries.shape[1]} != catalogue width "
                     f"{width}")
  return np.ascontiguousarray(queries, dtype=np.float32)


_GROUPS = 16  # Strided column groups summarized per block row.


class _TopK:
  """Running top-k (largest scores) of a block of queries.

  ``values``/``indices`` [B, k] stay sorted by (score desc, index asc); a
  candidate only enters when its score beats the row's current k-th best
  (``threshold``), so later blocks (higher catalogue indices) never displace
  an equal score with a lower index.
  """

  def __init__(self, num_queries: int, k: int):
    self.k = k
    self.values = np.full([num_queries, k], -np.inf, np.float32)
    self.indices = np.full([num_queries, k], -1, np.int64)
    self.threshold = np.full([num_queries], -np.inf, np.float32)
    self.started = False

  def merge(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
            offset: int) -> None:
    """Merges hits (flat arrays sorted by row, then col); index = offset + col."""
    if rows.size == 0:
      return
    k = self.k
    first = np.flatnonzero(np.diff(rows, prepend=-1))  # group starts
    uniq = rows[first]
    counts = np.diff(np.append(first, rows.size))
    width = k + int(counts.max())
    pad_v = np.full([uniq.size, width], -np.inf, np.float32)
    pad_i = np.full([uniq.size, width], -1, np.int64)
    pad_v[:, :k] = self.values[uniq]
    pad_i[:, :k] = self.indices[uniq]
    group = np.repeat(np.arange(uniq.size), counts)
    pos = k + np.arange(rows.size) - first[group]
    pad_v[group, pos] = values
    pad_i[group, pos] = cols + offset
    # Stable sort: equal scores keep column order = ascending index.
    order = np.argsort(-pad_v, axis=1, kind="stable")[:, :k]
    self.values[uniq] = np.take_along_axis(pad_v, order, axis=1)
    self.indices[uniq] = np.take_along_axis(pad_i, order, axis=1)
    self.threshold[uniq] = self.values[uniq, k - 1]

  def add_block(self, sims: np.ndarray, offset: int) -> None:
    """Offers a [B, W] block of scores for catalogue items offset..offset+W.

    The block is summarized by strided group maxima ``gm[b, c] = max_j
    sims[b, c + j * W / G]`` (one reduction pass, G = 16); only the groups
    whose maximum beats the row's threshold are looked at in full.
    """
    k = self.k
    num, width = sims.shape
    span = width // _GROUPS
    if width % _GROUPS or span < k:
      self._add_rows(sims, offset)
      return
    gm = sims.reshape(num, _GROUPS, span).max(axis=1)  # [B, span]
    if self.started:
      threshold, strict = self.threshold, True
    else:
      # The k-th largest group maximum is a lower bound of the row's k-th
      # best (k distinct items reach it): a tight start for the threshold.
      self.started = True
      threshold = np.partition(gm, span - k, axis=1)[:, span - k]
      strict = False
    cand = (gm > threshold[:, None]) if strict else (gm >= threshold[:, None])
    flat = np.flatnonzero(cand)
    if flat.size == 0:
      return
    rows, groups = np.divmod(flat, span)
    cols = groups[:, None] + span * np.arange(_GROUPS)  # [h, G]
    vals = np.take(sims, (rows * width)[:, None] + cols)  # sims[rows, cols]
    row_threshold = threshold[rows][:, None]
    keep = (vals > row_threshold) if strict else (vals >= row_threshold)
    hit_rows = np.broadcast_to(rows[:, None], cols.shape)[keep]
    hit_cols = cols[keep]
    order = np.argsort(hit_rows * width + hit_cols)  # (row, col) order
    self.merge(hit_rows[order], hit_cols[order], vals[keep][order], offset)

  def _add_rows(self, sims: np.ndarray, offset: int) -> None:
    """add_block for blocks too narrow for the grouped summary."""
    num, width = sims.shape
    if not self.started:
      self.started = True
      k = self.k
      if width >= k:
        # Lower bound of each row's k-th best: the smallest of the maxima of
        # k disjoint column groups; at least k entries per row reach it.
        group = width // k
        bound = sims[:, :group * k].reshape(num, k, group).max(axis=2).min(
            axis=1)
        flat = np.flatnonzero(sims >= bound[:, None])
      else:
        flat = np.arange(sims.size)
      rows, cols = np.divmod(flat, width)
      self.merge(rows, cols, sims.ravel()[flat], offset)
      return
    rows = np.flatnonzero(sims.max(axis=1) > self.threshold)
    if rows.size == 0:
      return
    sub = sims if 2 * rows.size > num else sims[rows]
    if sub is sims:
      rows = np.arange(num)
    # flatnonzero is much faster than a 2-D nonzero on sparse masks.
    flat = np.flatnonzero(sub > self.threshold[rows, None])
    hit_r, hit_c = np.divmod(flat, width)
    self.merge(rows[hit_r], hit_c, sub.ravel()[flat], offset)


def exact_search(queries: np.ndarray,
                 matrix: np.ndarray,
                 k: int,
                 query_chunk: int = 1024,
                 catalogue_chunk: int = 4096,
                 bias: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
  """Exact top-k inner-product search.

  One float32 matrix product per (query chunk, catalogue chunk) block, then a
  threshold filter instead of a per-block ``np.argpartition``: each block
  row is summarized by 16-way strided group maxima (one reduction pass); only
  groups whose maximum beats the query's current k-th best score are read in
  full and merged into a running top-k. The first block's threshold is the
  k-th largest group maximum (a lower bound of the k-th best). Memory is
  bounded by ``query_chunk * catalogue_chunk`` floats plus one catalogue chunk
  converted to float32 (so float16 or memory-mapped catalogues work).

  Args:
    queries: [Q, E] queries (a 1-D [E] query is treated as [1, E]).
    matrix: [N, E] catalogue embeddings.
    k: results per query (> 0; more than N returns N).
    query_chunk: queries per block.
    catalogue_chunk: catalogue rows per block.
    bias: optional [N] added to every query's score of each catalogue row
      (``-w * hubness``, see :mod:`.hubness`).

  Returns:
    ``(scores [Q, k'] float32, indices [Q, k'] int64)`` with ``k' = min(k,
    N)``, sorted by descending score (ties: lower index first).

  Raises:
    ValueError: empty catalogue, query width != catalogue width, k <= 0.
  """
  k = check_k(k)
  matrix = check_catalogue_matrix(matrix)
  n, width = matrix.shape
  queries = check_queries(queries, width)
  bias = _check_bias(bias, n)
  k = min(k, n)
  num_q = queries.shape[0]
  out_scores = np.empty([num_q, k], np.float32)
  out_indices = np.empty([num_q, k], np.int64)
  query_chunk = max(1, int(query_chunk))
  catalogue_chunk = max(1, int(catalogue_chunk))
  blocks = [(c0, min(n, c0 + catalogue_chunk))
            for c0 in range(0, n, catalogue_chunk)]
  direct = matrix.dtype == np.float32 and matrix.flags.c_contiguous
  buf = np.empty([min(query_chunk, num_q) * min(catalogue_chunk, n)],
                 np.float32)
  for qs in range(0, num_q, query_chunk):
    q = queries[qs:qs + query_chunk]
    top = _TopK(q.shape[0], k)
    for c0, c1 in blocks:
      chunk = matrix[c0:c1]
      if not direct:
        chunk = np.asarray(chunk, dtype=np.float32)
      # A contiguous [B, W] view of the buffer (BLAS writes it directly).
      sims = buf[:q.shape[0] * (c1 - c0)].reshape(q.shape[0], c1 - c0)
      np.matmul(q, chunk.T, out=sims)
      if bias is not None:
        sims += bias[c0:c1]
      top.add_block(sims, c0)
    out_scores[qs:qs + q.shape[0]] = top.values
    out_indices[qs:qs + q.shape[0]] = top.indices
  return out_scores, out_indices



def _check_bias(bias: Optional[np.ndarray], n: int) -> Optional[np.ndarray]:
  if bias is None:
    return None
  bias = np.asarray(bias, np.float32).reshape(-1)
  if bias.shape[0] != n:
    raise ValueError(f"bias must be [{n}] (one value per catalogue row), got {bias.shape}")
  return bias


def rescore(queries: np.ndarray, candidates: np.ndarray, matrix: np.ndarray,
            k: int, bias: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
  """Exact top-k among each query's candidate rows (an ANN shortlist).

  Only the candidate rows of ``matrix`` are read (in ascending row order, so
  a memory map is read forward).

  Args:
    queries: [Q, E] float32 queries.
    candidates: [Q, C] catalogue rows per query; entries < 0 (missing ANN
      results) are ignored.
    matrix: [N, E] catalogue embeddings (any float dtype, memory map ok).
    k: results per query.
    bias: optional [N] added to the score of each catalogue row.

  Returns:
    ``(scores [Q, k'] float32, indices [Q, k'] int64)``, ``k' = min(k, C)``,
    best first (ties: lower index first); slots without a candidate hold
    index -1 and score -inf.
  """
  k = check_k(k)
  queries = check_queries(queries, matrix.shape[1])
  candidates = np.asarray(candidates, np.int64)
  if candidates.ndim != 2 or candidates.shape[0] != queries.shape[0]:
    raise ValueError(f"candidates must be [{queries.shape[0]}, C], got "
                     f"{candidates.shape}")
  valid = candidates >= 0
  rows, inverse = np.unique(candidates[valid], return_inverse=True)
  vectors = np.asarray(matrix[rows], np.float32)  # [U, E], ascending rows
  where = np.zeros(candidates.shape, np.int64)
  where[valid] = inverse
  scores = np.full(candidates.shape, -np.inf, np.float32)
  if rows.size:
    for s in range(0, queries.shape[0], 256):  # Bounds the [q, C, E] gather.
      # scores[q, c] = <queries[q], vectors[where[q, c]]> (batched mat-vec)
      sims = np.matmul(vectors[where[s:s + 256]], queries[s:s + 256, :, None])[..., 0]
      scores[s:s + 256] = np.where(valid[s:s + 256], sims, -np.inf)
  bias = _check_bias(bias, matrix.shape[0])
  if bias is not None and rows.size:
    scores += np.where(valid, bias[np.where(valid, candidates, 0)], 0.0)
  k = min(k, candidates.shape[1])
  tie = np.where(valid, candidates, np.iinfo(np.int64).max)
  order = np.lexsort((tie, -scores), axis=-1)[:, :k]  # score desc, index asc
  return (np.take_along_axis(scores, order, axis=1),
          np.where(np.take_along_axis(valid, order, axis=1),
                   np.take_along_axis(candidates, order, axis=1), -1))
