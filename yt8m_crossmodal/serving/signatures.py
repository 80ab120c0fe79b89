"""The serving signatures of an export and the builder that adds them.

The contract (names, inputs, outputs) is the README's "Serving signatures"
table; ``tests/test_export.py`` pins it.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf

from yt8m_crossmodal.data import decode
from yt8m_crossmodal.data.features import DIMS
from yt8m_crossmodal.evaluation.encode import call_encoder
from yt8m_crossmodal.serving.offset_signature import estimate_batch

ENCODE_AUDIO = "encode_audio"
ENCODE_VISUAL = "encode_visual"
ENCODE_EXAMPLES = "encode_examples"
SEARCH_BY_AUDIO = "search_by_audio"
SEARCH_BY_VISUAL = "search_by_visual"
ESTIMATE_OFFSET = "estimate_offset"
SERVING_DEFAULT_IS = ENCODE_EXAMPLES
ENCODE_SIGNATURES = {"audio": ENCODE_AUDIO, "visual": ENCODE_VISUAL}
SEARCH_SIGNATURES = {"audio": SEARCH_BY_AUDIO, "visual": SEARCH_BY_VISUAL}
OTHER = {"audio": "visual", "visual": "audio"}
ASSETS_EXTRA = "assets.extra"
CONFIG_FILE = "config.json"
EXPORT_FILE = "export.json"


def decode_request(examples: tf.Tensor, feature_level: str, num_classes: int,
                   max_frames: int) -> Dict[str, tf.Tensor]:
  """Decodes the serialized records of a request (dequantized).

  Args:
    examples: string [B] serialized records of ``feature_level``.
    feature_level: "frame" or "video".
    num_classes: label vocabulary (labels are parsed but not checked).
    max_frames: frames kept per video.

  Returns:
    ``id`` [B], ``audio`` / ``visual`` float32 [B, T, D] (video level
    [B, D]), ``num_frames`` int32 [B], after assertions that fail the call
    with ``no video: examples holds an empty batch`` or ``Bad YT-8M record in
    request at record index i ...`` on a malformed record.
  """
  empty = tf.debugging.Assert(tf.size(examples) >= 1, [
      "no video: examples holds an empty batch (give at least one record)"])
  with tf.control_dependencies([empty]):
    examples = tf.identity(examples)
  out, reason = decode.decode_records(examples, feature_level, num_classes, max_frames,
                                      dequantize=True)
  # Labels do not matter for encoding: only feature problems fail a request.
  reason = tf.where(tf.strings.regex_full_match(reason, "labels out of .*"), "", reason)
  index = tf.range(tf.size(examples, out_type=tf.int64))
  message = decode.first_bad_record_message("request", index, out["id"], reason)
  check = tf.debugging.Assert(tf.reduce_all(tf.equal(reason, "")), [message])
  with tf.control_dependencies([check]):
    return {k: tf.identity(out[k]) for k in ("id", "audio", "visual", "num_frames")}


def check_inputs(modality: str, features: tf.Tensor, num_frames=None):
  """Fails the call on non-finite features or bad ``num_frames``.

  Returns:
    ``(features, num_frames)`` after assertions that fail the call with an
    ``InvalidArgumentError`` saying what is wrong: ``<modality> holds NaN or
    Inf``, ``no video``, ``num_frames must have one value per video``,
    ``num_frames must be >= 1`` or ``num_frames must be <= the seconds
    given``.
  """
  checks = [tf.debugging.Assert(
      tf.shape(features)[0] >= 1, [f"no video: {modality} holds an empty batch (give at "
                                   "least one video)"]),
            tf.debugging.Assert(
      tf.reduce_all(tf.math.is_finite(features)),
      [f"{modality} holds NaN or Inf: features must be finite"])]
  if num_frames is not None:
    checks.append(tf.debugging.Assert(
        tf.equal(tf.shape(num_frames)[0], tf.shape(features)[0]),
        ["num_frames must have one value per video: got", tf.shape(num_frames)[0],
         "values for", tf.shape(features)[0], "videos"]))
    checks.append(tf.debugging.Assert(
        tf.reduce_all(num_frames >= 1),
        ["num_frames must be >= 1 (an empty clip has no embedding), got",
         tf.reduce_min(num_frames)]))
    checks.append(tf.debugging.Assert(
        tf.reduce_all(num_frames <= tf.shape(features, out_type=num_frames.dtype)[1]),
        [f"num_frames must be <= the seconds given ({modality} holds",
         tf.shape(features)[1], "per video), got", tf.reduce_max(num_frames)]))
  with tf.control_dependencies(checks):
    features = tf.identity(features)
    if num_frames is not None:
      num_frames = tf.identity(num_frames)
  return features, num_frames


def _top_k_search(ids: tf.Variable, matrix: tf.Variable, k: int):
  """Maps encoder outputs to the exact top-k of ``matrix`` ([N, E])."""
  def search(out):
    scores = tf.matmul(out["embedding"], matrix, transpose_b=True)  # [B, N]
    top = tf.math.top_k(scores, k=k, sorted=True)
    return {"ids": tf.gather(ids, top.indices), "scores": top.values}
  return search


class SignatureBuilder:
  """Adds the signatures of one pair of encoders to an ``ExportArchive``.

  Args:
    audio_encoder / visual_encoder: encoders of
      :func:`yt8m_crossmodal.models.build_encoders`.
    feature_level: "frame" or "video".
    num_classes, max_frames: how ``encode_examples`` decodes records.
  """

  def __init__(self, audio_encoder, visual_encoder, feature_level: str,
               num_classes: int, max_frames: int):
    import keras
    self.frame = feature_level == "frame"
    self.feature_level = feature_level
    self.num_classes, self.max_frames = num_classes, max_frames
    self.encoders = {"audio": audio_encoder, "visual": visual_encoder}
    self.archive = keras.export.ExportArchive()
    self.archive.track(audio_encoder)
    self.archive.track(visual_encoder)
    self.search_variables: List[tf.Variable] = []

  def _specs(self, modality: str) -> List[tf.TensorSpec]:
    dim = DIMS[modality]
    if self.frame:
      return [tf.TensorSpec([None, None, dim], tf.float32, name=modality),
              tf.TensorSpec([None], tf.int32, name="num_frames")]
    return [tf.TensorSpec([None, dim], tf.float32, name=modality)]

  def _add(self, name: str, fn, specs) -> None:
    self.archive.add_endpoint(name, fn, input_signature=specs)

  def _endpoint(self, modality: str, post=None):
    """A function of the modality's signature inputs -> encoder outputs.

    ``post`` maps the encoder output dict to the signature outputs. (A
    factory, not default arguments: tf.function cannot save Python objects
    in a signature.)
    """
    post = post or (lambda out: out)
    encoder = self.encoders[modality]
    if self.frame:
      def fn(features, num_frames):
        features, num_frames = check_inputs(modality, features, num_frames)
        return post(call_encoder(encoder, features, num_frames))
    else:
      def fn(features):
        features, _ = check_inputs(modality, features)
        return post(call_encoder(encoder, features))
    return fn

  def add_encoders(self) -> None:
    for modality in ("audio", "visual"):
      self._add(ENCODE_SIGNATURES[modality], self._endpoint(modality),
                self._specs(modality))

  def add_examples(self) -> None:
    def encode_examples(examples):
      batch = decode_request(examples, self.feature_level, self.num_classes,
                             self.max_frames)
      out = {"id": batch["id"]}
      for modality in ("audio", "visual"):
        enc = call_encoder(self.encoders[modality], batch[modality],
                           batch["num_frames"] if self.frame else None)
        for key, value in enc.items():
          out[f"{modality}_{key}"] = value
      return out
    self._add(ENCODE_EXAMPLES, encode_examples,
              [tf.TensorSpec([None], tf.string, name="examples")])

  def add_estimate_offset(self) -> None:
    """``estimate_offset`` (frame level): ``yt8m-sync``'s estimator.

    Inputs: ``audio`` [B, L, 128] (the excerpt), ``audio_num_frames`` [B],
    ``visual`` [B, T, 1024], ``visual_num_frames`` [B], ``start`` [B] (the
    visual second where the excerpt starts at offset 0) and ``max_offset``
    (a scalar S). Outputs: ``offset_seconds`` int32 [B] (+ = audio late),
    ``scores`` [B, 2S+1] (index late + S; 0 where infeasible), ``feasible``
    bool [B, 2S+1], ``confidence`` [B] (1 - ``p_value`` [B]; compare with
    ``yt8m-sync --min_confidence``).
    """
    audio_encoder, visual_encoder = self.encoders["audio"], self.encoders["visual"]

    def estimate_offset(audio, audio_num_frames, visual, visual_num_frames, start,
                        max_offset):
      audio, audio_num_frames = check_inputs("audio", audio, audio_num_frames)
      visual, visual_num_frames = check_inputs("visual", visual, visual_num_frames)
      checks = [
          tf.debugging.Assert(tf.equal(tf.shape(start)[0], tf.shape(audio)[0]),
                              ["start must have one value per video"]),
          tf.debugging.Assert(tf.equal(tf.shape(visual)[0], tf.shape(audio)[0]),
                              ["audio and visual must hold the same videos"]),
          tf.debugging.Assert(tf.reduce_all(start >= 0), ["start must be >= 0"]),
          tf.debugging.Assert(max_offset >= 0, ["max_offset must be >= 0"]),
          # Offsets past the pictures are never feasible; a huge S would only
          # make the [B, 2S + 1] outputs (and overflow 2S + 1).
          tf.debugging.Assert(max_offset <= tf.shape(visual)[1], [
              "max_offset must be <= the seconds of visual (", tf.shape(visual)[1],
              "), got", max_offset]),
      ]
      with tf.control_dependencies(checks):
        start = tf.identity(start)
        max_offset = tf.identity(max_offset)
      a = call_encoder(audio_encoder, audio, audio_num_frames)["timeline"]
      v = call_encoder(visual_encoder, visual, visual_num_frames)["timeline"]
      return estimate_batch(a, v, audio_num_frames, visual_num_frames, start, max_offset)

    self._add(ESTIMATE_OFFSET, estimate_offset, [
        tf.TensorSpec([None, None, DIMS["audio"]], tf.float32, name="audio"),
        tf.TensorSpec([None], tf.int32, name="audio_num_frames"),
        tf.TensorSpec([None, None, DIMS["visual"]], tf.float32, name="visual"),
        tf.TensorSpec([None], tf.int32, name="visual_num_frames"),
        tf.TensorSpec([None], tf.int32, name="start"),
        tf.TensorSpec([], tf.int32, name="max_offset")])

  def add_search(self, catalogue, k: int) -> Dict[str, Any]:
    """Bakes ``catalogue`` into search_by_audio / search_by_visual."""
    ids = tf.Variable(np.asarray(catalogue.ids, dtype=object), dtype=tf.string,
                      trainable=False, name="catalogue_ids")
    self.search_variables = [ids]
    k = int(min(k, catalogue.size))
    for modality in ("audio", "visual"):
      target = OTHER[modality]
      matrix = tf.Variable(np.ascontiguousarray(catalogue.embeddings(target), np.float32),
                           trainable=False, name=f"catalogue_{target}_embeddings")
      self.search_variables.append(matrix)
      self._add(SEARCH_SIGNATURES[modality],
                self._endpoint(modality, _top_k_search(ids, matrix, k)),
                self._specs(modality))
    self.archive.add_variable_collection("catalogue", self.search_variables)
    return {"path": os.path.abspath(catalogue.path) if catalogue.path else None,
            "num_items": catalogue.size, "k": k,
            "targets": {SEARCH_BY_AUDIO: "visual", SEARCH_BY_VISUAL: "audio"}}
