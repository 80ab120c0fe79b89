"""Masked average pooling of frames into fixed windows."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class MaskedWindowPool(keras.layers.Layer):
  """Averages the valid frames of each window of ``stride`` seconds.

  ``MaskedWindowPool(s)(x [B, T, D], mask [B, T]) -> (pooled [B, W, D],
  window_mask [B, W])`` with ``W = ceil(T / s)``; window ``w`` covers frames
  ``[w*s, (w+1)*s)`` (the last one may be partial). Only frames with
  ``mask=True`` enter the average (unlike ``AveragePooling1D``, which ignores
  masks), so padding values cannot leak into the result, even NaN. A window
  is valid when it holds at least one valid frame. Window 0 is always marked
  valid (its pooled value is zero when it has no valid frame) so that a
  following LSTM never sees a fully masked sequence, which cuDNN rejects;
  with prefix (right-padded) frame masks the window mask stays right-padded.

  Args:
    stride: Window length in frames (seconds), >= 1.
  """

  def __init__(self, stride, **kwargs):
    super().__init__(**kwargs)
    if int(stride) < 1:
      raise ValueError(f"stride must be >= 1, got {stride}")
    self.stride = int(stride)
    # Consumes the mask (explicit argument or a Keras mask on the input)
    # and emits none.
    self.supports_masking = True
    self.built = True

  def call(self, inputs, mask=None):
    x = inputs
    batch, steps = ops.shape(x)[0], ops.shape(x)[1]
    if mask is None:
      mask = ops.ones((batch, steps), dtype="bool")
    mask = ops.cast(mask, "bool")
    x = ops.where(ops.expand_dims(mask, -1), x, ops.zeros_like(x))
    s = self.stride
    if s == 1:
      pooled, window_mask = x, mask
      windows = steps
    else:
      windows = (steps + s - 1) // s
      pad = windows * s - steps
      depth = x.shape[-1] if x.shape[-1] is not None else ops.shape(x)[-1]
      x = ops.pad(x, [[0, 0], [0, pad], [0, 0]])
      weights = ops.pad(ops.cast(mask, x.dtype), [[0, 0], [0, pad]])
      x = ops.reshape(x, (batch, windows, s, depth))
      weights = ops.reshape(weights, (batch, windows, s))
      counts = ops.sum(weights, axis=2)
      pooled = ops.sum(x, axis=2) / ops.expand_dims(
          ops.maximum(counts, ops.ones_like(counts)), -1)
      window_mask = ops.greater(counts, 0)
    first = ops.equal(ops.arange(0, windows, 1, dtype="int32"), 0)
    window_mask = ops.logical_or(window_mask, ops.expand_dims(first, 0))
    return pooled, window_mask

  def _out_len(self, steps):
    return None if steps is None else -(-steps // self.stride)

  def compute_mask(self, inputs, previous_mask=None):
    return None

  def compute_output_spec(self, inputs, mask=None):
    batch, steps, depth = inputs.shape
    windows = self._out_len(steps)
    return (keras.KerasTensor((batch, windows, depth), dtype=self.compute_dtype),
            keras.KerasTensor((batch, windows), dtype="bool"))

  def get_config(self):
    config = super().get_config()
    config.update(stride=self.stride)
    return config
