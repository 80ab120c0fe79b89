"""The options of the console tools that run a job, one frozen dataclass a tool.

Each field becomes a flag of the same name (:mod:`yt8m_crossmodal.tools.flag_config`);
a field's own check is declared beside it (``check=``, e.g.
:data:`yt8m_crossmodal.config.UNIT_INTERVAL` for the weights) and run by
:func:`yt8m_crossmodal.config.check_fields`, which each config's
:meth:`validate` calls with its other checks, all raising
:class:`~yt8m_crossmodal.errors.UsageError` naming the flag; a field that
names a path says what it must be (``path=``), checked by
:func:`yt8m_crossmodal.paths.check_paths`. Neither imports TensorFlow for a
local path: the tools run both before TensorFlow loads. The training
options are :class:`yt8m_crossmodal.config.Config`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Tuple

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import io_utils
from yt8m_crossmodal import paths
from yt8m_crossmodal.config import option
from yt8m_crossmodal.answers.context import MANIFEST_HELP, VOCABULARY_HELP
from yt8m_crossmodal.answers.formats import FORMAT_HELP, FORMATS
from yt8m_crossmodal.data.vocabulary import CHOICES as VOCABULARIES
from yt8m_crossmodal.paths import PATTERN_HELP
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.retrieval.catalogue_writer import TIMELINE_DTYPES
from yt8m_crossmodal.retrieval.folder import MODALITIES, named_export
from yt8m_crossmodal.retrieval.hubness import DEFAULT_WEIGHT as HUB_WEIGHT
from yt8m_crossmodal.retrieval.rerank import DEFAULT_ALPHA as RERANK_ALPHA
from yt8m_crossmodal.retrieval.integrity import VERIFY_LEVELS
from yt8m_crossmodal.retrieval.storyboard import DEFAULT_CLIP_WEIGHT as CLIP_WEIGHT
from yt8m_crossmodal.sync.estimator import MIN_CONFIDENCE

ANN_KINDS = ("none", "hnsw", "ivf", "ivfpq")
IN_PROCESS = "in_process"
TARGETS = ("other", "audio", "visual", "both")
OUTPUT_HELP = "Write the answer to this file (written whole when done) instead of stdout."


def _check_answers(cfg) -> None:
  """The checks of the answer options (format, output, vocabulary) of a config."""
  if cfg.format not in FORMATS:
    raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {cfg.format!r}")
  if cfg.output and not io_utils.is_remote(cfg.output):
    if os.path.isdir(cfg.output):
      raise UsageError(f"--output {cfg.output!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(cfg.output))
    if not os.path.isdir(folder):
      raise UsageError(f"--output {cfg.output!r}: no folder {folder!r}")
    if not os.access(folder, os.W_OK):
      raise UsageError(f"--output {cfg.output!r}: the folder {folder!r} is not writable")
  if cfg.vocabulary not in VOCABULARIES and not os.path.isfile(cfg.vocabulary):
    raise UsageError(f"--vocabulary must be one of {', '.join(VOCABULARIES)} or a "
                     f"vocabulary.csv file, got {cfg.vocabulary!r}")


MEDIA_MODALITIES = ("audio", "visual")


def _modality_list(text: str, flag: str) -> Tuple[str, ...]:
  """``"audio,visual"`` -> ("audio", "visual"); UsageError naming ``flag``."""
  parts = tuple(p.strip() for p in str(text).split(",") if p.strip())
  bad = [p for p in parts if p not in MEDIA_MODALITIES]
  if not parts or bad or len(set(parts)) != len(parts):
    raise UsageError(f"--{flag} must be audio, visual or audio,visual, got {text!r}")
  return tuple(m for m in MEDIA_MODALITIES if m in parts)


@dataclasses.dataclass(frozen=True)
class EmbedConfig:
  """Options of ``yt8m-embed`` (each field is a flag of the same name).

  >>> EmbedConfig(data="catalogue/*.tfrecord").validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --output is required
  """

  export_dir: str = option("", "Model folder (highest version used) or version folder.",
                           path=paths.FOLDER)
  data: str = option("", f"The corpus TFRecords: {PATTERN_HELP}.", path=paths.RECORDS)
  output: str = option("", "Index folder to write.")
  timelines: bool = option(False, "Also store per-second timelines (frame level).")
  ann: str = option("none", "faiss index per modality: none, hnsw, ivf or ivfpq "
                    "(product-quantized: E/4 + 8 bytes per vector, re-scored exactly).")
  overwrite: bool = option(False, "Replace a catalogue already in --output.")
  batch_size: int = option(64, "Videos encoded per signature call.")
  max_videos: int = option(0, "Videos embedded (0: all).")
  timeline_dtype: str = option("float16", "Storage of the timelines: float16 or float32 "
                               "(dense [N, max_frames, E]) or int8 (compact: valid seconds "
                               "only, int8 with a per-row scale, E + 4 bytes per second).",
                               choices=TIMELINE_DTYPES)
  timeline_pool: int = option(1, "With --timeline_dtype=int8: store the mean of every P "
                              "seconds (P times fewer bytes; localization to P seconds).")
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")
  modalities: str = option("audio,visual", "What the index holds: audio,visual, or one of "
                           "them (a one-modality index, e.g. audio for a catalogue of songs "
                           "that video queries search; records with only that modality are "
                           "read too).")
  log_every_seconds: float = option(10.0, "Progress log interval.")
  runner: str = option(IN_PROCESS, "in_process (read and encode here), or an Apache Beam "
                       "runner name (DirectRunner, DataflowRunner, FlinkRunner, SparkRunner, "
                       "...) to embed through a Beam pipeline; needs apache-beam "
                       "(pip install 'yt8m-crossmodal[beam]').")
  pipeline_options: str = option("", "Beam pipeline options, as on a Beam command line, e.g. "
                                 "'--direct_num_workers=2 --direct_running_mode=multi_processing'"
                                 " or '--project=p --region=r --temp_location=gs://b/tmp'.")
  beam_temp_dir: str = option("", "Folder for the Beam pipeline's sharded outputs (default: "
                              "a temporary folder next to --output; a gs:// folder for a "
                              "remote runner). Removed when the index is built.")

  @property
  def modality_list(self) -> Tuple[str, ...]:
    return _modality_list(self.modalities, "modalities")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.data:
      raise UsageError("--data is required")
    if not self.output:
      raise UsageError("--output is required")
    if self.ann not in ANN_KINDS:
      raise UsageError(f"--ann must be one of {', '.join(ANN_KINDS)}, got {self.ann!r}")
    if self.runner != IN_PROCESS and not self.runner.strip():
      raise UsageError("--runner must be in_process or a Beam runner name")
    if self.pipeline_options and self.runner == IN_PROCESS:
      raise UsageError("--pipeline_options needs a Beam --runner (e.g. DirectRunner)")
    if self.batch_size <= 0 or self.max_videos < 0:
      raise UsageError("--batch_size must be positive and --max_videos >= 0")
    _modality_list(self.modalities, "modalities")
    if self.timeline_dtype not in TIMELINE_DTYPES:
      raise UsageError(f"--timeline_dtype must be one of {', '.join(TIMELINE_DTYPES)}, got "
                       f"{self.timeline_dtype!r}")
    if self.timeline_pool < 1 or (self.timeline_pool > 1 and self.timeline_dtype != "int8"):
      raise UsageError(f"--timeline_pool={self.timeline_pool} needs --timeline_dtype=int8 "
                       "(and must be >= 1)")
    if "://" in self.output:
      raise UsageError(f"--output {self.output!r} is a remote path: an index folder is "
                       "memory-mapped when searched, so it must be local; embed into a local "
                       "folder and copy it (e.g. gsutil -m cp -r)")
    parent = os.path.dirname(os.path.abspath(self.output))
    io_utils.writable_dir(parent, "--output's parent folder")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  """Options of ``yt8m-search`` (each field is a flag of the same name).

  >>> SearchConfig(index="index/a", query_data="queries/*.tfrecord",
  ...              export_dir="saved_models/a", k=0).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --k must be positive, got 0
  """

  index: str = option("", "Index folder written by yt8m-embed.", path=paths.FOLDER)
  query_data: str = option("", f"The query TFRecords: {PATTERN_HELP}.", path=paths.RECORDS)
  query_modality: str = option("audio", "Modality of the queries: audio or visual "
                           "(the other modality's catalogue is searched).")
  k: int = option(10, "Results per query.")
  export_dir: str = option("", "Export encoding the queries (required: a SavedModel is a "
                           "program, so only one you name is loaded; the index's meta.json "
                           "only says which export embedded it).", path=paths.FOLDER)
  ann: str = option("none", "Index searched, as yt8m-embed --ann names it: none (exact "
                    "search), hnsw, ivf or ivfpq (the index folder's faiss index of that "
                    "kind).", choices=ANN_KINDS)
  nprobe: int = option(0, "IVF lists visited with --ann (0: the index's setting).")
  ef_search: int = option(0, "HNSW beam width with --ann (0: the index's setting).")
  refine: int = option(0, "With --ann=ivfpq: re-score the top refine x k PQ results with "
                       "the exact embeddings (0: 10; 1: only re-score the top k).")
  rerank: int = option(0, "Re-score the top N (>= k) clip results by timeline alignment.")
  rerank_alpha: float = option(RERANK_ALPHA, "Weight of the clip score when re-ranking.",
                               check=config_lib.UNIT_INTERVAL)
  hub_weight: float = option(HUB_WEIGHT, "Rank by cosine - w * hubness of each result (a "
                             "soft maximum of its cosines to the items of the query "
                             "modality, stored by yt8m-embed): items close to everything "
                             "stop crowding the top; 0: plain cosine.",
                             check=config_lib.UNIT_INTERVAL)
  localize: bool = option(False, "Report best_start_second of each result.")
  query_seconds: int = option(0, "Use only this many seconds of each query (0: all).")
  query_start: int = option(0, "First query second used.")
  max_queries: int = option(0, "Queries searched (0: all).")
  batch_size: int = option(64, "Queries encoded per signature call.")
  skip_bad_records: bool = option(False, "Skip bad query records instead of failing.")
  verify_index: str = option("fast", "Checks of the index folder on open: fast (file sizes, "
                             "SHA-256 of ids, clip embeddings and faiss files, finite rows), "
                             "full (also the timelines' SHA-256 and rows) or none.",
                             choices=VERIFY_LEVELS)
  target_modality: str = option(
      "other", "What is searched: other (the other modality: videos for a soundtrack, "
      "soundtracks for pictures), audio, visual, or both (a topic search: sound and "
      "pictures ranked together, each result saying which it is).", choices=TARGETS)
  format: str = option("auto", FORMAT_HELP, choices=FORMATS)
  output: str = option("", OUTPUT_HELP)
  vocabulary: str = option("auto", VOCABULARY_HELP)
  manifest: str = option("", MANIFEST_HELP, path=paths.FILES)

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.index:
      raise UsageError("--index is required")
    if not self.query_data:
      raise UsageError("--query_data is required")
    if self.query_modality not in MODALITIES:
      raise UsageError(f"--query_modality must be audio or visual, got {self.query_modality!r}")
    if self.target_modality not in TARGETS:
      raise UsageError(f"--target_modality must be one of {', '.join(TARGETS)}, got "
                       f"{self.target_modality!r}")
    _check_answers(self)
    if self.k <= 0:
      raise UsageError(f"--k must be positive, got {self.k}")
    if self.rerank < 0 or (self.rerank and self.rerank < self.k):
      raise UsageError(f"--rerank must be 0 or >= --k ({self.k}), got {self.rerank}")
    config_lib.check_fields(self)  # rerank_alpha, hub_weight
    if self.query_seconds < 0 or self.query_start < 0:
      raise UsageError("--query_seconds and --query_start must be >= 0")
    if self.batch_size <= 0 or self.max_queries < 0:
      raise UsageError("--batch_size must be positive and --max_queries >= 0")
    if self.refine < 0 or self.nprobe < 0 or self.ef_search < 0:
      raise UsageError("--refine, --nprobe and --ef_search must be >= 0")
    if not self.export_dir:
      named = named_export(self.index)
      raise UsageError(
          "--export_dir is required: name the export that encodes the queries (a SavedModel "
          "is a program: only one you name is loaded, never one an index names)"
          + (f"; the index {self.index!r} says it was embedded by {named!r}" if named else ""))


def _check_index_tool(cfg, data_flag: str) -> None:
  """The checks shared by yt8m-pictures and yt8m-soundtracks."""
  if not cfg.index:
    raise UsageError("--index is required")
  if not cfg.export_dir:
    named = named_export(cfg.index)
    raise UsageError(
        "--export_dir is required: name the export that embedded --index (a SavedModel is "
        "a program: only one you name is loaded, never one an index names)"
        + (f"; the index {cfg.index!r} says it was embedded by {named!r}" if named else ""))
  if not getattr(cfg, data_flag):
    raise UsageError(f"--{data_flag} is required")
  if cfg.k <= 0:
    raise UsageError(f"--k must be positive, got {cfg.k}")
  config_lib.check_fields(cfg)  # hub_weight, clip_weight (min_confidence)
  if cfg.max_records < 0:
    raise UsageError(f"--max_records must be >= 0, got {cfg.max_records}")
  _check_answers(cfg)


@dataclasses.dataclass(frozen=True)
class PicturesConfig:
  """Options of ``yt8m-pictures`` (each field is a flag of the same name).

  >>> PicturesConfig(index="index/frame", export_dir="saved_models/frame",
  ...                audio_data="broadcast.tfrecord", hop_seconds=0).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --hop_seconds must be >= 1, got 0
  """

  index: str = option("", "Index folder of yt8m-embed --timelines: the videos whose pictures "
                      "are suggested.", path=paths.FOLDER)
  export_dir: str = option("", "The export that embedded --index (model or version folder; "
                           "it encodes the soundtrack).", path=paths.FOLDER)
  audio_data: str = option("", "Records of the long soundtrack(s), frame level, any length "
                           "(from yt8m-extract or YT-8M): one storyboard per record; "
                           f"{PATTERN_HELP}.", path=paths.RECORDS)
  segment_seconds: int = option(20, "Seconds of soundtrack matched at once: 20 s holds a "
                                "few sentences of speech or a musical phrase.")
  hop_seconds: int = option(10, "A segment starts every this many seconds: a new picture "
                            "every 10 s.")
  k: int = option(3, "Pictures suggested per segment (from k different videos).")
  repeat_gap_seconds: int = option(300, "A video is not suggested again until this many "
                                   "seconds after a segment it was suggested for (0: no "
                                   "limit), so that no video fills the broadcast.")
  candidates: int = option(200, "Windows of video kept per segment by the pass over the "
                           "whole catalogue, before their stretches are scored exactly.")
  window_seconds: int = option(5, "Seconds per window of that pass.")
  window_index: str = option("", "A folder for a faiss index of the catalogue's windows, "
                             "built on first use (one pass), then read instead of every "
                             "video's timeline: for storyboards made again and again "
                             "against the same index ('': the exact pass every run).",
                             path=paths.OUTPUT_FOLDER)
  nprobe: int = option(0, "With --window_index: IVF lists visited (0: 32).")
  hub_weight: float = option(HUB_WEIGHT, "Windows of videos close to every soundtrack count "
                             "less: "
                             "their score less w * the video's hubness (0: plain cosine).",
                             check=config_lib.UNIT_INTERVAL)
  clip_weight: float = option(CLIP_WEIGHT, "Weight of the whole video's fit to the segment "
                              "(clip embeddings) against the stretch's own fit (its seconds).",
                              check=config_lib.UNIT_INTERVAL)
  max_seconds: int = option(0, "Use only the first this many seconds of each soundtrack "
                            "(0: all).")
  max_records: int = option(0, "Soundtracks read (0: all).")
  format: str = option("auto", FORMAT_HELP, choices=FORMATS)
  output: str = option("", OUTPUT_HELP)
  vocabulary: str = option("auto", VOCABULARY_HELP)
  manifest: str = option("", MANIFEST_HELP, path=paths.FILES)
  verify_index: str = option("fast", "Checks of the index folder on open (fast, full, none; "
                             "see yt8m-search).", choices=VERIFY_LEVELS)
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    _check_index_tool(self, "audio_data")
    if self.segment_seconds < 2:
      raise UsageError(f"--segment_seconds must be >= 2, got {self.segment_seconds}")
    if self.hop_seconds < 1:
      raise UsageError(f"--hop_seconds must be >= 1, got {self.hop_seconds}")
    if self.window_seconds < 1 or self.candidates < self.k:
      raise UsageError(f"--window_seconds must be >= 1 and --candidates >= --k ({self.k})")
    if self.repeat_gap_seconds < 0 or self.max_seconds < 0 or self.nprobe < 0:
      raise UsageError("--repeat_gap_seconds, --max_seconds and --nprobe must be >= 0")
    if self.window_index and "://" in self.window_index:
      raise UsageError(f"--window_index {self.window_index!r} must be a local folder")


@dataclasses.dataclass(frozen=True)
class SoundtracksConfig:
  """Options of ``yt8m-soundtracks`` (each field is a flag of the same name).

  >>> SoundtracksConfig(index="index/songs", export_dir="saved_models/frame",
  ...                   visual_data="my_clip.tfrecord", k=5, candidates=2).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --candidates must be >= --k (5), got 2
  """

  index: str = option("", "Index folder of yt8m-embed --timelines whose soundtracks are "
                      "searched (an ordinary index, or one embedded with audio only).",
                      path=paths.FOLDER)
  export_dir: str = option("", "The export that embedded --index (model or version folder; "
                           "it encodes the pictures).", path=paths.FOLDER)
  visual_data: str = option("", "Records of the picture tracks (a silent clip, or a video "
                            "whose sound is to be replaced): frame level, the rgb is used; "
                            f"{PATTERN_HELP}.", path=paths.RECORDS)
  k: int = option(5, "Soundtracks per picture track.")
  candidates: int = option(50, "Soundtracks found by clip embedding whose start in the song "
                           "is then searched (>= --k).")
  clip_weight: float = option(CLIP_WEIGHT, "Ranking: weight of the clip embeddings' fit "
                              "against the fit of the song's seconds from its best start.",
                              check=config_lib.UNIT_INTERVAL)
  hub_weight: float = option(HUB_WEIGHT, "Soundtracks close to every picture track count "
                             "less: "
                             "cosine - w * hubness (0: plain cosine).",
                             check=config_lib.UNIT_INTERVAL)
  min_confidence: float = option(MIN_CONFIDENCE, "A start is 'confident' when its "
                                 "confidence (1 - p-value of the fit against every other "
                                 "start) is at least this.", check=config_lib.UNIT_INTERVAL)
  max_records: int = option(0, "Picture tracks read (0: all).")
  format: str = option("auto", FORMAT_HELP, choices=FORMATS)
  output: str = option("", OUTPUT_HELP)
  vocabulary: str = option("auto", VOCABULARY_HELP)
  manifest: str = option("", MANIFEST_HELP, path=paths.FILES)
  verify_index: str = option("fast", "Checks of the index folder on open (fast, full, none; "
                             "see yt8m-search).", choices=VERIFY_LEVELS)
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    _check_index_tool(self, "visual_data")
    if self.candidates < self.k:
      raise UsageError(f"--candidates must be >= --k ({self.k}), got {self.candidates}")


def _check_confidence(name: str, value: float, prefix: str = "--") -> None:
  """``min_confidence``'s check: a number, a probability (1 - p-value)."""
  if not math.isfinite(value):
    raise UsageError(f"{prefix}{name} must be a number, got {value}")
  if not 0.0 <= value <= 1.0:
    raise UsageError(f"{prefix}{name} is a probability in [0, 1] (1 - p-value), got {value}")


