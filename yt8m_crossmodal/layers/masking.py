"""Frame masks from per-video frame counts."""

import keras
from keras import ops


def frame_mask(num_frames, max_frames):
  """Boolean mask ``[B, max_frames]``: ``mask[b, t] = t < num_frames[b]``.

  Args:
    num_frames: Integer tensor ``[B]`` (``[B, 1]`` is accepted) of valid
      frames per video; values above ``max_frames`` simply give an all-true
      row, negative values an all-false row.
    max_frames: Padded length T (python int or scalar tensor, e.g.
      ``ops.shape(features)[1]``).
  """
  num_frames = ops.reshape(ops.cast(num_frames, "int32"), (-1,))
  steps = ops.arange(0, max_frames, 1, dtype="int32")
  return ops.less(ops.expand_dims(steps, 0), ops.expand_dims(num_frames, 1))


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class FrameMask(keras.layers.Layer):
  """``FrameMask()(features [B, T, ...], num_frames [B]) -> bool [B, T]``."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.built = True

  def call(self, inputs, num_frames):
    return frame_mask(num_frames, ops.shape(inputs)[1])

  def compute_output_spec(self, inputs, num_frames):
    return keras.KerasTensor(tuple(inputs.shape[:2]), dtype="bool")
