"""Training on another Keras backend (JAX), exporting with TensorFlow.

Each backend runs in its own process (the backend is fixed at import). The
JAX process trains a tiny model with ``model.fit`` (the loss parts logged as
on TensorFlow), saves it as a yt8m-train folder and writes its encoders'
outputs on fixed features; this process exports that folder with
``yt8m-export``'s code and checks the signatures give the same embeddings.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install 'jax[cpu]')")

SCRIPT = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = sys.argv[1]
import keras
import numpy as np
from yt8m_crossmodal import config as config_lib, models

out = sys.argv[2]
level = sys.argv[3]
config = config_lib.Config().replace(
    feature_level=level, lstm_units=8, projection_units=8, embedding_size=6, lstm_layers=1,
    window_strides=(1, 3), audio_tower=(16,), visual_tower=(16,), num_classes=5,
    temporal_guard=1, max_frames=12, dropout=0.0)
config = config.replace(model=models.model_name(config))
keras.utils.set_random_seed(0)
model = models.build_training_model(config)
model.compile(optimizer=keras.optimizers.Adam(1e-2))
rng = np.random.default_rng(0)
if level == "frame":
  x = {"audio": rng.integers(0, 255, (32, 12, 128), dtype=np.uint8),
       "visual": rng.integers(0, 255, (32, 12, 1024), dtype=np.uint8),
       "num_frames": rng.integers(6, 13, 32).astype(np.int32)}
else:
  x = {"audio": rng.normal(size=(32, 128)).astype(np.float32),
       "visual": rng.normal(size=(32, 1024)).astype(np.float32),
       "num_frames": np.ones(32, np.int32)}
x["labels"] = np.zeros((32, 5), np.float32)
history = model.fit(x, epochs=4, batch_size=8, verbose=0, shuffle=False)
os.makedirs(out, exist_ok=True)
model.save(os.path.join(out, "model.keras"))
config_lib.save_config(config, os.path.join(out, "config.json"))
feats = rng.normal(size=(3, 12, 128)).astype(np.float32) if level == "frame" else \
    rng.normal(size=(3, 128)).astype(np.float32)
audio = model.get_layer(models.AUDIO_ENCODER_NAME)
args = [feats, np.array([12, 7, 3], np.int32)] if level == "frame" else [feats]
enc = audio(args, training=False)
np.save(os.path.join(out, "features.npy"), feats)
np.save(os.path.join(out, "embedding.npy"), np.asarray(enc["embedding"]))
print(json.dumps({k: [float(v) for v in vals] for k, vals in history.history.items()}))
"""


def _train(backend, out, level):
  proc = subprocess.run([sys.executable, "-c", SCRIPT, backend, str(out), level],
                        capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("level", ["frame", "video"])
def test_jax_trains_logs_like_tensorflow_and_exports_with_tensorflow(level, tmp_path):
  jax_logs = _train("jax", tmp_path / "jax", level)
  tf_logs = _train("tensorflow", tmp_path / "tf", level)
  assert sorted(jax_logs) == sorted(tf_logs)  # The same loss parts logged.
  assert "clip_loss" in jax_logs and ("timeline_nce_loss" in jax_logs) == (level == "frame")
  assert all(np.isfinite(v).all() for v in jax_logs.values())
  assert jax_logs["loss"][-1] < jax_logs["loss"][0]

  from yt8m_crossmodal.serving import exporter, loading
  info = exporter.export_model_dir(exporter.ExportConfig(
      model_dir=str(tmp_path / "jax"), export_dir=str(tmp_path / "saved")))
  encode = loading.load_export(info["path"]).encode_fn("audio")
  feats = np.load(tmp_path / "jax" / "features.npy")
  lengths = np.array([12, 7, 3], np.int32) if level == "frame" else None
  embedding, _ = encode(feats, lengths)
  np.testing.assert_allclose(embedding, np.load(tmp_path / "jax" / "embedding.npy"), atol=1e-4)
