"""Encoders and the training model (tiny configs, CPU)."""

import json
import os
import warnings
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import losses  # noqa: E402
from yt8m_crossmodal import models  # noqa: E402
from yt8m_crossmodal.models import video_level  # noqa: E402
from yt8m_crossmodal.config import Config  # noqa: E402
from yt8m_crossmodal.models import (CrossModalTrainingModel,  # noqa: E402
                                    build_encoders, build_training_model,
                                    model_inputs, model_name)

E = 4
C = 5


def _config(**overrides):
  fields = dict(projection_units=8, dropout=0.0, window_strides=(1, 3),
                lstm_layers=2, lstm_units=4, embedding_size=E, num_classes=C,
                audio_tower=(6, 5), visual_tower=(7,), margin=0.2,
                video_hidden_units=8, video_linear_dims=2,
                temporal_guard=2)
  fields.update(overrides)
  return Config().replace(**fields)


@pytest.fixture(scope="module")
def frame_encoders():
  keras.utils.set_random_seed(1)
  return build_encoders(_config().model)


def _features(batch, steps, dim, seed=0):
  return np.random.default_rng(seed).normal(size=(batch, steps, dim)).astype(
      "float32")


def _frame_batch(n, steps, seed=0, with_id=True):
  rng = np.random.default_rng(seed)
  batch = {
      "audio": rng.integers(0, 256, (n, steps, 128), dtype="uint8"),
      "visual": rng.integers(0, 256, (n, steps, 1024), dtype="uint8"),
      "num_frames": rng.integers(1, steps + 1, (n,)).astype("int32"),
      "labels": (rng.random((n, C)) < 0.3).astype("float32"),
  }
  if with_id:
    batch["id"] = np.array([f"vid{i}".encode() for i in range(n)])
  return batch


@pytest.mark.parametrize("modality,dim", [("audio", 128), ("visual", 1024)])
def test_frame_encoder_outputs_and_masking_invariance(frame_encoders,
                                                      modality, dim):
  encoder = frame_encoders[0 if modality == "audio" else 1]
  assert encoder.name == f"{modality}_encoder"
  steps = 8
  num_frames = np.array([8, 5, 1, 0], "int32")
  x = _features(4, steps, dim)
  out = encoder([x, num_frames])
  emb, tl = keras.ops.convert_to_numpy(out["embedding"]), keras.ops.convert_to_numpy(out["timeline"])
  assert sorted(out) == ["embedding", "timeline"]
  assert emb.shape == (4, E) and tl.shape == (4, steps, E)
  assert emb.dtype == np.float32 and tl.dtype == np.float32
  assert np.isfinite(emb).all() and np.isfinite(tl).all()
  np.testing.assert_allclose(np.linalg.norm(emb[:3], axis=-1), 1.0, rtol=1e-5)
  valid = np.arange(steps)[None, :] < num_frames[:, None]
  np.testing.assert_allclose(np.linalg.norm(tl[valid], axis=-1), 1.0,
                             rtol=1e-5)
  np.testing.assert_array_equal(tl[~valid], 0.0)  # incl. num_frames=0

  # Padding values do not influence anything (even huge values / NaN).
  for fill in (1e4, np.nan):
    x2 = x.copy()
    x2[~valid] = fill
    out2 = encoder([x2, num_frames])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out2["embedding"]), emb)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out2["timeline"]), tl)
  # Nor does extra padding (longer T).
  x3 = np.concatenate([x, _features(4, 4, dim, seed=9)], axis=1)
  out3 = encoder([x3, num_frames])
  np.testing.assert_allclose(keras.ops.convert_to_numpy(out3["embedding"]), emb, atol=1e-6)
  np.testing.assert_allclose(keras.ops.convert_to_numpy(out3["timeline"])[:, :steps], tl,
                             atol=1e-6)


