"""The SavedModel as TF Serving sees it: SignatureDefs and graph op types."""

from __future__ import annotations

import os
from typing import Any, Dict

import tensorflow as tf


def _read_saved_model(version_dir: str):
  from tensorflow.core.protobuf import saved_model_pb2
  sm = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
    sm.ParseFromString(f.read())
  return sm


def _tensor_info_summary(info) -> Dict[str, Any]:
  shape = (None if info.tensor_shape.unknown_rank else
           [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim])
  return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}


def signature_defs(version_dir: str) -> Dict[str, Dict[str, Any]]:
  """The SignatureDefs as TF Serving sees them.

  Returns:
    ``{name: {"inputs": {key: {"dtype": "float32", "shape": [None, None,
    128]}}, "outputs": {...}}}`` (``None`` for unknown dimensions).
  """
  sm = _read_saved_model(version_dir)
  out = {}
  for name, sig in sm.meta_graphs[0].signature_def.items():
    if name.startswith("__"):  # e.g. __saved_model_init_op
      continue
    out[name] = {
        "inputs": {k: _tensor_info_summary(v) for k, v in sorted(sig.inputs.items())},
        "outputs": {k: _tensor_info_summary(v) for k, v in sorted(sig.outputs.items())},
    }
  return out


def graph_op_types(version_dir: str) -> set:
  """Every op type in the SavedModel's graph and function library."""
  sm = _read_saved_model(version_dir)
  ops = set()
  for meta_graph in sm.meta_graphs:
    ops.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
      ops.update(node.op for node in function.node_def)
  return ops
