"""Tests of the custom layers (tiny shapes, CPU)."""

import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import layers as L  # noqa: E402
from yt8m_crossmodal.config import LossConfig  # noqa: E402


def _rand(*shape, seed=0):
  return np.random.default_rng(seed).normal(size=shape).astype("float32")


# --------------------------------------------------------------------------
# get_config / .keras round trips


_LOSS_CONFIG = LossConfig(mining="semi_hard", exclude_shared_labels=True,
                          temporal_guard=2, classification_weight=0.5,
                          classification_warmup_steps=10)


LAYER_FACTORIES = {
    "Dequantize": lambda: L.Dequantize(max_quantized_value=3.0),
    "FrameDense": lambda: L.FrameDense(3, dropout=0.1, use_norm=True),
    "FrameMask": L.FrameMask,
    "MaskedWindowPool": lambda: L.MaskedWindowPool(3),
    "WindowUpsample": lambda: L.WindowUpsample(3),
    "MaskedMean": L.MaskedMean,
    "L2Normalize": lambda: L.L2Normalize(epsilon=1e-10),
    "Standardize": L.Standardize,
    "CrossModalLoss": lambda: L.CrossModalLoss(_LOSS_CONFIG),
    "CrossModalTripletLoss": lambda: L.CrossModalTripletLoss(_LOSS_CONFIG),
}


def test_every_layer_of_the_package_is_in_the_harness():
  exported = {name for name in L.__all__
              if isinstance(getattr(L, name), type)
              and issubclass(getattr(L, name), keras.layers.Layer)}
  assert exported == set(LAYER_FACTORIES)


@pytest.mark.parametrize("name", sorted(LAYER_FACTORIES))
def test_get_config_round_trip(name):
  layer = LAYER_FACTORIES[name]()
  config = layer.get_config()
  # Exactly the constructor's arguments (and the base layer's).
  init = inspect.signature(type(layer).__init__).parameters.values()
  own = {p.name for p in init if p.name != "self" and p.kind not in (
      p.VAR_KEYWORD, p.VAR_POSITIONAL)}
  if type(layer).__init__ is keras.layers.Layer.__init__:  # No arguments of its own.
    assert set(config) <= set(keras.layers.Layer().get_config())
  else:
    assert set(config) - {"name", "trainable", "dtype"} == own
  clone = type(layer).from_config(config)
  assert clone.get_config() == config
  # Registered under the package name for deserialization by name.
  assert keras.saving.get_registered_object(
      f"yt8m_crossmodal>{type(layer).__name__}") is type(layer)


def _model_with(name):
  """A tiny functional model containing layer ``name`` and one input batch."""
  layer = LAYER_FACTORIES[name]()
  t, d = 7, 4
  feats = keras.Input((None, d), name="feats")
  nf = keras.Input((), dtype="int32", name="nf")
  batch = {"feats": _rand(2, t, d), "nf": np.array([7, 4], "int32")}
  if name == "Dequantize":
    q = keras.Input((None, d), dtype="uint8", name="q")
    return (keras.Model(q, layer(q)),
            np.random.default_rng(0).integers(0, 256, (2, t, d), dtype="uint8"))
  if name == "FrameDense":
    return keras.Model(feats, layer(feats)), batch["feats"]
  if name == "Standardize":
    x = keras.Input((d,), name="x")
    return keras.Model(x, layer(x)), _rand(2, d)
  mask = L.FrameMask()(feats, nf)
  inputs = {"feats": feats, "nf": nf}
  if name == "FrameMask":
    out = keras.ops.cast(layer(feats, nf), "float32")
  elif name == "MaskedWindowPool":
    pooled, wmask = layer(feats, mask)
    out = [pooled, keras.ops.cast(wmask, "float32")]
  elif name == "WindowUpsample":
    pooled, _ = L.MaskedWindowPool(3)(feats, mask)
    out = layer(pooled, feats)
  elif name == "MaskedMean":
    out = layer(feats, mask)
  elif name == "L2Normalize":
    out = layer(feats, mask=mask)
  else:  # The loss layers.
    labels = keras.Input((3,), name="labels")
    inputs["labels"] = labels
    batch["labels"] = np.eye(3, dtype="float32")[[0, 1]]
    tl_a = L.L2Normalize()(keras.layers.Dense(5)(feats), mask=mask)
    tl_v = L.L2Normalize()(keras.layers.Dense(5)(feats), mask=mask)
    out = layer({
        "audio_embedding": L.L2Normalize()(L.MaskedMean()(tl_a, mask)),
        "visual_embedding": L.L2Normalize()(L.MaskedMean()(tl_v, mask)),
        "audio_timeline": tl_a, "visual_timeline": tl_v,
        "num_frames": nf, "labels": labels})
  return keras.Model(inputs, out), batch