def test_frame_encoder_sees_the_order_of_frames(frame_encoders):
  # The clip embedding (LSTMs) sees the order; the default (local) timeline
  # is per second, so reversing the frames reverses it exactly; the fused
  # timeline sees the order too.
  audio_encoder = frame_encoders[0]
  x = _features(1, 6, 128)
  n = np.array([6], "int32")
  c = keras.ops.convert_to_numpy
  out, rev = audio_encoder([x, n]), audio_encoder([x[:, ::-1], n])
  assert not np.allclose(c(out["embedding"]), c(rev["embedding"]), atol=1e-4)
  np.testing.assert_allclose(c(out["timeline"]), c(rev["timeline"])[:, ::-1], atol=1e-5)
  keras.utils.set_random_seed(1)
  fused, _ = build_encoders(_config(timeline_source="fused").model)
  tl = c(fused([x, n])["timeline"])
  tl_rev = c(fused([x[:, ::-1], n])["timeline"])
  assert not np.allclose(tl, tl_rev[:, ::-1], atol=1e-4)


def test_clip_embedding_adds_the_mean_timeline_row():
  """embedding = L2(L2(LSTM clip) + w * L2(mean of the valid timeline rows))."""
  keras.utils.set_random_seed(2)
  w = 0.7
  audio, _ = build_encoders(_config(clip_timeline_weight=w).model)
  x, n = _features(3, 7, 128, seed=3), np.array([7, 4, 0], "int32")
  c = keras.ops.convert_to_numpy
  out = audio([x, n])
  lstm_clip = c(keras.Model(audio.inputs, audio.get_layer("embedding_l2").output)([x, n]))
  tl = c(out["timeline"])
  unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
  mean = np.stack([tl[i, :max(k, 1)].mean(0) for i, k in enumerate(n)])
  expected = unit(lstm_clip + w * unit(mean))
  np.testing.assert_allclose(c(out["embedding"]), expected, atol=1e-5)
  assert not np.allclose(expected[:2], lstm_clip[:2], atol=1e-3)
  np.testing.assert_allclose(expected[2], lstm_clip[2], atol=1e-6)  # No valid rows.
  # Weight 0: the LSTM clip alone, no fusion layers.
  plain, _ = build_encoders(_config(clip_timeline_weight=0.0).model)
  assert "clip_fuse" not in [layer.name for layer in plain.layers]
  assert "clip_fuse" in [layer.name for layer in audio.layers]


def test_a_saved_config_without_the_newer_fields_keeps_what_it_was_trained_with(tmp_path):
  """Fields added with a new default read as what the code did before them."""
  from yt8m_crossmodal import config as config_lib
  doc = _config().to_dict()
  for key, section in (("timeline_source", "model"), ("clip_timeline_weight", "model"),
                       ("timeline_nce_weight", "loss")):
    del doc[section][key]
  old = Config.from_dict(doc)
  assert old.model.timeline_source == "fused" and old.model.clip_timeline_weight == 0.0
  assert old.loss.timeline_nce_weight == 0.0
  assert Config.from_dict(_config().to_dict()) == _config()  # Present fields win.
  assert set(config_lib.ABSENT_FIELD_VALUES) <= {f.name for _, f in config_lib.all_fields()}
  # A .keras file saved before clip_timeline_weight existed loads without the fusion.
  keras.utils.set_random_seed(0)
  model = build_training_model(_config(clip_timeline_weight=0.0))
  path, edited = tmp_path / "m.keras", tmp_path / "old.keras"
  model.save(path)
  with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
    for item in src.infolist():
      data = src.read(item.filename)
      if item.filename == "config.json":
        doc = json.loads(data)
        del doc["config"]["model_config"]["clip_timeline_weight"]
        data = json.dumps(doc).encode()
      dst.writestr(item, data)
  loaded = keras.models.load_model(edited)
  assert loaded.model_config.clip_timeline_weight == 0.0
  x, n = _features(2, 5, 128), np.array([5, 3], "int32")
  c = keras.ops.convert_to_numpy
  np.testing.assert_allclose(
      c(loaded.get_layer("audio_encoder")([x, n])["embedding"]),
      c(model.get_layer("audio_encoder")([x, n])["embedding"]), atol=1e-6)


def test_the_loss_layer_weights_stay_where_earlier_checkpoints_hold_them(tmp_path):
  """Keras files a layer's weights under its class name: the loss layer's is kept."""
  import h5py
  model = build_training_model(_config(classification_weight=1.0))
  path = str(tmp_path / "m.weights.h5")
  model.save_weights(path)
  with h5py.File(path) as f:
    held = []
    f.visit(held.append)
  for name in ("classifier", "vars"):  # The head and the step.
    assert any(p.startswith(f"layers/cross_modal_triplet_loss/{name}") for p in held), held


