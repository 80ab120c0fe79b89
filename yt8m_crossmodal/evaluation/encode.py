"""The one adapter from an encoder to an *encode function*.

An encode function takes dequantized features and lengths (numpy) and returns
numpy embeddings and timelines::

  encode(features float32 [B, T, D], num_frames int32 [B])
      -> (embedding float32 [B, E], timeline float32 [B, T, E] or None)

Video-level encoders take ``[B, D]`` and return ``(embedding, None)``. The
same contract is met by a Keras encoder in the process, on any Keras backend
(:func:`keras_encode_fn`, training-time validation) and by an exported
signature (:func:`signature_encode_fn`, what a serving client sees).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

EncodeFn = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, Optional[np.ndarray]]]


def is_frame_encoder(encoder) -> bool:
  """True for a frame-level encoder (inputs ``[features, num_frames]``)."""
  return len(encoder.inputs) == 2


def call_encoder(encoder, features, num_frames=None) -> Dict[str, tf.Tensor]:
  """Runs an encoder in inference mode.

  Args:
    encoder: a model of :func:`yt8m_crossmodal.models.build_encoders`.
    features: float32 [B, T, D] (frame level) or [B, D] (video level).
    num_frames: int32 [B] (frame level only).

  Returns:
    ``{"embedding": [B, E]}`` plus ``"timeline": [B, T, E]`` at frame level.
  """
  if is_frame_encoder(encoder):
    out = encoder([features, num_frames], training=False)
    return {"embedding": out["embedding"], "timeline": out["timeline"]}
  return {"embedding": encoder([features], training=False)["embedding"]}


def _numpy_outputs(out) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  timeline = out.get("timeline")
  return (np.asarray(out["embedding"]),
          None if timeline is None else np.asarray(timeline))


# keras_encode_fn pads the time axis to a multiple of this many seconds, so
# that a backend that compiles per input shape (JAX) compiles once per bucket,
# not once per batch length.
TIME_BUCKET = 16


def keras_encode_fn(encoder) -> EncodeFn:
  """An in-process Keras encoder as an encode function, on any Keras backend.

  Runs ``encoder.predict_on_batch`` (inference mode, compiled by the backend's
  own trainer: a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX, eager on
  PyTorch). Frame-level features ``[B, T, D]`` are zero padded to a multiple
  of :data:`TIME_BUCKET` seconds and the timelines cut back to ``T``: the
  encoders mask every second past ``num_frames``, so padding changes nothing.
  """
  frame = is_frame_encoder(encoder)

  def fn(features, num_frames):
    features = np.asarray(features, np.float32)
    if not frame:
      out = encoder.predict_on_batch([features])
      return _numpy_outputs({"embedding": out["embedding"]})
    t = features.shape[1]
    padded = max(TIME_BUCKET, -(-t // TIME_BUCKET) * TIME_BUCKET)
    features = np.pad(features, [(0, 0), (0, padded - t), (0, 0)])
    out = encoder.predict_on_batch([features, np.asarray(num_frames, np.int32)])
    return _numpy_outputs({"embedding": out["embedding"],
                           "timeline": np.asarray(out["timeline"])[:, :t]})

  return fn


def signature_encode_fn(signature, modality: str) -> EncodeFn:
  """An exported ``encode_<modality>`` signature as an encode function."""
  frame = "num_frames" in signature.structured_input_signature[1]

  def fn(features, num_frames):
    inputs = {modality: tf.constant(np.asarray(features, np.float32))}
    if frame:
      inputs["num_frames"] = tf.constant(np.asarray(num_frames, np.int32))
    out = signature(**inputs)
    return _numpy_outputs({k: v.numpy() for k, v in out.items()})

  return fn
