"""Training on other Keras backends (JAX, PyTorch), exporting with TensorFlow.

Each backend runs in its own process (the backend is fixed at import). The
JAX or PyTorch process trains a tiny model with ``model.fit`` (the loss parts
logged as on TensorFlow), saves it as a yt8m-train folder and writes its
encoders' outputs on fixed features; this process exports that folder with
``yt8m-export``'s code and checks the signatures give the same embeddings.
``yt8m-train --backend`` is run end to end (validation metrics, TensorBoard,
a kill and the resume). A backend that is not installed is skipped.
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.training import backends

ROOT = Path(__file__).resolve().parents[1]


def _installed(module):
  return importlib.util.find_spec(module) is not None


OTHER_BACKENDS = [
    pytest.param("jax", marks=pytest.mark.skipif(
        not _installed("jax"), reason="jax is not installed (pip install 'jax[cpu]')")),
    pytest.param("torch", marks=pytest.mark.skipif(
        not _installed("torch"), reason="torch is not installed (pip install "
        "'yt8m-crossmodal[torch]')")),
]

SCRIPT = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = sys.argv[1]
import keras
import numpy as np
from yt8m_crossmodal import config as config_lib, models

out = sys.argv[2]
level = sys.argv[3]
assert keras.backend.backend() == sys.argv[1]
config = config_lib.Config().replace(
    feature_level=level, lstm_units=8, projection_units=8, embedding_size=6, lstm_layers=1,
    window_strides=(1, 3), audio_tower=(16,), visual_tower=(16,), num_classes=5,
    video_hidden_units=16, video_linear_dims=2,
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
np.save(os.path.join(out, "embedding.npy"), keras.ops.convert_to_numpy(enc["embedding"]))
print(json.dumps({k: [float(v) for v in vals] for k, vals in history.history.items()}))
"""


def _env(**extra):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)
  for name in ("KERAS_BACKEND", backends.SWITCHED_ENV, "TF_CONFIG"):
    env.pop(name, None)
  env.update(extra)
  return env


def _train(backend, out, level):
  proc = subprocess.run([sys.executable, "-c", SCRIPT, backend, str(out), level],
                        capture_output=True, text=True, timeout=600, env=_env())
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


_TF_LOGS = {}


def _tensorflow_logs(level, tmp_path_factory):
  """The TensorFlow run's history (once per level)."""
  if level not in _TF_LOGS:
    _TF_LOGS[level] = _train("tensorflow", tmp_path_factory.mktemp(f"tf_{level}"), level)
  return _TF_LOGS[level]


@pytest.mark.parametrize("level", ["frame", "video"])
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_trains_logs_like_tensorflow_and_exports_with_tensorflow(
    backend, level, tmp_path, tmp_path_factory):
  logs = _train(backend, tmp_path / backend, level)
  tf_logs = _tensorflow_logs(level, tmp_path_factory)
  assert sorted(logs) == sorted(tf_logs)  # The same loss parts logged.
  assert "clip_loss" in logs and ("timeline_nce_loss" in logs) == (level == "frame")
  assert all(np.isfinite(v).all() for v in logs.values())
  assert logs["loss"][-1] < logs["loss"][0]

  from yt8m_crossmodal.jobs import export as export_job
  from yt8m_crossmodal.serving import loading
  info = export_job.export_model_dir(export_job.ExportConfig(
      model_dir=str(tmp_path / backend), export_dir=str(tmp_path / "saved")))
  encode = loading.load_export(info["path"]).encode_fn("audio")
  feats = np.load(tmp_path / backend / "features.npy")
  lengths = np.array([12, 7, 3], np.int32) if level == "frame" else None
  embedding, _ = encode(feats, lengths)
  np.testing.assert_allclose(embedding, np.load(tmp_path / backend / "embedding.npy"),
                             atol=1e-4)


# ----------------------------------------------------------------------------
# yt8m-train --backend, end to end.

TINY = dict(lstm_units=8, projection_units=8, embedding_size=8, window_strides="1,5",
            lstm_layers=1, batch_size=8, shuffle_buffer=16, warmup_steps=2,
            learning_rate=2e-3, epochs=2, steps_per_epoch=2, validation_size=16,
            projector_samples=4, sync_max_offset=2, sync_excerpt_seconds=8)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import synth as synth_job
  root = tmp_path_factory.mktemp("backend_data")
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(root), prefix="train", num_videos=24, num_shards=2,
      min_frames=12, max_frames=20, seed=1))
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(root), prefix="val", num_videos=16, num_shards=1,
      min_frames=12, max_frames=20, seed=2))
  return {"train": str(root / "train*.tfrecord"), "val": str(root / "val*.tfrecord")}


