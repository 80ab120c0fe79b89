"""YouTube-8M feature constants and (de)quantization.

The released features are PCA-whitened and 8-bit quantized over [-2, 2]. The
starter code dequantizes a byte ``q`` as ``q * scalar + bias`` in float32 with
``scalar = (max - min) / 255`` and ``bias = (max - min) / 512 + min``; the
functions here compute exactly that (same operations, same order, same dtype),
so values match the starter code bit for bit.
"""

from __future__ import annotations

import numpy as np

MIN_QUANTIZED_VALUE = -2.0
MAX_QUANTIZED_VALUE = 2.0
AUDIO_DIM = 128
VISUAL_DIM = 1024

DIMS = {"audio": AUDIO_DIM, "visual": VISUAL_DIM}


def dequantize_params(max_quantized_value: float = MAX_QUANTIZED_VALUE,
                      min_quantized_value: float = MIN_QUANTIZED_VALUE):
  """``(scale, bias)`` float32 of ``x = q * scale + bias``: the one formula.

  ``scale = (max - min) / 255`` and ``bias = (max - min) / 512 + min``
  (4/255 and 4/512 - 2 for the released range [-2, 2]).
  """
  span = float(max_quantized_value) - float(min_quantized_value)
  return np.float32(span / 255.0), np.float32(span / 512.0 + float(min_quantized_value))


DEQUANTIZE_SCALE, DEQUANTIZE_BIAS = dequantize_params()


def dequantize(q):
  """Maps quantized features to floats in [-2, 2].

  Works on numpy arrays and on TF/Keras tensors alike (it only uses ``*`` and
  ``+`` after a cast to float32).

  Args:
    q: uint8 (or integer-valued) array of any shape, e.g. ``[B, T, 1024]``.

  Returns:
    float32 array of the same shape: ``q * 4/255 + 4/512 - 2``, from
    ``-1.9921875`` (q = 0) to ``2.0078125`` (q = 255): the half-bin offset
    shifts the nominal [-2, 2] range by 4/512.
  """
  if isinstance(q, np.ndarray) or np.isscalar(q):
    return np.asarray(q).astype(np.float32) * DEQUANTIZE_SCALE + DEQUANTIZE_BIAS
  import tensorflow as tf  # Only for TF tensors.
  return tf.cast(q, tf.float32) * DEQUANTIZE_SCALE + DEQUANTIZE_BIAS


def to_float(x: np.ndarray) -> np.ndarray:
  """float32 features: uint8 are dequantized, floats are cast."""
  x = np.asarray(x)
  return dequantize(x) if x.dtype == np.uint8 else x.astype(np.float32)


def quantize(x: np.ndarray) -> np.ndarray:
  """Inverse of :func:`dequantize`: the nearest byte, saturating at 0 and 255.

  Args:
    x: float array of any shape.

  Returns:
    uint8 array of the same shape; ``dequantize(quantize(x))`` is within half
    a quantization step (2/255) of ``x`` for ``x`` in the dequantized range
    ``[-2 + 4/512, 2 + 4/512]``, and ``quantize(dequantize(q)) == q``.
  """
  x = np.asarray(x, np.float64)
  q = np.round((x - float(DEQUANTIZE_BIAS)) / float(DEQUANTIZE_SCALE))
  return np.clip(q, 0, 255).astype(np.uint8)


ROUNDINGS = ("round", "truncate")


def quantize_features(x: np.ndarray, rounding: str = "round") -> np.ndarray:
  """The feature extractors' 8-bit quantizer (what made the stored bytes).

  ``clip(x, -2, 2)``, then ``(x + 2) * 255 / 4`` onto [0, 255], then to an
  integer: ``"round"``, to the nearest (ties to even: Python's ``round``, as
  the YouTube-8M extractor's ``int(round(f))``), computed in float32 as there;
  or ``"truncate"``, toward zero (VGGish's postprocessor's
  ``astype(np.uint8)``), computed in float64 as there. Not the inverse of
  :func:`dequantize` (see :func:`quantize` for that).

  Args:
    x: float array of any shape.
    rounding: "round" or "truncate".

  Returns:
    uint8 array of the same shape.
  """
  if rounding not in ROUNDINGS:
    raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
  dtype = np.float32 if rounding == "round" else np.float64
  low, high = dtype(MIN_QUANTIZED_VALUE), dtype(MAX_QUANTIZED_VALUE)
  scaled = (np.clip(np.asarray(x, dtype), low, high) - low) * dtype(255.0 / (high - low))
  if rounding == "round":
    scaled = np.round(scaled)
  return scaled.astype(np.uint8)