@dataclasses.dataclass(frozen=True)
class SyncConfig:
  """Options of ``yt8m-sync`` (each field is a flag of the same name).

  >>> SyncConfig(export_dir="saved_models/a", data="clips/*.tfrecord", max_offset=0).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --max_offset must be >= 1, got 0
  """

  export_dir: str = option("", "Frame-level export (model or version folder).",
                           path=paths.FOLDER)
  data: str = option("", "Records holding each video's own audio and visual tracks: "
                     f"{PATTERN_HELP}.", path=paths.RECORDS)
  audio_data: str = option("", "Records whose audio is used (with --visual_data, "
                           f"paired by video id): {PATTERN_HELP}.", path=paths.RECORDS)
  visual_data: str = option("", "Records whose visual track is used (with --audio_data): "
                            f"{PATTERN_HELP}.", path=paths.RECORDS)
  max_offset: int = option(5, "Offsets searched: -S .. S seconds.",
                           check=config_lib.Check(lambda v: v >= 1, ">= 1"))
  excerpt_start: int = option(0, "First audio second of the excerpt (with --excerpt_seconds).")
  excerpt_seconds: int = option(0, "Encode only this many audio seconds on their own "
                            "(0: the full length).")
  min_confidence: float = option(MIN_CONFIDENCE,
                                 "Below this confidence (a probability, 1 - p-value) "
                                 "the answer is 'cannot synchronize'.",
                                 check=_check_confidence)
  min_overlap: int = option(0, "0: only offsets that keep the audio seconds on the "
                        "pictures (full length: the track less --max_offset seconds at "
                        "each end). N > 0: the whole track (or excerpt) slides along the "
                        "pictures at any offset up to --max_offset (up to the video's "
                        "length) where both share at least N seconds.",
                        check=config_lib.NON_NEGATIVE)
  drift: bool = option(False, "Full length: also search the whole track's lateness "
                    "path (offset up to --max_offset at the start + a rate within 5%), "
                    "say which model fits, constant offset or drift, and why, and "
                    "answer with it.")
  max_videos: int = option(0, "Videos synchronized (0: all).")
  batch_size: int = option(16, "Videos encoded per signature call.")
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.export_dir:
      raise UsageError("--export_dir is required")
    if bool(self.audio_data) != bool(self.visual_data):
      raise UsageError("--audio_data and --visual_data go together")
    if bool(self.data) == bool(self.audio_data):
      raise UsageError("give --data, or --audio_data with --visual_data")
    config_lib.check_fields(self)  # max_offset, min_confidence, min_overlap
    if self.excerpt_seconds < 0 or self.excerpt_start < 0:
      raise UsageError("--excerpt_seconds and --excerpt_start must be >= 0")
    if self.excerpt_start and not self.excerpt_seconds:
      raise UsageError("--excerpt_start needs --excerpt_seconds")
    if self.drift and self.excerpt_seconds:
      raise UsageError("--drift works on the full length, not with --excerpt_seconds")
    if self.batch_size <= 0 or self.max_videos < 0:
      raise UsageError("--batch_size must be positive and --max_videos >= 0")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
  """Options of ``yt8m-evaluate`` (each field is a flag of the same name).

  >>> EvaluateConfig(export_dir="saved_models/a", data="test/*.tfrecord",
  ...                pool_sizes=(1,)).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --pool_sizes must be >= 2, got [1]
  """

  export_dir: str = option("", "Model folder (highest version used) or version folder.",
                           path=paths.FOLDER)
  data: str = option("", f"The evaluation TFRecords: {PATTERN_HELP}.", path=paths.RECORDS)
  output_dir: str = option("", "Where metrics.json, plots, TensorBoard, mturk_batch.csv, "
                       "mturk_layout.html and index.html go ('': stdout only).")
  pool_sizes: Tuple[int, ...] = option((256, 1000), "Candidate pool sizes (the whole "
                                   "set is always scored too).")
  max_offset: int = option(5, "Sync: offsets in [-S, S] seconds.")
  excerpt_seconds: int = option(20, "Sync: audio excerpt length L in seconds.")
  max_videos: int = option(0, "Videos evaluated (0: all).")
  batch_size: int = option(64, "Videos encoded per signature call.")
  rerank_top: int = option(10, "Temporal re-ranking: clip candidates re-scored per query.")
  rerank_alpha: float = option(RERANK_ALPHA, "Temporal re-ranking: weight of the clip score.",
                               check=config_lib.UNIT_INTERVAL)
  hub_weight: float = option(HUB_WEIGHT, "Also score retrieval as yt8m-search ranks it, "
                             "cosine - w * hubness (keys hub_pool<P>/...; 0: not).",
                             check=config_lib.UNIT_INTERVAL)
  rated_queries: int = option(100, "Queries per direction in mturk_batch.csv and "
                          "index.html (0: all).")
  rated_candidates: int = option(5, "Top results per query in mturk_batch.csv / index.html.")
  sync_plots: int = option(4, "Sync tasks drawn in sync_offsets.png.")
  seed: int = option(0, "Seed of the pools and sync tasks.")
  offsets_file: str = option("", "Sync truth (yt8m-synth's <prefix>_offsets.json): each "
                         "soundtrack's lateness as stored, and the soundtracks that do "
                         "not belong to their pictures (scored as refusals, not misses).",
                         path=paths.FILE)
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.data:
      raise UsageError("--data is required")
    if any(p < 2 for p in self.pool_sizes):
      raise UsageError(f"--pool_sizes must be >= 2, got {list(self.pool_sizes)}")
    for name in ("batch_size", "rerank_top", "rated_candidates", "excerpt_seconds"):
      if getattr(self, name) <= 0:
        raise UsageError(f"--{name} must be positive")
    if self.max_offset < 0 or self.max_videos < 0 or self.rated_queries < 0:
      raise UsageError("--max_offset, --max_videos and --rated_queries must be >= 0")
    config_lib.check_fields(self)  # rerank_alpha, hub_weight
    if self.output_dir:  # Before the evaluation, not after it.
      io_utils.writable_dir(self.output_dir, "--output_dir")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """Options of ``yt8m-export`` (each field is a flag of the same name).

  >>> ExportConfig(model_dir="runs/a").validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --export_dir is required
  """

  model_dir: str = option("", "yt8m-train output folder (config.json, model.keras).",
                          path=paths.FOLDER)
  export_dir: str = option("", "Model folder of TF Serving, e.g. saved_models/NAME; "
                       "the version goes into <export_dir>/<version>/.",
                       path=paths.OUTPUT_FOLDER)
  version: int = option(0, "Version number (0: one more than the highest existing).")
  search_catalogue: str = option(
      "", "Index folder (yt8m-embed) to bake into search_by_audio/visual.",
      path=paths.FOLDER)
  search_k: int = option(10, "Results per query of the search signatures (fixed; "
                     "capped at the catalogue size).")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.model_dir:
      raise UsageError("--model_dir is required")
    if not self.export_dir:
      raise UsageError("--export_dir is required")
    if self.version < 0:
      raise UsageError(f"--version must be a positive integer, got {self.version}")
    if self.search_k <= 0:
      raise UsageError(f"--search_k must be positive, got {self.search_k}")


