"""Reads YouTube-8M TFRecords (frame and video level) into batched tf.data.

The pipeline, in order:

1. **Files**: ``pattern`` (comma-separated globs, local or ``gs://``) is
   expanded with ``tf.io.gfile``; a pattern matching nothing is an error that
   shows the pattern. A wildcard skips sidecar files (``*.json``, ``*.txt``
   ...: :data:`SIDECAR_SUFFIXES`), such as yt8m-synth's offsets file. File
   sizes are read once so that a truncated or corrupted file is noticed
   (below).
2. **Records with provenance**: each file is read with ``TFRecordDataset``;
   every record carries its file name and index in the file. A read error
   (checksum, truncation) ends the file; the bytes consumed are compared with
   the file size and a shortfall becomes a bad "record" that names the file and
   the byte offset, so no data is lost silently.
3. **Interleave, shuffle** (seeded: deterministic order), **batch** the raw
   serialized records.
4. **Decode** (batched ``tf.io.parse_sequence_example`` /
   ``tf.io.parse_example``, the fast vectorized parsers) and **validate** every
   record (:mod:`yt8m_crossmodal.data.decode`): bytes per frame, zero frames,
   missing modality, NaN/Inf, labels out of range, records of the other level.
   Bad records either fail the pipeline with a message naming file, record
   index and video id (default) or, with ``skip_bad_records=True``, are dropped, logged
   and counted in a :class:`BadRecordLog`.
5. **Prefetch**.

Each element is a dict (``B`` = batch, ``T`` = longest kept video in the
batch, ``C`` = ``num_classes``):

- ``id``: tf.string ``[B]``;
- frame level: ``audio`` uint8 ``[B, T, 128]``, ``visual`` uint8
  ``[B, T, 1024]``, zero past ``num_frames``;
- video level: ``audio`` float32 ``[B, 128]`` (``mean_audio``), ``visual``
  float32 ``[B, 1024]`` (``mean_rgb``);
- ``num_frames``: int32 ``[B]``: ``min(len(rgb), len(audio), max_frames)``
  (audio and rgb of different lengths: the shorter wins); 1 at video level;
- ``labels``: float32 ``[B, C]`` multi-hot;
- with ``include_segments=True`` (2019 data): ``segment_start_times`` int32,
  ``segment_labels`` int32 (both ``[B, S]``, padded with -1),
  ``segment_scores`` float32 ``[B, S]`` (padded with 0) and
  ``num_segments`` int32 ``[B]``;
- with ``with_provenance=True``: ``file`` tf.string ``[B]`` and
  ``record_index`` int64 ``[B]``.

Frame features travel **quantized** (uint8) and are dequantized inside the
model (:class:`yt8m_crossmodal.layers.Dequantize`, or
:func:`yt8m_crossmodal.data.features.dequantize`): a quarter of the bytes of
float32 through shuffling, batching and host-to-device copies; see
``benchmarks/input_pipeline.py`` for the measurement. ``dequantize=True``
gives float32 instead.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from typing import List, Optional, Sequence

from absl import logging
import tensorflow as tf

from yt8m_crossmodal import paths
from yt8m_crossmodal.data import decode as decode_lib
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.io_utils import error_line

FRAME = "frame"
VIDEO = "video"

# Sentinel reason prefix of a file whose tail could not be read.
_UNREADABLE = "unreadable"


@dataclasses.dataclass
class BadRecord:
  file: str
  index: int
  id: str
  reason: str

  def as_dict(self):
    return dataclasses.asdict(self)

  def message(self) -> str:
    """The one-line message of the reader's error (the text of
    :func:`yt8m_crossmodal.data.decode.first_bad_record_message`)."""
    return (f"Bad YT-8M record in {self.file} at record index {self.index} "
            f"(video id '{self.id}'): {self.reason}")


class BadRecordLog:
  """Collects the records skipped by a pipeline built with ``skip_bad_records``.

  Thread-safe; ``count`` is the number of skipped records (an unreadable file
  tail counts once, as its records cannot be counted). The first
  ``max_logged`` are logged as warnings (None: none, not even that more were
  skipped: for a caller that reports them itself).
  """

  def __init__(self, max_logged: Optional[int] = 20):
    self._lock = threading.Lock()
    self.records: List[BadRecord] = []
    self.max_logged = max_logged

  @property
  def count(self) -> int:
    return len(self.records)

  def add(self, record: BadRecord) -> None:
    with self._lock:
      self.records.append(record)
      n = len(self.records)
    if self.max_logged is None:
      return
    if n <= self.max_logged:
      logging.warning("Skipped bad record %s[%d] (id %r): %s", record.file,
                      record.index, record.id, record.reason)
    elif n == self.max_logged + 1:
      logging.warning("More bad records skipped; only the count is logged now.")


# Files a wildcard leaves out (sidecars beside the shards: offsets, manifests, notes).
SIDECAR_SUFFIXES = paths.SIDECAR_SUFFIXES

_reported_sidecars = set()


def list_files(pattern: str) -> List[str]:
  """Expands comma-separated glob patterns (local or gs://), sorted.

  A wildcard does not match sidecar files (:data:`SIDECAR_SUFFIXES`, e.g.
  ``dir/*`` beside ``train_offsets.json``); they are logged once.

  Raises:
    PathNotFoundError: (a UsageError and a FileNotFoundError) when nothing
      matches; the message shows the pattern.
  """
  files, sidecars = set(), set()
  for p in paths.split_patterns(pattern):
    try:
      matched = tf.io.gfile.glob(p)
    except tf.errors.NotFoundError:
      matched = []
    except tf.errors.OpError as e:  # No network, no credentials, unknown scheme.
      raise UsageError(f"cannot list {p!r}: {error_line(e)}") from e
    if paths.has_wildcard(p):
      sidecars.update(f for f in matched if paths.is_sidecar(f))
      matched = [f for f in matched if not paths.is_sidecar(f)]
    files.update(matched)
  try:
    files = sorted(f for f in files if not tf.io.gfile.isdir(f))
  except tf.errors.OpError as e:
    raise UsageError(f"cannot read {pattern!r}: {error_line(e)}") from e
  sidecars = sorted(sidecars - set(files))
  if not files:
    raise paths.no_match_error(pattern, sidecars)
  if sidecars and pattern not in _reported_sidecars:
    _reported_sidecars.add(pattern)
    logging.info("%r: left out %d non-TFRecord file(s) the wildcard matched: %s", pattern,
                 len(sidecars), ", ".join(sidecars[:3]) + (" ..." if len(sidecars) > 3 else ""))
  return files


def _file_sizes(files: Sequence[str]) -> List[int]:
  with concurrent.futures.ThreadPoolExecutor(16) as pool:
    return list(pool.map(lambda f: tf.io.gfile.stat(f).length, files))


# ----------------------------------------------------------------------------
# Records with provenance.


def records_of_file(filename, size, block_size):
  """Blocks of up to ``block_size`` consecutive records of one file.

  Each element is a dict of ``[n]`` tensors: ``file``, ``index`` (record index
  in the file), ``record`` (serialized bytes) and ``reason`` ("" or why the
  record is bad). Records travel in blocks because every per-record tf.data
  step copies the (~350 kB) serialized record; a block is copied once.

  A read error ends the file (``ignore_errors``); a final sentinel compares the
  bytes consumed (each record takes its length + 16 bytes) with the file size
  and, when they differ, is kept as a bad record naming the byte offset.

  Used by :func:`make_dataset` and, one file per element, by the Beam
  embedding pipeline (:mod:`yt8m_crossmodal.jobs.embed_beam`), so
  both apply the same rules.
  """
  blocks = tf.data.TFRecordDataset(filename).ignore_errors().batch(block_size)
  blocks = blocks.map(lambda r: (r, False))
  blocks = blocks.concatenate(
      tf.data.Dataset.from_tensors((tf.constant([b""]), True)))

  def step(state, elem):
    index, offset = state
    records, is_end = elem
    n = tf.shape(records, out_type=tf.int64)[0]
    new_offset = offset + tf.reduce_sum(
        tf.cast(tf.strings.length(records), tf.int64) + 16)
    reason = tf.cond(
        is_end & (offset != size),
        lambda: tf.strings.format(
            _UNREADABLE + ": file truncated or corrupted at byte {} of {} "
            "(records from index {} on are lost)", (offset, size, index)),
        lambda: tf.constant(""))
    out = {
        "file": tf.fill([n], filename),
        "index": index + tf.range(n),
        "record": records,
        "reason": tf.fill([n], reason),
    }
    return (index + n, new_offset), (out, is_end)

  blocks = blocks.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), step)
  # Drop the sentinel of a file that was read to its end.
  blocks = blocks.filter(lambda out, is_end: tf.logical_not(is_end) | (out["reason"][0] != ""))
  return blocks.map(lambda out, is_end: out)


def make_dataset(pattern: str,
                 feature_level: str = FRAME,
                 batch_size: int = 64,
                 num_classes: int = 3862,
                 max_frames: int = 300,
                 shuffle_buffer: int = 0,
                 seed: Optional[int] = None,
                 repeat: bool = False,
                 drop_remainder: bool = False,
                 skip_bad_records: bool = False,
                 bad_record_log: Optional[BadRecordLog] = None,
                 include_segments: bool = False,
                 with_provenance: bool = False,
                 dequantize: bool = False,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 cycle_length: int = 8,
                 block_size: int = 8,
                 prefetch: bool = True,
                 skip_batches: int = 0,
                 file_order: bool = False,
                 modalities: Sequence[str] = decode_lib.BOTH) -> tf.data.Dataset:
  """Builds a batched ``tf.data.Dataset`` of YT-8M videos.

  Args:
    pattern: comma-separated file globs, local paths or ``gs://``.
    feature_level: ``"frame"`` (SequenceExample) or ``"video"`` (Example).
    batch_size: videos per batch (the global batch under ``tf.distribute``
      when the dataset is distributed by Keras; per pipeline with
      ``input_context``).
    num_classes: label vocabulary (3862 from 2018, 4716 for 2017).
    max_frames: frames kept per video (longer videos are cropped).
    shuffle_buffer: records in the shuffle buffer (shuffled in blocks of
      ``block_size`` consecutive records; files are shuffled too); 0 keeps
      file order.
    seed: makes file order, interleaving and shuffling deterministic.
    repeat: repeat forever (reshuffling each pass).
    drop_remainder: drop a last partial batch.
    skip_bad_records: drop bad records (logged, counted in
      ``bad_record_log``) instead of failing; records with a field of the
      wrong type too (a slower decode, see
      :func:`~yt8m_crossmodal.data.decode.decode_records_typed`).
    bad_record_log: where skipped records are collected; a new one is made
      when ``None`` (logged only).
    include_segments: add the 2019 segment fields (frame level).
    with_provenance: add ``file`` and ``record_index`` to each element.
    dequantize: frame features as float32 in [-2, 2] instead of uint8.
    input_context: shard files explicitly for one input pipeline of a
      ``tf.distribute`` strategy. Without it, Keras' distribution auto-shards
      the dataset by file (the source is a dataset of file names).
    cycle_length: files read at once.
    block_size: records read, shuffled and interleaved together as one
      block of consecutive records of a file (a batch holds
      ``batch_size / block_size`` blocks). Blocks keep the per-record cost of
      tf.data low; 1 shuffles single records (slower).
    prefetch: add a final ``prefetch(AUTOTUNE)``.
    skip_batches: batches dropped at the start, before decoding (a resumed
      training skips what its finished epochs read, so that it sees the
      batches an uninterrupted run would).
    file_order: read one file after the other (records in (file, record
      index) order; no shuffling) instead of interleaving ``cycle_length``
      files.
    modalities: ("audio", "visual"), or one of them: then records with
      only that modality (a sound-only or pictures-only record) are good,
      ``num_frames`` is its own length, and only its features are returned.

  Returns:
    A dataset of dicts, see the module docstring.

  Raises:
    PathNotFoundError: nothing matches ``pattern`` (a FileNotFoundError).
    ValueError: bad arguments.

  Iterating raises ``tf.errors.InvalidArgumentError`` whose message starts
  with ``Bad YT-8M record in <file> at record index <i> (video id '<id>')``
  when a bad record is met and ``skip_bad_records`` is False; the command-line
  tools turn it into a one-line error.
  """
  if feature_level not in (FRAME, VIDEO):
    raise ValueError(f"feature_level must be 'frame' or 'video', got {feature_level!r}")
  modalities = decode_lib.check_modalities(modalities)
  if batch_size <= 0 or max_frames <= 0 or num_classes <= 0:
    raise ValueError("batch_size, max_frames and num_classes must be positive")
  files = list_files(pattern)
  sizes = _file_sizes(files)
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(files), tf.constant(sizes, tf.int64)), default_value=-1)
  log = bad_record_log if bad_record_log is not None else BadRecordLog()

  ds = tf.data.Dataset.from_tensor_slices(files)
  if input_context is not None and input_context.num_input_pipelines > 1:
    if len(files) < input_context.num_input_pipelines:
      raise ValueError(
          f"{len(files)} file(s) for {input_context.num_input_pipelines} input "
          "pipelines: split the data into at least as many shards")
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  if file_order and shuffle_buffer:
    raise ValueError("file_order=True reads in file order: give no shuffle_buffer")
  if shuffle_buffer and len(files) > 1:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  deterministic = seed is not None
  block = max(1, min(block_size, batch_size))
  ds = ds.interleave(
      lambda f: records_of_file(f, table.lookup(f), block),
      cycle_length=1 if file_order else min(cycle_length, len(files)),
      block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=deterministic)
  if shuffle_buffer:
    ds = ds.shuffle(max(1, shuffle_buffer // block), seed=seed,
                    reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.rebatch(batch_size, drop_remainder=drop_remainder and not skip_bad_records)
  if skip_batches:
    ds = ds.skip(skip_batches)

  def decode(batch):
    out, reason = decode_lib.decode_records(batch["record"], feature_level, num_classes,
                                            max_frames, include_segments, dequantize,
                                            typed=skip_bad_records, modalities=modalities)
    reason = decode_lib.pick_reason([batch["reason"], reason])
    bad = reason != ""
    if skip_bad_records:
      def note(files_, index, ids, reasons):
        for f, i, v, r in zip(files_.numpy(), index.numpy(), ids.numpy(), reasons.numpy()):
          log.add(BadRecord(f.decode(errors="replace"), int(i),
                            v.decode(errors="replace"), r.decode(errors="replace")))
        return 0

      def record_bad():
        sel = lambda x: tf.boolean_mask(x, bad)
        return tf.py_function(note, [sel(batch["file"]), sel(batch["index"]),
                                     sel(out["id"]), sel(reason)], tf.int32)
      noted = tf.cond(tf.reduce_any(bad), record_bad, lambda: tf.constant(0))
      with tf.control_dependencies([noted]):
        keep = tf.logical_not(bad)
      out = {k: tf.boolean_mask(v, keep) for k, v in out.items()}
      if with_provenance:
        out["file"] = tf.boolean_mask(batch["file"], keep)
        out["record_index"] = tf.boolean_mask(batch["index"], keep)
    else:
      check = tf.debugging.Assert(
          tf.logical_not(tf.reduce_any(bad)),
          [decode_lib.first_bad_record_message(batch["file"], batch["index"],
                                                out["id"], reason)])
      with tf.control_dependencies([check]):
        out = {k: tf.identity(v) for k, v in out.items()}
      if with_provenance:
        out["file"] = batch["file"]
        out["record_index"] = batch["index"]
    return out

  ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  if skip_bad_records:
    ds = ds.filter(lambda e: tf.size(e["id"]) > 0)
  options = tf.data.Options()
  options.deterministic = deterministic
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.FILE if len(files) > 1
      else tf.data.experimental.AutoShardPolicy.DATA)
  ds = ds.with_options(options)
  if prefetch:
    ds = ds.prefetch(tf.data.AUTOTUNE)
  return ds


def bad_record_message(error: Exception) -> Optional[str]:
  """Extracts the one-line bad-record message from a TF error, if it is one."""
  text = str(getattr(error, "message", error))
  start = text.find("Bad YT-8M record in ")
  if start < 0:
    return None
  line = text[start:].splitlines()[0]
  # tf.debugging.Assert prints its data escaped.
  line = line.replace("\\'", "'").replace('\\"', '"')
  return line.rstrip("]").rstrip()


def first_record_level(pattern: str, max_frames: int = 300) -> Optional[str]:
  """The feature level of the first record of ``pattern`` (in file order).

  Returns:
    ``"frame"`` (a SequenceExample with ``rgb``/``audio`` lists), ``"video"``
    (an Example with ``mean_rgb``/``mean_audio``), or None when it reads as
    neither (the reader names what is wrong with it) or there is none.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  for level in (FRAME, VIDEO):
    # Any label vocabulary: a label out of the user's is the reader's to name.
    ds = make_dataset(pattern, feature_level=level, batch_size=1, num_classes=1 << 16,
                      max_frames=max_frames, prefetch=False, file_order=True)
    try:
      for _ in ds.take(1):
        return level
      return None
    except tf.errors.OpError:
      continue
  return None
