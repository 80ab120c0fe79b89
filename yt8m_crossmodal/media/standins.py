"""Stand-ins of the published weight files, written in their published formats.

For the tests and ``benchmarks/extract.py``: no machine here reaches the
real files, so the loaders are tested (and the extraction timed) on files
written here with the same names, layouts and (where asked) shapes, holding
values chosen here. Nothing extracted with them means anything:

- ``inception-2015-12-05.tgz`` holding ``classify_image_graph_def.pb``: a
  small GraphDef with the real graph's input and output (a ``DecodeJpeg``
  op fed by a ``DecodeJpeg/contents`` constant, ``pool_3/_reshape`` of shape
  [1, 2048]) and the same first steps (cast, batch axis, bilinear resize,
  ``(x - 128) / 128``); its 2048 values are the mean of R, G and B in the
  first three places and a fixed random projection of a 4 x 4 thumbnail in
  the others. It is *not* Inception. :func:`inception_v3_graph_bytes`
  freezes Keras' InceptionV3 (the same architecture, random weights) into a
  GraphDef with the same tensor names instead, for timing.
- ``yt8m_pca.tgz``: ``mean.npy`` [2048, 1], ``eigenvals.npy`` [1024, 1],
  ``eigenvecs.npy`` [1024, 2048] (a component a row).
- ``vggish_model.ckpt``: a TF1 V1 checkpoint (as the published one) with
  every ``vggish/...`` variable, at the published widths or narrower ones.
- ``vggish_pca_params.npz``: ``pca_eigen_vectors`` [128, 128], ``pca_means`` [128].
"""

import io
import os
import tarfile

import numpy as np
import tensorflow as tf

from yt8m_crossmodal.media import vggish as vggish_lib
from yt8m_crossmodal.media import weights as weights_lib

SMALL_WIDTHS = {"conv1": 4, "conv2": 4, "conv3/conv3_1": 8, "conv3/conv3_2": 8,
                "conv4/conv4_1": 8, "conv4/conv4_2": 8, "fc1/fc1_1": 32, "fc1/fc1_2": 32,
                "fc2": 128}


def inception_graph_bytes(resize=16, seed=0):
  rng = np.random.default_rng(seed)
  projection = (rng.normal(size=(4 * 4 * 3, 2045)) / 4).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    contents = tf.constant(b"", name="DecodeJpeg/contents")
    image = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
    x = tf.cast(image, tf.float32, name="Cast")
    x = tf.expand_dims(x, 0, name="ExpandDims")
    x = tf.compat.v1.image.resize_bilinear(x, [resize, resize], name="ResizeBilinear")
    x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")
    channel_means = tf.reduce_mean(x, axis=[1, 2], name="channel_means")  # [1, 3]
    thumb = tf.compat.v1.image.resize_bilinear(x, [4, 4], name="thumb")
    rest = tf.tanh(tf.matmul(tf.reshape(thumb, [1, 48]), projection), name="rest")
    pool = tf.concat([channel_means, rest], axis=1, name="pool_3")
    tf.reshape(pool, [1, 2048], name="pool_3/_reshape")
  return graph.as_graph_def().SerializeToString()


def _tgz(path, members):
  with tarfile.open(path, "w:gz") as archive:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
  return path


def _npy(array):
  buf = io.BytesIO()
  np.save(buf, array)
  return buf.getvalue()


def picture_pca_arrays(kind="identity", seed=0):
  """(mean [2048, 1], eigenvals [1024, 1], eigenvecs [1024, 2048]) float32.

  ``identity``: zero mean, the first 1024 unit vectors, eigenvalues 1 - 1e-4
  (whitening divides by exactly 1): feature c passes through unchanged.
  ``random``: random mean, random unit components, eigenvalues in [0.1, 4].
  """
  if kind == "identity":
    return (np.zeros((2048, 1), np.float32), np.full((1024, 1), 1 - 1e-4, np.float32),
            np.eye(2048, dtype=np.float32)[:1024])
  rng = np.random.default_rng(seed)
  vecs = rng.standard_normal((1024, 2048), dtype=np.float32)
  vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)  # Unit rows (nearly orthogonal).
  return (rng.normal(size=(2048, 1)).astype(np.float32) * 0.1,
          rng.uniform(0.1, 4.0, size=(1024, 1)).astype(np.float32), vecs)


def write_yt8m_pca(path, kind="identity", seed=0):
  mean, vals, vecs = picture_pca_arrays(kind, seed)
  return _tgz(path, {"mean.npy": _npy(mean), "eigenvals.npy": _npy(vals),
                     "eigenvecs.npy": _npy(vecs)})