def _train_cli(args, env=None):
  return subprocess.run([sys.executable, "-m", "yt8m_crossmodal.tools.train", *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=600,
                        env=env or _env())


def _tail(proc):
  return f"rc={proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_train_cli_on_backend_validates_writes_and_resumes_after_a_kill(
    backend, records, tmp_path):
  from yt8m_crossmodal import config as config_lib
  model_dir = tmp_path / "run"
  args = [f"--{k}={v}" for k, v in TINY.items()] + [
      f"--train_data={records['train']}", f"--validation_data={records['val']}",
      f"--model_dir={model_dir}", f"--backend={backend}"]
  # The process starts on TensorFlow and switches to the backend (exec);
  # killed at the end of epoch 2 just before the epoch is committed.
  killed = _train_cli(args, env=_env(YT8M_CROSSMODAL_FAULT="2:commit"))
  assert killed.returncode == -9, _tail(killed)
  metadata = json.loads((model_dir / "backup" / "training_metadata.json").read_text())
  assert metadata["epoch"] == 1
  # The rerun resumes; KERAS_BACKEND set by hand: no switch needed.
  resumed = _train_cli(args, env=_env(KERAS_BACKEND=backend))
  assert resumed.returncode == 0, _tail(resumed)
  assert "Traceback" not in resumed.stderr
  assert [line.split()[1] for line in resumed.stdout.splitlines()
          if line.startswith("Epoch ")] == ["2/2"]

  saved = config_lib.load_config(str(model_dir / "config.json"))
  assert saved.train.backend == backend and saved.model.model == "temporal"
  with open(model_dir / "training_log.csv") as f:
    rows = list(csv.DictReader(f))
  assert [int(r["epoch"]) for r in rows] == [1, 2]
  for column in ("loss", "clip_loss", "timeline_nce_loss", "val_loss", "val_clip_loss",
                 "val_a2v_recall@1", "val_sync_exact", "learning_rate"):
    assert all(np.isfinite(float(r[column])) for r in rows), column
  final = json.loads(resumed.stdout.strip().splitlines()[-1])
  assert 0.0 <= final["val_a2v_recall@1"] <= 1.0
  for epoch in (1, 2):
    assert (model_dir / "checkpoints" / f"epoch_{epoch:03d}.weights.h5").exists()
  assert list((model_dir / "tensorboard" / "train").glob("events.out.tfevents.*"))
  assert (model_dir / "tensorboard" / "validation" / "projector_config.pbtxt").exists()

  # What it wrote exports with TensorFlow (this process).
  from yt8m_crossmodal.jobs import export as export_job
  info = export_job.export_model_dir(export_job.ExportConfig(
      model_dir=str(model_dir), export_dir=str(tmp_path / "saved")))
  assert os.path.isdir(info["path"])


def test_train_cli_backend_usage_errors(records, tmp_path):
  proc = _train_cli([f"--train_data={records['train']}", f"--model_dir={tmp_path / 'run'}",
                     "--backend=jax", "--distribution_strategy=mirrored"])
  assert proc.returncode == 2, _tail(proc)
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1 and "--backend=tensorflow" in errors[0], _tail(proc)
  assert not (tmp_path / "run" / "config.json").exists()


def test_switch_command_keeps_the_arguments_and_sets_the_backend(monkeypatch):
  monkeypatch.delenv(backends.SWITCHED_ENV, raising=False)
  argv, env = backends.switch_command(
      "tensorflow", "yt8m_crossmodal.tools.train",
      ["yt8m-train", "--flagfile=run.flags", "--backend=tensorflow"])
  assert argv == [sys.executable, "-m", "yt8m_crossmodal.tools.train",
                  "--flagfile=run.flags", "--backend=tensorflow"]
  assert env["KERAS_BACKEND"] == "tensorflow" and env[backends.SWITCHED_ENV] == "1"
  monkeypatch.setenv(backends.SWITCHED_ENV, "1")
  with pytest.raises(UsageError, match="KERAS_BACKEND"):
    backends.switch_command("tensorflow", "yt8m_crossmodal.tools.train", ["x"])
  if not _installed("torch"):
    with pytest.raises(UsageError, match=r"yt8m-crossmodal\[torch\]"):
      backends.require_installed("torch")


def test_train_refuses_a_backend_this_process_does_not_run(tmp_path):
  import keras
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal.jobs import train as train_job
  other = "torch" if keras.backend.backend() != "torch" else "jax"
  if not _installed(other):
    pytest.skip(f"{other} is not installed")
  config = config_lib.Config().replace(train_data=str(tmp_path / "x*.tfrecord"),
                                       model_dir=str(tmp_path / "run"), backend=other)
  with pytest.raises(UsageError, match=f"KERAS_BACKEND={other}"):
    train_job.train(config)
