"""Masked mean over time."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class MaskedMean(keras.layers.Layer):
  """``MaskedMean()(x [B, T, D], mask [B, T]) -> [B, D]``.

  Mean over the valid frames only (padding values, even NaN, are ignored);
  a row without valid frames gives zeros. Summation is done in float32 so
  long float16 sequences cannot overflow. ``mask=None`` means all valid.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    # Consumes the mask (explicit argument or a Keras mask on the input)
    # and emits none.
    self.supports_masking = True
    self.built = True

  def call(self, inputs, mask=None):
    x = ops.cast(inputs, "float32")
    if mask is None:
      mean = ops.mean(x, axis=1)
    else:
      mask = ops.cast(mask, "bool")
      x = ops.where(ops.expand_dims(mask, -1), x, ops.zeros_like(x))
      counts = ops.sum(ops.cast(mask, "float32"), axis=1, keepdims=True)
      mean = ops.sum(x, axis=1) / ops.maximum(counts, 1.0)
    return ops.cast(mean, self.compute_dtype)

  def compute_mask(self, inputs, previous_mask=None):
    return None

  def compute_output_spec(self, inputs, mask=None):
    return keras.KerasTensor((inputs.shape[0], inputs.shape[2]),
                             dtype=self.compute_dtype)