def _as_list(x):
  if isinstance(x, dict):  # Nested dicts (the loss layer's loss_parts) flattened.
    return [a for k in sorted(x) for a in _as_list(x[k])]
  if isinstance(x, (list, tuple)):
    return [keras.ops.convert_to_numpy(v) for v in x]
  return [keras.ops.convert_to_numpy(x)]


@pytest.mark.parametrize("name", sorted(LAYER_FACTORIES))
def test_keras_save_load_round_trip(name, tmp_path):
  model, batch = _model_with(name)
  before = _as_list(model(batch))
  path = str(tmp_path / f"{name}.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  after = _as_list(loaded(batch))
  assert len(before) == len(after)
  for x, y in zip(before, after):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
  if name.startswith("CrossModal"):
    np.testing.assert_allclose(float(model.losses[0]), float(loaded.losses[0]),
                               rtol=1e-6)


# --------------------------------------------------------------------------
# Dequantize / frame mask


def test_dequantize_values_and_float_pass_through():
  layer = L.Dequantize()
  q = np.array([[0, 128, 255]], dtype="uint8")
  out = keras.ops.convert_to_numpy(layer(q))
  assert out.dtype == np.float32
  expected = q.astype(np.float64) * 4 / 255 + 4 / 512 - 2
  np.testing.assert_allclose(out, expected, atol=1e-6)
  x = np.array([[0.25, -1.5]], dtype="float32")
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)


def test_frame_mask():
  mask = keras.ops.convert_to_numpy(L.frame_mask(np.array([0, 2, 5], "int32"), 4))
  np.testing.assert_array_equal(mask, [[0, 0, 0, 0], [1, 1, 0, 0],
                                       [1, 1, 1, 1]])
  feats = np.zeros((3, 4, 2), "float32")
  np.testing.assert_array_equal(
      keras.ops.convert_to_numpy(L.FrameMask()(feats, np.array([0, 2, 5], "int32"))), mask)


# --------------------------------------------------------------------------
# TimeDistributed trap / FrameDense


def _traced_shape(layer):
  fn = tf.function(lambda x: layer(x), input_signature=[
      tf.TensorSpec([None, None, 16], tf.float32)])
  return tuple(fn(tf.zeros([2, 50, 16])).shape)


@pytest.mark.tensorflow_backend  # Drives TensorFlow itself (tf.function / GradientTape).
def test_time_distributed_upstream_trap():
  """keras.layers.TimeDistributed maps over the batch axis when T is unknown.

  Under tf.function with input_signature [None, None, 16], an input of shape
  [2, 50, 16] comes out as [2, 2, 8] instead of [2, 50, 8]. This is why
  FrameDense applies its Dense to the 3-D tensor directly.
  """
  shape = _traced_shape(keras.layers.TimeDistributed(keras.layers.Dense(8)))
  assert shape != (2, 50, 8), (
      "upstream fixed, TimeDistributed may be usable now "
      f"(got the correct shape {shape})")
  assert shape == (2, 2, 8)


@pytest.mark.tensorflow_backend  # Drives TensorFlow itself (tf.function / GradientTape).
def test_frame_dense_traced_with_unknown_time():
  assert _traced_shape(L.FrameDense(8, dropout=0.5)) == (2, 50, 8)


def test_frame_dense_is_per_frame():
  layer = L.FrameDense(6, dropout=0.0)
  x = _rand(2, 5, 3)
  y = keras.ops.convert_to_numpy(layer(x))
  x2 = x.copy()
  x2[:, 3:] = 1e4  # change later frames only
  y2 = keras.ops.convert_to_numpy(layer(x2))
  np.testing.assert_allclose(y[:, :3], y2[:, :3], rtol=1e-6, atol=1e-6)
  assert (y >= 0).all()  # ReLU


# --------------------------------------------------------------------------
# Masked pooling / upsampling / mean / normalization


def test_masked_window_pool_hand_values():
  x = np.arange(1, 11, dtype="float32").reshape(1, 5, 2)  # frames 0..4
  pooled, wmask = L.MaskedWindowPool(2)(x, L.frame_mask(np.array([3]), 5))
  # Windows {0,1}, {2,(3)}, {(4)}: frames 3 and 4 are padding.
  np.testing.assert_allclose(keras.ops.convert_to_numpy(pooled)[0],
                             [[2, 3], [5, 6], [0, 0]])
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(wmask)[0], [True, True, False])


def test_masked_window_pool_empty_video_keeps_first_window():
  x = _rand(2, 7, 3)
  pooled, wmask = L.MaskedWindowPool(3)(x, L.frame_mask(np.array([0, 7]), 7))
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(wmask),
                                [[1, 0, 0], [1, 1, 1]])
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(pooled)[0], 0.0)
  # Stride 1 too.
  _, wmask1 = L.MaskedWindowPool(1)(x, L.frame_mask(np.array([0, 2]), 7))
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(wmask1)[:, :3],
                                [[1, 0, 0], [1, 1, 0]])


