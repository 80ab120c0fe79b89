"""Shared test helpers: tiny configs, model folders, catalogues and exports.

The exports are built once per session (fixtures ``frame_export`` and
``video_export`` in conftest.py).
"""

import contextlib
import json
import os
import re
import subprocess
import types

import keras
import numpy as np
import pytest

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import models
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.jobs import export as export_job

E = 6
MAX_FRAMES = 16
CATALOGUE_SIZE = 40
SEARCH_K = 7


def tiny_config(level, **overrides):
  return config_lib.Config().replace(
      feature_level=level, lstm_units=8, projection_units=8, embedding_size=E,
      window_strides=(1, 3), lstm_layers=1, audio_tower=(16,), visual_tower=(16,),
      video_hidden_units=16, video_linear_dims=2, max_frames=MAX_FRAMES, **overrides)


def make_model_dir(path, level, seed=0, **overrides):
  """Saves an untrained tiny model as a yt8m-train folder; returns the model."""
  keras.utils.set_random_seed(seed)
  config = tiny_config(level, **overrides)
  config = config.replace(model=models.model_name(config))  # As yt8m-train does.
  model = models.build_training_model(config)
  os.makedirs(path, exist_ok=True)
  model.save(os.path.join(path, "model.keras"))
  config_lib.save_config(config, os.path.join(path, "config.json"))
  return model


def empty_catalogue(path):
  """An index folder with zero items (E-wide), for the empty-catalogue errors."""
  path.mkdir()
  (path / "meta.json").write_text(json.dumps({"num_items": 0, "has_timelines": False}))
  (path / "ids.txt").write_text("")
  for m in ("audio", "visual"):
    np.save(path / f"{m}_embeddings.npy", np.zeros((0, E), np.float32))
  return path


def random_catalogue(path, n=CATALOGUE_SIZE, width=E, seed=5):
  rng = np.random.default_rng(seed)
  unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
  audio, visual = unit(rng.normal(size=(n, width))), unit(rng.normal(size=(n, width)))
  retrieval.write_catalogue(str(path), [f"cat{i:03d}" for i in range(n)], audio, visual)
  return audio, visual


# Lines of TensorFlow, absl and the other libraries, which the tools and the
# API keep off the terminal unless verbose (yt8m_crossmodal.quiet): absl's
# and TF's C++ prefix (I1207 21:46:43.56 ... file.py:12]), TF's Python logger,
# absl's C++ start-up line, what the examples of the issue showed.
_LIBRARY_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|(INFO|WARNING|ERROR):(tensorflow|absl)|"
    r"WARNING: All log messages before absl|WARNING: Logging before flag parsing)"
    r"|oneDNN|cuInit|cuda|signature_serialization|Assets written|fingerprint")


def library_lines(stderr):
  """The lines of ``stderr`` that TensorFlow, absl or another library printed."""
  return [line for line in stderr.splitlines() if _LIBRARY_LINE.search(line)]


def tool_env(**extra):
  """The environment of a user who set nothing: no TF_CPP_MIN_LOG_LEVEL, not verbose."""
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "YT8M_VERBOSE")}
  env.update(extra)
  return env


_SHARED = {}


def shared_export(tmp_path_factory, level):
  """A tiny exported model of ``level`` with search signatures (cached)."""
  if level not in _SHARED:
    root = tmp_path_factory.mktemp(f"shared_export_{level}")
    model_dir = str(root / "model")
    model = make_model_dir(model_dir, level, seed=1 if level == "frame" else 2)
    cat_audio, cat_visual = random_catalogue(root / "catalogue")
    info = export_job.export_model_dir(export_job.ExportConfig(
        model_dir=model_dir, export_dir=str(root / "saved"),
        search_catalogue=str(root / "catalogue"), search_k=SEARCH_K))
    _SHARED[level] = types.SimpleNamespace(
        root=root, model_dir=model_dir, export_dir=str(root / "saved"),
        version_dir=info["path"], info=info, model=model,
        audio=model.get_layer("audio_encoder"), visual=model.get_layer("visual_encoder"),
        catalogue={"audio": cat_audio, "visual": cat_visual},
        catalogue_ids=np.array([f"cat{i:03d}" for i in range(CATALOGUE_SIZE)]))
  return _SHARED[level]


def keras_encode(exp, modality, features, num_frames=None):
  encoder = exp.audio if modality == "audio" else exp.visual
  if num_frames is None:
    out = encoder([features], training=False)
  else:
    out = encoder([features, num_frames], training=False)
  return {k: np.asarray(v) for k, v in out.items()}


def numpy_top_k(queries, matrix, ids, k):
  scores = queries @ matrix.T
  order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return ids[order], np.take_along_axis(scores, order, axis=1)


@contextlib.contextmanager
def read_only(path):
  """Makes folder ``path`` unwritable (chmod, or ``chattr +i`` as root).

  Skips the test when neither works on this machine.
  """
  path = str(path)
  os.chmod(path, 0o500)
  immutable = False
  try:
    if os.access(path, os.W_OK):
      immutable = subprocess.run(["chattr", "+i", path], capture_output=True).returncode == 0
      if not immutable:
        pytest.skip("cannot make a folder read-only here")
    yield path
  finally:
    if immutable:
      subprocess.run(["chattr", "-i", path], check=True)
    os.chmod(path, 0o700)