def test_shared_projection_identity(frame_encoders):
  audio, visual = frame_encoders
  shared = audio.get_layer("shared_projection")
  assert shared is visual.get_layer("shared_projection")
  assert shared.units == E
  # Fused width = projection_units (frame skip) + lstm_units * len(strides).
  assert shared.kernel.shape == (8 + 4 * 2, E)


def test_frame_skip_off_fuses_only_the_lstm_strides():
  audio, _ = build_encoders(_config(frame_skip=False).model)
  assert audio.get_layer("shared_projection").kernel.shape == (4 * 2, E)


def test_frame_encoders_under_mixed_precision():
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    audio, _ = build_encoders(_config(lstm_layers=1).model)
    num_frames = np.array([6, 0], "int32")
    out = audio([_features(2, 6, 128) * 100, num_frames])
  finally:
    keras.mixed_precision.set_global_policy("float32")
  emb, tl = keras.ops.convert_to_numpy(out["embedding"]), keras.ops.convert_to_numpy(out["timeline"])
  assert emb.dtype == np.float32 and tl.dtype == np.float32
  assert np.isfinite(emb).all() and np.isfinite(tl).all()
  np.testing.assert_allclose(np.linalg.norm(tl[0], axis=-1), 1.0, rtol=1e-3)
  np.testing.assert_array_equal(tl[1], 0.0)


def test_video_level_mlp_encoders():
  # Seeded: the towers are tiny (5 ReLUs), so some draws leave a row all zero.
  keras.utils.set_random_seed(3)
  audio, visual = build_encoders(_config(video_encoder="mlp").model, "video_level")
  assert audio.name == "audio_encoder" and visual.name == "visual_encoder"
  for encoder, dim, widths in ((audio, 128, [6, 5, E]),
                               (visual, 1024, [7, E])):
    x = _features(3, 1, dim)[:, 0]
    with warnings.catch_warnings():
      warnings.simplefilter("error", UserWarning)  # Keras: input structure
      out = encoder(keras.ops.convert_to_tensor(x))  # a bare tensor works too
      np.testing.assert_allclose(keras.ops.convert_to_numpy(encoder([x])["embedding"]),
                                 keras.ops.convert_to_numpy(out["embedding"]), rtol=1e-6)
    assert sorted(out) == ["embedding"]
    emb = keras.ops.convert_to_numpy(out["embedding"])
    assert emb.shape == (3, E)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=-1), 1.0, rtol=1e-5)
    dense = [l for l in encoder.layers if isinstance(l, keras.layers.Dense)]
    assert [l.units for l in dense] == widths


