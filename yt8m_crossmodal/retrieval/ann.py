"""Approximate search with faiss: HNSW, IVF and IVF-PQ indexes over clip embeddings.

IVF-PQ (``kind="ivfpq"``) keeps only ``pq_m`` bytes of code and an 8-byte id
per vector in memory (72 bytes at E = 256 with the default ``pq_m = E / 4``),
against ``4 E`` bytes for the flat kinds. Its scores are approximate, so
:func:`search_refined` re-scores a shortlist of ``refine * k`` PQ results
with the exact vectors (a memory-mapped ``[N, E]`` matrix: only the
shortlisted rows are read).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from yt8m_crossmodal.retrieval.exact import (check_catalogue_matrix, check_k,
                                             check_queries, rescore)

KINDS = ("hnsw", "ivf", "ivfpq", "flat")
# Shortlist of an IVF-PQ search, in multiples of k, re-scored exactly.
DEFAULT_REFINE = 10


def _faiss():
  import faiss  # Lazy: the exact path and the metrics need numpy only.
  return faiss


def _default_nlist(n: int) -> int:
  """About 4 sqrt(N) lists (a power of 2), at least 39 training points each."""
  target = 4.0 * np.sqrt(n)
  nlist = 1 << max(0, int(round(np.log2(max(target, 1.0)))))
  return int(max(1, min(nlist, n // 39)))


def build_index(matrix: np.ndarray,
                kind: str = "hnsw",
                *,
                hnsw_m: int = 32,
                ef_construction: int = 80,
                ef_search: int = 128,
                nlist: Optional[int] = None,
                nprobe: int = 16,
                pq_m: Optional[int] = None,
                pq_bits: int = 8,
                train_size: Optional[int] = None,
                niter: int = 10,
                seed: int = 0,
                add_chunk: int = 65536):
  """Builds an inner-product faiss index over ``matrix``.

  Args:
    matrix: [N, E] embeddings (unit vectors).
    kind: ``"hnsw"`` (``IndexHNSWFlat``, METRIC_INNER_PRODUCT), ``"ivf"``
      (``IndexIVFFlat`` over a flat inner-product quantizer), ``"ivfpq"``
      (``IndexIVFPQ``: residuals product-quantized to ``pq_m`` codes of
      ``pq_bits`` bits) or ``"flat"`` (``IndexFlatIP``, exact).
    hnsw_m: HNSW neighbours per node (M).
    ef_construction: HNSW build beam width.
    ef_search: HNSW default search beam width (>= k is needed).
    nlist: IVF lists (default: about 4 sqrt(N), a power of 2).
    nprobe: IVF default lists visited per query.
    pq_m: IVF-PQ sub-quantizers (bytes per vector at 8 bits; must divide E;
      default: the largest divisor of E not above E / 4, 64 at E = 256: at
      E / 8 the recall@10 of the clustered 1 M benchmark stopped at 0.83
      whatever the shortlist).
    pq_bits: IVF-PQ bits per code (lowered to log2 of the training points
      on tiny catalogues).
    train_size: IVF k-means training points (default min(N, 64 nlist)),
      sampled without replacement with ``seed``.
    niter: IVF k-means iterations.
    seed: seed of the training sample and k-means.
    add_chunk: rows converted to float32 and added per call.

  Returns:
    The faiss index (``index_params(index)`` describes it).

  Raises:
    ValueError: empty matrix or unknown kind.
  """
  faiss = _faiss()
  matrix = check_catalogue_matrix(matrix)
  n, width = matrix.shape
  kind = kind.lower()
  if kind == "hnsw":
    index = faiss.IndexHNSWFlat(width, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = int(ef_construction)
    index.hnsw.efSearch = int(ef_search)
  elif kind in ("ivf", "ivfpq"):
    nlist = _default_nlist(n) if nlist is None else int(nlist)
    nlist = max(1, min(nlist, n))
    quantizer = faiss.IndexFlatIP(width)
    size = min(n, 64 * nlist) if train_size is None else min(n, train_size)
    size = max(size, nlist)
    if kind == "ivf":
      index = faiss.IndexIVFFlat(quantizer, width, nlist,
                                 faiss.METRIC_INNER_PRODUCT)
    else:
      m = _pq_m(width, pq_m)
      bits = int(max(1, min(int(pq_bits), np.floor(np.log2(size)))))
      index = faiss.IndexIVFPQ(quantizer, width, nlist, m, bits,
                               faiss.METRIC_INNER_PRODUCT)
      index.pq.cp.seed = int(seed)
    index.cp.niter = int(niter)
    index.cp.seed = int(seed)
    index.cp.spherical = True  # Unit-norm centroids suit inner product.
    index.cp.max_points_per_centroid = 1 << 30  # We sample ourselves.
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=size, replace=False))
    index.train(np.ascontiguousarray(matrix[sample], dtype=np.float32))
    index.nprobe = int(nprobe)
    # Keep the quantizer alive with the index (SWIG ownership).
    index.own_fields = True
    quantizer.this.disown()
  elif kind == "flat":
    index = faiss.IndexFlatIP(width)
  else:
    raise ValueError(f"Unknown index kind {kind!r}: {', '.join(KINDS)}")
  for start in range(0, n, add_chunk):
    index.add(np.ascontiguousarray(matrix[start:start + add_chunk],
                                   dtype=np.float32))
  return index


def _pq_m(width: int, pq_m: Optional[int]) -> int:
  """Sub-quantizers: ``pq_m`` (must divide ``width``) or the default."""
  if pq_m is not None:
    if int(pq_m) <= 0 or width % int(pq_m):
      raise ValueError(f"pq_m={pq_m} must be a positive divisor of E={width}")
    return int(pq_m)
  return max(m for m in range(1, max(1, width // 4) + 1) if width % m == 0)


def _ivf(index):
  faiss = _faiss()
  try:
    return faiss.extract_index_ivf(index)
  except RuntimeError:
    return None


def index_params(index) -> Dict[str, Any]:
  """JSON-able description of a faiss index (kind and parameters)."""
  faiss = _faiss()
  params: Dict[str, Any] = {"dimension": int(index.d),
                            "ntotal": int(index.ntotal),
                            "metric": "inner_product"}
  if isinstance(index, faiss.IndexHNSW):
    params.update(kind="hnsw", M=int(index.hnsw.nb_neighbors(1)),
                  ef_construction=int(index.hnsw.efConstruction),
                  ef_search=int(index.hnsw.efSearch))
  elif isinstance(index, faiss.IndexIVFPQ):
    params.update(kind="ivfpq", nlist=int(index.nlist), nprobe=int(index.nprobe),
                  pq_m=int(index.pq.M), pq_bits=int(index.pq.nbits),
                  bytes_per_vector=int(index.code_size) + 8)
  elif _ivf(index) is not None:
    ivf = _ivf(index)
    params.update(kind="ivf", nlist=int(ivf.nlist), nprobe=int(ivf.nprobe))
  elif isinstance(index, faiss.IndexFlat):
    params.update(kind="flat")
  else:
    params.update(kind=type(index).__name__)
  return params


def is_compressed(index) -> bool:
  """True for an index whose scores are approximate (IVF-PQ)."""
  return isinstance(index, _faiss().IndexIVFPQ)


def set_search_params(index, nprobe: Optional[int] = None,
                      ef_search: Optional[int] = None) -> None:
  """Sets IVF ``nprobe`` / HNSW ``efSearch`` on ``index`` (None: unchanged)."""
  faiss = _faiss()
  if nprobe is not None and _ivf(index) is not None:
    _ivf(index).nprobe = int(nprobe)
  if ef_search is not None and isinstance(index, faiss.IndexHNSW):
    index.hnsw.efSearch = int(ef_search)


def search(index, queries: np.ndarray, k: int,
           nprobe: Optional[int] = None,
           ef_search: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
  """Top-k search of a faiss index; same return shapes as exact_search.

  Args:
    index: a faiss index built by :func:`build_index` (or loaded).
    queries: [Q, E] queries (1-D: one query).
    k: results per query (> 0; more than ntotal returns ntotal).
    nprobe: IVF lists to visit (None: the index's setting).
    ef_search: HNSW beam width (None: the index's setting; raised to k).

  Returns:
    ``(scores [Q, k'] float32, indices [Q, k'] int64)``, ``k' = min(k,
    ntotal)``, best first. An approximate index may find fewer than k'
    results for a query: those slots hold index -1 and score -inf.
  """
  faiss = _faiss()
  k = check_k(k)
  if index.ntotal == 0:
    raise ValueError("Empty catalogue: the faiss index holds no vectors")
  queries = check_queries(queries, int(index.d))
  k = min(k, int(index.ntotal))
  if ef_search is not None or isinstance(index, faiss.IndexHNSW):
    if isinstance(index, faiss.IndexHNSW):
      wanted = ef_search if ef_search is not None else index.hnsw.efSearch
      set_search_params(index, ef_search=max(int(wanted), k))
  set_search_params(index, nprobe=nprobe)
  scores, indices = index.search(queries, k)
  scores = scores.astype(np.float32, copy=False)
  indices = indices.astype(np.int64, copy=False)
  scores[indices < 0] = -np.inf
  return scores, indices


def search_refined(index, queries: np.ndarray, k: int, matrix: np.ndarray,
                   refine: int = DEFAULT_REFINE, nprobe: Optional[int] = None,
                   ef_search: Optional[int] = None,
                   bias: Optional[np.ndarray] = None
                   ) -> Tuple[np.ndarray, np.ndarray]:
  """:func:`search` for a shortlist of ``refine * k``, re-scored exactly.

  Args:
    index: a faiss index over the rows of ``matrix``.
    queries: [Q, E] queries.
    k: results per query.
    matrix: [N, E] the exact vectors (a memory map is fine: only the
      shortlisted rows are read).
    refine: shortlist size in multiples of k (1: re-score the top k only).
    nprobe / ef_search: as :func:`search`.
    bias: optional [N] added to the exact score of each row (the shortlist
      is still chosen by inner product).

  Returns:
    ``(scores [Q, k'], indices [Q, k'])`` as :func:`search`, with exact
    inner products (plus ``bias``).
  """
  k = check_k(k)
  if int(refine) < 1:
    raise ValueError(f"refine must be >= 1, got {refine}")
  _, shortlist = search(index, queries, k * int(refine), nprobe=nprobe,
                        ef_search=ef_search)
  return rescore(check_queries(queries, int(index.d)), shortlist, matrix, k, bias)


def save_index(index, path: str) -> None:
  """Writes a faiss index to ``path``."""
  _faiss().write_index(index, str(path))


def load_index(path: str, file=None):
  """Reads a faiss index written by :func:`save_index`.

  Args:
    path: the file (named in messages; read when ``file`` is None).
    file: the file already opened (binary), read through faiss' callback
      reader instead of by name.
  """
  if file is None and not os.path.exists(path):
    raise ValueError(f"No faiss index file {os.path.basename(path)!r} in "
                     f"{os.path.dirname(path) or '.'!r}")
  faiss = _faiss()
  try:
    if file is not None:
      return faiss.read_index(faiss.PyCallbackIOReader(file.read))
    return faiss.read_index(str(path))
  except RuntimeError as e:  # faiss reports a damaged file as a RuntimeError.
    raise ValueError(f"{path} is not a readable faiss index (damaged?): "
                     f"{str(e).strip().splitlines()[0] if str(e).strip() else e}") from e