def test_average_pooling_ignores_mask_but_masked_window_pool_does_not():
  x = _rand(2, 6, 3)
  num_frames = np.array([4, 3], "int32")
  mask = keras.ops.convert_to_numpy(L.frame_mask(num_frames, 6))
  x_zero = x.copy()
  x_zero[~mask] = 0.0  # padding == mask_value: the Keras mask marks it
  x_other = x.copy()
  x_other[~mask] = 123.0  # other padding values

  # Upstream: AveragePooling1D drops the Keras mask (and says so) ...
  inp = keras.Input((None, 3))
  masked = keras.layers.Masking(mask_value=0.0)(inp)
  with pytest.warns(UserWarning, match="does not support masking"):
    keras_pool = keras.Model(inp, keras.layers.AveragePooling1D(2)(masked))
    upstream = keras.ops.convert_to_numpy(keras_pool(x_zero))
  # ... so the partial window {2, 3} of video 1 averages in padding frame 3.
  np.testing.assert_allclose(upstream[1, 1], x[1, 2] / 2, rtol=1e-6)

  pool = L.MaskedWindowPool(2)
  a, ma = pool(x_zero, mask)
  np.testing.assert_allclose(keras.ops.convert_to_numpy(a)[1, 1], x[1, 2], rtol=1e-6)
  np.testing.assert_allclose(keras.ops.convert_to_numpy(a)[0, 1], x[0, 2:4].mean(0),
                             rtol=1e-6)
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(ma), [[1, 1, 0], [1, 1, 0]])
  x_nan = x.copy()
  x_nan[~mask] = np.nan
  for padded in (x_other, x_nan):
    b, mb = pool(padded, mask)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ma), keras.ops.convert_to_numpy(mb))


def test_window_upsample_inverts_pool_layout():
  w = np.arange(6, dtype="float32").reshape(1, 3, 2)
  out = keras.ops.convert_to_numpy(L.WindowUpsample(2)(w, np.zeros((1, 5, 1), "float32")))
  np.testing.assert_array_equal(out[0, :, 0], [0, 0, 2, 2, 4])
  assert out.shape == (1, 5, 2)
  out1 = keras.ops.convert_to_numpy(L.WindowUpsample(1)(w, np.zeros((1, 3, 1), "float32")))
  np.testing.assert_array_equal(out1, w)


@pytest.mark.tensorflow_backend  # Drives TensorFlow itself (tf.function / GradientTape).
def test_pool_upsample_dynamic_time_under_tf_function():
  pool, up = L.MaskedWindowPool(4), L.WindowUpsample(4)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32),
                                tf.TensorSpec([None], tf.int32)])
  def fn(x, n):
    mask = L.frame_mask(n, tf.shape(x)[1])
    pooled, wmask = pool(x, mask)
    return pooled, wmask, up(pooled, x)

  for t in (5, 9):
    pooled, wmask, upsampled = fn(tf.constant(_rand(2, t, 3)),
                                  tf.constant([t, 1]))
    assert pooled.shape == (2, -(-t // 4), 3)
    assert wmask.shape == (2, -(-t // 4))
    assert upsampled.shape == (2, t, 3)


def test_masked_mean():
  x = _rand(3, 4, 2)
  mask = keras.ops.convert_to_numpy(L.frame_mask(np.array([2, 0, 4]), 4))
  x[~mask] = np.nan
  out = keras.ops.convert_to_numpy(L.MaskedMean()(x, mask))
  np.testing.assert_allclose(out[0], x[0, :2].mean(0), rtol=1e-6)
  np.testing.assert_array_equal(out[1], [0.0, 0.0])
  np.testing.assert_allclose(out[2], x[2].mean(0), rtol=1e-6)


def test_l2_normalize():
  x = np.array([[3.0, 4.0], [0.0, 0.0]], "float32")
  np.testing.assert_allclose(keras.ops.convert_to_numpy(L.L2Normalize()(x)),
                             [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
  seq = _rand(2, 3, 4)
  out = keras.ops.convert_to_numpy(L.L2Normalize()(seq, mask=L.frame_mask(np.array([1, 3]),
                                                          3)))
  np.testing.assert_allclose(np.linalg.norm(out[0, 0]), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(out[0, 1:], 0.0)
  np.testing.assert_allclose(np.linalg.norm(out[1], axis=-1), 1.0, rtol=1e-6)
  # float16 input with a squared norm far above the float16 range.
  big = np.full((1, 256), 300.0, "float16")
  out16 = keras.ops.convert_to_numpy(L.L2Normalize(dtype="mixed_float16")(big))
  assert out16.dtype == np.float16 and np.isfinite(out16).all()
  np.testing.assert_allclose(np.linalg.norm(out16.astype("float32")), 1.0,
                             rtol=1e-2)


@pytest.mark.tensorflow_backend  # Drives TensorFlow itself (tf.function / GradientTape).
def test_l2_normalize_zero_vector_gradient_is_finite():
  x = tf.zeros((2, 3))
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(L.L2Normalize()(x))
  assert np.isfinite(tape.gradient(y, x).numpy()).all()