def test_video_level_residual_encoders_and_data_init():
  keras.utils.set_random_seed(3)
  model = build_training_model(_config(feature_level="video", embedding_size=6,
                                       video_linear_dims=2))
  audio, visual = (model.get_layer("audio_encoder"), model.get_layer("visual_encoder"))
  frozen = audio.get_layer("audio_linear_branch")
  assert not frozen.trainable and frozen.units == 2
  assert audio.get_layer("audio_projection").units == 4
  # Data with one shared direction (plus offsets and scales to standardize).
  rng = np.random.default_rng(0)
  shared = rng.normal(size=(400, 1))
  data = {"audio": (3.0 + 5.0 * shared * rng.normal(size=(1, 128))
                    + rng.normal(size=(400, 128))).astype("float32"),
          "visual": (-1.0 + 0.2 * shared * rng.normal(size=(1, 1024))
                     + 0.1 * rng.normal(size=(400, 1024))).astype("float32")}
  batches = [{k: v[i:i + 100] for k, v in data.items()} for i in range(0, 400, 100)]
  kernel_before = keras.ops.convert_to_numpy(frozen.kernel).copy()
  assert models.initialize_from_data(model, batches) == 400
  assert not np.allclose(keras.ops.convert_to_numpy(frozen.kernel), kernel_before)
  std = audio.get_layer("audio_standardize")
  np.testing.assert_allclose(keras.ops.convert_to_numpy(std.mean), data["audio"].mean(0),
                             rtol=1e-4, atol=1e-4)
  z = keras.ops.convert_to_numpy(std(data["audio"]))
  np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-3)
  # The linear branch is the first canonical direction: it recovers `shared`.
  linear_a = keras.ops.convert_to_numpy(frozen(std(data["audio"])))[:, 0]
  linear_v = keras.ops.convert_to_numpy(visual.get_layer("visual_linear_branch")(
      visual.get_layer("visual_standardize")(data["visual"])))[:, 0]
  assert abs(np.corrcoef(linear_a, linear_v)[0, 1]) > 0.95
  assert abs(np.corrcoef(linear_a, shared[:, 0])[0, 1]) > 0.95
  emb = keras.ops.convert_to_numpy(audio(data["audio"][:5])["embedding"])
  assert emb.shape == (5, 6)
  np.testing.assert_allclose(np.linalg.norm(emb, axis=-1), 1.0, rtol=1e-5)
  # Training leaves the linear branch and the statistics as set.
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  kernel = keras.ops.convert_to_numpy(frozen.kernel).copy()
  batch = dict(model_inputs({**{k: v[:32] for k, v in data.items()},
                             "num_frames": np.ones(32, "int32"),
                             "labels": np.zeros((32, C), "float32")}))
  model.fit(batch, epochs=2, batch_size=16, verbose=0)
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(frozen.kernel), kernel)
  with pytest.raises(ValueError, match="too few"):
    models.initialize_from_data(model, [])


def _dataset(batch, batch_size, map_inputs=True):
  ds = tf.data.Dataset.from_tensor_slices(batch).batch(batch_size)
  return ds.map(model_inputs) if map_inputs else ds


def test_frame_training_model_fit_metrics_and_save(tmp_path):
  keras.utils.set_random_seed(0)
  # Every loss part at once: temporal triplets too, beside the default
  # per-second contrastive loss.
  model = build_training_model(_config(lstm_layers=1, temporal_weight=0.2,
                                       classification_weight=0.5,
                                       classification_warmup_steps=4))
  assert [t.name for t in model.input] == ["audio", "visual", "num_frames",
                                           "labels"]
  audio_encoder = model.get_layer("audio_encoder")
  visual_encoder = model.get_layer("visual_encoder")
  assert (audio_encoder.get_layer("shared_projection")
          is visual_encoder.get_layer("shared_projection"))
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  data = _frame_batch(12, 7)
  history = model.fit(_dataset(data, 6), epochs=6, verbose=0, shuffle=False)
  logs = history.history
  assert logs["loss"][-1] < logs["loss"][0]
  for name in ("clip_loss", "clip_a2v_loss", "clip_v2a_loss",
               "clip_active_fraction", "clip_positive_similarity",
               "clip_negative_similarity", "temporal_loss",
               "temporal_active_fraction", "temporal_positive_similarity",
               "temporal_negative_similarity", "timeline_nce_loss",
               "timeline_nce_accuracy", "timeline_nce_positive_similarity",
               "classification_loss", "classification_weight"):
    assert name in logs and len(logs[name]) == 6, name
    assert all(np.isfinite(logs[name]))
  assert logs["classification_weight"][0] < logs["classification_weight"][-1]
  assert logs["classification_weight"][-1] == pytest.approx(0.5)

  # On TensorFlow the dataset's string id is tolerated without model_inputs
  # (no XLA) too; JAX and PyTorch cannot take a string batch (yt8m-train maps
  # model_inputs on every backend). Dict keys are matched by name, whatever
  # their order.
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)  # Keras: input structure
    if keras.backend.backend() == "tensorflow":
      model.fit(_dataset(data, 6, map_inputs=False), epochs=1, verbose=0, shuffle=False)
    small = _frame_batch(2, 4, seed=5)
    shuffled = {k: small[k] for k in ("labels", "id", "visual", "num_frames",
                                      "audio")}
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(shuffled)["audio_timeline"]),
        keras.ops.convert_to_numpy(model(model_inputs(small))["audio_timeline"]))

  batch = model_inputs(_frame_batch(3, 5, seed=3))
  out = model(batch)
  assert sorted(out) == ["audio_embedding", "audio_timeline", "loss_parts",
                         "visual_embedding", "visual_timeline"]
  assert out["audio_timeline"].shape == (3, 5, E)
  # The outputs are the encoders' outputs on the dequantized features.
  audio_f = batch["audio"].astype("float32") * 4 / 255 + 4 / 512 - 2
  direct = audio_encoder([audio_f, batch["num_frames"]])
  np.testing.assert_allclose(keras.ops.convert_to_numpy(out["audio_embedding"]),
                             keras.ops.convert_to_numpy(direct["embedding"]), atol=1e-5)

  path = str(tmp_path / "frame.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  again = loaded(batch)
  for key in out:
    if key == "loss_parts":
      for part in out[key]:
        np.testing.assert_allclose(float(out[key][part]), float(again[key][part]), atol=1e-6)
      continue
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out[key]), keras.ops.convert_to_numpy(again[key]),
                               atol=1e-6)
  assert (loaded.get_layer("audio_encoder").get_layer("shared_projection")
          is loaded.get_layer("visual_encoder").get_layer("shared_projection"))
  assert int(loaded.get_layer("triplet_loss").step.numpy()) == int(
      model.get_layer("triplet_loss").step.numpy())