def vggish_arrays(widths=None, seed=0):
  """``{layer: (weights, biases)}`` with He-scaled random values."""
  widths = dict(vggish_lib.PUBLISHED_WIDTHS, **(widths or {}))
  rng = np.random.default_rng(seed)
  out, channels = {}, 1
  for layer in vggish_lib.CONV_LAYERS + vggish_lib.DENSE_LAYERS:
    width = widths[layer]
    if layer in vggish_lib.CONV_LAYERS:
      shape = (3, 3, channels, width)
    else:
      inputs = vggish_lib.flat_size(channels) if layer == "fc1/fc1_1" else channels
      shape = (inputs, width)
    fan_in = int(np.prod(shape[:-1]))
    size = int(np.prod(shape))
    # Random values; for the big layers a random block repeated (quick to make).
    w = np.resize(rng.standard_normal(min(size, 1 << 18), dtype=np.float32), shape)
    w *= np.float32(np.sqrt(2.0 / fan_in))
    b = rng.normal(0, 0.1, size=width).astype(np.float32)
    out[layer] = (w, b)
    channels = width
  return out


def write_vggish_checkpoint(path, widths=None, seed=0, arrays=None, version="V1"):
  """A TF1 checkpoint with VGGish's variables (and a ``global_step``).

  ``version="V1"``: one file, as ``vggish_model.ckpt`` is; ``"V2"``: the
  index + data files of later TensorFlow (written about 5 times faster; the
  loader reads both).

  Returns:
    ``(the path to pass to the loader, {layer: (weights, biases)})``.
  """
  arrays = arrays or vggish_arrays(widths, seed)
  variables = {"global_step": tf.Variable(np.int64(7))}
  for layer, (w, b) in arrays.items():
    w_name, b_name = vggish_lib.variable_names(layer)
    variables[w_name], variables[b_name] = tf.Variable(w), tf.Variable(b)
  saver = tf.compat.v1.train.Saver(variables,
                                   write_version=getattr(tf.compat.v1.train.SaverDef, version))
  saver.save(None, path, write_meta_graph=False, write_state=False)
  return path, arrays


def sound_pca_arrays(seed=0):
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(128, 128)))
  return q * rng.uniform(0.02, 0.2, size=(128, 1)), rng.normal(0, 1.0, size=128)


def write_vggish_pca(path, seed=0, arrays=None):
  matrix, means = arrays or sound_pca_arrays(seed)
  np.savez(path, pca_eigen_vectors=matrix, pca_means=means)
  return path


def write_weights_dir(folder, widths=SMALL_WIDTHS, pca="identity", seed=0, pin=True,
                      inception=None):
  """All four files in ``folder`` (and their digests in its SHA256SUMS when ``pin``).

  Args:
    widths: VGGish's widths (None: the published ones).
    pca: the picture PCA, "identity" or "random" (:func:`picture_pca_arrays`).
    inception: the GraphDef bytes to archive (default: the small stand-in).
  """
  os.makedirs(folder, exist_ok=True)
  _tgz(os.path.join(folder, weights_lib.INCEPTION.name),
       {"./classify_image_graph_def.pb": inception or inception_graph_bytes(seed=seed)})
  write_yt8m_pca(os.path.join(folder, weights_lib.YT8M_PCA.name), pca, seed)
  write_vggish_checkpoint(os.path.join(folder, weights_lib.VGGISH.name), widths, seed)
  write_vggish_pca(os.path.join(folder, weights_lib.VGGISH_PCA.name), seed)
  if pin:
    with open(os.path.join(folder, weights_lib.SUMS_FILE), "w") as f:
      for d in weights_lib.DOWNLOADS.values():
        f.write(f"{weights_lib.sha256_of(os.path.join(folder, d.name))}  {d.name}\n")
  return folder


def inception_v3_graph_bytes(seed=0):
  """A frozen GraphDef of Keras' InceptionV3 (random weights, 2048-d average pool)
  with the published graph's input ``DecodeJpeg:0`` (uint8 ``[H, W, 3]``) and
  output ``pool_3/_reshape:0`` (``[1, 2048]``), and its first steps (resize to
  299 x 299, ``(x - 128) / 128``): the cost of the real graph, for timing.

  Freezing: the traced function's variable reads become constants (public
  API only: the GraphDef is edited node by node).
  """
  import keras  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(seed)
  model = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg",
                                         input_shape=(299, 299, 3))

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="DecodeJpeg")])
  def graph(image):
    x = tf.expand_dims(tf.cast(image, tf.float32), 0)
    x = (tf.image.resize(x, [299, 299]) - 128.0) / 128.0
    return tf.reshape(model(x, training=False), [1, 2048], name="pool_3/_reshape")

  concrete = graph.get_concrete_function()
  values = {}
  by_handle = {id(v.handle): v for v in model.variables}
  for external, internal in concrete.graph.captures:
    variable = by_handle.get(id(external))
    if variable is not None:
      values[internal.op.name] = variable.numpy()
  graph_def = concrete.graph.as_graph_def()
  frozen = tf.compat.v1.GraphDef()
  frozen.versions.CopyFrom(graph_def.versions)
  for node in graph_def.node:
    if node.name in values:
      continue  # A variable's handle: its reads become constants below.
    if node.op == "ReadVariableOp" and node.input and node.input[0] in values:
      value = values[node.input[0]]
      const = frozen.node.add()
      const.name, const.op = node.name, "Const"
      const.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
      const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
      continue
    frozen.node.add().CopyFrom(node)
  return frozen.SerializeToString()
