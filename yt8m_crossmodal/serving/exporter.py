"""Writing a trained model as a TF Serving SavedModel version.

The SavedModel is built with ``keras.export.ExportArchive`` and written to
``<export_dir>/<version>/`` (default: one more than the highest existing
version; an existing version is never overwritten). It is written into a
temporary sibling folder (``<export_dir>/.tmp-export-...``, which TF Serving
ignores: not an integer) and renamed into place, so a TF Serving process that
polls ``<export_dir>`` never loads half a version. When another export takes
the automatic version first, this one takes the next free one. Temporary
folders left by a killed export (its process is gone, or older than a day)
are removed by the next export. A model whose weights hold NaN or Inf (a
diverged training) is refused. The signatures are listed in the
README ("Serving signatures"); extra files go to ``<version>/assets.extra/``:
``config.json`` (the resolved training config) and ``export.json``
(signature summary, sizes, versions, the model and catalogue it came from).

GPU portability: Keras' LSTM picks the cuDNN kernel (``CudnnRNNV3``, GPU
only) whenever a GPU is visible at trace time. The export therefore rebuilds
the encoders with ``LSTM(use_cudnn=False)`` and loads the trained weights into
them, so the generic kernel (CPU *and* GPU) is traced; ``yt8m-export`` also
hides GPUs from its process, and the written graph is scanned for
``CudnnRNN*`` ops. No op is pinned to a device.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import time
import uuid
import zipfile
from typing import Any, Dict, Optional, Tuple

from absl import logging
import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import io_utils
from yt8m_crossmodal import models
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.serving import saved_model_info
from yt8m_crossmodal.serving.loading import existing_versions
from yt8m_crossmodal.serving.signatures import (ASSETS_EXTRA, CONFIG_FILE,
                                                EXPORT_FILE,
                                                SERVING_DEFAULT_IS,
                                                SignatureBuilder)

TMP_PREFIX = ".tmp-export-"
# A temporary folder whose owner cannot be checked is stale after this long.
STALE_TMP_SECONDS = 24 * 3600


def hide_gpus() -> bool:
  """Hides GPUs from this process if TF has not initialized them yet."""
  try:
    if tf.config.list_physical_devices("GPU"):
      tf.config.set_visible_devices([], "GPU")
    return True
  except RuntimeError:  # Devices already initialized.
    return False


def load_model_dir(model_dir: str) -> Tuple[config_lib.Config, Any]:
  """``(config, training_model)`` of a yt8m-train folder.

  The architecture and loss fields of the returned config are the saved
  model's own; the data fields (feature level, ``max_frames``, classes) come
  from ``config.json``.
  """
  import keras
  if not model_dir:
    raise UsageError("--model_dir is required")
  model_path = os.path.join(model_dir, "model.keras")
  if not tf.io.gfile.exists(model_path):
    raise UsageError(f"no trained model at {model_path!r} (run yt8m-train first)")
  with tf.io.gfile.GFile(model_path, "rb") as f:
    readable = zipfile.is_zipfile(f)
  if not readable:
    raise UsageError(f"{model_path!r} is not a .keras archive (truncated or damaged; the "
                     "run's backup/ and checkpoints/ hold earlier weights)")
  try:
    model = keras.models.load_model(model_path, compile=False)
  except (ValueError, OSError, KeyError, zipfile.BadZipFile) as e:
    raise UsageError(f"{model_path!r} cannot be read as a Keras model (damaged?): "
                     f"{io_utils.error_line(e)}") from e
  if not isinstance(model, models.CrossModalTrainingModel):
    raise UsageError(f"{model_path!r} is not a yt8m-crossmodal training model")
  config_path = os.path.join(model_dir, "config.json")
  if not tf.io.gfile.exists(config_path):
    raise UsageError(f"no config.json in {model_dir!r}")
  config = config_lib.load_config(config_path)
  level = models.MODELS[model.model_name]
  if level != config.data.feature_level:
    raise UsageError(f"config.json says feature_level={config.data.feature_level!r} "
                     f"but the saved model is a {model.model_name} ({level}-level) model")
  config = dataclasses.replace(
      config, model=dataclasses.replace(model.model_config, model=model.model_name),
      loss=model.loss_config)
  return config, model


def portable_encoders(config: config_lib.Config, trained_model):
  """Encoders with ``use_cudnn=False`` holding the trained model's weights.

  Returns:
    ``(audio_encoder, visual_encoder, lstm_layers)``: lstm_layers is the
    number of LSTM layers built without cuDNN.
  """
  import keras
  name = models.model_name(config)
  audio, visual = models.build_encoders(config.model, name, use_cudnn=False)
  for new, layer_name in ((audio, models.AUDIO_ENCODER_NAME),
                          (visual, models.VISUAL_ENCODER_NAME)):
    new.set_weights(trained_model.get_layer(layer_name).get_weights())
  lstms = [layer for enc in (audio, visual) for layer in enc.layers
           if isinstance(layer, keras.layers.LSTM)]
  assert all(layer.use_cudnn is False for layer in lstms)
  return audio, visual, len(lstms)


def check_finite_weights(*encoders) -> None:
  """Raises UsageError naming the first weight that holds NaN or Inf."""
  import numpy as np
  for encoder in encoders:
    for weight in encoder.weights:
      value = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
      if not np.all(np.isfinite(value)):
        raise UsageError(
            f"the model's weight {weight.path!r} holds NaN or Inf (the training "
            "diverged): refusing to export it")


def remove_stale_tmp(export_dir: str) -> None:
  """Removes ``.tmp-export-*`` folders of killed exports.

  A folder is stale when the process named in it is gone (same host) or, when
  that cannot be checked, when it is older than ``STALE_TMP_SECONDS``.
  """
  for name in tf.io.gfile.listdir(export_dir):
    name = name.rstrip("/")
    if not name.startswith(TMP_PREFIX):
      continue
    path = os.path.join(export_dir, name)
    parts = name[len(TMP_PREFIX):].split("-")
    stale = len(parts) == 3 and not io_utils.process_alive(parts[1])
    if not stale:
      try:
        stale = time.time() - tf.io.gfile.stat(path).mtime_nsec / 1e9 > STALE_TMP_SECONDS
      except tf.errors.OpError:
        continue
    if stale:
      logging.warning("removing %s, left by a killed export", path)
      try:
        tf.io.gfile.rmtree(path)
      except tf.errors.OpError as e:
        logging.warning("could not remove %s: %s", path, e)


def _rename_version(tmp: str, final: str) -> bool:
  """Renames ``tmp`` to ``final``; False when ``final`` already exists."""
  if tf.io.gfile.exists(final):
    return False
  if "://" in final:
    tf.io.gfile.rename(tmp, final, overwrite=False)
    return True
  try:  # Atomic on a local filesystem: fails if ``final`` is a non-empty folder.
    os.rename(tmp, final)
  except OSError:
    if os.path.exists(final):
      return False
    raise
  return True


def _check_catalogue(path: str, embedding_size: int):
  from yt8m_crossmodal import retrieval
  try:
    catalogue = retrieval.load_catalogue(path, load_indexes=False)
  except ValueError as e:
    raise UsageError(f"--search_catalogue: {e}") from e
  if catalogue.size == 0:
    raise UsageError(f"--search_catalogue {path!r} is empty")
  if len(catalogue.modalities) < 2:
    raise UsageError(f"--search_catalogue {path!r} holds {catalogue.modalities[0]} "
                     "embeddings only (a one-modality index); the export's search signatures "
                     "need both: embed the catalogue with both modalities")
  if catalogue.embedding_size != embedding_size:
    raise UsageError(
        f"--search_catalogue {path!r} holds {catalogue.embedding_size}-d embeddings "
        f"but the model's queries are {embedding_size}-d: embed the catalogue with "
        "this model")
  return catalogue


def export(config: config_lib.Config, audio_encoder, visual_encoder,
           export_dir: str, version: int = 0, search_catalogue: str = "",
           search_k: int = 10, source: Optional[Dict[str, Any]] = None,
           lstm_layers_without_cudnn: int = 0) -> Dict[str, Any]:
  """Writes ``<export_dir>/<version>/`` from in-memory encoders.

  Args:
    config: the model's training config (feature level, max_frames...).
    audio_encoder / visual_encoder: the Keras encoders (see
      :func:`portable_encoders`).
    export_dir: the model folder.
    version: version number; 0 picks max(existing) + 1 (1 when none).
    search_catalogue: index folder to bake into search signatures ("" none).
    search_k: K of the search signatures (capped at the catalogue size).
    source: extra JSON-able info recorded in export.json (e.g. model_dir).
    lstm_layers_without_cudnn: recorded in export.json.

  Returns:
    The export.json contents plus ``path`` (the version folder).

  Raises:
    UsageError: version exists, bad catalogue, bad arguments.
  """
  if not export_dir:
    raise UsageError("--export_dir is required")
  if version < 0:
    raise UsageError(f"--version must be a positive integer, got {version}")
  if search_k <= 0:
    raise UsageError(f"--search_k must be positive, got {search_k}")
  check_finite_weights(audio_encoder, visual_encoder)
  embedding_size = int(config.model.embedding_size)
  catalogue = _check_catalogue(search_catalogue, embedding_size) if search_catalogue else None
  io_utils.writable_dir(export_dir, "--export_dir")
  remove_stale_tmp(export_dir)
  auto_version = not version
  versions = existing_versions(export_dir)
  version = version or (versions[-1] + 1 if versions else 1)
  final = os.path.join(export_dir, str(version))
  if tf.io.gfile.exists(final):
    raise UsageError(f"version {version} already exists at {final!r}: refusing to "
                     "overwrite it (give another --version, or none for the next one)")

  d = config.data
  builder = SignatureBuilder(audio_encoder, visual_encoder, d.feature_level,
                             d.num_classes, d.max_frames)
  # encode_examples first: ExportArchive also registers the first endpoint as
  # serving_default.
  builder.add_examples()
  builder.add_encoders()
  if d.feature_level == "frame":
    builder.add_estimate_offset()
  search_info = builder.add_search(catalogue, search_k) if catalogue is not None else None

  import keras
  info = {
      "version": version,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "model": models.model_name(config),
      "feature_level": d.feature_level,
      "embedding_size": embedding_size,
      "max_frames": d.max_frames,
      "serving_default": SERVING_DEFAULT_IS,
      "search": search_info,
      "lstm_layers_without_cudnn": lstm_layers_without_cudnn,
      "tensorflow_version": tf.__version__,
      "keras_version": keras.__version__,
      "source": source or {},
  }
  tmp = os.path.join(export_dir, f"{TMP_PREFIX}{version}-{io_utils.host_pid_tag()}-"
                     f"{uuid.uuid4().hex[:8]}")
  try:
    builder.archive.write_out(tmp, verbose=False)
    cudnn = sorted(op for op in saved_model_info.graph_op_types(tmp)
                   if op.startswith("CudnnRNN"))
    if cudnn:
      raise RuntimeError(f"the exported graph holds GPU-only ops {cudnn}")
    info["signatures"] = saved_model_info.signature_defs(tmp)
    extra = os.path.join(tmp, ASSETS_EXTRA)
    tf.io.gfile.makedirs(extra)
    config_lib.save_config(config, os.path.join(extra, CONFIG_FILE))
    while True:
      io_utils.atomic_write_text(os.path.join(extra, EXPORT_FILE),
                                 json.dumps(info, indent=2, sort_keys=True))
      if _rename_version(tmp, final):
        break
      if not auto_version:
        raise UsageError(f"version {version} appeared at {final!r} during the export")
      # Another export took this version meanwhile: take the next free one.
      version = max([version] + existing_versions(export_dir)) + 1
      info["version"] = version
      final = os.path.join(export_dir, str(version))
  except BaseException as e:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
    if isinstance(e, (OSError, tf.errors.OpError)) and not isinstance(e, UsageError):
      # A full disk while TensorFlow writes: one line naming the version folder
      # (not TF's temporary file or graph node); nothing of it is left.
      raise io_utils.write_error(final, e) from e
    raise
  logging.info("exported version %d to %s", version, final)
  return dict(info, path=final)
