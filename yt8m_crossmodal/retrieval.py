"""Catalogue search: exact and approximate (faiss) retrieval, re-ranking.

Index folder ("catalogue") format, one folder per embedded corpus::

    meta.json                 format_version, embedding_size, num_items,
                              has_timelines, max_frames, timeline_dtype,
                              ids_file, model (free-form model info), faiss
                              ({modality: {"file": ..., "kind": ..., params}})
    ids.txt                   one video id per line (or ids.json: a list)
    audio_embeddings.npy      [N, E] float32 audio clip embeddings
    visual_embeddings.npy     [N, E] float32 visual clip embeddings
    audio_timelines.npy       [N, T, E] (float16 by default), optional
    visual_timelines.npy      [N, T, E], optional (both or neither)
    num_frames.npy            [N] int32 valid seconds, with the timelines
    audio.faiss, visual.faiss optional faiss index over that modality's clip
                              embeddings (named in meta["faiss"])

``meta.json`` is written last, so a folder without it is incomplete. Arrays
are memory-mapped on load. The modality named in a search is the *target*:
audio->visual retrieval searches ``visual`` with audio query embeddings.

All similarities are inner products of unit vectors (cosine).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from yt8m_crossmodal import alignment

__all__ = [
    "MODALITIES",
    "Catalogue",
    "CatalogueWriter",
    "write_catalogue",
    "load_catalogue",
    "exact_search",
    "build_index",
    "index_params",
    "set_search_params",
    "search",
    "save_index",
    "load_index",
    "RerankResult",
    "rerank_by_timeline",
    "localize",
]

MODALITIES = ("audio", "visual")
FORMAT_VERSION = 1
META_FILE = "meta.json"
IDS_TXT = "ids.txt"
IDS_JSON = "ids.json"
NUM_FRAMES_FILE = "num_frames.npy"
_PARTS_DIR = "_parts"


def _embeddings_file(modality: str) -> str:
  return f"{modality}_embeddings.npy"


def _timelines_file(modality: str) -> str:
  return f"{modality}_timelines.npy"


def _index_file(modality: str) -> str:
  return f"{modality}.faiss"


def _check_modality(modality: str) -> str:
  if modality not in MODALITIES:
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
  return modality


def _check_k(k: int) -> int:
  if int(k) != k or k <= 0:
    raise ValueError(f"k must be a positive integer, got {k}")
  return int(k)


def _check_catalogue_matrix(matrix: np.ndarray) -> np.ndarray:
  if not isinstance(matrix, np.ndarray):
    matrix = np.asarray(matrix)
  if matrix.ndim != 2:
    raise ValueError(f"Catalogue matrix must be [N, E], got shape "
                     f"{matrix.shape}")
  if matrix.shape[0] == 0:
    raise ValueError("Empty catalogue: no items to search")
  return matrix


def _check_queries(queries: np.ndarray, width: int) -> np.ndarray:
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


# ----------------------------------------------------------------------------
# Exact search.


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
                 catalogue_chunk: int = 4096) -> Tuple[np.ndarray, np.ndarray]:
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

  Returns:
    ``(scores [Q, k'] float32, indices [Q, k'] int64)`` with ``k' = min(k,
    N)``, sorted by descending score (ties: lower index first).

  Raises:
    ValueError: empty catalogue, query width != catalogue width, k <= 0.
  """
  k = _check_k(k)
  matrix = _check_catalogue_matrix(matrix)
  n, width = matrix.shape
  queries = _check_queries(queries, width)
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
      top.add_block(sims, c0)
    out_scores[qs:qs + q.shape[0]] = top.values
    out_indices[qs:qs + q.shape[0]] = top.indices
  return out_scores, out_indices


