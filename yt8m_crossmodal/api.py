"""The Python API: what the console tools do, from code.

Everything here is also reachable as ``yt8m_crossmodal.<name>``; importing the
package is quick and quiet (TensorFlow loads, without its start-up lines, on
the first call that needs it; ``YT8M_VERBOSE=1`` keeps them).

Read records, encode, search and synchronize with an export of ``yt8m-export``:

>>> import yt8m_crossmodal as ym
>>> encoder = ym.load_encoder(export_dir)            # a yt8m-export folder
>>> video = next(ym.read_records(records))           # YT-8M TFRecords: a file pattern
>>> audio = encoder.encode_audio(video.audio)        # uint8 [T, 128] as stored
>>> visual = encoder.encode_visual(video.visual)     # uint8 [T, 1024]
>>> audio.timeline.shape == (video.num_frames, encoder.embedding_size)
True
>>> result = ym.synchronize(audio.timeline, visual.timeline, max_offset=2)
>>> result.status in ("synchronized", "cannot_synchronize")
True

The examples of this module run as the tests' doctests, with ``export_dir``
(a frame-level yt8m-export folder), ``encoder`` (``load_encoder(export_dir)``),
``model_dir`` (a yt8m-train folder), ``records`` (frame-level records),
``index_dir`` (a yt8m-embed index folder of them), ``tmp`` (an empty folder),
``recording`` (a sound file) and ``weights_dir`` (the weight files of
``yt8m-extract``: stand-ins in the published formats).

Offsets have one sign everywhere (``+d``: what is seen at second t is heard
at second t + d), and one confidence (1 - a p-value against each video's own
null, the same on any data and model): ``yt8m-sync`` prints exactly the fields
of :class:`SyncResult`.

Jobs take the tools' configs (each field is the flag of the same name):
:func:`train` (:class:`Config`), :func:`export`, :func:`embed`
(:class:`EmbedConfig`), :func:`search` (:class:`SearchConfig`),
:func:`sync_records` (:class:`SyncConfig`), :func:`evaluate`
(:class:`EvaluateConfig`), :func:`validate_records` (:class:`ValidateConfig`),
:func:`make_sample_data` (:class:`SynthConfig`), :func:`human_eval`
(:class:`HumanEvalConfig`), :func:`extract` (:class:`ExtractConfig`: media
files to records), :func:`find_pictures` (:class:`PicturesConfig`),
:func:`find_soundtracks` (:class:`SoundtracksConfig`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from yt8m_crossmodal import paths
from yt8m_crossmodal import quiet
from yt8m_crossmodal.config import Config, check_arguments, load_config
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data.synthetic import SynthConfig
from yt8m_crossmodal.data.videos import Video
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.experiments import EXPERIMENTS
from yt8m_crossmodal.jobs.config import (HUB_WEIGHT, RERANK_ALPHA, EmbedConfig,
                                         EvaluateConfig, ExportConfig, ExtractConfig,
                                         HumanEvalConfig, PicturesConfig, SearchConfig,
                                         SoundtracksConfig, SyncConfig, ValidateConfig)
from yt8m_crossmodal.sync.estimator import MIN_CONFIDENCE

__all__ = [
    "Config", "load_config", "named_config", "EXPERIMENTS", "EmbedConfig", "EvaluateConfig", "ExportConfig",
    "SearchConfig", "SyncConfig", "ValidateConfig", "SynthConfig", "HumanEvalConfig",
    "ExtractConfig", "PicturesConfig", "SoundtracksConfig", "UsageError", "Video", "read_records",
    "Embedding", "Encoder", "load_encoder", "open_catalogue", "search_catalogue",
    "SyncResult", "synchronize", "train", "export", "embed", "search", "sync_records",
    "evaluate", "validate_records", "make_sample_data", "human_eval", "extract",
    "find_pictures", "find_soundtracks",
]


@dataclasses.dataclass(frozen=True)
class Embedding:
  """Encoded features.

  Attributes:
    clip: [E] (one video) or [B, E]: the L2-normalized clip embedding.
    timeline: [T, E] or [B, T, E] per-second embeddings (frame-level models;
      None for video-level ones); seconds past a video's length are zeros.

  What :meth:`Encoder.encode_audio` returns, and what
  :func:`search_catalogue` takes as a query:

  >>> query = Embedding(clip=np.array([0.6, 0.8]))
  >>> query.clip.shape, query.timeline is None
  ((2,), True)
  """

  clip: np.ndarray
  timeline: Optional[np.ndarray] = None


class Encoder:
  """An export of ``yt8m-export`` as an encoder (see :func:`load_encoder`).

  Attributes:
    path: the version folder loaded.
    feature_level: "frame" or "video".
    embedding_size: E.
    has_timelines: True when the encoders give per-second timelines.
    config: the training :class:`Config` of the model.

  >>> encoder = load_encoder(export_dir)
  >>> encoder.feature_level, encoder.has_timelines, encoder.config.feature_level
  ('frame', True, 'frame')
  """

  def __init__(self, export):
    self._export = export
    self.path = export.path
    self.feature_level = export.feature_level
    self.embedding_size = export.embedding_size
    self.has_timelines = export.has_timelines
    self.config = export.config

  def _encode(self, modality: str, features, num_frames) -> Embedding:
    frame = self.feature_level == "frame"
    want = feat.AUDIO_DIM if modality == "audio" else feat.VISUAL_DIM
    x = _features(modality, features, want)
    single = x.ndim == (2 if frame else 1)
    if x.ndim != (3 if frame else 2) - int(single) or x.shape[-1] != want:
      shape = "[T, D] or [B, T, D]" if frame else "[D] or [B, D]"
      raise UsageError(f"{modality} features must be {shape} with D = {want} for this "
                       f"{self.feature_level}-level model, got shape {list(x.shape)}")
    if single:
      x = x[None]
    if x.shape[0] == 0 or (frame and x.shape[1] == 0):
      raise UsageError(f"{modality} features are empty (shape {list(x.shape)}): give at "
                       "least one video of at least one second")
    if not frame:
      if num_frames is not None:
        raise UsageError("num_frames is for frame-level models; this one is video level")
    else:
      num_frames = _num_frames(num_frames, x.shape[0], x.shape[1], single)
    clip, timeline = self._export.encode_fn(modality)(x, num_frames)
    if single:
      return Embedding(clip[0], None if timeline is None else timeline[0])
    return Embedding(clip, timeline)

  def encode_audio(self, features, num_frames=None) -> Embedding:
    """Encodes audio features.

    Args:
      features: frame level: [T, 128] or [B, T, 128]; video level: [128] or
        [B, 128]. Quantized bytes as stored (uint8, other integers in 0..255,
        or one ``bytes`` of 128 per second) are dequantized; floats are taken
        as dequantized features.
      num_frames: [B] valid seconds per video, each in 1..T (default: all T).

    Raises:
      UsageError: bad features or num_frames (shape, type, integers outside
        0..255, NaN or Inf, nothing to encode), naming which.

    Returns:
      An :class:`Embedding` (one video in, one out: no batch axis).

    >>> video = next(read_records(records))
    >>> audio = encoder.encode_audio(video.audio)     # encoder = load_encoder(export_dir)
    >>> audio.clip.shape == (encoder.embedding_size,)
    True
    >>> audio.timeline.shape == (video.num_frames, encoder.embedding_size)
    True
    """
    return self._encode("audio", features, num_frames)

  def encode_visual(self, features, num_frames=None) -> Embedding:
    """Encodes visual features: as :meth:`encode_audio` with D = 1024.

    >>> frames = np.zeros((2, 10, 1024), np.uint8)   # two videos of 10 and 4 seconds
    >>> encoder.encode_visual(frames, num_frames=[10, 4]).timeline.shape[:2]
    (2, 10)
    """
    return self._encode("visual", features, num_frames)

  def encode_records(self, pattern: str, batch_size: int = 64, max_videos: int = 0,
                     skip_bad_records: bool = False,
                     modalities: Tuple[str, ...] = ("audio", "visual")):
    """Encodes every video of YT-8M TFRecords (local or gs://).

    Each video's first ``max_frames`` seconds (the export's, as ``yt8m-embed``
    stores them); :meth:`encode_audio` / :meth:`encode_visual` take any length.

    Args:
      modalities: ("audio",) or ("visual",) encodes that modality alone, and
        reads records holding only it too (songs, silent clips from
        ``yt8m-extract``).

    Returns:
      An :class:`~yt8m_crossmodal.evaluation.embedded_set.EmbeddedSet`:
      ``ids`` [N], ``audio_embedding`` / ``visual_embedding`` [N, E] (None
      for a modality not read), ``num_frames`` [N], ``labels`` [N, C] and, at
      frame level, ``audio_timelines`` / ``visual_timelines`` (lists of [T_i, E]).

    >>> videos = encoder.encode_records(records, max_videos=3)
    >>> len(videos), videos.audio_embedding.shape[0], len(videos.visual_timelines)
    (3, 3, 3)
    >>> encoder.encode_records(records, max_videos=3, modalities=("audio",)).visual_embedding is None
    True
    """
    if not isinstance(pattern, (str, os.PathLike)) or not str(pattern):
      raise UsageError(f"pattern must be a file pattern, got {pattern!r}")
    batch_size = _whole("batch_size", batch_size, minimum=1)
    max_videos = _whole("max_videos", max_videos, minimum=0)
    from yt8m_crossmodal.data import decode as decode_lib
    from yt8m_crossmodal.jobs import evaluate as evaluate_job
    try:
      modalities = decode_lib.check_modalities(modalities)
    except ValueError as e:
      raise UsageError(str(e)) from None
    return evaluate_job.embed_with_export(self._export, str(pattern), batch_size, max_videos,
                                          skip_bad_records, modalities)


def _features(modality: str, features, dim: int) -> np.ndarray:
  """``features`` as float32 for an encoder; UsageError naming what is wrong.

  Integers are quantized bytes (0..255, dequantized as uint8 are), never
  taken as floats; a list of ``bytes`` is one frame per second.
  """
  name = f"{modality} features"
  if isinstance(features, (list, tuple)) and features and all(
      isinstance(f, (bytes, bytearray)) for f in features):
    if any(len(f) != dim for f in features):
      raise UsageError(f"{name}: each frame given as bytes must hold {dim} bytes, got "
                       f"{sorted({len(f) for f in features})[:3]}")
    return feat.dequantize(np.stack([np.frombuffer(bytes(f), np.uint8) for f in features]))
  try:
    x = np.asarray(features)
  except (ValueError, TypeError) as e:
    raise UsageError(f"{name} must be an array of numbers: {e}") from None
  if x.dtype.kind in "ui":
    if x.size and (x.min() < 0 or x.max() > 255):
      raise UsageError(f"{name}: integers are taken as quantized bytes (0..255, as stored), "
                       f"got values from {x.min()} to {x.max()}; give dequantized features "
                       "as floats")
    return feat.dequantize(x.astype(np.uint8))
  if x.dtype.kind != "f":
    raise UsageError(f"{name} must be numbers (uint8 as stored, or floats), got dtype "
                     f"{x.dtype}")
  x = x.astype(np.float32)
  if not np.isfinite(x).all():
    bad = np.argwhere(~np.isfinite(x))[0].tolist()
    raise UsageError(f"{name} hold NaN or Inf (first at index {bad})")
  return x


def _whole(name: str, value, minimum: Optional[int] = None,
           maximum: Optional[int] = None) -> int:
  """``value`` as an int (a whole number), within bounds; UsageError naming it."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
    raise UsageError(f"{name} must be a whole number, got {value!r}")
  if not np.isfinite(value) or value != int(value):
    raise UsageError(f"{name} must be a whole number, got {value!r}")
  value = int(value)
  if minimum is not None and value < minimum:
    raise UsageError(f"{name} must be >= {minimum}, got {value}")
  if maximum is not None and value > maximum:
    raise UsageError(f"{name} must be <= {maximum}, got {value}")
  return value


