"""Window outputs back to one row per second."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class WindowUpsample(keras.layers.Layer):
  """Repeats each window ``stride`` times and crops to the frame length.

  ``WindowUpsample(s)(x [B, W, D], reference [B, T, ...]) -> [B, T, D]``,
  row ``t`` of the output is window ``t // s``. ``reference`` only supplies
  the padded length T (pass the frame features or the frame mask); it is the
  inverse of :class:`MaskedWindowPool` with the same stride.

  Args:
    stride: Window length in frames (seconds), >= 1.
  """

  def __init__(self, stride, **kwargs):
    super().__init__(**kwargs)
    if int(stride) < 1:
      raise ValueError(f"stride must be >= 1, got {stride}")
    self.stride = int(stride)
    # Accepts a Keras mask on the window axis (e.g. from an LSTM called with
    # mask=) but emits none: it would not match the frame axis.
    self.supports_masking = True
    self.built = True

  def call(self, inputs, reference):
    steps = ops.shape(reference)[1]
    x = inputs
    if self.stride > 1:
      x = ops.repeat(x, self.stride, axis=1)
    return x[:, :steps]

  def compute_mask(self, inputs, previous_mask=None):
    return None

  def compute_output_spec(self, inputs, reference):
    return keras.KerasTensor(
        (inputs.shape[0], reference.shape[1], inputs.shape[2]),
        dtype=self.compute_dtype)

  def get_config(self):
    config = super().get_config()
    config.update(stride=self.stride)
    return config
