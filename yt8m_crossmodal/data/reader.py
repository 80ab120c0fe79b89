"""Reads YouTube-8M TFRecords (frame and video level) into batched tf.data.

The pipeline, in order:

1. **Files**: ``pattern`` (comma-separated globs, local or ``gs://``) is
   expanded with ``tf.io.gfile``; a pattern matching nothing is an error that
   shows the pattern. File sizes are read once so that a truncated or
   corrupted file is noticed (below).
2. **Records with provenance**: each file is read with ``TFRecordDataset``;
   every record carries its file name and index in the file. A read error
   (checksum, truncation) ends the file; the bytes consumed are compared with
   the file size and a shortfall becomes a bad "record" that names the file and
   the byte offset, so no data is lost silently.
3. **Interleave, shuffle** (seeded: deterministic order), **batch** the raw
   serialized records.
4. **Decode** (batched ``tf.io.parse_sequence_example`` /
   ``tf.io.parse_example``, the fast vectorized parsers) and **validate** every
   record: bytes per frame, zero frames, missing modality, NaN/Inf, labels out
   of range, records of the other level. Bad records either fail the pipeline
   with a :class:`BadRecordError`-style message naming file, record index and
   video id (default) or, with ``skip_bad_records=True``, are dropped, logged
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

from yt8m_crossmodal.data import features as feat

FRAME = "frame"
VIDEO = "video"

# Sentinel reason prefix of a file whose tail could not be read.
_UNREADABLE = "unreadable"


class BadRecordError(ValueError):
  """A record (or a file) that does not hold valid YT-8M data."""


@dataclasses.dataclass
class BadRecord:
  file: str
  index: int
  id: str
  reason: str

  def as_dict(self):
    return dataclasses.asdict(self)


class BadRecordLog:
  """Collects the records skipped by a pipeline built with ``skip_bad_records``.

  Thread-safe; ``count`` is the number of skipped records (an unreadable file
  tail counts once, as its records cannot be counted).
  """

  def __init__(self, max_logged: int = 20):
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
    if n <= self.max_logged:
      logging.warning("Skipped bad record %s[%d] (id %r): %s", record.file,
                      record.index, record.id, record.reason)
    elif n == self.max_logged + 1:
      logging.warning("More bad records skipped; only the count is logged now.")

  def summary(self) -> str:
    return f"{self.count} bad record(s) skipped"


def list_files(pattern: str) -> List[str]:
  """Expands comma-separated glob patterns (local or gs://), sorted.

  Raises:
    FileNotFoundError: when nothing matches; the message shows the pattern.
  """
  files = set()
  for p in [p.strip() for p in pattern.split(",") if p.strip()]:
    try:
      files.update(tf.io.gfile.glob(p))
    except tf.errors.NotFoundError:
      pass
  files = sorted(f for f in files if not tf.io.gfile.isdir(f))
  if not files:
    raise FileNotFoundError(f"No files match the pattern {pattern!r}")
  return files


def _file_sizes(files: Sequence[str]) -> List[int]:
  with concurrent.futures.ThreadPoolExecutor(16) as pool:
    return list(pool.map(lambda f: tf.io.gfile.stat(f).length, files))


# ----------------------------------------------------------------------------
# Records with provenance.


def _records_of_file(filename, size, block_size):
  """Blocks of up to ``block_size`` consecutive records of one file.

  Each element is a dict of ``[n]`` tensors: ``file``, ``index`` (record index
  in the file), ``record`` (serialized bytes) and ``reason`` ("" or why the
  record is bad). Records travel in blocks because every per-record tf.data
  step copies the (~350 kB) serialized record; a block is copied once.

  A read error ends the file (``ignore_errors``); a final sentinel compares the
  bytes consumed (each record takes its length + 16 bytes) with the file size
  and, when they differ, is kept as a bad record naming the byte offset.
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


# ----------------------------------------------------------------------------
# Decoding (parse) and validation of a batch of serialized records.

_CONTEXT_COMMON = {
    "id": tf.io.RaggedFeature(tf.string),
    "video_id": tf.io.RaggedFeature(tf.string),
    "labels": tf.io.RaggedFeature(tf.int64),
}


def _first_id(parsed):
  ids = tf.where(parsed["id"].row_lengths() > 0,
                 parsed["id"].to_tensor(default_value="", shape=[None, 1])[:, 0],
                 parsed["video_id"].to_tensor(default_value="", shape=[None, 1])[:, 0])
  return ids


def _label_checks(labels: tf.RaggedTensor, num_classes: int):
  """Returns (multi_hot float32 [B, C], reason [B] strings, "" when valid)."""
  values = labels.flat_values
  in_range = (values >= 0) & (values < num_classes)
  rows = tf.cast(labels.value_rowids(), tf.int64)
  keep = tf.where(in_range)[:, 0]
  indices = tf.stack([tf.gather(rows, keep), tf.gather(values, keep)], axis=1)
  batch = tf.shape(labels.row_lengths(), out_type=tf.int64)[0]
  counts = tf.scatter_nd(indices, tf.ones_like(keep, tf.float32),
                         tf.stack([batch, tf.constant(num_classes, tf.int64)]))
  multi_hot = tf.minimum(counts, 1.0)
  bad = tf.reduce_any((labels < 0) | (labels >= num_classes), axis=1)
  max_label = tf.reduce_max(labels, axis=1)
  min_label = tf.reduce_min(labels, axis=1)
  reason = tf.where(bad, tf.strings.join([
      f"labels out of [0, {num_classes}): min ",
      tf.strings.as_string(min_label), ", max ", tf.strings.as_string(max_label)
  ]), "")
  return multi_hot, reason


def _pick(reasons: Sequence[tf.Tensor]) -> tf.Tensor:
  """First non-empty reason per record; [B] strings."""
  out = reasons[-1]
  for r in reversed(reasons[:-1]):
    out = tf.where(r != "", r, out)
  return out


def decode_frame_batch(batch, num_classes, max_frames, include_segments, dequantize):
  """Parses and validates a batch of serialized frame-level records.

  Args:
    batch: dict of ``[B]`` tensors: ``record`` (serialized SequenceExample),
      ``reason`` ("" or an earlier reason the record is bad), ``file``,
      ``index``.
    num_classes: label vocabulary size C.
    max_frames: frames kept per video.
    include_segments: also return the 2019 segment fields.
    dequantize: float32 features in [-2, 2] instead of uint8.

  Returns:
    ``(element, reason)``: the batch element described in the module
    docstring and a ``[B]`` string tensor, "" for a good record, else why it
    is bad. Never fails on bad content: bad records are only flagged.
  """
  context = dict(_CONTEXT_COMMON)
  context["mean_rgb"] = tf.io.RaggedFeature(tf.float32)
  if include_segments:
    context["segment_start_times"] = tf.io.RaggedFeature(tf.int64)
    context["segment_labels"] = tf.io.RaggedFeature(tf.int64)
    context["segment_scores"] = tf.io.RaggedFeature(tf.float32)
  sequence = {
      "rgb": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
      "audio": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
  }
  ctx, seq, lengths = tf.io.parse_sequence_example(
      batch["record"], context_features=context, sequence_features=sequence)
  ids = _first_id(ctx)
  rgb_len = tf.cast(lengths["rgb"], tf.int32)
  audio_len = tf.cast(lengths["audio"], tf.int32)
  rgb_bytes = tf.strings.length(seq["rgb"])   # [B, Tr], 0 on padding
  audio_bytes = tf.strings.length(seq["audio"])
  rgb_valid = tf.sequence_mask(rgb_len, tf.shape(rgb_bytes)[1])
  audio_valid = tf.sequence_mask(audio_len, tf.shape(audio_bytes)[1])
  bad_rgb_width = tf.reduce_any(rgb_valid & (rgb_bytes != feat.VISUAL_DIM), axis=1)
  bad_audio_width = tf.reduce_any(audio_valid & (audio_bytes != feat.AUDIO_DIM), axis=1)

  def width_reason(bad, widths, valid, dim, name):
    wrong = tf.where(valid & (widths != dim), widths, -1)
    first_wrong = tf.reduce_max(wrong, axis=1)
    return tf.where(bad, tf.strings.join([
        f"{name} bytes per frame not {dim}: found a frame of ",
        tf.strings.as_string(first_wrong), " bytes"]), "")

  has_mean = ctx["mean_rgb"].row_lengths() > 0
  multi_hot, label_reason = _label_checks(ctx["labels"], num_classes)
  reason = _pick([
      batch["reason"],
      tf.where(has_mean & (rgb_len == 0),
               "video-level record (mean_rgb, no rgb frames): read it with "
               "feature_level=video", ""),
      tf.where((rgb_len == 0) & (audio_len == 0), "zero frames (no rgb, no audio)", ""),
      tf.where((rgb_len == 0) & (audio_len > 0), "missing modality: no rgb frames", ""),
      tf.where((audio_len == 0) & (rgb_len > 0), "missing modality: no audio frames", ""),
      width_reason(bad_rgb_width, rgb_bytes, rgb_valid, feat.VISUAL_DIM, "rgb"),
      width_reason(bad_audio_width, audio_bytes, audio_valid, feat.AUDIO_DIM, "audio"),
      label_reason,
  ])
  num_frames = tf.minimum(tf.minimum(rgb_len, audio_len), max_frames)
  t = tf.reduce_max(tf.concat([num_frames, [0]], axis=0))
  # decode_raw pads or truncates every frame to its width, so frames of a wrong
  # width cannot make it fail (their records are bad anyway). Strings are not
  # sliced or selected before decoding: each such op copies every frame.
  visual = tf.io.decode_raw(seq["rgb"], tf.uint8, fixed_length=feat.VISUAL_DIM)
  audio = tf.io.decode_raw(seq["audio"], tf.uint8, fixed_length=feat.AUDIO_DIM)

  def crop(x):
    return tf.cond(tf.shape(x)[1] > t, lambda: x[:, :t], lambda: x)

  visual = tf.reshape(crop(visual), [-1, t, feat.VISUAL_DIM])
  audio = tf.reshape(crop(audio), [-1, t, feat.AUDIO_DIM])

  def zero_tails(x):
    mask = tf.sequence_mask(num_frames, t)[:, :, None]
    return tf.where(mask, x, tf.zeros_like(x))

  # Frames past num_frames exist only where rgb and audio lengths differ.
  uneven = tf.reduce_any(tf.minimum(rgb_len, max_frames) != tf.minimum(audio_len, max_frames))
  visual, audio = tf.cond(uneven, lambda: (zero_tails(visual), zero_tails(audio)),
                          lambda: (visual, audio))
  if dequantize:
    visual = feat.dequantize(visual)
    audio = feat.dequantize(audio)
  out = {
      "id": ids,
      "audio": audio,
      "visual": visual,
      "num_frames": num_frames,
      "labels": multi_hot,
  }
  if include_segments:
    out["segment_start_times"] = tf.cast(
        ctx["segment_start_times"].to_tensor(default_value=-1), tf.int32)
    out["segment_labels"] = tf.cast(ctx["segment_labels"].to_tensor(default_value=-1), tf.int32)
    out["segment_scores"] = ctx["segment_scores"].to_tensor(default_value=0.0)
    out["num_segments"] = tf.cast(ctx["segment_labels"].row_lengths(), tf.int32)
  return out, reason


def decode_video_batch(batch, num_classes):
  """Video-level twin of :func:`decode_frame_batch` (Examples with means)."""
  spec = dict(_CONTEXT_COMMON)
  spec["mean_rgb"] = tf.io.RaggedFeature(tf.float32)
  spec["mean_audio"] = tf.io.RaggedFeature(tf.float32)
  parsed = tf.io.parse_example(batch["record"], spec)
  ids = _first_id(parsed)
  rgb_len = tf.cast(parsed["mean_rgb"].row_lengths(), tf.int32)
  audio_len = tf.cast(parsed["mean_audio"].row_lengths(), tf.int32)
  multi_hot, label_reason = _label_checks(parsed["labels"], num_classes)

  def len_reason(n, dim, name):
    return tf.where((n != dim) & (n > 0), tf.strings.join(
        [f"{name} has ", tf.strings.as_string(n), f" values, expected {dim}"]), "")

  def pad_to(r, dim):
    return r.to_tensor(default_value=0.0, shape=[None, dim])

  visual = pad_to(parsed["mean_rgb"], feat.VISUAL_DIM)
  audio = pad_to(parsed["mean_audio"], feat.AUDIO_DIM)
  nonfinite_rgb = tf.logical_not(tf.reduce_all(tf.math.is_finite(visual), axis=1))
  nonfinite_audio = tf.logical_not(tf.reduce_all(tf.math.is_finite(audio), axis=1))
  reason = _pick([
      batch["reason"],
      tf.where((rgb_len == 0) & (audio_len == 0),
               "no mean_rgb/mean_audio: a frame-level record? read it with "
               "feature_level=frame", ""),
      tf.where((rgb_len == 0) & (audio_len > 0), "missing modality: no mean_rgb", ""),
      tf.where((audio_len == 0) & (rgb_len > 0), "missing modality: no mean_audio", ""),
      len_reason(rgb_len, feat.VISUAL_DIM, "mean_rgb"),
      len_reason(audio_len, feat.AUDIO_DIM, "mean_audio"),
      tf.where(nonfinite_rgb, "mean_rgb holds NaN or Inf", ""),
      tf.where(nonfinite_audio, "mean_audio holds NaN or Inf", ""),
      label_reason,
  ])
  out = {
      "id": ids,
      "audio": audio,
      "visual": visual,
      "num_frames": tf.ones_like(rgb_len),
      "labels": multi_hot,
  }
  return out, reason


def bad_message(batch, ids, reason):
  """Message naming the first bad record of a batch (a scalar string tensor)."""
  i = tf.argmax(tf.cast(reason != "", tf.int32))
  return tf.strings.join([
      "Bad YT-8M record in ", batch["file"][i], " at record index ",
      tf.strings.as_string(batch["index"][i]), " (video id '", ids[i], "'): ",
      reason[i]
  ])


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
                 prefetch: bool = True) -> tf.data.Dataset:
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
      ``bad_record_log``) instead of failing.
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

  Returns:
    A dataset of dicts, see the module docstring.

  Raises:
    FileNotFoundError: nothing matches ``pattern``.
    ValueError: bad arguments.

  Iterating raises ``tf.errors.InvalidArgumentError`` whose message starts
  with ``Bad YT-8M record in <file> at record index <i> (video id '<id>')``
  when a bad record is met and ``skip_bad_records`` is False; the command-line
  tools turn it into a one-line error.
  """
  if feature_level not in (FRAME, VIDEO):
    raise ValueError(f"feature_level must be 'frame' or 'video', got {feature_level!r}")
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
  if shuffle_buffer and len(files) > 1:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  deterministic = seed is not None
  block = max(1, min(block_size, batch_size))
  ds = ds.interleave(
      lambda f: _records_of_file(f, table.lookup(f), block),
      cycle_length=min(cycle_length, len(files)),
      block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=deterministic)
  if shuffle_buffer:
    ds = ds.shuffle(max(1, shuffle_buffer // block), seed=seed,
                    reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.rebatch(batch_size, drop_remainder=drop_remainder and not skip_bad_records)

  def decode(batch):
    if feature_level == FRAME:
      out, reason = decode_frame_batch(batch, num_classes, max_frames,
                                        include_segments, dequantize)
    else:
      out, reason = decode_video_batch(batch, num_classes)
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
          tf.logical_not(tf.reduce_any(bad)), [bad_message(batch, out["id"], reason)])
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