def _fraction(name: str, value) -> float:
  """A number in [0, 1]; UsageError naming it."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) or (
      not 0.0 <= float(value) <= 1.0):
    raise UsageError(f"{name} must be a number in [0, 1], got {value!r}")
  return float(value)


def _num_frames(num_frames, batch: int, seconds: int, single: bool) -> np.ndarray:
  """[B] int32 valid seconds, each in 1..seconds; UsageError naming num_frames."""
  if num_frames is None:
    return np.full([batch], seconds, np.int32)
  try:
    n = np.asarray(num_frames)
  except (ValueError, TypeError) as e:
    raise UsageError(f"num_frames must be whole numbers: {e}") from None
  if single and n.ndim == 0:
    n = n[None]
  if n.ndim != 1 or n.shape[0] != batch:
    raise UsageError(f"num_frames must have one value per video ({batch}), got shape "
                     f"{list(n.shape)}")
  if n.dtype.kind not in "uif" or (n.dtype.kind == "f" and not (
      np.isfinite(n).all() and (n == np.round(n)).all())):
    raise UsageError(f"num_frames must be whole numbers, got {n.tolist()[:5]}")
  if n.size and (n.min() < 1 or n.max() > seconds):
    raise UsageError(f"num_frames must be in 1..{seconds} (the seconds given), got "
                     f"{n.tolist()[:5]}")
  return n.astype(np.int32)


def _timeline(name: str, value, width: Optional[int] = None) -> np.ndarray:
  """A [T, E] timeline as float32 (T >= 1, finite); UsageError naming it."""
  try:
    x = np.asarray(value)
  except (ValueError, TypeError) as e:
    raise UsageError(f"{name} must be an array of numbers: {e}") from None
  if x.dtype.kind not in "uif":
    raise UsageError(f"{name} must be numbers, got dtype {x.dtype}")
  if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
    raise UsageError(f"{name} must be [T, E] with T, E >= 1, got shape {list(x.shape)}")
  if width is not None and x.shape[1] != width:
    raise UsageError(f"{name} has width {x.shape[1]}, the catalogue {width}")
  x = x.astype(np.float32)
  if not np.isfinite(x).all():
    raise UsageError(f"{name} holds NaN or Inf (first at second "
                     f"{int(np.argwhere(~np.isfinite(x))[0][0])})")
  return x


def read_records(pattern: str, dequantize: bool = False, max_videos: int = 0,
                 skip_bad_records: bool = False, feature_level: str = "auto",
                 modalities: Tuple[str, ...] = ("audio", "visual")) -> Iterator[Video]:
  """Yields each video of YT-8M TFRecords: id, labels and features, in file order.

  The features are what :meth:`Encoder.encode_audio` and
  :meth:`Encoder.encode_visual` take: at frame level ``audio`` [T, 128] and
  ``visual`` [T, 1024] uint8 as stored (float32 in [-2, 2] with
  ``dequantize=True``), at video level ``mean_audio`` [128] and ``mean_rgb``
  [1024]. Every record is checked as the tools check it: a bad one raises an
  error naming its file and index (``skip_bad_records``: skipped and logged).

  Args:
    pattern: comma-separated file globs, local or gs:// (``train0[0-3].tfrecord``).
    dequantize: frame features as float32 instead of uint8.
    max_videos: stop after this many (0: all).
    skip_bad_records: skip bad records instead of raising.
    feature_level: "frame", "video" or "auto" (the level of the first record).
    modalities: ("audio",) or ("visual",) reads that modality alone, and
      records holding only it too (sound-only or silent files from
      ``yt8m-extract``); the other is None.

  Returns:
    An iterator of :class:`Video` (``id``, ``labels`` [L] class indices,
    ``audio``, ``visual``, ``num_frames``, ``feature_level``, ``file``, ``index``).

  >>> videos = list(read_records(records, max_videos=2))
  >>> video = videos[0]
  >>> video.audio.dtype, video.audio.shape == (video.num_frames, 128), video.visual.shape[1]
  (dtype('uint8'), True, 1024)
  >>> next(read_records(records, dequantize=True)).audio.dtype
  dtype('float32')
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.data import videos
  from yt8m_crossmodal.data import decode
  try:
    modalities = decode.check_modalities(modalities)
  except ValueError as e:
    raise UsageError(str(e)) from None
  return videos.read_videos(pattern, feature_level=feature_level, dequantize=dequantize,
                            max_videos=max_videos, skip_bad_records=skip_bad_records,
                            modalities=modalities)