# ----------------------------------------------------------------------------
# Approximate search (faiss).


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
                train_size: Optional[int] = None,
                niter: int = 10,
                seed: int = 0,
                add_chunk: int = 65536):
  """Builds an inner-product faiss index over ``matrix``.

  Args:
    matrix: [N, E] embeddings (unit vectors).
    kind: ``"hnsw"`` (``IndexHNSWFlat``, METRIC_INNER_PRODUCT), ``"ivf"``
      (``IndexIVFFlat`` over a flat inner-product quantizer) or ``"flat"``
      (``IndexFlatIP``, exact).
    hnsw_m: HNSW neighbours per node (M).
    ef_construction: HNSW build beam width.
    ef_search: HNSW default search beam width (>= k is needed).
    nlist: IVF lists (default: about 4 sqrt(N), a power of 2).
    nprobe: IVF default lists visited per query.
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
  matrix = _check_catalogue_matrix(matrix)
  n, width = matrix.shape
  kind = kind.lower()
  if kind == "hnsw":
    index = faiss.IndexHNSWFlat(width, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = int(ef_construction)
    index.hnsw.efSearch = int(ef_search)
  elif kind == "ivf":
    nlist = _default_nlist(n) if nlist is None else int(nlist)
    nlist = max(1, min(nlist, n))
    quantizer = faiss.IndexFlatIP(width)
    index = faiss.IndexIVFFlat(quantizer, width, nlist,
                               faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = int(niter)
    index.cp.seed = int(seed)
    index.cp.spherical = True  # Unit-norm centroids suit inner product.
    index.cp.max_points_per_centroid = 1 << 30  # We sample ourselves.
    size = min(n, 64 * nlist) if train_size is None else min(n, train_size)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=max(size, nlist), replace=False))
    index.train(np.ascontiguousarray(matrix[sample], dtype=np.float32))
    index.nprobe = int(nprobe)
    # Keep the quantizer alive with the index (SWIG ownership).
    index.own_fields = True
    quantizer.this.disown()
  elif kind == "flat":
    index = faiss.IndexFlatIP(width)
  else:
    raise ValueError(f"Unknown index kind {kind!r}: hnsw, ivf or flat")
  for start in range(0, n, add_chunk):
    index.add(np.ascontiguousarray(matrix[start:start + add_chunk],
                                   dtype=np.float32))
  return index


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
  elif _ivf(index) is not None:
    ivf = _ivf(index)
    params.update(kind="ivf", nlist=int(ivf.nlist), nprobe=int(ivf.nprobe))
  elif isinstance(index, faiss.IndexFlat):
    params.update(kind="flat")
  else:
    params.update(kind=type(index).__name__)
  return params


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
  k = _check_k(k)
  if index.ntotal == 0:
    raise ValueError("Empty catalogue: the faiss index holds no vectors")
  queries = _check_queries(queries, int(index.d))
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


def save_index(index, path: str) -> None:
  """Writes a faiss index to ``path``."""
  _faiss().write_index(index, str(path))


def load_index(path: str):
  """Reads a faiss index written by :func:`save_index`."""
  if not os.path.exists(path):
    raise ValueError(f"No faiss index file {os.path.basename(path)!r} in "
                     f"{os.path.dirname(path) or '.'!r}")
  return _faiss().read_index(str(path))


# ----------------------------------------------------------------------------
# Catalogue.


@dataclasses.dataclass
class Catalogue:
  """Embedded corpus: ids, clip embeddings, optional timelines and indexes.

  Attributes:
    ids: N video ids.
    audio_embeddings: [N, E] float32.
    visual_embeddings: [N, E] float32.
    audio_timelines: [N, T, E] or None.
    visual_timelines: [N, T, E] or None.
    num_frames: [N] valid seconds per timeline, or None.
    meta: contents of meta.json.
    indexes: faiss index per modality (over that modality's embeddings).
    path: folder it was loaded from / saved to, or None.
  """

  ids: List[str]
  audio_embeddings: np.ndarray
  visual_embeddings: np.ndarray
  audio_timelines: Optional[np.ndarray] = None
  visual_timelines: Optional[np.ndarray] = None
  num_frames: Optional[np.ndarray] = None
  meta: Dict[str, Any] = dataclasses.field(default_factory=dict)
  indexes: Dict[str, Any] = dataclasses.field(default_factory=dict)
  path: Optional[str] = None

  def __post_init__(self):
    self.ids = [str(i) for i in self.ids]
    a, v = self.audio_embeddings, self.visual_embeddings
    if a.ndim != 2 or v.ndim != 2:
      raise ValueError(f"Embeddings must be [N, E]: audio {a.shape}, visual "
                       f"{v.shape}")
    if a.shape != v.shape:
      raise ValueError(f"Audio embeddings {a.shape} and visual embeddings "
                       f"{v.shape} differ in shape")
    if a.shape[0] == 0:
      raise ValueError("Empty catalogue: no items")
    if len(self.ids) != a.shape[0]:
      raise ValueError(f"{len(self.ids)} ids for {a.shape[0]} embeddings")
    if (self.audio_timelines is None) != (self.visual_timelines is None):
      raise ValueError("Give both audio and visual timelines or neither")
    if self.audio_timelines is not None:
      for name in ("audio_timelines", "visual_timelines"):
        t = getattr(self, name)
        if t.ndim != 3 or t.shape[0] != a.shape[0] or t.shape[2] != a.shape[1]:
          raise ValueError(f"{name} must be [{a.shape[0]}, T, {a.shape[1]}], "
                           f"got {t.shape}")
      if self.audio_timelines.shape != self.visual_timelines.shape:
        raise ValueError("Audio and visual timelines differ in shape")
      if self.num_frames is None:
        self.num_frames = _infer_num_frames(self.audio_timelines,
                                            self.visual_timelines)
      self.num_frames = np.asarray(self.num_frames).reshape(-1)
      if self.num_frames.shape[0] != a.shape[0]:
        raise ValueError(f"{self.num_frames.shape[0]} num_frames for "
                         f"{a.shape[0]} items")

  @property
  def size(self) -> int:
    return int(self.audio_embeddings.shape[0])

  def __len__(self) -> int:
    return self.size

  @property
  def embedding_size(self) -> int:
    return int(self.audio_embeddings.shape[1])

  @property
  def has_timelines(self) -> bool:
    return self.audio_timelines is not None

  def embeddings(self, modality: str) -> np.ndarray:
    """[N, E] clip embeddings of ``modality`` ("audio" or "visual")."""
    return getattr(self, f"{_check_modality(modality)}_embeddings")

  def timelines(self, modality: str) -> np.ndarray:
    """[N, T, E] timelines of ``modality``; ValueError if not stored."""
    _check_modality(modality)
    if not self.has_timelines:
      where = f" in {self.path!r}" if self.path else ""
      raise ValueError(f"The catalogue{where} stores no timelines "
                       f"({_timelines_file(modality)})")
    return getattr(self, f"{modality}_timelines")

  def search(self, queries: np.ndarray, target: str = "visual", k: int = 10,
             method: str = "auto", **search_params
             ) -> Tuple[np.ndarray, np.ndarray]:
    """Top-k items of modality ``target`` for ``queries``.

    Args:
      queries: [Q, E] query embeddings of the other modality.
      target: modality searched ("visual" for audio->visual).
      k: results per query.
      method: "exact", "index" (faiss index of ``target``; ValueError if
        none) or "auto" (index if present, else exact).
      **search_params: ``nprobe`` / ``ef_search`` for the index.

    Returns:
      ``(scores [Q, k'], indices [Q, k'])`` as :func:`exact_search`.
    """
    _check_modality(target)
    if method not in ("auto", "exact", "index"):
      raise ValueError(f"method must be auto, exact or index, got {method!r}")
    if method == "index" and target not in self.indexes:
      raise ValueError(f"No faiss index for {target!r} in this catalogue")
    if method != "exact" and target in self.indexes:
      return search(self.indexes[target], queries, k, **search_params)
    return exact_search(queries, self.embeddings(target), k)

  def build_index(self, target: str = "visual", kind: str = "hnsw",
                  save: bool = True, **params):
    """Builds (and, when the catalogue has a path, saves) a faiss index.

    Args:
      target: modality indexed.
      kind: see :func:`build_index`.
      save: write ``<target>.faiss`` and update meta.json in ``self.path``.
      **params: forwarded to :func:`build_index`.

    Returns:
      The index (also stored in ``self.indexes[target]``).
    """
    index = build_index(self.embeddings(target), kind, **params)
    self.add_index(target, index, save=save)
    return index

  def add_index(self, target: str, index, save: bool = True) -> None:
    """Attaches ``index`` for ``target``; saves it to the folder if any."""
    _check_modality(target)
    if index.ntotal != self.size or index.d != self.embedding_size:
      raise ValueError(f"Index holds {index.ntotal} x {index.d} vectors, the "
                       f"catalogue {self.size} x {self.embedding_size}")
    self.indexes[target] = index
    entry = dict(index_params(index), file=_index_file(target))
    self.meta.setdefault("faiss", {})[target] = entry
    if save and self.path:
      save_index(index, os.path.join(self.path, _index_file(target)))
      _write_json(os.path.join(self.path, META_FILE), self.meta)

  def save(self, path: str, overwrite: bool = False) -> Dict[str, Any]:
    """Writes the catalogue (and its indexes) as an index folder."""
    meta = write_catalogue(
        path, self.ids, self.audio_embeddings, self.visual_embeddings,
        self.audio_timelines, self.visual_timelines, self.num_frames,
        model_info=self.meta.get("model"),
        timeline_dtype=self.meta.get("timeline_dtype", "float16"),
        overwrite=overwrite)
    self.path, self.meta = str(path), meta
    for target, index in list(self.indexes.items()):
      self.add_index(target, index, save=True)
    return self.meta

  @classmethod
  def load(cls, path: str, mmap: bool = True,
           load_indexes: bool = True) -> "Catalogue":
    return load_catalogue(path, mmap=mmap, load_indexes=load_indexes)


def _infer_num_frames(*timelines: np.ndarray) -> np.ndarray:
  """Valid seconds = 1 + last non-zero second over the given timelines."""
  nonzero = np.zeros(timelines[0].shape[:2], bool)
  for t in timelines:
    nonzero |= np.any(np.asarray(t) != 0, axis=2)
  last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
  return np.where(nonzero.any(axis=1), last, 0).astype(np.int32)


def _write_json(path: str, obj: Any) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def _require(folder: str, name: str) -> str:
  path = os.path.join(folder, name)
  if not os.path.exists(path):
    raise ValueError(f"Index folder {folder!r} is missing {name!r}")
  return path


def load_catalogue(path: str, mmap: bool = True,
                   load_indexes: bool = True) -> Catalogue:
  """Reads an index folder.

  Args:
    path: the folder.
    mmap: memory-map the .npy arrays (read-only) instead of reading them.
    load_indexes: read the faiss index files listed in meta.json.

  Returns:
    The :class:`Catalogue`.

  Raises:
    ValueError: missing folder or file (named), empty catalogue, or
      inconsistent shapes.
  """
  path = str(path)
  if not os.path.isdir(path):
    raise ValueError(f"Index folder {path!r} does not exist")
  with open(_require(path, META_FILE)) as f:
    meta = json.load(f)
  mode = "r" if mmap else None
  if os.path.exists(os.path.join(path, IDS_TXT)):
    with open(os.path.join(path, IDS_TXT)) as f:
      ids = f.read().split("\n")
    if ids and ids[-1] == "":
      ids.pop()
  elif os.path.exists(os.path.join(path, IDS_JSON)):
    with open(os.path.join(path, IDS_JSON)) as f:
      ids = [str(i) for i in json.load(f)]
  else:
    raise ValueError(f"Index folder {path!r} is missing {IDS_TXT!r} (or "
                     f"{IDS_JSON!r})")
  arrays = {m: np.load(_require(path, _embeddings_file(m)), mmap_mode=mode)
            for m in MODALITIES}
  timelines = {m: None for m in MODALITIES}
  num_frames = None
  has_timelines = meta.get("has_timelines", os.path.exists(
      os.path.join(path, _timelines_file("audio"))))
  if has_timelines:
    for m in MODALITIES:
      timelines[m] = np.load(_require(path, _timelines_file(m)),
                             mmap_mode=mode)
    num_frames = np.load(_require(path, NUM_FRAMES_FILE))
  catalogue = Catalogue(
      ids=ids, audio_embeddings=arrays["audio"],
      visual_embeddings=arrays["visual"], audio_timelines=timelines["audio"],
      visual_timelines=timelines["visual"], num_frames=num_frames, meta=meta,
      path=path)
  if load_indexes:
    for target, entry in (meta.get("faiss") or {}).items():
      catalogue.indexes[target] = load_index(
          _require(path, entry.get("file", _index_file(target))))
  return catalogue


class CatalogueWriter:
  """Writes an index folder batch by batch without holding the corpus in RAM.

  With ``expected_count`` the final .npy files are created up front (memory
  mapped) and filled in place; otherwise each batch goes to a part file under
  ``_parts/`` and :meth:`close` concatenates them chunk by chunk. meta.json is
  written last by :meth:`close`.

  Example::

    with CatalogueWriter(folder, embedding_size=256) as writer:
      for batch in batches:
        writer.add(batch.ids, batch.audio, batch.visual,
                   batch.audio_timelines, batch.visual_timelines,
                   batch.num_frames)
  """

  def __init__(self, path: str, embedding_size: int,
               max_frames: Optional[int] = None,
               expected_count: Optional[int] = None,
               timeline_dtype: Any = "float16",
               model_info: Optional[Dict[str, Any]] = None,
               overwrite: bool = False):
    """Opens the folder.

    Args:
      path: the index folder (created if needed).
      embedding_size: E.
      max_frames: T of the timelines (default: from the first batch with
        timelines; shorter batches are zero-padded, longer ones rejected).
      expected_count: final N if known (pre-allocated files).
      timeline_dtype: dtype of the stored timelines.
      model_info: free-form JSON-able model description for meta.json.
      overwrite: replace a complete catalogue already in ``path``.
    """
    self.path = str(path)
    self.embedding_size = int(embedding_size)
    self.max_frames = None if max_frames is None else int(max_frames)
    self.expected_count = (None if expected_count is None
                           else int(expected_count))
    self.timeline_dtype = np.dtype(timeline_dtype)
    self.model_info = model_info or {}
    self.count = 0
    self._with_timelines: Optional[bool] = None
    self._parts: List[int] = []
    self._maps: Dict[str, np.ndarray] = {}
    self._closed = False
    if os.path.exists(os.path.join(self.path, META_FILE)) and not overwrite:
      raise ValueError(f"Index folder {self.path!r} already holds a catalogue "
                       "(pass overwrite=True)")
    os.makedirs(self.path, exist_ok=True)
    ours = {META_FILE, IDS_TXT, IDS_JSON, NUM_FRAMES_FILE}
    for m in MODALITIES:
      ours |= {_embeddings_file(m), _timelines_file(m), _index_file(m)}
    for name in os.listdir(self.path):  # Only files of this format.
      if name == _PARTS_DIR:
        shutil.rmtree(os.path.join(self.path, name))
      elif name in ours:
        os.remove(os.path.join(self.path, name))
    self._ids_file = open(os.path.join(self.path, IDS_TXT), "w")

  def __enter__(self) -> "CatalogueWriter":
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()

  def _shapes(self) -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
    e = self.embedding_size
    shapes = {_embeddings_file(m): ((e,), np.dtype(np.float32))
              for m in MODALITIES}
    if self._with_timelines:
      for m in MODALITIES:
        shapes[_timelines_file(m)] = ((self.max_frames, e),
                                      self.timeline_dtype)
      shapes[NUM_FRAMES_FILE] = ((), np.dtype(np.int32))
    return shapes

  def _timeline(self, t: np.ndarray, b: int, name: str) -> np.ndarray:
    t = np.asarray(t)
    if t.ndim != 3 or t.shape[0] != b or t.shape[2] != self.embedding_size:
      raise ValueError(f"{name} must be [{b}, T, {self.embedding_size}], got "
                       f"{t.shape}")
    if self.max_frames is None:
      self.max_frames = t.shape[1]
    if t.shape[1] > self.max_frames:
      raise ValueError(f"{name} has {t.shape[1]} seconds > max_frames "
                       f"{self.max_frames}")
    if t.shape[1] < self.max_frames:
      t = np.pad(t, [(0, 0), (0, self.max_frames - t.shape[1]), (0, 0)])
    return t.astype(self.timeline_dtype, copy=False)

  def add(self, ids: Sequence[Any], audio_embeddings: np.ndarray,
          visual_embeddings: np.ndarray,
          audio_timelines: Optional[np.ndarray] = None,
          visual_timelines: Optional[np.ndarray] = None,
          num_frames: Optional[np.ndarray] = None) -> None:
    """Appends a batch of B items.

    Args:
      ids: B ids (str or bytes; no newlines).
      audio_embeddings: [B, E].
      visual_embeddings: [B, E].
      audio_timelines: [B, T', E] (T' <= max_frames), optional.
      visual_timelines: [B, T', E], given iff audio_timelines is.
      num_frames: [B] valid seconds (default: inferred from the non-zero
        rows of the timelines).
    """
    if self._closed:
      raise ValueError("CatalogueWriter is closed")
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
    b = len(ids)
    if any("\n" in i or "\r" in i for i in ids):
      raise ValueError("Ids must not contain newlines")
    batch: Dict[str, np.ndarray] = {}
    for m, x in (("audio", audio_embeddings), ("visual", visual_embeddings)):
      x = np.asarray(x, np.float32)
      if x.shape != (b, self.embedding_size):
        raise ValueError(f"{m} embeddings must be [{b}, {self.embedding_size}]"
                         f", got {x.shape}")
      batch[_embeddings_file(m)] = x
    with_timelines = audio_timelines is not None
    if with_timelines != (visual_timelines is not None):
      raise ValueError("Give both audio and visual timelines or neither")
    if self._with_timelines is None:
      self._with_timelines = with_timelines
    elif self._with_timelines != with_timelines:
      raise ValueError("Every batch must carry timelines, or none")
    if with_timelines:
      a = self._timeline(audio_timelines, b, "audio_timelines")
      v = self._timeline(visual_timelines, b, "visual_timelines")
      if num_frames is None:
        num_frames = _infer_num_frames(a, v)
      num_frames = np.asarray(num_frames, np.int32).reshape(-1)
      if num_frames.shape[0] != b:
        raise ValueError(f"{num_frames.shape[0]} num_frames for {b} items")
      batch[_timelines_file("audio")] = a
      batch[_timelines_file("visual")] = v
      batch[NUM_FRAMES_FILE] = num_frames
    if b == 0:
      return
    if self.expected_count is not None:
      if self.count + b > self.expected_count:
        raise ValueError(f"More than expected_count={self.expected_count} "
                         "items added")
      if not self._maps:
        for name, (shape, dtype) in self._shapes().items():
          self._maps[name] = np.lib.format.open_memmap(
              os.path.join(self.path, name), mode="w+", dtype=dtype,
              shape=(self.expected_count,) + shape)
      for name, x in batch.items():
        self._maps[name][self.count:self.count + b] = x
    else:
      parts = os.path.join(self.path, _PARTS_DIR)
      os.makedirs(parts, exist_ok=True)
      part = len(self._parts)
      for name, x in batch.items():
        np.save(os.path.join(parts, f"{part:06d}.{name}"), x)
      self._parts.append(b)
    for i in ids:
      self._ids_file.write(i + "\n")
    self.count += b

  def abort(self) -> None:
    """Stops without writing meta.json (the folder stays incomplete)."""
    if not self._closed:
      self._closed = True
      self._ids_file.close()
      self._maps.clear()
      shutil.rmtree(os.path.join(self.path, _PARTS_DIR), ignore_errors=True)

  def close(self) -> Dict[str, Any]:
    """Finalizes the files and writes meta.json.

    Returns:
      The meta.json contents.

    Raises:
      ValueError: no items were added (empty catalogue) or fewer than
        ``expected_count``.
    """
    if self._closed:
      raise ValueError("CatalogueWriter is closed")
    if self.count == 0:
      self.abort()
      raise ValueError(f"Empty catalogue: no items were added to "
                       f"{self.path!r}")
    if self.expected_count is not None and self.count != self.expected_count:
      self.abort()
      raise ValueError(f"{self.count} items added but expected_count="
                       f"{self.expected_count}")
    self._ids_file.close()
    if self.expected_count is not None:
      for m in self._maps.values():
        m.flush()
      self._maps.clear()
    else:
      parts = os.path.join(self.path, _PARTS_DIR)
      for name, (shape, dtype) in self._shapes().items():
        out = np.lib.format.open_memmap(
            os.path.join(self.path, name), mode="w+", dtype=dtype,
            shape=(self.count,) + shape)
        pos = 0
        for part, b in enumerate(self._parts):
          part_file = os.path.join(parts, f"{part:06d}.{name}")
          out[pos:pos + b] = np.load(part_file, mmap_mode="r")
          pos += b
          os.remove(part_file)
        out.flush()
        del out
      shutil.rmtree(parts, ignore_errors=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "embedding_size": self.embedding_size,
        "num_items": self.count,
        "has_timelines": bool(self._with_timelines),
        "max_frames": self.max_frames if self._with_timelines else None,
        "timeline_dtype": (self.timeline_dtype.name
                           if self._with_timelines else None),
        "ids_file": IDS_TXT,
        "model": self.model_info,
        "faiss": {},
    }
    _write_json(os.path.join(self.path, META_FILE), meta)
    self._closed = True
    return meta


def write_catalogue(path: str, ids: Sequence[Any],
                    audio_embeddings: np.ndarray,
                    visual_embeddings: np.ndarray,
                    audio_timelines: Optional[np.ndarray] = None,
                    visual_timelines: Optional[np.ndarray] = None,
                    num_frames: Optional[np.ndarray] = None,
                    model_info: Optional[Dict[str, Any]] = None,
                    timeline_dtype: Any = "float16",
                    overwrite: bool = False,
                    batch_size: int = 4096) -> Dict[str, Any]:
  """Writes a whole catalogue to an index folder (see the module docstring).

  Args:
    path: the index folder.
    ids: N ids.
    audio_embeddings: [N, E].
    visual_embeddings: [N, E].
    audio_timelines: [N, T, E] or None.
    visual_timelines: [N, T, E] or None.
    num_frames: [N] or None (inferred from the timelines).
    model_info: JSON-able model description.
    timeline_dtype: dtype of the stored timelines.
    overwrite: replace an existing catalogue.
    batch_size: items converted per write.

  Returns:
    The meta.json contents.
  """
  audio_embeddings = np.asarray(audio_embeddings)
  if audio_embeddings.ndim != 2:
    raise ValueError(f"Embeddings must be [N, E], got {audio_embeddings.shape}")
  n = len(ids)
  if n == 0:
    raise ValueError("Empty catalogue: no items to write")
  writer = CatalogueWriter(
      path, audio_embeddings.shape[1],
      max_frames=None if audio_timelines is None else audio_timelines.shape[1],
      expected_count=n, timeline_dtype=timeline_dtype, model_info=model_info,
      overwrite=overwrite)
  try:
    ids = list(ids)
    for s in range(0, n, batch_size):
      sl = slice(s, s + batch_size)
      writer.add(
          ids[sl], audio_embeddings[sl], visual_embeddings[sl],
          None if audio_timelines is None else audio_timelines[sl],
          None if visual_timelines is None else visual_timelines[sl],
          None if num_frames is None else np.asarray(num_frames)[sl])
  except BaseException:
    writer.abort()
    raise
  return writer.close()


# ----------------------------------------------------------------------------
# Timeline re-ranking and segment localization.


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
    along the best diagonal (see :mod:`yt8m_crossmodal.alignment`; a
    candidate shorter than the query gets a negative start, an empty one
    score -inf).
  """
  return alignment.best_alignments(query_timeline, candidate_timelines,
                                   candidate_lens, query_len)


def rerank_by_timeline(query_timeline: np.ndarray,
                       query_len: Optional[int],
                       candidate_indices: Sequence[int],
                       catalogue: Catalogue,
                       clip_scores: Sequence[float],
                       alpha: float = 0.5,
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
  timelines = catalogue.timelines(modality)
  query = np.asarray(query_timeline)
  if query.ndim != 2 or query.shape[1] != catalogue.embedding_size:
    raise ValueError(f"Query timeline width {query.shape[-1]} != catalogue "
                     f"width {catalogue.embedding_size}")
  # Read the memory map in index order, then restore the candidate order.
  read_order = np.argsort(idx, kind="stable")
  refs = np.empty((idx.size,) + timelines.shape[1:], np.float32)
  if idx.size:
    refs[read_order] = timelines[idx[read_order]]
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
