"""Decoding of serialized YT-8M records, a batch at a time (no file I/O).

Parsing uses the vectorized ``tf.io.parse_sequence_example`` /
``tf.io.parse_example``. Each step is its own function: :func:`parse_frame_records`
(protobuf -> raw tensors), :func:`frame_record_problems` (why a record is bad,
"" when it is fine), :func:`frame_features` (bytes -> uint8 or float32
frames, cropped, zero past ``num_frames``) and :func:`segment_fields` (2019).
:func:`decode_frame_records` / :func:`decode_video_records` chain them. They
never fail on bad content: bad records are only flagged, and the caller
decides (the pipeline fails or skips with the file and record index, a
serving signature fails the request naming the record's index in it).
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import tensorflow as tf

from yt8m_crossmodal.data import features as feat

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


def _id_reason(ids: tf.Tensor) -> tf.Tensor:
  """[B] strings: why an id is bad, "" when it is fine.

  An id is one line of UTF-8 text: an index keeps one id a line
  (``ids.txt``), so a line break would make two ids of one.
  """
  clean = tf.strings.unicode_transcode(ids, "UTF-8", "UTF-8", errors="replace")
  broken = tf.strings.regex_full_match(ids, "(?s).*[\\n\\r].*")
  return tf.where(clean != ids, "the video id is not UTF-8 text",
                  tf.where(broken, "the video id holds a line break", ""))


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


def pick_reason(reasons: Sequence[tf.Tensor]) -> tf.Tensor:
  """First non-empty reason per record; [B] strings."""
  out = reasons[-1]
  for r in reversed(reasons[:-1]):
    out = tf.where(r != "", r, out)
  return out


def parse_frame_records(records: tf.Tensor, include_segments: bool = False):
  """Parses serialized frame-level SequenceExamples.

  Args:
    records: string [B].
    include_segments: also parse the 2019 segment fields.

  Returns:
    ``(context, sequence, lengths)`` of ``tf.io.parse_sequence_example``:
    context ``id``, ``video_id``, ``labels``, ``mean_rgb`` (ragged) and the
    segment fields; sequence ``rgb`` / ``audio`` string [B, T'] (one string
    per second); lengths int64 [B] per sequence feature.
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
  return tf.io.parse_sequence_example(
      records, context_features=context, sequence_features=sequence)


def _width_reason(widths, valid, dim, name):
  """Why a record has frames of the wrong byte width ([B] strings)."""
  wrong = tf.where(valid & (widths != dim), widths, -1)
  bad = tf.reduce_any(valid & (widths != dim), axis=1)
  return tf.where(bad, tf.strings.join([
      f"{name} bytes per frame not {dim}: found a frame of ",
      tf.strings.as_string(tf.reduce_max(wrong, axis=1)), " bytes"]), "")


# The reason of a record of the other feature level than the one read, by
# the level read (the first reason checked: it wins over the others).
OTHER_LEVEL_REASONS = {
    "frame": "a video-level record (mean_rgb, no rgb frames) where frame-level records "
             "are read",
    "video": "a frame-level record (no mean_rgb/mean_audio) where video-level records "
             "are read",
}

BOTH = ("audio", "visual")

# What a record with one modality is told when both are needed.
_ONE_MODALITY_HINT = {
    "audio": " (a pictures-only record: tools that need only the pictures read it, e.g. "
             "yt8m-validate --modalities=visual, yt8m-embed --modalities=visual, "
             "yt8m-search --query_modality=visual)",
    "visual": " (a sound-only record: tools that need only the sound read it, e.g. "
              "yt8m-validate --modalities=audio, yt8m-embed --modalities=audio, "
              "yt8m-search --query_modality=audio)",
}


def check_modalities(modalities) -> Tuple[str, ...]:
  """("audio", "visual") or one of them, in that order; ValueError otherwise."""
  modalities = tuple(modalities)
  if not modalities or any(m not in BOTH for m in modalities):
    raise ValueError(f"modalities must be audio and/or visual, got {modalities!r}")
  return tuple(m for m in BOTH if m in modalities)