def load_encoder(export_dir: str) -> Encoder:
  """Loads an export: a model folder (its highest version) or a version folder.

  A SavedModel is a program: load only exports you trust.

  >>> encoder = load_encoder(export_dir)      # what yt8m-export wrote
  >>> encoder.path.endswith("/1"), encoder.embedding_size
  (True, 6)
  """
  if not isinstance(export_dir, (str, os.PathLike)) or not str(export_dir):
    raise UsageError(f"export_dir must be a folder name, got {export_dir!r}")
  export_dir = str(export_dir)
  quiet.load_tensorflow()
  from yt8m_crossmodal.serving.loading import load_export
  return Encoder(load_export(export_dir))


def open_catalogue(path: str, verify: str = "fast"):
  """Opens an index folder of ``yt8m-embed`` (memory-mapped).

  Args:
    path: the index folder.
    verify: checks on open: "fast" (sizes, digests of the small files),
      "full" (the timelines too) or "none".

  Returns:
    A :class:`~yt8m_crossmodal.retrieval.catalogue.Catalogue`: ``ids``,
    ``search(queries [Q, E], target, k)`` -> ``(scores, indices)`` [Q, k],
    ``timeline_rows(modality, indices)``; see :func:`search_catalogue` for
    ranked results with re-ranking and localization.

  >>> catalogue = open_catalogue(index_dir)
  >>> len(catalogue.ids)
  24
  """
  from yt8m_crossmodal.retrieval.catalogue import load_catalogue
  if not isinstance(path, (str, os.PathLike)) or not str(path):
    raise UsageError(f"path must be a folder name, got {path!r}")
  try:
    return load_catalogue(str(path), verify=verify)
  except ValueError as e:
    raise UsageError(f"{path!r}: {e}") from e


