"""The 2015 Inception graph (``classify_image_graph_def.pb``) as a function.

As the YouTube-8M feature extractor uses it: an RGB frame, uint8 ``[H, W,
3]`` at any size, is fed to the tensor ``DecodeJpeg:0`` (what the graph's
JPEG decoder would output; the graph itself casts, resizes to 299 x 299 and
scales), and the 2048 values of ``pool_3/_reshape:0`` (``[1, 2048]``) are
read. The frozen GraphDef is imported with public TensorFlow API
(``tf.compat.v1.wrap_function`` + ``tf.graph_util.import_graph_def``, the
input mapped in, the JPEG decoder pruned away).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

GRAPH_FILE = "classify_image_graph_def.pb"
INPUT_TENSOR = "DecodeJpeg:0"
OUTPUT_TENSOR = "pool_3/_reshape:0"
FEATURES = 2048


class GraphError(ValueError):
  """A graph that is not the Inception one; the message is one line."""


def load_inception(graph_bytes: bytes, where: str = GRAPH_FILE) -> Callable[[np.ndarray], np.ndarray]:
  """The graph as ``fn(rgb uint8 [H, W, 3]) -> float32 [2048]``.

  Args:
    graph_bytes: a serialized GraphDef.
    where: the file it came from (for messages).

  Raises:
    GraphError: not a GraphDef, or without the two tensors (named).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  graph_def = tf.compat.v1.GraphDef()
  try:
    graph_def.ParseFromString(graph_bytes)
  except Exception as e:  # pylint: disable=broad-except  (protobuf's DecodeError)
    raise GraphError(f"{where}: not a TensorFlow GraphDef ({type(e).__name__})") from None
  names = {node.name for node in graph_def.node}
  for tensor in (INPUT_TENSOR, OUTPUT_TENSOR):
    if tensor.split(":")[0] not in names:
      raise GraphError(f"{where}: no tensor {tensor!r}: not the 2015 Inception graph "
                       f"({len(names)} nodes)")

  def imported(rgb):
    return tf.graph_util.import_graph_def(graph_def, input_map={INPUT_TENSOR: rgb},
                                          return_elements=[OUTPUT_TENSOR], name="")[0]

  try:
    wrapped = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, 3], tf.uint8)])
  except (ValueError, TypeError, tf.errors.OpError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise GraphError(f"{where}: cannot import the graph ({first})") from None
  graph = wrapped.graph
  fn = wrapped.prune(graph.inputs[0], graph.get_tensor_by_name(OUTPUT_TENSOR))
  out_shape = fn.structured_outputs.shape
  if out_shape.rank is not None and out_shape.num_elements() not in (None, FEATURES):
    raise GraphError(f"{where}: {OUTPUT_TENSOR} has shape {out_shape}, not [1, {FEATURES}]")

  def features(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
      raise ValueError(f"a picture must be uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}")
    out = fn(tf.constant(rgb)).numpy().reshape(-1)
    if out.shape[0] != FEATURES:
      raise GraphError(f"{where}: {OUTPUT_TENSOR} gave {out.shape[0]} values, not {FEATURES}")
    return out.astype(np.float32)

  return features
