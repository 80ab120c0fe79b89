"""Dequantization of the uint8 YouTube-8M features."""

import keras
from keras import ops

from yt8m_crossmodal.data.features import dequantize_params


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class Dequantize(keras.layers.Layer):
  """Maps quantized uint8 features back to floats.

  YouTube-8M stores each feature as ``q`` in [0, 255]; the float value is
  ``q * (max - min) / 255 + (max - min) / 512 + min`` (the formula of the
  official starter code, with ``max=2, min=-2``). Integer inputs are converted
  to float32 that way; floating inputs pass through unchanged, so the same
  model accepts already dequantized features.

  Args:
    max_quantized_value: Upper end of the quantization range.
    min_quantized_value: Lower end of the quantization range.
  """

  def __init__(self, max_quantized_value=2.0, min_quantized_value=-2.0,
               **kwargs):
    super().__init__(autocast=False, **kwargs)
    if max_quantized_value <= min_quantized_value:
      raise ValueError("max_quantized_value must exceed min_quantized_value, "
                       f"got {max_quantized_value} <= {min_quantized_value}")
    self.max_quantized_value = float(max_quantized_value)
    self.min_quantized_value = float(min_quantized_value)
    self.built = True

  def call(self, inputs):
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    if "float" in dtype:
      return inputs
    scale, bias = dequantize_params(self.max_quantized_value,
                                    self.min_quantized_value)
    return ops.cast(inputs, "float32") * float(scale) + float(bias)

  def compute_output_spec(self, inputs):
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    out_dtype = dtype if "float" in dtype else "float32"
    return keras.KerasTensor(inputs.shape, dtype=out_dtype)

  def get_config(self):
    config = super().get_config()
    config.update(max_quantized_value=self.max_quantized_value,
                  min_quantized_value=self.min_quantized_value)
    return config