def search_catalogue(catalogue, query: Embedding, target: str = "visual", k: int = 10,
                     rerank: int = 0, rerank_alpha: float = RERANK_ALPHA,
                     localize: bool = False, hub_weight: float = HUB_WEIGHT
                     ) -> List[Dict[str, Any]]:
  """The top ``k`` of ``catalogue`` for one query, as ``yt8m-search`` ranks them.

  Args:
    catalogue: from :func:`open_catalogue`.
    query: one video's :class:`Embedding` of the other modality than ``target``.
    target: "visual" (an audio query) or "audio".
    k: results.
    rerank: re-score the top N (>= k) by timeline alignment (0: off).
    rerank_alpha: weight of the clip score when re-ranking.
    localize: add ``best_start_second`` (where in each result the query fits).
    hub_weight: rank by ``cosine - hub_weight * hubness`` of each result (how
      close it lies to the items of the query modality, as ``yt8m-embed``
      stored it; 0: cosine).

  Returns:
    ``[{"id", "score", "rank", "row", ...}]``, best first.

  >>> catalogue = open_catalogue(index_dir)
  >>> soundtrack = encoder.encode_audio(next(read_records(records)).audio)
  >>> hits = search_catalogue(catalogue, soundtrack, target="visual", k=3, rerank=5,
  ...                         localize=True)
  >>> [hit["rank"] for hit in hits], sorted(hits[0])[:5]
  ([1, 2, 3], ['best_start_second', 'clip_score', 'id', 'query_start_second', 'rank'])
  """
  from yt8m_crossmodal.retrieval.catalogue import Catalogue
  from yt8m_crossmodal.retrieval.folder import MODALITIES
  from yt8m_crossmodal.retrieval.results import ranked_results
  if not isinstance(catalogue, Catalogue):
    raise UsageError(f"catalogue must be an index from ym.open_catalogue, got "
                     f"{type(catalogue).__name__}")
  if not isinstance(query, Embedding):
    raise UsageError(f"query must be an ym.Embedding (from Encoder.encode_audio/visual; "
                     f"ym.Embedding(clip) for a bare vector), got {type(query).__name__}")
  if target not in MODALITIES:
    raise UsageError(f"target must be 'audio' or 'visual', got {target!r}")
  k = _whole("k", k, minimum=1)
  rerank = _whole("rerank", rerank, minimum=0)
  rerank_alpha = _fraction("rerank_alpha", rerank_alpha)
  hub_weight = _fraction("hub_weight", hub_weight)
  try:
    clip = np.asarray(query.clip)
  except (ValueError, TypeError) as e:
    raise UsageError(f"query.clip must be an array of numbers: {e}") from None
  if clip.ndim != 1:
    raise UsageError(f"search_catalogue takes one query: clip [E], got {list(clip.shape)}")
  if clip.dtype.kind not in "uif" or clip.shape[0] != catalogue.embedding_size:
    raise UsageError(f"query.clip must be {catalogue.embedding_size} numbers (the "
                     f"catalogue's width), got {clip.shape[0]} of dtype {clip.dtype}")
  clip = clip.astype(np.float32)
  if not np.isfinite(clip).all():
    raise UsageError("query.clip holds NaN or Inf")
  if (rerank or localize) and query.timeline is None:
    raise UsageError("rerank and localize need the query's timeline (a frame-level model)")
  if rerank and rerank < k:
    raise UsageError(f"rerank must be 0 or >= k ({k}), got {rerank}")
  if target not in catalogue.modalities:
    raise UsageError(f"the catalogue holds {catalogue.modalities[0]} embeddings only (a "
                     f"one-modality index): search it with target="
                     f"{catalogue.modalities[0]!r}")
  timeline = (None if query.timeline is None
              else _timeline("query.timeline", query.timeline, catalogue.embedding_size))
  try:
    scores, indices = catalogue.search(clip[None], target=target, k=max(k, rerank),
                                       hub_weight=hub_weight)
    return ranked_results(catalogue, target, scores[0], indices[0], k, timeline,
                          None if timeline is None else len(timeline), rerank,
                          rerank_alpha, localize)
  except ValueError as e:  # The index: no timelines, a damaged row (named).
    raise UsageError(str(e)) from e