def test_video_level_ensemble_towers_one_model(tmp_path):
  """K towers: one embedding whose cosine is the mean of the members' cosines,
  each member (a tower with the linear branch) trained by a clip loss of its own."""
  keras.utils.set_random_seed(4)
  config = _config(feature_level="video", embedding_size=9, video_linear_dims=2,
                   video_towers=3)
  model = build_training_model(config)
  audio, visual = model.get_layer("audio_encoder"), model.get_layer("visual_encoder")
  widths = [audio.get_layer(name).units for name in
            ("audio_projection", "audio_tower1_projection", "audio_tower2_projection")]
  assert widths == [3, 2, 2] == video_level.tower_units(config.model)
  rng = np.random.default_rng(0)
  data = {"audio": rng.normal(size=(32, 128)).astype("float32"),
          "visual": rng.normal(size=(32, 1024)).astype("float32")}
  models.initialize_from_data(model, [data])
  a = keras.ops.convert_to_numpy(audio(data["audio"][:6])["embedding"])
  v = keras.ops.convert_to_numpy(visual(data["visual"][:6])["embedding"])
  assert a.shape == (6, 9)
  members = [[keras.ops.convert_to_numpy(m) for m in video_level.ensemble_members(x, config.model)]
             for x in (a, v)]
  assert [m.shape for m in members[0]] == [(6, 5), (6, 4), (6, 4)]
  np.testing.assert_allclose(np.linalg.norm(members[0][1], axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(a @ v.T, np.mean([x @ y.T for x, y in zip(*members)], axis=0),
                             atol=1e-5)
  # The loss is the mean of the members' clip losses.
  batch = model_inputs({**{k: x[:8] for k, x in data.items()},
                        "num_frames": np.ones(8, "int32"), "labels": np.zeros((8, C), "float32")})
  out = model(batch)
  a8, v8 = (keras.ops.convert_to_numpy(out[k]) for k in ("audio_embedding", "visual_embedding"))
  want = np.mean([float(losses.clip_contrastive_loss(x, y, temperature=0.1)["loss"]) for x, y in
                  zip(video_level.ensemble_members(a8, config.model),
                      video_level.ensemble_members(v8, config.model))])
  assert float(sum(model.losses)) == pytest.approx(want, rel=1e-4)
  # Saved and loaded as yt8m-export loads it, the ensemble's portable encoders
  # (what the SavedModel serves) give the same embedding.
  from yt8m_crossmodal.serving import exporter
  path = os.path.join(tmp_path, "model.keras")
  model.save(path)
  loaded = keras.models.load_model(path, compile=False)
  served, _, _ = exporter.portable_encoders(config.replace(model=models.model_name(config)),
                                            loaded)
  np.testing.assert_allclose(keras.ops.convert_to_numpy(served(data["audio"][:6])["embedding"]),
                             a, atol=1e-5)
  # One tower keeps the earlier layer names and graph.
  one = build_training_model(_config(feature_level="video")).get_layer("audio_encoder")
  assert not any("tower1" in layer.name or layer.name == "linear_weight" for layer in one.layers)


@pytest.mark.parametrize("encoder,clip_loss,accuracy_part", [
    ("residual", "auto", "clip_accuracy"),
    ("mlp", "triplet", "clip_active_fraction")])
def test_video_training_model_fit(encoder, clip_loss, accuracy_part):
  keras.utils.set_random_seed(0)
  model = build_training_model(_config(feature_level="video", video_encoder=encoder,
                                       clip_loss=clip_loss, mining="semi_hard"))
  rng = np.random.default_rng(0)
  data = {
      "audio": rng.normal(size=(16, 128)).astype("float32"),
      "visual": rng.normal(size=(16, 1024)).astype("float32"),
      "num_frames": np.full((16,), 300, "int32"),
      "labels": (rng.random((16, C)) < 0.3).astype("float32"),
      "id": np.array([b"x"] * 16),
  }
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  history = model.fit(_dataset(data, 8), epochs=5, verbose=0, shuffle=False)
  logs = history.history
  assert logs["loss"][-1] < logs["loss"][0]
  assert "clip_loss" in logs and "temporal_loss" not in logs
  assert accuracy_part in logs
  out = model(model_inputs(data))
  assert sorted(out) == ["audio_embedding", "loss_parts", "visual_embedding"]
  assert out["visual_embedding"].shape == (16, E)


def test_model_inputs_drops_id():
  batch = {"audio": 1, "visual": 2, "num_frames": 3, "labels": 4, "id": 5}
  assert model_inputs(batch) == {"audio": 1, "visual": 2, "num_frames": 3,
                                 "labels": 4}


def test_explicit_model_choice():
  assert model_name(_config()) == "temporal"
  assert model_name(_config(feature_level="video")) == "video_level"
  assert model_name(_config(model="video_level", feature_level="video")) == "video_level"
  with pytest.raises(ValueError, match="--model=temporal reads frame-level data"):
    model_name(_config(model="temporal", feature_level="video"))
  with pytest.raises(ValueError, match="--model=video_level reads video-level data"):
    model_name(_config(model="video_level"))
  model = build_training_model(_config(model="video_level", feature_level="video"))
  assert model.model_name == "video_level" and len(model.inputs) == 4
  assert model.get_layer("audio_encoder").inputs[0].shape == (None, 128)


def test_training_model_config_holds_its_own_arguments(tmp_path):
  keras.utils.set_random_seed(0)
  config = _config(lstm_units=3, learning_rate=0.5)
  model = build_training_model(config)
  saved = model.get_config()
  assert sorted(saved) == ["loss_config", "model", "model_config", "name",
                           "num_classes", "trainable"]
  assert saved["model"] == "temporal" and saved["num_classes"] == C
  assert saved["model_config"]["lstm_units"] == 3
  assert saved["loss_config"]["temporal_guard"] == 2
  assert "learning_rate" not in json.dumps(saved)  # Run settings stay out.
  # A .keras file whose model_config names a field this version lacks (a
  # renamed field, say) still loads, with the same weights.
  path = tmp_path / "m.keras"
  model.save(path)
  edited = tmp_path / "edited.keras"
  with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
    for item in src.infolist():
      data = src.read(item.filename)
      if item.filename == "config.json":
        doc = json.loads(data)
        doc["config"]["model_config"]["a_field_from_another_version"] = 1
        data = json.dumps(doc).encode()
      dst.writestr(item, data)
  loaded = keras.models.load_model(edited)
  assert loaded.model_config == model.model_config
  for a, b in zip(loaded.get_weights(), model.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_training_model_loads_the_pre_0_2_config_layout():
  """Models saved before 0.2 stored the whole run config under ``config``."""
  config = _config(lstm_units=3)
  old = {"config": config.to_dict(), "name": "crossmodal_frame_training_model",
         "trainable": True}
  model = CrossModalTrainingModel.from_config(old)
  assert model.model_name == "temporal" and model.model_config.lstm_units == 3
  assert model.num_classes == C