def _missing_reason(missing, present, modality: str, modalities, what: str):
  """Why a record lacks ``modality`` (one that is read), "" when it has it."""
  if modality not in modalities:
    return tf.fill(tf.shape(missing), "")
  if len(modalities) == 2:
    return tf.where(missing & present, f"missing modality: no {what}"
                    + _ONE_MODALITY_HINT[modality], "")
  read = "the sound" if modality == "audio" else "the pictures"
  return tf.where(missing & present, f"missing modality: no {what} (only {read} "
                  "are read here)" if modality == "visual" else
                  f"missing modality: no {what} (only {read} is read here)", "")


def frame_record_problems(context, sequence, lengths, num_classes: int,
                          modalities=BOTH):
  """Validates parsed frame-level records.

  Args:
    modalities: the modalities read: a record lacking one of them is bad
      (the other may be absent when only one is read).

  Returns:
    ``(multi_hot float32 [B, C], reason string [B])``: reason is "" for a good
    record, else the first problem found (a video-level record, zero frames, a
    missing modality, a wrong frame width, labels out of range).
  """
  modalities = check_modalities(modalities)
  rgb_len = tf.cast(lengths["rgb"], tf.int32)
  audio_len = tf.cast(lengths["audio"], tf.int32)
  rgb_bytes = tf.strings.length(sequence["rgb"])   # [B, Tr], 0 on padding
  audio_bytes = tf.strings.length(sequence["audio"])
  rgb_valid = tf.sequence_mask(rgb_len, tf.shape(rgb_bytes)[1])
  audio_valid = tf.sequence_mask(audio_len, tf.shape(audio_bytes)[1])
  has_mean = context["mean_rgb"].row_lengths() > 0
  multi_hot, label_reason = _label_checks(context["labels"], num_classes)
  reason = pick_reason([
      tf.where(has_mean & (rgb_len == 0), OTHER_LEVEL_REASONS["frame"], ""),
      tf.where((rgb_len == 0) & (audio_len == 0), "zero frames (no rgb, no audio)", ""),
      _missing_reason(rgb_len == 0, audio_len > 0, "visual", modalities, "rgb frames"),
      _missing_reason(audio_len == 0, rgb_len > 0, "audio", modalities, "audio frames"),
      _width_reason(rgb_bytes, rgb_valid, feat.VISUAL_DIM, "rgb"),
      _width_reason(audio_bytes, audio_valid, feat.AUDIO_DIM, "audio"),
      label_reason,
      _id_reason(_first_id(context)),
  ])
  return multi_hot, reason


def frame_features(sequence, lengths, max_frames: int, dequantize: bool,
                   modalities=BOTH) -> Dict[str, tf.Tensor]:
  """Frames of parsed records, cropped to ``max_frames``.

  Args:
    modalities: the modalities returned; with one, ``num_frames`` is its
      own length (the other may be absent or of any length).

  Returns:
    ``audio`` [B, T, 128] and ``visual`` [B, T, 1024] (uint8, or float32
    when ``dequantize``; only those of ``modalities``), zero past
    ``num_frames`` int32 [B] = ``min(len(rgb), len(audio), max_frames)``
    over the modalities read; T is the longest kept video.
  """
  modalities = check_modalities(modalities)
  if len(modalities) == 1:
    return _one_modality_features(sequence, lengths, max_frames, dequantize, modalities[0])
  rgb_len = tf.cast(lengths["rgb"], tf.int32)
  audio_len = tf.cast(lengths["audio"], tf.int32)
  num_frames = tf.minimum(tf.minimum(rgb_len, audio_len), max_frames)
  t = tf.reduce_max(tf.concat([num_frames, [0]], axis=0))
  # decode_raw pads or truncates every frame to its width, so frames of a wrong
  # width cannot make it fail (their records are bad anyway). Strings are not
  # sliced or selected before decoding: each such op copies every frame.
  visual = tf.io.decode_raw(sequence["rgb"], tf.uint8, fixed_length=feat.VISUAL_DIM)
  audio = tf.io.decode_raw(sequence["audio"], tf.uint8, fixed_length=feat.AUDIO_DIM)

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
  return {"audio": audio, "visual": visual, "num_frames": num_frames}