@dataclasses.dataclass(frozen=True)
class SyncResult:
  """One video's synchronization, the fields ``yt8m-sync`` prints.

  Attributes:
    status: "synchronized" or "cannot_synchronize".
    offset_seconds: + = the audio is late by that many seconds (shift it
      earlier); None when the confidence is below ``min_confidence``.
    best_offset_seconds: the best offset whatever the confidence.
    confidence: 1 - ``p_value``.
    p_value: of the best offset against the video's own null.
    audio_seconds: ``[t0, t1)``, the audio seconds slid along the pictures.
    scores: offset (seconds, as a string) -> score (None where the offset
      leaves the pictures).
    drift: with ``drift=True``: ``model`` (constant_offset or drift),
      ``model_reason``, ``late_at_start``, ``rate`` (lateness at picture
      second t: ``late_at_start + rate * t``), ``path_confidence``,
      ``path_p_value``, ``constant_confidence``, ``anchors``; ``status``, ``confidence``,
      ``p_value`` and ``offset_seconds`` (the lateness at picture second 0)
      are then the model's answer.

  >>> visual = np.random.default_rng(1).normal(size=(40, 8))
  >>> result = synchronize(np.roll(visual, -1, axis=0), visual)   # the audio 1 s early
  >>> result.offset_seconds, sorted(result.to_dict())[:3]
  (-1, ['audio_seconds', 'best_offset_seconds', 'confidence'])
  """

  status: str
  offset_seconds: Optional[int]
  best_offset_seconds: int
  confidence: float
  p_value: float
  audio_seconds: List[int]
  scores: Dict[str, Optional[float]]
  drift: Optional[Dict[str, Any]] = None

  def to_dict(self) -> Dict[str, Any]:
    """The JSON fields of a ``yt8m-sync`` line (without ``id``).

    >>> line = synchronize(*[np.eye(30)] * 2, max_offset=2).to_dict()
    >>> line["status"], line["offset_seconds"]
    ('synchronized', 0)
    """
    out = dataclasses.asdict(self)
    out.update(out.pop("drift") or {})
    return out