@dataclasses.dataclass(frozen=True)
class ValidateConfig:
  """Options of ``yt8m-validate`` (each field is a flag of the same name).

  >>> ValidateConfig().validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --data is required
  """

  data: str = option("", f"The TFRecords to check: {PATTERN_HELP}.", path=paths.RECORDS)
  feature_level: str = option(
      "auto", "frame, video, or auto: the level of the first record that reads as either.",
      choices=("auto", "frame", "video"))
  num_classes: int = option(config_lib.NUM_CLASSES_2018,
                        "Label vocabulary size (4716 for 2017 data).")
  batch_size: int = option(64, "Records decoded at once.")
  max_bad_listed: int = option(1000, "Bad records listed in the JSON (all are counted).")
  modalities: str = option(
      "audio,visual", "What every record must hold: audio,visual, or one of them (audio for "
      "the sound-only records yt8m-extract writes from songs; a record lacking it is bad).")

  def modality_list(self) -> Tuple[str, ...]:
    return _modality_list(self.modalities, "modalities")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.data:
      raise UsageError("--data is required")
    if self.num_classes <= 0 or self.batch_size <= 0:
      raise UsageError("--num_classes and --batch_size must be positive")
    if self.max_bad_listed < 0:
      raise UsageError(f"--max_bad_listed must be >= 0, got {self.max_bad_listed}")
    self.modality_list()


