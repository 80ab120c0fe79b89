"""Per-frame (time-distributed) dense projection."""

import keras


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class FrameDense(keras.layers.Layer):
  """Dense -> LayerNorm -> activation -> dropout on every frame of ``[B, T, D]``.

  The kernel is applied to the last axis of the 3-D tensor directly (a Dense
  layer contracts the last axis of any rank). This deliberately avoids
  ``keras.layers.TimeDistributed``, which under ``tf.function`` with an
  unknown time dimension maps over the wrong axis (see tests/test_layers.py).
  Frames do not interact, so values of padded frames only affect padded
  outputs.

  Args:
    units: Output width.
    activation: Activation after the normalization (default ReLU).
    use_norm: Whether to apply LayerNormalization (pre-activation).
    dropout: Dropout rate after the activation (training only).
    epsilon: LayerNormalization epsilon.
  """

  def __init__(self, units, activation="relu", use_norm=True, dropout=0.0,
               epsilon=1e-3, **kwargs):
    super().__init__(**kwargs)
    self.units = int(units)
    self.activation = keras.activations.get(activation)
    self.use_norm = bool(use_norm)
    self.dropout_rate = float(dropout)
    self.epsilon = float(epsilon)
    self.dense = keras.layers.Dense(self.units, dtype=self.dtype_policy,
                                    name="dense")
    self.norm = (keras.layers.LayerNormalization(
        epsilon=self.epsilon, dtype=self.dtype_policy, name="norm")
                 if self.use_norm else None)
    self.dropout = keras.layers.Dropout(self.dropout_rate,
                                        dtype=self.dtype_policy,
                                        name="dropout")

  def build(self, input_shape):
    self.dense.build(input_shape)
    if self.norm is not None:
      self.norm.build(tuple(input_shape[:-1]) + (self.units,))
    self.built = True

  def call(self, inputs, training=None):
    x = self.dense(inputs)
    if self.norm is not None:
      x = self.norm(x)
    x = self.activation(x)
    return self.dropout(x, training=training)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.units,)

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units,
                  activation=keras.activations.serialize(self.activation),
                  use_norm=self.use_norm, dropout=self.dropout_rate,
                  epsilon=self.epsilon)
    return config