def synchronize(audio_timeline, visual_timeline, max_offset: int = 5,
                min_confidence: float = MIN_CONFIDENCE, min_overlap: int = 0,
                drift: bool = False) -> SyncResult:
  """Estimates the audio's offset from two timelines, or says it cannot.

  The estimator, sign and confidence of ``yt8m-sync``, full length.

  Args:
    audio_timeline: [T_a, E] the soundtrack's timeline (:meth:`Encoder.encode_audio`).
    visual_timeline: [T_v, E] the pictures' timeline.
    max_offset: offsets -S .. S seconds are tried.
    min_confidence: below it the answer is "cannot_synchronize" (0.99: p <= 0.01).
    min_overlap: 0: the audio less S seconds at each end slides along the
      pictures; N > 0: the whole track slides at any offset up to
      ``max_offset`` where both share at least N seconds.
    drift: also search the whole track's lateness path (offset + rate, rates
      within 5%), say whether one offset is enough, and answer with it.

  Returns:
    A :class:`SyncResult`.

  >>> rng = np.random.default_rng(0)
  >>> visual = rng.normal(size=(60, 16))
  >>> audio = np.roll(visual, 2, axis=0)   # heard 2 s after it is seen
  >>> result = synchronize(audio, visual)
  >>> result.status, result.offset_seconds, result.confidence > 0.99
  ('synchronized', 2, True)
  """
  from yt8m_crossmodal.sync import answer
  audio = _timeline("audio_timeline", audio_timeline)
  visual = _timeline("visual_timeline", visual_timeline)
  if audio.shape[1] != visual.shape[1]:
    raise UsageError(f"timelines must be [T, E] with the same E, got {list(audio.shape)} "
                     f"and {list(visual.shape)}")
  # An offset beyond the pictures is never feasible: bounded, so nothing huge is allocated.
  max_offset = _whole("max_offset", max_offset, minimum=1,
                      maximum=max(1, len(audio) + len(visual)))
  min_overlap = _whole("min_overlap", min_overlap, minimum=0)
  if isinstance(min_confidence, (bool, np.bool_)) or not isinstance(
      min_confidence, (int, float, np.number)):
    raise UsageError(f"min_confidence must be a number in [0, 1], got {min_confidence!r}")
  check_arguments(SyncConfig, max_offset=max_offset, min_confidence=min_confidence,
                  min_overlap=min_overlap)
  t0, length, error = answer.window(len(audio), len(visual), max_offset,
                                    min_overlap=min_overlap)
  if error:
    raise UsageError(error)
  fields = answer.estimate(audio[t0:t0 + length], visual, t0, max_offset,
                           min_confidence, min_overlap)
  drift_fields = None
  if drift:
    drift_fields = answer.drift_fields(audio, visual, max_offset, min_confidence, fields)
    for key in ("status", "confidence", "p_value", "offset_seconds"):
      fields[key] = drift_fields.pop(key)
  return SyncResult(audio_seconds=[t0, t0 + length], drift=drift_fields, **fields)


def named_config(name: str = "default", base: Optional[Config] = None,
                 **fields: Any) -> Config:
  """A named configuration of :data:`EXPERIMENTS` with config fields replaced.

  ``base`` (default ``Config()``) is what the name's overrides apply to.
  The fields are the flags of ``yt8m-train``: ``named_config("default",
  feature_level="video", train_data="...", model_dir="runs/a")`` is what
  ``yt8m-train --config=default --feature_level=video ...`` trains.

  >>> config = named_config("fused_timeline", lstm_units=8)
  >>> config.timeline_source, config.lstm_units, "fused_timeline" in EXPERIMENTS
  ('fused', 8, True)
  >>> named_config("video_mlp").replace(train_data="data/*.tfrecord").video_encoder
  'mlp'
  """
  from yt8m_crossmodal import experiments
  return experiments.get(name, base, **fields)


