"""Reading an export: version folders and :class:`LoadedExport`.

Loads with ``tf.saved_model.load`` only (no project model code), as a serving
client would.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.data import decode as decode_lib
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import encode
from yt8m_crossmodal.serving.signatures import (ASSETS_EXTRA, CONFIG_FILE,
                                                ENCODE_AUDIO,
                                                ENCODE_SIGNATURES, EXPORT_FILE)


def _is_version_name(name: str) -> bool:
  return bool(re.fullmatch(r"\d+", name))


def existing_versions(export_dir: str) -> List[int]:
  """Integer version folders of ``export_dir`` (any content), ascending."""
  if not tf.io.gfile.isdir(export_dir):
    return []
  names = [n.rstrip("/") for n in tf.io.gfile.listdir(export_dir)]
  return sorted(int(n) for n in names if _is_version_name(n) and
                tf.io.gfile.isdir(os.path.join(export_dir, n)))


def _is_saved_model(path: str) -> bool:
  return (tf.io.gfile.exists(os.path.join(path, "saved_model.pb")) or
          tf.io.gfile.exists(os.path.join(path, "saved_model.pbtxt")))


def resolve_version_dir(export_dir: str) -> Tuple[str, Optional[int]]:
  """The SavedModel folder meant by ``export_dir``.

  Args:
    export_dir: a version folder (holds ``saved_model.pb``) or a model folder
      (holds integer version folders; the highest SavedModel one is used).

  Returns:
    ``(version_dir, version)``; version is None when the folder name is not
    an integer.

  Raises:
    UsageError: no such folder, or no SavedModel in it.
  """
  if not export_dir:
    raise UsageError("--export_dir is required")
  if not tf.io.gfile.isdir(export_dir):
    raise UsageError(f"no export at {export_dir!r} (no such folder)")
  if _is_saved_model(export_dir):
    name = os.path.basename(os.path.normpath(export_dir))
    return export_dir, int(name) if _is_version_name(name) else None
  for version in reversed(existing_versions(export_dir)):
    path = os.path.join(export_dir, str(version))
    if _is_saved_model(path):
      return path, version
  raise UsageError(f"{export_dir!r} is not a SavedModel: no saved_model.pb in it "
                   "nor in an integer version folder under it")


class LoadedExport:
  """An export loaded with ``tf.saved_model.load`` (no project model code).

  Attributes:
    path: the version folder.
    version: its version number (None if the folder name is not one).
    config: the training :class:`Config` from ``assets.extra/config.json``.
    info: ``assets.extra/export.json`` (empty dict if missing).
    signatures: the loaded signatures (``ConcreteFunction`` by name).
  """

  def __init__(self, export_dir: str):
    self.path, self.version = resolve_version_dir(export_dir)
    config_path = os.path.join(self.path, ASSETS_EXTRA, CONFIG_FILE)
    if not tf.io.gfile.exists(config_path):
      raise UsageError(f"export {self.path!r} has no {ASSETS_EXTRA}/{CONFIG_FILE} "
                       "(not written by yt8m-export)")
    self.config = config_lib.load_config(config_path)
    info_path = os.path.join(self.path, ASSETS_EXTRA, EXPORT_FILE)
    self.info: Dict[str, Any] = {}
    if tf.io.gfile.exists(info_path):
      with tf.io.gfile.GFile(info_path) as f:
        self.info = json.load(f)
    try:
      self.saved_model = tf.saved_model.load(self.path)
    except (OSError, ValueError, tf.errors.OpError) as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise UsageError(f"cannot load the SavedModel in {self.path!r}: {first}") from e
    self.signatures = dict(self.saved_model.signatures)

  @property
  def feature_level(self) -> str:
    return self.config.data.feature_level

  @property
  def max_frames(self) -> int:
    return self.config.data.max_frames

  @property
  def embedding_size(self) -> int:
    sig = self.signature(ENCODE_AUDIO)
    return int(sig.structured_outputs["embedding"].shape[-1])

  @property
  def has_timelines(self) -> bool:
    return "timeline" in self.signature(ENCODE_AUDIO).structured_outputs

  def signature(self, name: str, why: str = ""):
    """The signature ``name``; UsageError naming what it is needed for."""
    if name not in self.signatures:
      need = f" (needed {why})" if why else ""
      raise UsageError(f"export {self.path!r} has no signature {name!r}{need}; "
                       f"it has {sorted(self.signatures)}")
    return self.signatures[name]

  def require_timelines(self, why: str) -> None:
    """UsageError unless the encoders output timelines (frame level)."""
    if not self.has_timelines:
      raise UsageError(
          f"export {self.path!r} is a {self.feature_level}-level model: its "
          f"{ENCODE_AUDIO} signature has no 'timeline' output (needed {why})")

  def encode_fn(self, modality: str):
    """The signature ``encode_<modality>`` as an encode function.

    Returns:
      ``fn(features float32 [B, T, D] (video level [B, D]), num_frames int32
      [B]) -> (embedding [B, E], timeline [B, T, E] or None)``, numpy in and
      out (see :mod:`yt8m_crossmodal.evaluation.encode`).
    """
    if modality not in ENCODE_SIGNATURES:
      raise UsageError(f"modality must be 'audio' or 'visual', got {modality!r}")
    return encode.signature_encode_fn(self.signature(ENCODE_SIGNATURES[modality]),
                                      modality)

  def read_records(self, pattern: str, batch_size: int = 64,
                   skip_bad_records: bool = False, file_order: bool = False,
                   modalities=decode_lib.BOTH, with_provenance: bool = False,
                   max_frames: Optional[int] = None):
    """The records of ``pattern`` read as this export expects them.

    Its feature level, label vocabulary and ``max_frames`` (or the given
    one), in a fixed order (``seed=0``; with ``file_order``, one file after
    the other): the batches of
    :func:`yt8m_crossmodal.data.pipeline.make_dataset` (with
    ``with_provenance``, also each record's ``file`` and ``record_index``).
    With one of ``modalities``, records with only that one are read too
    (only its features are returned).
    """
    return pipeline.make_dataset(
        pattern, feature_level=self.feature_level, batch_size=batch_size,
        num_classes=self.config.data.num_classes,
        max_frames=max_frames or self.max_frames, seed=0,
        skip_bad_records=skip_bad_records, file_order=file_order, modalities=modalities,
        with_provenance=with_provenance)

  def decode_records(self, records, typed: bool = False, modalities=decode_lib.BOTH):
    """Parses, validates and decodes serialized records as :meth:`read_records` does.

    Args:
      records: string [B] serialized records.
      typed: also flag fields of the wrong type instead of failing the batch
        (slower; see :func:`yt8m_crossmodal.data.decode.decode_records_typed`).

    Returns:
      ``(element, reason)`` of :func:`yt8m_crossmodal.data.decode.decode_records_safely`:
      ``id``, ``audio``, ``visual`` (uint8 frames or float32 means),
      ``num_frames``, ``labels``; ``reason`` [B], "" for a good record.
    """
    return decode_lib.decode_records(records, self.feature_level,
                                     self.config.data.num_classes, self.max_frames,
                                     typed=typed, modalities=modalities)

  def describe(self) -> Dict[str, Any]:
    """Small JSON-able description (for catalogue meta and reports)."""
    return {"export_dir": io_utils.abspath(self.path), "version": self.version,
            "feature_level": self.feature_level,
            "embedding_size": self.embedding_size,
            "created": self.info.get("created")}


def load_export(export_dir: str) -> LoadedExport:
  """Loads the export in ``export_dir`` (model or version folder)."""
  return LoadedExport(export_dir)