def _one_modality_features(sequence, lengths, max_frames: int, dequantize: bool,
                           modality: str) -> Dict[str, tf.Tensor]:
  """:func:`frame_features` of one modality (its own length, the other ignored)."""
  key, dim = ("rgb", feat.VISUAL_DIM) if modality == "visual" else ("audio", feat.AUDIO_DIM)
  num_frames = tf.minimum(tf.cast(lengths[key], tf.int32), max_frames)
  t = tf.reduce_max(tf.concat([num_frames, [0]], axis=0))
  frames = sequence[key]
  frames = tf.cond(tf.shape(frames)[1] > t, lambda: frames[:, :t], lambda: frames)
  x = tf.reshape(tf.io.decode_raw(frames, tf.uint8, fixed_length=dim), [-1, t, dim])
  if dequantize:
    x = feat.dequantize(x)
  return {modality: x, "num_frames": num_frames}


def segment_fields(context) -> Dict[str, tf.Tensor]:
  """The 2019 segment fields, padded: starts and labels with -1, scores with 0."""
  return {
      "segment_start_times": tf.cast(
          context["segment_start_times"].to_tensor(default_value=-1), tf.int32),
      "segment_labels": tf.cast(context["segment_labels"].to_tensor(default_value=-1),
                                tf.int32),
      "segment_scores": context["segment_scores"].to_tensor(default_value=0.0),
      "num_segments": tf.cast(context["segment_labels"].row_lengths(), tf.int32),
  }


def decode_frame_records(records: tf.Tensor, num_classes: int, max_frames: int,
                         include_segments: bool = False, dequantize: bool = False,
                         modalities=BOTH) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
  """Parses, validates and decodes serialized frame-level records.

  Args:
    records: string [B] serialized SequenceExamples.
    num_classes: label vocabulary size C.
    max_frames: frames kept per video.
    include_segments: also return the 2019 segment fields.
    dequantize: float32 features in [-2, 2] instead of uint8.
    modalities: ("audio", "visual"), or one of them: records with only that
      one are good, and only its frames are returned.

  Returns:
    ``(element, reason)``: ``id`` string [B], ``audio``, ``visual``,
    ``num_frames`` (see :func:`frame_features`), ``labels`` float32 [B, C]
    (and the segment fields); ``reason`` string [B], "" for a good record.
  """
  context, sequence, lengths = parse_frame_records(records, include_segments)
  multi_hot, reason = frame_record_problems(context, sequence, lengths, num_classes,
                                            modalities)
  out = {"id": _first_id(context)}
  out.update(frame_features(sequence, lengths, max_frames, dequantize, modalities))
  out["labels"] = multi_hot
  if include_segments:
    out.update(segment_fields(context))
  return out, reason


def decode_video_records(records: tf.Tensor, num_classes: int, modalities=BOTH
                         ) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
  """Video-level twin of :func:`decode_frame_records` (Examples with means).

  Args:
    modalities: as for frames: with one, a record lacking the other is good.

  Returns:
    ``(element, reason)``: ``audio`` float32 [B, 128] (``mean_audio``),
    ``visual`` float32 [B, 1024] (``mean_rgb``), ``num_frames`` 1,
    ``id``, ``labels``; reason as for frames (wrong lengths, NaN/Inf...).
  """
  modalities = check_modalities(modalities)
  spec = dict(_CONTEXT_COMMON)
  spec["mean_rgb"] = tf.io.RaggedFeature(tf.float32)
  spec["mean_audio"] = tf.io.RaggedFeature(tf.float32)
  parsed = tf.io.parse_example(records, spec)
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
  reason = pick_reason([
      tf.where((rgb_len == 0) & (audio_len == 0), OTHER_LEVEL_REASONS["video"], ""),
      _missing_reason(rgb_len == 0, audio_len > 0, "visual", modalities, "mean_rgb"),
      _missing_reason(audio_len == 0, rgb_len > 0, "audio", modalities, "mean_audio"),
      len_reason(rgb_len, feat.VISUAL_DIM, "mean_rgb"),
      len_reason(audio_len, feat.AUDIO_DIM, "mean_audio"),
      tf.where(nonfinite_rgb & tf.constant("visual" in modalities),
               "mean_rgb holds NaN or Inf", ""),
      tf.where(nonfinite_audio & tf.constant("audio" in modalities),
               "mean_audio holds NaN or Inf", ""),
      label_reason,
      _id_reason(ids),
  ])
  out = {"id": ids, "num_frames": tf.ones_like(rgb_len), "labels": multi_hot}
  out.update({m: x for m, x in (("audio", audio), ("visual", visual)) if m in modalities})
  return out, reason