def train(config: Config) -> Dict[str, float]:
  """Trains as ``yt8m-train`` does; returns the last epoch's logs.

  The config is checked first (values, then the paths: a pattern that matches
  nothing is a :class:`UsageError`); ``config.model_dir`` receives what
  ``yt8m-train --model_dir`` does, and a second call resumes or says the run
  is finished.

  >>> config = named_config("default", train_data=records, model_dir=f"{tmp}/run",
  ...                       epochs=1, lstm_layers=1, lstm_units=8, projection_units=8,
  ...                       embedding_size=8, window_strides=(1,), batch_size=8)
  >>> logs = train(config)   # Keras prints a line an epoch: steps, time, the losses
  3/3 - ...
  >>> logs["loss"] > 0, logs["bad_records_skipped"]
  (True, 0)
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import train as train_job
  return train_job.train(config)  # It validates the config first.


def export(model_dir: str, export_dir: str, version: int = 0, search_catalogue: str = "",
           search_k: int = 10) -> Dict[str, Any]:
  """Exports a ``yt8m-train`` folder in the TF Serving layout (``yt8m-export``).

  Returns:
    The export's description, with ``path`` (the version folder) and ``version``.

  >>> info = export(model_dir, f"{tmp}/saved_models/a")
  >>> info["version"], info["path"] == f"{tmp}/saved_models/a/1", sorted(info["signatures"])[:2]
  (1, True, ['encode_audio', 'encode_examples'])
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import export as export_job
  return export_job.export_model_dir(ExportConfig(
      model_dir=model_dir, export_dir=export_dir, version=version,
      search_catalogue=search_catalogue, search_k=search_k))


def embed(config: EmbedConfig) -> Dict[str, Any]:
  """Embeds a corpus into an index folder (``yt8m-embed``); returns its meta.

  >>> meta = embed(EmbedConfig(export_dir=export_dir, data=records, output=f"{tmp}/index"))
  >>> meta["num_items"], meta["has_timelines"]
  (24, False)
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import embed as embed_job
  return embed_job.embed_corpus(config)


def search(config: SearchConfig) -> Iterator[Dict[str, Any]]:
  """Searches an index with query records (``yt8m-search``): one dict a query.

  >>> config = SearchConfig(index=index_dir, export_dir=export_dir, query_data=records,
  ...                       query_modality="audio", k=2, max_queries=3)
  >>> answers = list(search(config))
  >>> len(answers), answers[0]["target_modality"], len(answers[0]["results"])
  (3, 'visual', 2)
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import search as search_job
  return search_job.Searcher(config)()


def find_pictures(config: PicturesConfig) -> Iterator[Dict[str, Any]]:
  """Pictures for long soundtracks (``yt8m-pictures``): one storyboard dict a record.

  Each storyboard: ``query_id``, ``seconds``, ``segments`` (per segment its
  ``start_second``, ``end_second`` and ``pictures``: ``id``, ``start_second``,
  ``end_second``, ``score``, ...); see :mod:`yt8m_crossmodal.jobs.pictures`.
  The config and its paths are checked first (a :class:`UsageError` naming
  the field), before TensorFlow loads.

  Here the first soundtrack of ``records`` (18 s) in segments of 4 s against
  ``index_dir`` (an index of ``yt8m-embed --timelines``):

  >>> config = PicturesConfig(index=index_dir, export_dir=export_dir, audio_data=records,
  ...                         segment_seconds=4, hop_seconds=4, window_seconds=2,
  ...                         candidates=8, k=2, max_records=1)
  >>> board = next(find_pictures(config))
  >>> board["seconds"], [(s["start_second"], s["end_second"]) for s in board["segments"]]
  (18, [(0, 4), (4, 8), (8, 12), (12, 16), (14, 18)])
  >>> picture = board["segments"][0]["pictures"][0]   # the best stretch of a video
  >>> picture["rank"], picture["end_second"] - picture["start_second"]
  (1, 4)
  >>> next(find_pictures(dataclasses.replace(config, audio_data=f"{tmp}/none*")))
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.PathNotFoundError: No files match the pattern '...' of --audio_data
  """
  paths.check_config(config)
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import pictures as pictures_job
  return pictures_job.PictureFinder(config)()


def find_soundtracks(config: SoundtracksConfig) -> Iterator[Dict[str, Any]]:
  """Soundtracks for picture tracks (``yt8m-soundtracks``): one dict a record.

  Each: ``query_id``, ``seconds`` and ``soundtracks``: ``id``, ``score``,
  ``song_start_second`` (where in the song to start), ``video_start_second``,
  ``confidence``, ...; see :mod:`yt8m_crossmodal.jobs.soundtracks`. The
  config and its paths are checked first (a :class:`UsageError` naming the
  field), before TensorFlow loads.

  >>> config = SoundtracksConfig(index=index_dir, export_dir=export_dir, visual_data=records,
  ...                            k=3, candidates=6, max_records=1)
  >>> answer = next(find_soundtracks(config))
  >>> answer["query_id"], answer["seconds"], len(answer["soundtracks"])
  ('tr003000000', 18, 3)
  >>> song = answer["soundtracks"][0]   # play it from song_start_second with the pictures
  >>> 0 <= song["confidence"] <= 1, min(song["song_start_second"], song["video_start_second"])
  (True, 0)
  >>> next(find_soundtracks(dataclasses.replace(config, export_dir=f"{tmp}/none")))
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.PathNotFoundError: --export_dir '...': no such folder
  """
  paths.check_config(config)
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import soundtracks as soundtracks_job
  return soundtracks_job.SoundtrackFinder(config)()


