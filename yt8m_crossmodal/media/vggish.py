"""VGGish as a Keras model, its weights read from the published TF1 checkpoint.

The network of ``vggish_slim.py`` (input ``[B, 96, 64]`` log-mel examples,
reshaped to ``[B, 96, 64, 1]``): 3x3 convolutions with stride 1, SAME padding
and ReLU, 2x2 max-pools with stride 2 and SAME padding::

  conv1 64, pool1, conv2 128, pool2, conv3/conv3_1 256, conv3/conv3_2 256,
  pool3, conv4/conv4_1 512, conv4/conv4_2 512, pool4, flatten (6 x 4 x 512 =
  12288, row-major over height, width, channels), fc1/fc1_1 4096 ReLU,
  fc1/fc1_2 4096 ReLU, fc2 128 without activation (the embedding: the
  layer before its activation).

``vggish_model.ckpt`` stores ``vggish/<layer>/weights`` (conv ``[3, 3, in,
out]``, fully connected ``[in, out]``, the layouts of Keras' ``Conv2D`` and
``Dense``) and ``vggish/<layer>/biases``; :func:`load_vggish` reads them with
``tf.train.load_checkpoint`` (TF1 V1 and V2 checkpoints alike). The widths
are read from the checkpoint, so a narrower checkpoint with the same names
(the tests write one) loads too; the embedding must be 128 wide.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.media.logmel import EXAMPLE_FRAMES, NUM_BANDS

SCOPE = "vggish"
CONV_LAYERS = ("conv1", "conv2", "conv3/conv3_1", "conv3/conv3_2", "conv4/conv4_1",
               "conv4/conv4_2")
DENSE_LAYERS = ("fc1/fc1_1", "fc1/fc1_2", "fc2")
POOL_AFTER = ("conv1", "conv2", "conv3/conv3_2", "conv4/conv4_2")
# The published widths (output channels / units), for reference and tests.
PUBLISHED_WIDTHS = {"conv1": 64, "conv2": 128, "conv3/conv3_1": 256, "conv3/conv3_2": 256,
                    "conv4/conv4_1": 512, "conv4/conv4_2": 512, "fc1/fc1_1": 4096,
                    "fc1/fc1_2": 4096, "fc2": feat.AUDIO_DIM}


class CheckpointError(ValueError):
  """A checkpoint that is not VGGish's; the message is one line."""


def variable_names(layer: str) -> Tuple[str, str]:
  """``(weights, biases)`` variable names of ``layer`` in the checkpoint."""
  return f"{SCOPE}/{layer}/weights", f"{SCOPE}/{layer}/biases"


def _pooled(size: int) -> int:
  return (size + 1) // 2  # A 2x2, stride-2 SAME pool.


def flat_size(last_channels: int) -> int:
  """Width of the flattened pool4 output: 6 x 4 x channels for 96 x 64 input."""
  h, w = EXAMPLE_FRAMES, NUM_BANDS
  for _ in POOL_AFTER:
    h, w = _pooled(h), _pooled(w)
  return h * w * last_channels


def build_vggish(widths: Dict[str, int] = None, name: str = "vggish"):
  """The Keras VGGish: ``[B, 96, 64]`` float32 -> ``[B, 128]`` (untrained).

  Args:
    widths: output channels / units per layer (default: the published ones).
  """
  import keras  # pylint: disable=import-outside-toplevel
  widths = dict(PUBLISHED_WIDTHS, **(widths or {}))
  inputs = keras.Input([EXAMPLE_FRAMES, NUM_BANDS], name="log_mel")
  x = keras.layers.Reshape([EXAMPLE_FRAMES, NUM_BANDS, 1])(inputs)
  for layer in CONV_LAYERS:
    x = keras.layers.Conv2D(widths[layer], 3, padding="same", activation="relu",
                            name=layer.replace("/", "_"))(x)
    if layer in POOL_AFTER:
      x = keras.layers.MaxPooling2D(2, strides=2, padding="same",
                                    name=f"pool{POOL_AFTER.index(layer) + 1}")(x)
  x = keras.layers.Flatten()(x)
  for layer in DENSE_LAYERS:
    x = keras.layers.Dense(widths[layer], activation=None if layer == "fc2" else "relu",
                           name=layer.replace("/", "_"))(x)
  return keras.Model(inputs, x, name=name)


def read_checkpoint(path: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """``{layer: (weights, biases)}`` of a VGGish checkpoint, shapes checked.

  Raises:
    CheckpointError: not a checkpoint, a variable missing, or shapes that do
      not chain into VGGish (named).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  try:
    reader = tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise CheckpointError(f"{path}: not a TensorFlow checkpoint ({first})") from None
  shapes = reader.get_variable_to_shape_map()
  out: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
  channels = 1
  for layer in CONV_LAYERS + DENSE_LAYERS:
    w_name, b_name = variable_names(layer)
    for v in (w_name, b_name):
      if v not in shapes:
        raise CheckpointError(f"{path}: no variable {v!r}: not the VGGish checkpoint "
                              f"(it holds {len(shapes)} variables, e.g. "
                              f"{sorted(shapes)[:3]})")
    w_shape, b_shape = list(shapes[w_name]), list(shapes[b_name])
    if layer in CONV_LAYERS:
      want = [3, 3, channels, w_shape[-1] if len(w_shape) == 4 else -1]
    else:
      inputs = flat_size(channels) if layer == DENSE_LAYERS[0] else channels
      want = [inputs, w_shape[-1] if len(w_shape) == 2 else -1]
    if w_shape != want or b_shape != [want[-1]]:
      raise CheckpointError(f"{path}: {w_name} is {w_shape} and {b_name} {b_shape}; VGGish "
                            f"needs {want} and [{want[-1]}]")
    channels = want[-1]
    out[layer] = (np.asarray(reader.get_tensor(w_name), np.float32),
                  np.asarray(reader.get_tensor(b_name), np.float32))
  if channels != feat.AUDIO_DIM:
    raise CheckpointError(f"{path}: the embedding (fc2) is {channels} wide, not "
                          f"{feat.AUDIO_DIM}")
  return out


def load_vggish(path: str):
  """The Keras VGGish with the weights of the checkpoint ``path``.

  Returns:
    A ``keras.Model``: ``[B, 96, 64]`` log-mel examples -> ``[B, 128]``
    embeddings (before PCA).
  """
  weights = read_checkpoint(path)
  widths = {layer: w.shape[-1] for layer, (w, _) in weights.items()}
  model = build_vggish(widths)
  for layer, (w, b) in weights.items():
    model.get_layer(layer.replace("/", "_")).set_weights([w, b])
  return model


def layer_weights(model) -> List[Tuple[str, np.ndarray, np.ndarray]]:
  """``(layer, weights, biases)`` of a Keras VGGish, in checkpoint order."""
  return [(layer, *model.get_layer(layer.replace("/", "_")).get_weights())
          for layer in CONV_LAYERS + DENSE_LAYERS]
