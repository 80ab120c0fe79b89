"""Per-feature standardization with statistics set from data."""

import keras
from keras import ops
import numpy as np


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class Standardize(keras.layers.Layer):
  """``(x - mean) / std`` per feature, with ``mean`` and ``std`` from data.

  The statistics are non-trainable weights (saved with the model, exported
  with it), 0 and 1 until :meth:`set_statistics` is called, so an unset layer
  is the identity.

  Input ``[..., D]`` float; output the same shape, float32.
  """

  def build(self, input_shape):
    dim = int(input_shape[-1])
    self.mean = self.add_weight(name="mean", shape=(dim,), initializer="zeros",
                                trainable=False, dtype="float32")
    self.std = self.add_weight(name="std", shape=(dim,), initializer="ones",
                               trainable=False, dtype="float32")
    self.built = True

  def set_statistics(self, mean, std, min_std=1e-3):
    """Sets the statistics: ``mean``, ``std`` ``[D]`` (``std`` floored at ``min_std``)."""
    mean = np.asarray(mean, np.float32)
    std = np.maximum(np.asarray(std, np.float32), np.float32(min_std))
    if mean.shape != tuple(self.mean.shape) or std.shape != tuple(self.std.shape):
      raise ValueError(f"{self.name}: statistics must be {tuple(self.mean.shape)}, "
                       f"got {mean.shape} and {std.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
      raise ValueError(f"{self.name}: statistics are not finite")
    self.mean.assign(mean)
    self.std.assign(std)

  def call(self, inputs):
    return (ops.cast(inputs, "float32") - self.mean) / self.std

  def compute_output_spec(self, inputs):
    return keras.KerasTensor(inputs.shape, dtype="float32")