def sync_records(config: SyncConfig) -> Iterator[Dict[str, Any]]:
  """Synchronizes every video of records (``yt8m-sync``): one dict a video.

  >>> lines = list(sync_records(SyncConfig(export_dir=export_dir, data=records,
  ...                                      max_offset=2, max_videos=2)))
  >>> len(lines), sorted(lines[0])[:3]
  (2, ['audio_seconds', 'best_offset_seconds', 'confidence'])
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import sync as sync_job
  return sync_job.Synchronizer(config)()


def evaluate(config: EvaluateConfig) -> Dict[str, Any]:
  """Evaluates an export on records (``yt8m-evaluate``); returns the metrics.

  >>> metrics = evaluate(EvaluateConfig(export_dir=export_dir, data=records,
  ...                                   pool_sizes=(8,), max_offset=2, excerpt_seconds=4))
  >>> metrics["num_videos"], 0 <= metrics["pool8/a2v/recall@1"] <= 1
  (24, True)
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import evaluate as evaluate_job
  return evaluate_job.evaluate_export(config)


def validate_records(config: ValidateConfig) -> Dict[str, Any]:
  """Reads every record (``yt8m-validate``); returns the summary.

  >>> summary = validate_records(ValidateConfig(data=records))
  >>> summary["records"], summary["bad_record_count"], summary["feature_level"]
  (24, 0, 'frame')
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import validate as validate_job
  return validate_job.validate(config)


def make_sample_data(config: SynthConfig) -> Dict[str, Any]:
  """Writes sample records (``yt8m-synth``); returns what was written.

  >>> written = make_sample_data(SynthConfig(output_dir=f"{tmp}/sample", num_videos=4,
  ...                                        num_shards=2, min_frames=5, max_frames=8))
  >>> [os.path.basename(f) for f in written["files"]], written["videos"]
  (['train0000.tfrecord', 'train0001.tfrecord'], 4)
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import synth as synth_job
  return synth_job.write_dataset(config)


def human_eval(config: HumanEvalConfig) -> Tuple[Dict[str, Any], str]:
  """Summarizes MTurk results (``yt8m-human-eval``): ``(summary, report text)``.

  The results file is MTurk's download of a batch made from ``yt8m-evaluate``'s
  ``mturk_batch.csv`` (here two workers rating one audio query's candidate):

  >>> import csv
  >>> with open(f"{tmp}/Batch_1_batch_results.csv", "w", newline="") as f:
  ...   csv.writer(f).writerows([
  ...       ["HITId", "WorkerId", "AssignmentStatus", "Input.query_id",
  ...        "Input.query_modality", "Input.candidate_1_id", "Answer.relevance_1"],
  ...       ["H1", "W1", "Approved", "q1", "audio", "c1", "2"],
  ...       ["H1", "W2", "Approved", "q1", "audio", "c1", "1"]])
  >>> summary, report = human_eval(HumanEvalConfig(results=f"{tmp}/Batch_*_batch_results.csv"))
  >>> summary["assignments"], summary["a2v/precision@1"]
  (2, 1.0)
  """
  if config.tensorboard_dir:
    quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import human_eval as human_eval_job
  return human_eval_job.human_eval(config)


def extract(config: ExtractConfig) -> Dict[str, Any]:
  """Media files to YouTube-8M frame-level records (``yt8m-extract``).

  Pictures through the 2015 Inception graph and YouTube-8M's PCA, sound
  through VGGish and its PCA; the weight files are fetched on first use
  (``config.cache_dir``) or read from ``config.weights_dir``.

  Returns:
    The summary: ``files``, ``extracted``, ``failed``, ``failures``,
    ``shards``, ``manifest`` (``<prefix>_manifest.jsonl``), ``media_seconds``,
    ``stage_seconds``, ``weights`` (SHA-256 of each file used)...; a file
    that cannot be used is listed in ``failures``, not raised.

  Here a 3-second recording, with the weight files in ``weights_dir``:

  >>> summary = extract(ExtractConfig(input=recording, output_dir=f"{tmp}/features",
  ...                                 weights_dir=weights_dir))
  >>> summary["extracted"], summary["kinds"]["audio_only"], summary["media_seconds"]
  (1, 1, 3)
  >>> sound = next(read_records(summary["shards"][0], modalities=("audio",)))
  >>> sound.audio.shape, sound.visual
  ((3, 128), None)
  """
  quiet.load_tensorflow()
  from yt8m_crossmodal.jobs import extract as extract_job
  return extract_job.extract_media(config)