@dataclasses.dataclass(frozen=True)
class HumanEvalConfig:
  """Options of ``yt8m-human-eval`` (each field is a flag of the same name).

  >>> HumanEvalConfig(results="Batch_*_batch_results.csv", relevant_rating=3).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --relevant_rating must be in [0, 2], got 3
  """

  results: str = option("", "MTurk results file(s): comma-separated file globs "
                        "(Batch_*_batch_results.csv).", path=paths.FILES)
  output: str = option("", "Where the JSON goes too ('': stdout only).")
  relevant_rating: float = option(1.0, "A candidate is relevant when its mean rating "
                                  "(0 does not fit, 1 partly, 2 fits well) is >= this.")
  tensorboard_dir: str = option("", "Also write the report as a TensorBoard text summary "
                                "and the figures as scalars here ('': no).",
                                path=paths.OUTPUT_FOLDER)

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.results:
      raise UsageError("--results is required")
    if not 0.0 <= self.relevant_rating <= 2.0:
      raise UsageError(f"--relevant_rating must be in [0, 2], got {self.relevant_rating}")
    if self.output:  # Before the work: a folder that cannot be written fails now.
      io_utils.writable_dir(os.path.dirname(io_utils.abspath(self.output)),
                            "--output's folder")



@dataclasses.dataclass(frozen=True)
class ExtractConfig:
  """Options of ``yt8m-extract`` (each field is a flag of the same name).

  >>> ExtractConfig(input="videos/*.mp4").validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --output_dir is required
  """

  input: str = option("", "Media files: comma-separated file patterns or folders (every "
                      "file in a folder), local or gs:// (copied here to be decoded); any "
                      "container and codec FFmpeg reads (mp4, mkv, webm, mov, wav, mp3, flac, "
                      "ogg, m4a ...).")
  output_dir: str = option("", "Folder for the shards and <prefix>_manifest.jsonl.")
  prefix: str = option("media", "Shard names: <prefix>0000.tfrecord, ...")
  files_per_shard: int = option(100, "Media files per shard (in sorted input order).")
  modalities: str = option("audio,visual", "What to extract where the file has it: "
                           "audio,visual (sound-only files give audio-only records, silent "
                           "ones rgb-only records), audio or visual.")
  max_seconds: int = option(0, "Extract only the first seconds of each file (0: all of it, "
                            "however long).")
  labels: Tuple[int, ...] = option((), "Class indices written as every record's labels "
                                   "(context 'labels'), e.g. 3,17.")
  labels_csv: str = option("", "A CSV of '<file>,<labels joined by ;>' lines (the "
                           "YouTube-8M extractor's input format): labels per file, matched "
                           "by path or file name.")
  weights_dir: str = option("", "A folder holding the published weight files (no "
                            "download; for machines without internet).")
  cache_dir: str = option("", "Where weight files are downloaded and cached (default "
                          "$YT8M_WEIGHTS_CACHE, else ~/.cache/yt8m_crossmodal/weights).")
  overwrite: bool = option(False, "Replace shards and manifest of this --prefix already "
                           "in --output_dir.")
  runner: str = option(IN_PROCESS, "in_process, or an Apache Beam runner name "
                       "(DirectRunner, DataflowRunner, FlinkRunner, ...) to extract "
                       "through a Beam pipeline; needs apache-beam.")
  pipeline_options: str = option("", "Beam pipeline options, as on a Beam command line.")
  beam_temp_dir: str = option("", "Folder for the Beam pipeline's temporary outputs "
                              "(default: a temporary folder in --output_dir).")

  @property
  def modality_list(self) -> Tuple[str, ...]:
    return _modality_list(self.modalities, "modalities")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.input:
      raise UsageError("--input is required")
    if not self.output_dir:
      raise UsageError("--output_dir is required")
    if not self.prefix or os.sep in self.prefix or self.prefix.startswith("."):
      raise UsageError(f"--prefix must be a plain file-name prefix, got {self.prefix!r}")
    self.modality_list  # pylint: disable=pointless-statement
    if self.files_per_shard <= 0 or self.max_seconds < 0:
      raise UsageError("--files_per_shard must be positive and --max_seconds >= 0")
    if any(label < 0 for label in self.labels):
      raise UsageError(f"--labels must be class indices >= 0, got {list(self.labels)}")
    if self.labels and self.labels_csv:
      raise UsageError("give --labels or --labels_csv, not both")
    if self.runner != IN_PROCESS and not self.runner.strip():
      raise UsageError("--runner must be in_process or a Beam runner name")
    if self.pipeline_options and self.runner == IN_PROCESS:
      raise UsageError("--pipeline_options needs a Beam --runner (e.g. DirectRunner)")
    if self.weights_dir and not os.path.isdir(self.weights_dir):
      raise UsageError(f"--weights_dir {self.weights_dir!r} is not a folder")
    if self.weights_dir and self.cache_dir:
      raise UsageError("give --weights_dir (files already here) or --cache_dir, not both")
    if io_utils.is_remote(self.output_dir):
      if self.runner == IN_PROCESS:
        raise UsageError(f"--output_dir {self.output_dir!r} is remote: write locally, or "
                         "extract with a Beam --runner")
      return
    _writable_local_dir(self.output_dir, "--output_dir")


def _writable_local_dir(path: str, flag: str) -> None:
  """Creates local folder ``path`` if needed and checks it can be written (no TensorFlow)."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise UsageError(f"{flag} {path!r} is a file, not a folder")
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, f".write-probe-{os.getpid()}")
    with open(probe, "w", encoding="utf-8"):
      pass
    os.remove(probe)
  except OSError as e:
    raise UsageError(f"{flag} {path!r} is not writable: {e.strerror or e}") from None