NOT_A_PROTOBUF = "not a valid {} protobuf (a damaged or foreign payload)"


# Top-level field tags, (field number << 3) | 2 (length-delimited):
# SequenceExample's context and feature_lists, Example's features (a
# SequenceExample read as an Example parses too: its feature_lists are
# skipped, and the record is then flagged as frame-level).
_TOP_LEVEL_TAGS = (0x0A, 0x12)
_MAX_TOP_LEVEL_FIELDS = 64


def _varints(records: tf.Tensor, pos: tf.Tensor):
  """(value, byte count, valid) of the varint at byte ``pos`` of each record."""
  raw = tf.io.decode_raw(tf.strings.substr(records, pos, tf.fill(tf.shape(pos), 5)),
                      tf.uint8, fixed_length=5)
  b = tf.cast(raw, tf.int64)  # [B, 5], zero past the end.
  continues = tf.math.cumprod(tf.cast(b >= 128, tf.int64), axis=1)
  count = 1 + tf.reduce_sum(continues, axis=1)
  used = tf.sequence_mask(count, 5)
  shifts = tf.constant([0, 7, 14, 21, 28], tf.int64)
  value = tf.reduce_sum(tf.where(used, tf.bitwise.left_shift(b % 128, shifts), 0), axis=1)
  return value, count, count <= 5


def wire_format_ok(records: tf.Tensor, feature_level: str) -> tf.Tensor:
  """bool [B]: whether each record's top level is a protobuf of ``feature_level``.

  Walks the top-level fields (tag, varint length, payload) of every record
  at once with a few byte reads: each must be a field of a (Sequence)Example
  and the last must end exactly at the record's end. A JPEG, text or other
  foreign payload fails this almost surely, without the parse of the whole
  batch failing. (The bytes inside the fields are checked by the parse; a
  TFRecord's CRC already catches damage inside a record.)
  """
  size = tf.cast(tf.strings.length(records), tf.int64)
  del feature_level  # Both messages have the same top-level tags.
  allowed = _TOP_LEVEL_TAGS

  def body(i, pos, ok):
    active = ok & (pos < size)
    at = tf.cast(tf.minimum(pos, size), tf.int32)
    tag = tf.cast(tf.io.decode_raw(tf.strings.substr(records, at, tf.ones_like(at)), tf.uint8,
                                   fixed_length=1)[:, 0], tf.int64)
    tag_ok = tf.reduce_any(tf.stack([tag == t for t in allowed]), axis=0)
    length, count, varint_ok = _varints(records, tf.cast(tf.minimum(pos + 1, size), tf.int32))
    end = pos + 1 + count + length
    step_ok = tag_ok & varint_ok & (pos + 1 < size) & (end <= size)
    ok = tf.where(active, step_ok, ok)
    pos = tf.where(active & step_ok, end, pos)
    return i + 1, pos, ok

  def cond(i, pos, ok):
    return (i < _MAX_TOP_LEVEL_FIELDS) & tf.reduce_any(ok & (pos < size))

  _, pos, ok = tf.while_loop(
      cond, body, (tf.constant(0), tf.zeros_like(size), tf.ones_like(size, tf.bool)))
  return ok & (pos == size)


def decode_records_safely(records: tf.Tensor, decode_fn, feature_level: str):
  """``decode_fn(records)`` that flags records that are not protobufs.

  A record that fails :func:`wire_format_ok` is replaced by an empty record
  before the (vectorized) parse, which would otherwise fail for the whole
  batch, and gets the reason ``not a valid ... protobuf``.

  Args:
    records: string [B].
    decode_fn: ``records -> (element, reason)`` (e.g. a closure over
      :func:`decode_frame_records`).
    feature_level: "frame" or "video" (names the message type).

  Returns:
    ``decode_fn``'s ``(element, reason)``.
  """
  message = NOT_A_PROTOBUF.format(
      "SequenceExample" if feature_level == "frame" else "Example")
  ok = wire_format_ok(records, feature_level)
  clean = tf.cond(tf.reduce_all(ok), lambda: records, lambda: tf.where(ok, records, ""))
  out, reason = decode_fn(clean)
  return out, tf.where(ok, reason, message)


