"""L2 normalization with optional row mask."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class L2Normalize(keras.layers.Layer):
  """Scales vectors along ``axis`` to unit L2 norm, ``x / max(|x|, sqrt(eps))``.

  Computed in float32 (no float16 overflow of the squared sum); an all-zero
  vector stays zero (no NaN, finite gradient). If ``mask`` ([B, T] for a
  [B, T, D] input) is given, rows where it is False are set to exactly zero.

  Args:
    axis: Axis to normalize.
    epsilon: Lower bound of the squared norm.
  """

  def __init__(self, axis=-1, epsilon=1e-12, **kwargs):
    super().__init__(**kwargs)
    self.axis = int(axis)
    self.epsilon = float(epsilon)
    # Consumes the mask (explicit argument or a Keras mask on the input)
    # and emits none.
    self.supports_masking = True
    self.built = True

  def call(self, inputs, mask=None):
    x = ops.cast(inputs, "float32")
    squared = ops.sum(ops.square(x), axis=self.axis, keepdims=True)
    x = x * ops.rsqrt(ops.maximum(squared, self.epsilon))
    if mask is not None:
      x = ops.where(ops.expand_dims(ops.cast(mask, "bool"), -1), x,
                    ops.zeros_like(x))
    return ops.cast(x, self.compute_dtype)

  def compute_mask(self, inputs, previous_mask=None):
    return None

  def compute_output_spec(self, inputs, mask=None):
    return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)

  def get_config(self):
    config = super().get_config()
    config.update(axis=self.axis, epsilon=self.epsilon)
    return config
