"""Writing index folders batch by batch (:class:`CatalogueWriter`)."""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.retrieval import compact_timelines as compact
from yt8m_crossmodal.retrieval import hubness
from yt8m_crossmodal.retrieval import integrity
from yt8m_crossmodal.retrieval.folder import (
    FORMAT_VERSION, IDS_TXT, LABEL_OFFSETS_FILE, LABELS_FILE, META_FILE, MODALITIES,
    NUM_FRAMES_FILE, PARTS_DIR, NpyWriter, catalogue_files, embeddings_file, hubness_file,
    infer_num_frames, self_hubness_file, timelines_file, write_json, write_npy)

TIMELINE_DTYPES = ("float16", "float32", compact.COMPACT_DTYPE)


def _check_finite(x: np.ndarray, ids: Sequence[str], what: str) -> None:
  """Raises ValueError naming the first item of ``x`` that holds NaN or Inf."""
  x = np.asarray(x)
  finite = np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
  if not finite.all():
    i = int(np.argmin(finite))
    raise ValueError(f"the {what} of video {ids[i]!r} holds NaN or Inf (a diverged "
                     f"model?): {int((~finite).sum())} of {len(ids)} in the batch; "
                     "refusing to write them")


class CatalogueWriter:
  """Writes an index folder batch by batch without holding the corpus in RAM.

  With ``expected_count`` the final .npy files are created up front and
  appended to batch by batch; otherwise each batch goes to a part file under
  ``_parts/`` and :meth:`close` concatenates them part by part (compact
  int8 timelines, whose length is only known at the end, always go through
  part files). meta.json is written last by :meth:`close`, with the size and
  SHA-256 of every file (:mod:`.integrity`). Every file is written with
  plain writes, never memory-mapped: a full disk is a
  :class:`~yt8m_crossmodal.errors.UsageError` naming the file (a memory map
  would end the process with SIGBUS).

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
               overwrite: bool = False,
               timeline_pool: int = 1,
               modalities: Sequence[str] = MODALITIES,
               source: Optional[Dict[str, Any]] = None):
    """Opens the folder.

    Args:
      path: the index folder (created if needed).
      embedding_size: E.
      max_frames: T of the timelines (default: from the first batch with
        timelines; shorter batches are zero-padded, longer ones rejected).
      expected_count: final N if known (pre-allocated files).
      timeline_dtype: "float16" or "float32" (dense ``[N, max_frames, E]``)
        or "int8" (compact rows, see
        :mod:`~yt8m_crossmodal.retrieval.compact_timelines`).
      model_info: free-form JSON-able model description for meta.json.
      overwrite: replace a complete catalogue already in ``path``.
      timeline_pool: with "int8": seconds averaged into one stored row.
      modalities: both, or one (a one-modality index: only its files,
        searched by queries of the other modality; no hubness).
      source: JSON-able description of what was embedded, for meta.json
        (``data``: the records' file patterns, ``num_classes``: their label
        vocabulary's size), so that answers can name labels and media files.
    """
    self.modalities = tuple(m for m in MODALITIES if m in modalities)
    if not self.modalities or len(self.modalities) != len(tuple(modalities)):
      raise ValueError(f"modalities must be audio and/or visual, got {tuple(modalities)!r}")
    if str(np.dtype(timeline_dtype)) not in TIMELINE_DTYPES:
      raise ValueError(f"timeline_dtype must be one of {TIMELINE_DTYPES}, got "
                       f"{timeline_dtype!r}")
    self.compact = np.dtype(timeline_dtype) == np.dtype(compact.COMPACT_DTYPE)
    self.timeline_pool = int(timeline_pool)
    if self.timeline_pool < 1 or (self.timeline_pool > 1 and not self.compact):
      raise ValueError(f"timeline_pool {timeline_pool} needs timeline_dtype "
                       "int8 (and must be >= 1)")
    self.path = str(path)
    self.embedding_size = int(embedding_size)
    self.max_frames = None if max_frames is None else int(max_frames)
    self.expected_count = (None if expected_count is None
                           else int(expected_count))
    self.timeline_dtype = np.dtype(timeline_dtype)
    self.model_info = model_info or {}
    self.source = source or {}
    self.count = 0
    self._labels: List[np.ndarray] = []  # Class indices, batch by batch.
    self._label_counts: List[np.ndarray] = []
    self._with_labels = False
    self._with_timelines: Optional[bool] = None
    self._parts: List[Dict[str, int]] = []  # Rows per file, per part.
    self._writers: Dict[str, NpyWriter] = {}
    self._closed = False
    if os.path.exists(os.path.join(self.path, META_FILE)) and not overwrite:
      raise ValueError(f"Index folder {self.path!r} already holds a catalogue "
                       "(pass overwrite=True)")
    with io_utils.naming_errors(self.path):
      os.makedirs(self.path, exist_ok=True)
      ours = catalogue_files() - {PARTS_DIR}
      for name in os.listdir(self.path):  # Only files of this format.
        if name == PARTS_DIR:
          shutil.rmtree(os.path.join(self.path, name))
        elif name in ours:
          os.remove(os.path.join(self.path, name))
    self._ids_path = os.path.join(self.path, IDS_TXT)
    with io_utils.naming_errors(self._ids_path):
      self._ids_file = open(self._ids_path, "w", encoding="utf-8")

  def __enter__(self) -> "CatalogueWriter":
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()

  def _shapes(self) -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
    e = self.embedding_size
    shapes = {embeddings_file(m): ((e,), np.dtype(np.float32))
              for m in self.modalities}
    if self._with_timelines:
      for m in self.modalities:
        if self.compact:
          shapes[compact.rows_file(m)] = ((e,), np.dtype(np.int8))
          shapes[compact.scales_file(m)] = ((), np.dtype(np.float32))
        else:
          shapes[timelines_file(m)] = ((self.max_frames, e),
                                        self.timeline_dtype)
      shapes[NUM_FRAMES_FILE] = ((), np.dtype(np.int32))
    return shapes

  def _ragged(self) -> set:
    """Files whose row count is not the item count (compact timelines)."""
    if not (self._with_timelines and self.compact):
      return set()
    return {f(m) for m in self.modalities
            for f in (compact.rows_file, compact.scales_file)}

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
    if self.compact:
      return t
    if t.shape[1] < self.max_frames:
      t = np.pad(t, [(0, 0), (0, self.max_frames - t.shape[1]), (0, 0)])
    return t.astype(self.timeline_dtype, copy=False)

  def _add_encoded(self, batch: Dict[str, np.ndarray], b: int, audio, visual,
                   num_frames) -> None:
    """Puts compact rows already encoded (same pool) into ``batch``."""
    given = {m: t for m, t in (("audio", audio), ("visual", visual)) if m in self.modalities}
    if (not self.compact or num_frames is None
        or not all(isinstance(t, compact.Encoded) for t in given.values())):
      raise ValueError("Encoded timelines need an int8 writer, every modality "
                       "encoded and num_frames")
    num_frames = np.asarray(num_frames, np.int32).reshape(-1)
    want = int(compact.stored_rows(num_frames, self.timeline_pool).sum())
    for m, enc in given.items():
      if (num_frames.shape[0] != b or enc.rows.shape != (want, self.embedding_size)
          or enc.scales.shape != (want,)):
        raise ValueError(f"encoded {m} timelines hold {enc.rows.shape} rows, "
                         f"{b} videos with pool {self.timeline_pool} need {want}")
      batch[compact.rows_file(m)] = np.asarray(enc.rows, np.int8)
      batch[compact.scales_file(m)] = np.asarray(enc.scales, np.float32)
    if self.max_frames is None:
      raise ValueError("Encoded timelines need the writer's max_frames")
    batch[NUM_FRAMES_FILE] = num_frames

  def add(self, ids: Sequence[Any], audio_embeddings: np.ndarray,
          visual_embeddings: np.ndarray,
          audio_timelines: Optional[np.ndarray] = None,
          visual_timelines: Optional[np.ndarray] = None,
          num_frames: Optional[np.ndarray] = None,
          labels: Optional[Sequence[Sequence[int]]] = None) -> None:
    """Appends a batch of B items.

    Args:
      ids: B ids (str or bytes; no newlines).
      audio_embeddings: [B, E] (None for a visual-only index).
      visual_embeddings: [B, E] (None for an audio-only index).
      audio_timelines: [B, T', E] (T' <= max_frames), optional; for an int8
        writer also the rows already encoded, a
        :class:`~.compact_timelines.Encoded` (copied as they are).
      visual_timelines: [B, T', E] (or Encoded), given iff audio_timelines is.
      num_frames: [B] valid seconds (default: inferred from the non-zero
        rows of the timelines; required with Encoded rows).
      labels: B lists of class indices (the records' labels), or a [B, C]
        multi-hot array; None: no labels for this batch.
    """
    if self._closed:
      raise ValueError("CatalogueWriter is closed")
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
    b = len(ids)
    if any("\n" in i or "\r" in i for i in ids):
      raise ValueError("Ids must not contain newlines")
    batch: Dict[str, np.ndarray] = {}
    for m, x in (("audio", audio_embeddings), ("visual", visual_embeddings)):
      if (x is None) == (m in self.modalities):
        raise ValueError(f"{m} embeddings {'missing' if x is None else 'given'} for an "
                         f"index of {', '.join(self.modalities)}")
      if x is None:
        continue
      x = np.asarray(x, np.float32)
      if x.shape != (b, self.embedding_size):
        raise ValueError(f"{m} embeddings must be [{b}, {self.embedding_size}]"
                         f", got {x.shape}")
      _check_finite(x, ids, f"{m} embedding")
      batch[embeddings_file(m)] = x
    timelines = {m: t for m, t in (("audio", audio_timelines), ("visual", visual_timelines))
                 if m in self.modalities}
    with_timelines = any(t is not None for t in timelines.values())
    if with_timelines and any(t is None for t in timelines.values()):
      raise ValueError("Give the timelines of every modality of the index, or none")
    if any(t is not None for m, t in (("audio", audio_timelines),
                                      ("visual", visual_timelines))
           if m not in self.modalities):
      raise ValueError(f"timelines given for a modality the index does not hold "
                       f"({', '.join(self.modalities)})")
    if self._with_timelines is None:
      self._with_timelines = with_timelines
    elif self._with_timelines != with_timelines:
      raise ValueError("Every batch must carry timelines, or none")
    encoded = any(isinstance(t, compact.Encoded) for t in timelines.values())
    if with_timelines and encoded:
      self._add_encoded(batch, b, audio_timelines, visual_timelines, num_frames)
    elif with_timelines:
      dense = {m: self._timeline(t, b, f"{m}_timelines") for m, t in timelines.items()}
      if num_frames is None:
        num_frames = infer_num_frames(*dense.values())
      num_frames = np.asarray(num_frames, np.int32).reshape(-1)
      if num_frames.shape[0] != b:
        raise ValueError(f"{num_frames.shape[0]} num_frames for {b} items")
      for m, t in timelines.items():
        _check_finite(t, ids, f"{m} timeline")
      for m, t in dense.items():
        if self.compact:
          rows, scales = compact.encode(t, num_frames, self.timeline_pool)
          batch[compact.rows_file(m)], batch[compact.scales_file(m)] = rows, scales
        else:
          batch[timelines_file(m)] = t
      batch[NUM_FRAMES_FILE] = num_frames
    if b == 0:
      return
    to_parts = batch
    if self.expected_count is not None:
      if self.count + b > self.expected_count:
        raise ValueError(f"More than expected_count={self.expected_count} "
                         "items added")
      ragged = self._ragged()
      if not self._writers:
        for name, (shape, dtype) in self._shapes().items():
          if name not in ragged:
            self._writers[name] = NpyWriter(os.path.join(self.path, name),
                                            (self.expected_count,) + shape, dtype)
      for name, x in batch.items():
        if name not in ragged:
          self._writers[name].write(x)
      to_parts = {name: x for name, x in batch.items() if name in ragged}
    if to_parts:
      parts = os.path.join(self.path, PARTS_DIR)
      with io_utils.naming_errors(parts):
        os.makedirs(parts, exist_ok=True)
      part = len(self._parts)
      for name, x in to_parts.items():
        write_npy(os.path.join(parts, f"{part:06d}.{name}"), x)
      self._parts.append({name: len(x) for name, x in to_parts.items()})
    self._add_labels(labels, b)
    with io_utils.naming_errors(self._ids_path):
      self._ids_file.write("".join(i + "\n" for i in ids))
    self.count += b

  def _add_labels(self, labels, b: int) -> None:
    """Keeps the class indices of a batch (empty lists without labels)."""
    if labels is None:
      self._labels.append(np.zeros([0], np.int32))
      self._label_counts.append(np.zeros([b], np.int64))
      return
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
      rows, cols = np.nonzero(labels > 0)
      lists = [cols[rows == j] for j in range(b)]
    else:
      lists = [np.asarray(list(x), np.int64).reshape(-1) for x in labels]
    if len(lists) != b:
      raise ValueError(f"{len(lists)} label lists for {b} items")
    self._with_labels = True
    self._labels.append(np.concatenate(lists + [np.zeros([0], np.int64)]).astype(np.int32))
    self._label_counts.append(np.array([len(x) for x in lists], np.int64))

  def _write_labels(self) -> List[str]:
    """Writes labels.npy and label_offsets.npy; returns their names ([] without labels)."""
    if not self._with_labels:
      return []
    counts = np.concatenate(self._label_counts)
    write_npy(os.path.join(self.path, LABELS_FILE), np.concatenate(self._labels))
    write_npy(os.path.join(self.path, LABEL_OFFSETS_FILE),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    return [LABELS_FILE, LABEL_OFFSETS_FILE]

  def _write_hubness(self):
    """Writes ``<modality>_hubness.npy`` of the finished embedding files; returns their names.

    A one-modality index has no other modality to measure hubness against: none.
    """
    if len(self.modalities) < len(MODALITIES):
      return []
    embeddings = [np.load(os.path.join(self.path, embeddings_file(m)), mmap_mode="r")
                  for m in MODALITIES]
    names = [hubness_file(m) for m in MODALITIES]
    for name, values in zip(names, hubness.hubness_pair(*embeddings)):
      write_npy(os.path.join(self.path, name), values)
    for m, emb in zip(MODALITIES, embeddings):
      write_npy(os.path.join(self.path, self_hubness_file(m)), hubness.self_hubness(emb))
      names.append(self_hubness_file(m))
    return names

  def abort(self) -> None:
    """Stops without writing meta.json (the folder stays incomplete)."""
    if not self._closed:
      self._closed = True
      try:
        self._ids_file.close()
      except OSError:
        pass  # The folder is incomplete anyway.
      for writer in self._writers.values():
        writer.abort()
      self._writers.clear()
      shutil.rmtree(os.path.join(self.path, PARTS_DIR), ignore_errors=True)

  def _finish_files(self) -> None:
    """Closes ids.txt and the .npy files; concatenates the part files."""
    with io_utils.naming_errors(self._ids_path):
      self._ids_file.close()
    for writer in self._writers.values():
      writer.close()
    parts = os.path.join(self.path, PARTS_DIR)
    for name, (shape, dtype) in self._shapes().items():
      if name in self._writers:
        continue
      out = self._writers[name] = NpyWriter(
          os.path.join(self.path, name),
          (sum(p.get(name, 0) for p in self._parts),) + shape, dtype)
      for part, rows in enumerate(self._parts):
        if name not in rows:
          continue
        part_file = os.path.join(parts, f"{part:06d}.{name}")
        out.write(np.load(part_file))
        os.remove(part_file)
      out.close()
    self._writers.clear()
    shutil.rmtree(parts, ignore_errors=True)

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
    try:
      self._finish_files()
    except BaseException:
      self.abort()
      raise
    hub_files = self._write_hubness()
    label_files = self._write_labels()
    meta = {
        "format_version": FORMAT_VERSION,
        "embedding_size": self.embedding_size,
        "num_items": self.count,
        "has_timelines": bool(self._with_timelines),
        "max_frames": self.max_frames if self._with_timelines else None,
        "timeline_dtype": (self.timeline_dtype.name
                           if self._with_timelines else None),
        "timeline_pool": self.timeline_pool if self._with_timelines else None,
        "ids_file": IDS_TXT,
        "model": self.model_info,
        "faiss": {},
        "modalities": list(self.modalities),
        "hubness": dict(hubness.default_params(), self=True) if hub_files else None,
        "labels": bool(label_files),
        "source": self.source,
        integrity.FILES_KEY: integrity.record(self.path, [IDS_TXT, *self._shapes(),
                                                          *hub_files, *label_files]),
    }
    write_json(os.path.join(self.path, META_FILE), meta)
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
                    batch_size: int = 4096,
                    timeline_pool: int = 1,
                    labels: Optional[Sequence[Sequence[int]]] = None,
                    source: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """Writes a whole catalogue to an index folder (see the module docstring).

  Args:
    path: the index folder.
    ids: N ids.
    audio_embeddings: [N, E] (None: a visual-only index).
    visual_embeddings: [N, E] (None: an audio-only index).
    audio_timelines: [N, T, E] or None.
    visual_timelines: [N, T, E] or None.
    num_frames: [N] or None (inferred from the timelines).
    model_info: JSON-able model description.
    timeline_dtype: "float16", "float32" or "int8" (compact).
    overwrite: replace an existing catalogue.
    batch_size: items converted per write.
    timeline_pool: with "int8": seconds averaged into one stored row.
    labels: N lists of class indices, or None.
    source: see :class:`CatalogueWriter`.

  Returns:
    The meta.json contents.
  """
  present = {m: np.asarray(x) for m, x in (("audio", audio_embeddings),
                                           ("visual", visual_embeddings)) if x is not None}
  if not present:
    raise ValueError("Give the audio or the visual embeddings (or both)")
  first = next(iter(present.values()))
  if first.ndim != 2:
    raise ValueError(f"Embeddings must be [N, E], got {first.shape}")
  n = len(ids)
  if n == 0:
    raise ValueError("Empty catalogue: no items to write")
  some_timeline = audio_timelines if audio_timelines is not None else visual_timelines
  writer = CatalogueWriter(
      path, first.shape[1],
      max_frames=None if some_timeline is None else some_timeline.shape[1],
      expected_count=n, timeline_dtype=timeline_dtype, model_info=model_info,
      overwrite=overwrite, timeline_pool=timeline_pool, modalities=tuple(present),
      source=source)
  try:
    ids = list(ids)
    for s in range(0, n, batch_size):
      sl = slice(s, s + batch_size)
      writer.add(
          ids[sl], None if audio_embeddings is None else audio_embeddings[sl],
          None if visual_embeddings is None else visual_embeddings[sl],
          None if audio_timelines is None else audio_timelines[sl],
          None if visual_timelines is None else visual_timelines[sl],
          None if num_frames is None else np.asarray(num_frames)[sl],
          None if labels is None else list(labels[sl]))
  except BaseException:
    writer.abort()
    raise
  return writer.close()