def decode_records(records: tf.Tensor, feature_level: str, num_classes: int,
                   max_frames: int, include_segments: bool = False,
                   dequantize: bool = False, typed: bool = False, modalities=BOTH):
  """:func:`decode_records_safely` with the decoder of ``feature_level``.

  Args:
    records: string [B] serialized records.
    feature_level: "frame" (:func:`decode_frame_records`, with
      ``max_frames``, ``include_segments``, ``dequantize``) or "video"
      (:func:`decode_video_records`).
    num_classes: label vocabulary.

    typed: also flag records with fields of the wrong type
      (:func:`decode_records_typed`; tf.data only, not for a serving graph).
    modalities: ("audio", "visual") or one of them (see
      :func:`decode_frame_records`).

  Returns:
    ``(element, reason)``: reason [B], "" for a good record.
  """
  if feature_level == "frame":
    decode_fn = lambda r: decode_frame_records(r, num_classes, max_frames,
                                               include_segments, dequantize, modalities)
  else:
    decode_fn = lambda r: decode_video_records(r, num_classes, modalities)
  if typed:
    typed_fn = decode_fn
    decode_fn = lambda r: decode_records_typed(r, typed_fn)
  return decode_records_safely(records, decode_fn, feature_level)


WRONG_TYPE = ("a field of the wrong type or shape, or damaged inside (id, video_id: bytes; "
              "labels: int64; mean_rgb, mean_audio: floats; rgb, audio: one bytes value per "
              "second)")


def _parses(records: tf.Tensor, decode_fn) -> tf.Tensor:
  """bool scalar: whether ``decode_fn(records)`` runs without an error."""
  # The probe's value depends on what the parse read (a size alone would be
  # folded without parsing) and the reduction reads it: nothing is pruned.
  probe = tf.data.Dataset.from_tensors(records).map(
      lambda r: tf.reduce_sum(tf.strings.length(decode_fn(r)[1]))).ignore_errors()
  return probe.reduce(tf.constant(False), lambda seen, n: seen | (n >= 0))


def decode_records_typed(records: tf.Tensor, decode_fn):
  """``decode_fn(records)`` that flags records whose fields have the wrong type.

  The vectorized parse fails for the whole batch when one record holds, say,
  an int64 ``id`` or two values in one frame. The batch is decoded as one;
  only when that fails is each record tried alone, and the ones that fail
  are replaced by an empty record with the reason :data:`WRONG_TYPE`. The
  nested ``tf.data`` this takes makes decoding 2-3 times slower even when
  nothing fails (measured on CPU), so the reader uses it only when bad
  records are skipped.

  Args:
    records: string [B].
    decode_fn: ``records -> (element, reason)``.

  Returns:
    ``decode_fn``'s ``(element, reason)``.
  """
  def per_record(batch):
    ok = tf.map_fn(lambda r: _parses(r[None], decode_fn), batch,
                   fn_output_signature=tf.bool)
    out, reason = decode_fn(tf.where(ok, batch, ""))
    return out, tf.where(ok, reason, WRONG_TYPE)

  whole = tf.data.Dataset.from_tensors(records).map(decode_fn).ignore_errors()
  fallback = tf.data.Dataset.from_tensors(records).map(per_record)
  return whole.concatenate(fallback).take(1).get_single_element()


def first_bad_record_message(where, index, ids, reason) -> tf.Tensor:
  """Message naming the first bad record of a batch (scalar string).

  Args:
    where: string [B] file of each record, or a scalar ("request").
    index: int64 [B] record index (in its file, or in the request).
    ids: string [B] video ids.
    reason: string [B], "" for good records.
  """
  i = tf.argmax(tf.cast(reason != "", tf.int32))
  # An id that is not UTF-8 would make the message itself unreadable.
  ids = tf.strings.unicode_transcode(ids, "UTF-8", "UTF-8", errors="replace")
  where = tf.convert_to_tensor(where)
  source = where[i] if where.shape.rank else where
  return tf.strings.join([
      "Bad YT-8M record in ", source, " at record index ",
      tf.strings.as_string(index[i]), " (video id '", ids[i], "'): ", reason[i]
  ])
