"""The in-memory catalogue: ids, clip embeddings, timelines and indexes.

Arrays are memory-mapped on load (see :mod:`.folder` for the format). The
modality named in a search is the *target*: audio->visual retrieval searches
``visual`` with audio query embeddings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
import numpy as np

from yt8m_crossmodal.retrieval import ann
from yt8m_crossmodal.retrieval import compact_timelines as compact
from yt8m_crossmodal.retrieval import hubness as hub
from yt8m_crossmodal.retrieval import integrity
from yt8m_crossmodal.retrieval.exact import exact_search
from yt8m_crossmodal.retrieval.folder import (
    IDS_TXT, LABEL_OFFSETS_FILE, LABELS_FILE, MAX_META_BYTES, META_FILE, MODALITIES,
    NUM_FRAMES_FILE, PinnedFolder, check_meta, check_modality, embeddings_file, hubness_file,
    index_file, infer_num_frames, self_hubness_file, timelines_file, write_json)


# An index search with a hubness correction re-scores a cosine shortlist of at
# least this many times k results, and at least HUB_SHORTLIST: on the real
# catalogue of benchmarks/answers_real.py (w = 1) the cosine top 100 holds 99.8 %
# of the corrected top 10 (the top 40: 95 %).
HUB_REFINE = 10
HUB_SHORTLIST = 100


@dataclasses.dataclass
class Catalogue:
  """Embedded corpus: ids, clip embeddings, optional timelines and indexes.

  Attributes:
    ids: N video ids.
    audio_embeddings: [N, E] float32 (None in a visual-only index).
    visual_embeddings: [N, E] float32 (None in an audio-only index).
    audio_timelines: [N, T, E] or None (an array, or the
      :class:`~.compact_timelines.CompactTimelines` view of int8 rows).
    visual_timelines: [N, T, E] or None.
    num_frames: [N] valid seconds per timeline, or None.
    meta: contents of meta.json.
    indexes: faiss index per modality (over that modality's embeddings).
    path: folder it was loaded from / saved to, or None.
    hubness: [N] float32 per modality (see :mod:`.hubness`); empty when the
      folder stores none (written before it was added).
    self_hubness: [N] float32 per modality: each item's hubness against its
      own modality (for searches returning both kinds); empty when not stored.
    label_values, label_offsets: the items' class indices ([S] int32) and
      where each item's start ([N + 1]); None when the folder stores none.
  """

  ids: List[str]
  audio_embeddings: Optional[np.ndarray] = None
  visual_embeddings: Optional[np.ndarray] = None
  audio_timelines: Optional[np.ndarray] = None
  visual_timelines: Optional[np.ndarray] = None
  num_frames: Optional[np.ndarray] = None
  meta: Dict[str, Any] = dataclasses.field(default_factory=dict)
  indexes: Dict[str, Any] = dataclasses.field(default_factory=dict)
  path: Optional[str] = None
  hubness: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  self_hubness: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  label_values: Optional[np.ndarray] = None
  label_offsets: Optional[np.ndarray] = None

  def __post_init__(self):
    self.ids = [str(i) for i in self.ids]
    present = {m: getattr(self, f"{m}_embeddings") for m in MODALITIES}
    present = {m: x for m, x in present.items() if x is not None}
    if not present:
      raise ValueError("A catalogue needs audio or visual embeddings (or both)")
    first = next(iter(present.values()))
    for m, x in present.items():
      if x.ndim != 2:
        raise ValueError(f"Embeddings must be [N, E]: {m} {x.shape}")
      if x.shape != first.shape:
        raise ValueError(f"Audio embeddings {present['audio'].shape} and visual embeddings "
                         f"{present['visual'].shape} differ in shape")
    if first.shape[0] == 0:
      raise ValueError("Empty catalogue: no items")
    if len(self.ids) != first.shape[0]:
      raise ValueError(f"{len(self.ids)} ids for {first.shape[0]} embeddings")
    timelines = {m: getattr(self, f"{m}_timelines") for m in MODALITIES}
    for m, t in timelines.items():
      if m not in present and t is not None:
        raise ValueError(f"{m} timelines without {m} embeddings")
    given = [t for m, t in timelines.items() if m in present and t is not None]
    if given and len(given) != len(present):
      raise ValueError("Give both audio and visual timelines or neither")
    if given:
      n, e = first.shape
      for m in present:
        t = timelines[m]
        if t.ndim != 3 or t.shape[0] != n or t.shape[2] != e:
          raise ValueError(f"{m}_timelines must be [{n}, T, {e}], got {t.shape}")
      if len({t.shape for t in given}) > 1:
        raise ValueError("Audio and visual timelines differ in shape")
      if self.num_frames is None:
        self.num_frames = infer_num_frames(*given)
      self.num_frames = np.asarray(self.num_frames).reshape(-1)
      if self.num_frames.shape[0] != n:
        raise ValueError(f"{self.num_frames.shape[0]} num_frames for "
                         f"{n} items")

  @property
  def modalities(self) -> Tuple[str, ...]:
    """The modalities stored: both, or one (a one-modality index)."""
    return tuple(m for m in MODALITIES if getattr(self, f"{m}_embeddings") is not None)

  def _first(self) -> np.ndarray:
    return self.embeddings(self.modalities[0])

  @property
  def size(self) -> int:
    return int(self._first().shape[0])

  def __len__(self) -> int:
    return self.size

  @property
  def embedding_size(self) -> int:
    return int(self._first().shape[1])

  @property
  def has_timelines(self) -> bool:
    return getattr(self, f"{self.modalities[0]}_timelines") is not None

  def _require(self, modality: str) -> None:
    if modality not in self.modalities:
      where = f" {self.path!r}" if self.path else ""
      (held,) = self.modalities
      raise ValueError(f"The catalogue{where} holds {held} embeddings only (a one-modality "
                       f"index): it has no {modality} to search")

  @property
  def has_labels(self) -> bool:
    return self.label_offsets is not None

  def labels_of(self, index: int) -> List[int]:
    """Class indices of item ``index`` ([] when the folder stores no labels)."""
    if self.label_offsets is None:
      return []
    start, stop = self.label_offsets[int(index)], self.label_offsets[int(index) + 1]
    return [int(x) for x in self.label_values[start:stop]]

  def embeddings(self, modality: str) -> np.ndarray:
    """[N, E] clip embeddings of ``modality`` ("audio" or "visual")."""
    self._require(check_modality(modality))
    return getattr(self, f"{modality}_embeddings")

  def timelines(self, modality: str) -> np.ndarray:
    """[N, T, E] timelines of ``modality``; ValueError if not stored."""
    self._require(check_modality(modality))
    if not self.has_timelines:
      where = f" in {self.path!r}" if self.path else ""
      raise ValueError(f"The catalogue{where} stores no timelines "
                       f"({timelines_file(modality)})")
    return getattr(self, f"{modality}_timelines")

  def item_hubness(self, target: str, query_modality: Optional[str] = None
                   ) -> Optional[np.ndarray]:
    """[N] the hubness of the ``target`` items for queries of ``query_modality``
    (default: the other modality); None when the folder stores none."""
    same = query_modality == check_modality(target)
    values = (self.self_hubness if same else self.hubness).get(target)
    return values

  def search(self, queries: np.ndarray, target: str = "visual", k: int = 10,
             method: str = "auto", refine: Optional[int] = None,
             hub_weight: float = 0.0, query_modality: Optional[str] = None,
             **search_params) -> Tuple[np.ndarray, np.ndarray]:
    """Top-k items of modality ``target`` for ``queries``.

    Args:
      queries: [Q, E] query embeddings (of the other modality, or of
        ``query_modality``).
      target: modality searched ("visual" for audio->visual).
      k: results per query.
      method: "exact", "index" (faiss index of ``target``; ValueError if
        none) or "auto" (index if present, else exact).
      refine: re-score a shortlist of ``refine * k`` index results with the
        exact embeddings (None: :data:`ann.DEFAULT_REFINE` for an IVF-PQ
        index, none for the others; 0: none).
      hub_weight: rank by ``cosine - hub_weight * hubness`` of each item.
      query_modality: the queries' modality (default: the other one); when
        it is ``target``, the items' hubness against their own modality is
        used.
      **search_params: ``nprobe`` / ``ef_search`` for the index.

    Returns:
      ``(scores [Q, k'], indices [Q, k'])`` as :func:`exact_search`.
    """
    check_modality(target)
    queries = np.asarray(queries)
    if queries.dtype.kind in "fc" and not np.isfinite(queries).all():
      raise ValueError("a query embedding holds NaN or Inf: nothing can be ranked by it")
    if method not in ("auto", "exact", "index"):
      raise ValueError(f"method must be auto, exact or index, got {method!r}")
    if method == "index" and target not in self.indexes:
      raise ValueError(f"No faiss index for {target!r} in this catalogue")
    weight = hub.check_weight(hub_weight)
    values = self.item_hubness(target, query_modality)
    bias = -weight * values if weight > 0 and values is not None else None
    if method != "exact" and target in self.indexes:
      index = self.indexes[target]
      if refine is None:
        refine = ann.DEFAULT_REFINE if ann.is_compressed(index) else 0
      if bias is not None:
        refine = max(refine, HUB_REFINE, -(-HUB_SHORTLIST // k))
      if refine:
        return ann.search_refined(index, queries, k, self.embeddings(target),
                                  refine, bias=bias, **search_params)
      return ann.search(index, queries, k, **search_params)
    return exact_search(queries, self.embeddings(target), k, bias=bias)

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
    index = ann.build_index(self.embeddings(target), kind, **params)
    self.add_index(target, index, save=save)
    return index

  def add_index(self, target: str, index, save: bool = True) -> None:
    """Attaches ``index`` for ``target``; saves it to the folder if any."""
    check_modality(target)
    if index.ntotal != self.size or index.d != self.embedding_size:
      raise ValueError(f"Index holds {index.ntotal} x {index.d} vectors, the "
                       f"catalogue {self.size} x {self.embedding_size}")
    self.indexes[target] = index
    entry = dict(ann.index_params(index), file=index_file(target))
    self.meta.setdefault("faiss", {})[target] = entry
    if save and self.path:
      ann.save_index(index, os.path.join(self.path, index_file(target)))
      if integrity.FILES_KEY in self.meta:
        self.meta[integrity.FILES_KEY].update(
            integrity.record(self.path, [index_file(target)]))
      write_json(os.path.join(self.path, META_FILE), self.meta)

  def timeline_file(self, modality: str) -> str:
    """The file(s) holding the timelines of ``modality`` (for messages)."""
    where = os.path.join(self.path, "") if self.path else ""
    if isinstance(self.timelines(modality), compact.CompactTimelines):
      return f"{where}{compact.rows_file(modality)} / {compact.scales_file(modality)}"
    return f"{where}{timelines_file(modality)}"

  def timeline_rows(self, modality: str, indices: np.ndarray) -> np.ndarray:
    """Timelines ``[len(indices), T, E]`` float32 of items ``indices``.

    Raises:
      ValueError: one of them holds NaN or Inf (file, row and video named).
    """
    indices = np.asarray(indices, np.int64).reshape(-1)
    rows = gather_rows(self.timelines(modality), indices)
    finite = np.isfinite(rows.reshape(rows.shape[0], -1)).all(axis=1)
    if not finite.all():
      row = int(indices[int(np.argmin(finite))])
      raise ValueError(f"{self.timeline_file(modality)}: row {row} (video "
                       f"{self.ids[row]!r}) holds NaN or Inf: the index is damaged; "
                       "rebuild it with yt8m-embed")
    return rows


def gather_rows(array: np.ndarray, indices: np.ndarray) -> np.ndarray:
  """Rows ``indices`` of a (memory-mapped) [N, ...] array, as float32.

  The memory map is read in index order (sequential reads), then the rows are
  put back in the order of ``indices``.
  """
  indices = np.asarray(indices, np.int64).reshape(-1)
  order = np.argsort(indices, kind="stable")
  out = np.empty((indices.size,) + array.shape[1:], np.float32)
  if indices.size:
    out[order] = array[indices[order]]
  return out


# Times an open is retried when the folder is swapped for a new one while read.
_OPEN_ATTEMPTS = 3


def load_catalogue(path: str, mmap: bool = True,
                   load_indexes: bool = True, verify: str = "fast") -> Catalogue:
  """Reads an index folder.

  The folder is treated as received from someone else: every file is read
  from the one folder first opened (a ``yt8m-embed --overwrite`` swapping a
  new one in meanwhile never mixes the two; the new one is read if the old
  one went away during the read), only plain files directly in it are
  opened, meta.json's values are checked for type and range, and the
  recorded sizes and digests are checked (``verify``). When ``path`` is
  missing but a ``<path>.old-*`` folder is left by a ``yt8m-embed`` killed
  while swapping, that earlier index is read (with a warning).

  Args:
    path: the folder.
    mmap: memory-map the .npy arrays (read-only) instead of reading them.
    load_indexes: read the faiss index files listed in meta.json.
    verify: "fast", "full" or "none": the checks of
      :func:`~.integrity.verify` (recorded sizes and digests, finite rows).

  Returns:
    The :class:`Catalogue`.

  Raises:
    ValueError: missing folder or file (named), a damaged file (named, with
      the row for a non-finite one), empty catalogue, or inconsistent shapes.
  """
  path = str(path)
  if "://" in path:
    raise ValueError(f"Index folder {path!r} is a remote path: index folders are "
                     "memory-mapped, so they must be local (copy it here first)")
  if verify not in integrity.VERIFY_LEVELS:
    raise ValueError(f"verify must be one of {', '.join(integrity.VERIFY_LEVELS)}, got "
                     f"{verify!r}")
  for attempt in range(_OPEN_ATTEMPTS):
    where = _existing(path)
    try:
      folder = PinnedFolder(where)
    except (FileNotFoundError, NotADirectoryError):
      if attempt + 1 < _OPEN_ATTEMPTS:
        continue  # Swapped out between the check and the open.
      raise ValueError(f"Index folder {path!r} does not exist") from None
    except OSError as e:
      raise ValueError(f"cannot read the index folder {where!r}: {e.strerror or e}") from None
    with folder:
      try:
        return _load(folder, mmap, load_indexes, verify)
      except ValueError:
        if attempt + 1 < _OPEN_ATTEMPTS and folder.swapped:
          logging.info("index folder %s was replaced while it was read: reading it again",
                       where)
          continue
        raise
  raise AssertionError("unreachable")


def _existing(path: str) -> str:
  """``path``, or the earlier index a killed swap left beside it (warned about)."""
  if os.path.isdir(path):
    return path
  parent, name = os.path.split(os.path.normpath(path))
  try:
    entries = os.listdir(parent or ".")
  except OSError:
    entries = []
  left = [os.path.join(parent, e) for e in entries if e.startswith(f"{name}.old-")]
  left = [p for p in left if os.path.isfile(os.path.join(p, META_FILE))]
  if not left:
    if os.path.exists(path):
      raise ValueError(f"Index folder {path!r} is not a folder")
    raise ValueError(f"Index folder {path!r} does not exist")
  old = max(left, key=os.path.getmtime)
  logging.warning("index folder %s does not exist, but %s does: a yt8m-embed --overwrite was "
                  "stopped while swapping it in; reading the earlier index (the next "
                  "yt8m-embed into %s puts it back)", path, old, path)
  return old


def _load(folder: PinnedFolder, mmap: bool, load_indexes: bool, verify: str) -> Catalogue:
  """:func:`load_catalogue` of the opened folder."""
  path = folder.path
  meta_path = os.path.join(path, META_FILE)
  if folder.size(META_FILE) > MAX_META_BYTES:
    raise ValueError(f"{meta_path} holds {folder.size(META_FILE)} bytes, not a meta.json of "
                     "yt8m-embed: the index is damaged")
  try:
    with folder.open(META_FILE) as f:
      meta = json.loads(f.read().decode("utf-8"))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"{meta_path} is not valid JSON ({e}): the index is damaged") from e
  except RecursionError:
    raise ValueError(f"{meta_path} is nested too deeply: the index is damaged") from None
  check_meta(meta, meta_path)
  with_hubness = bool(meta.get("hubness"))
  with_self_hubness = with_hubness and bool(meta["hubness"].get("self"))
  with_labels = bool(meta.get("labels"))
  modalities = tuple(m for m in MODALITIES if m in (meta.get("modalities") or MODALITIES))
  timeline_arrays = {n for m in MODALITIES
                     for n in (timelines_file(m), compact.rows_file(m))}
  hashed = [n for n in (meta.get(integrity.FILES_KEY) or {}) if n not in timeline_arrays]
  integrity.verify(folder, meta, hashed, verify)
  try:
    with folder.open(IDS_TXT) as f:
      ids = f.read().decode("utf-8").split("\n")
  except UnicodeDecodeError as e:
    raise ValueError(f"{os.path.join(path, IDS_TXT)} is not UTF-8 text ({e}): the index "
                     "is damaged") from e
  if ids and ids[-1] == "":
    ids.pop()
  if meta.get("num_items") is not None and meta["num_items"] != len(ids):
    raise ValueError(f"{os.path.join(path, IDS_TXT)} holds {len(ids)} ids, meta.json says "
                     f"{meta['num_items']}: the index is damaged")
  arrays = {m: folder.load_npy(embeddings_file(m), mmap) for m in modalities}
  if verify != "none":
    for m in modalities:
      integrity.check_finite_rows(arrays[m], os.path.join(path, embeddings_file(m)), ids)
  timelines = {m: None for m in MODALITIES}
  num_frames = None
  has_timelines = meta.get("has_timelines", folder.exists(timelines_file(modalities[0])))
  if has_timelines:
    num_frames = folder.load_npy(NUM_FRAMES_FILE, False)
    for m in modalities:
      if meta.get("timeline_dtype") == compact.COMPACT_DTYPE:
        seconds = meta["max_frames"]
        _check_num_frames(num_frames, len(ids), seconds, os.path.join(path, NUM_FRAMES_FILE))
        timelines[m] = compact.CompactTimelines(
            folder.load_npy(compact.rows_file(m), mmap),
            folder.load_npy(compact.scales_file(m), mmap),
            num_frames, meta.get("timeline_pool") or 1, seconds)
        if verify == "full":
          integrity.check_finite_rows(timelines[m].scales,
                                      os.path.join(path, compact.scales_file(m)))
      else:
        timelines[m] = folder.load_npy(timelines_file(m), mmap)
        if timelines[m].ndim == 3:
          _check_num_frames(num_frames, len(ids), timelines[m].shape[1],
                            os.path.join(path, NUM_FRAMES_FILE))
        if verify == "full":
          integrity.check_finite_rows(timelines[m], os.path.join(path, timelines_file(m)),
                                      ids)
  catalogue = Catalogue(
      ids=ids, audio_embeddings=arrays.get("audio"),
      visual_embeddings=arrays.get("visual"), audio_timelines=timelines["audio"],
      visual_timelines=timelines["visual"], num_frames=num_frames, meta=meta,
      path=path)
  if with_hubness:
    for m in modalities:
      catalogue.hubness[m] = _load_values(folder, hubness_file(m), len(ids))
      if with_self_hubness:
        catalogue.self_hubness[m] = _load_values(folder, self_hubness_file(m), len(ids))
  if with_labels:
    values = folder.load_npy(LABELS_FILE, mmap)
    offsets = folder.load_npy(LABEL_OFFSETS_FILE, False)
    if (values.ndim != 1 or values.dtype.kind not in "iu" or offsets.dtype.kind not in "iu"
        or offsets.shape != (len(ids) + 1,) or offsets[0] != 0
        or offsets[-1] != len(values) or np.any(np.diff(offsets) < 0)):
      raise ValueError(f"{os.path.join(path, LABEL_OFFSETS_FILE)} does not describe "
                       f"{len(ids)} items of {LABELS_FILE}: the index is damaged")
    if len(values) and values.min() < 0:
      raise ValueError(f"{os.path.join(path, LABELS_FILE)} holds the class index "
                       f"{values.min()}, below 0: the index is damaged")
    catalogue.label_values, catalogue.label_offsets = values, offsets
  if load_indexes:
    for target in (meta.get("faiss") or {}):
      with folder.open(index_file(target)) as f:
        catalogue.indexes[target] = ann.load_index(os.path.join(path, index_file(target)), f)
  return catalogue


def _check_num_frames(num_frames: np.ndarray, n: int, seconds: int, where: str) -> None:
  """ValueError unless ``num_frames`` is N whole numbers in 0..seconds."""
  if (num_frames.shape != (n,) or num_frames.dtype.kind not in "iu"
      or (n and (num_frames.min() < 0 or num_frames.max() > seconds))):
    raise ValueError(f"{where} must hold {n} whole numbers in 0..{seconds}, got "
                     f"{num_frames.dtype} {list(num_frames.shape)}"
                     + (f" from {num_frames.min()} to {num_frames.max()}"
                        if num_frames.size and num_frames.dtype.kind in "iuf" else "")
                     + ": the index is damaged")


def _load_values(folder: PinnedFolder, name: str, count: int) -> np.ndarray:
  """[count] finite float32 values of ``folder/name``; ValueError naming it otherwise."""
  values = folder.load_npy(name, False)
  if values.shape != (count,) or not np.isfinite(values).all():
    raise ValueError(f"{os.path.join(folder.path, name)} is not {count} finite "
                     f"values (shape {values.shape}): the index is damaged")
  return values.astype(np.float32)
