"""``yt8m-export``: writes a trained model as a TF Serving SavedModel version.

Example::

  yt8m-export --model_dir=runs/temporal --export_dir=saved_models/temporal
  yt8m-export --model_dir=runs/temporal --export_dir=saved_models/temporal \\
      --version=7 --search_catalogue=indexes/catalogue --search_k=20
  python -m yt8m_crossmodal.export --model_dir=... --export_dir=...

``--model_dir`` is a ``yt8m-train`` folder (``config.json``, ``model.keras``).
The SavedModel is built with ``keras.export.ExportArchive`` and written to
``<export_dir>/<version>/`` (``--version``, default: one more than the highest
existing version; an existing version is never overwritten). It is written
into a temporary sibling folder (``<export_dir>/.tmp-...``, which TF Serving
ignores: not an integer) and renamed into place, so a TF Serving process that
polls ``<export_dir>`` never loads half a version.

Signatures (``B`` = batch, ``T`` = frames/seconds, ``E`` = embedding size):

=================  ==========================================  ===============================================
signature          inputs                                      outputs
=================  ==========================================  ===============================================
encode_audio       frame: ``audio`` f32 [B, T, 128],            ``embedding`` f32 [B, E], ``timeline`` f32
                   ``num_frames`` i32 [B]; video: ``audio``     [B, T, E] (frame level only; unit rows, zero
                   f32 [B, 128]                                 past num_frames)
encode_visual      same with ``visual`` f32 [B, T, 1024] /      same
                   [B, 1024]
encode_examples    ``examples`` string [B]: serialized YT-8M    ``id`` string [B], ``audio_embedding``,
                   records (frame level: SequenceExamples;      ``visual_embedding`` f32 [B, E]; frame level
                   video level: Examples with                   also ``audio_timeline``, ``visual_timeline``
                   mean_rgb/mean_audio)                         f32 [B, T, E]
search_by_audio    the inputs of encode_audio                   ``ids`` string [B, K], ``scores`` f32 [B, K]
search_by_visual   the inputs of encode_visual                  same
serving_default    = encode_examples                            = encode_examples
=================  ==========================================  ===============================================

Features given to ``encode_audio`` / ``encode_visual`` are *dequantized*
(``q * 4/255 + 4/512 - 2``, :func:`yt8m_crossmodal.data.features.dequantize`).
``encode_examples`` parses records inside the graph with the reader's own
batch decoder (``yt8m_crossmodal.data.reader``: ``tf.io.parse_sequence_example``
/ ``parse_example``, the same validation, dequantization and cropping to the
config's ``max_frames``; ``num_frames = min(len(rgb), len(audio), max_frames)``
and ``T`` = the longest kept video of the request). A malformed record (wrong
bytes per frame, a missing modality, a record of the other level...) fails the
request with ``Bad YT-8M record in request at record index i (video id '...'):
<reason>``; label ids are not checked (they play no part in encoding).

``serving_default`` is ``encode_examples``: a client can send the records of
the YT-8M TFRecord files as they are (base64 in REST) and gets everything the
model computes (id, both embeddings and, at frame level, both timelines), with
no client-side parsing, dequantization or padding to get wrong.

``--search_catalogue=INDEX_DIR`` (an index folder of
:mod:`yt8m_crossmodal.retrieval`) bakes that catalogue's clip embeddings and
ids into the SavedModel (as variables) and adds ``search_by_audio`` (an audio
query searches the *visual* catalogue) and ``search_by_visual`` (visual query,
audio catalogue): exact inner-product top-``K`` with
``K = min(--search_k, catalogue size)``, fixed at export time. ``K`` is not a
request input because TF Serving requires every signature input in every
request; clients wanting fewer results truncate. Ties are broken by the lower
catalogue index, as in :func:`yt8m_crossmodal.retrieval.exact_search`.

Extra files (``<version>/assets.extra/``, not part of the graph):
``config.json`` (the resolved training config) and ``export.json`` (signature
summary, ``embedding_size``, ``feature_level``, ``version``, ``created``, the
model and catalogue it came from).

GPU portability: Keras' LSTM picks the cuDNN kernel (``CudnnRNNV3``, GPU only)
whenever a GPU is visible at trace time, whatever ``tf.device`` scope is
active. The export therefore (1) sets ``use_cudnn=False`` on every LSTM layer
before tracing, so the generic while-loop kernel (which runs on CPU *and* GPU)
is traced, (2) hides GPUs from the ``yt8m-export`` process when it starts
(``tf.config.set_visible_devices([], "GPU")``; nothing to gain from them) and
(3) scans the written graph and fails if any ``CudnnRNN*`` op is in it. No op
is pinned to a device, so the SavedModel serves on CPU-only TF Serving and
uses the GPU where TF Serving has one.

Serving (the model folder, not a version folder)::

  docker run --rm -p 8500:8500 -p 8501:8501 \\
      -v "$PWD/saved_models/temporal:/models/yt8m" \\
      tensorflow/serving --model_name=yt8m --model_base_path=/models/yt8m

Prints a summary and, as its last line, one JSON object (``export.json`` plus
``path``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
import numpy as np

from yt8m_crossmodal import cli as cli_lib  # noqa: F401  (sets TF log level first)
from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import flags
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import reader
from yt8m_crossmodal.config import option

import tensorflow as tf  # noqa: E402

UsageError = cli_lib.UsageError

ENCODE_AUDIO = "encode_audio"
ENCODE_VISUAL = "encode_visual"
ENCODE_EXAMPLES = "encode_examples"
SEARCH_BY_AUDIO = "search_by_audio"
SEARCH_BY_VISUAL = "search_by_visual"
SERVING_DEFAULT = "serving_default"
SERVING_DEFAULT_IS = ENCODE_EXAMPLES
ENCODE_SIGNATURES = {"audio": ENCODE_AUDIO, "visual": ENCODE_VISUAL}
SEARCH_SIGNATURES = {"audio": SEARCH_BY_AUDIO, "visual": SEARCH_BY_VISUAL}
DIMS = {"audio": feat.AUDIO_DIM, "visual": feat.VISUAL_DIM}
OTHER = {"audio": "visual", "visual": "audio"}
ASSETS_EXTRA = "assets.extra"
CONFIG_FILE = "config.json"
EXPORT_FILE = "export.json"
TMP_PREFIX = ".tmp-export-"
_REQUEST_FILE = "request"



@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """Options of ``yt8m-export`` (each field is a flag of the same name)."""

  model_dir: str = option("", "yt8m-train output folder (config.json, model.keras).")
  export_dir: str = option("", "Model folder of TF Serving, e.g. saved_models/NAME; "
                       "the version goes into <export_dir>/<version>/.")
  version: int = option(0, "Version number (0: one more than the highest existing).")
  search_catalogue: str = option(
      "", "Index folder (yt8m-embed) to bake into search_by_audio/visual.")
  search_k: int = option(10, "Results per query of the search signatures (fixed; "
                     "capped at the catalogue size).")


# ----------------------------------------------------------------------------
# Locating and loading exports (shared by yt8m-evaluate, -embed, -search).


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
    sig = self.signature(ENCODE_SIGNATURES[modality])
    frame = "num_frames" in sig.structured_input_signature[1]
    timelines = "timeline" in sig.structured_outputs

    def fn(features, num_frames):
      features = tf.constant(np.asarray(features, np.float32))
      if frame:
        out = sig(**{modality: features,
                     "num_frames": tf.constant(np.asarray(num_frames, np.int32))})
      else:
        out = sig(**{modality: features})
      emb = out["embedding"].numpy()
      return emb, (out["timeline"].numpy() if timelines else None)

    return fn

  def describe(self) -> Dict[str, Any]:
    """Small JSON-able description (for catalogue meta and reports)."""
    return {"export_dir": os.path.abspath(self.path), "version": self.version,
            "feature_level": self.feature_level,
            "embedding_size": self.embedding_size,
            "created": self.info.get("created")}


def load_export(export_dir: str) -> LoadedExport:
  """Loads the export in ``export_dir`` (model or version folder)."""
  return LoadedExport(export_dir)


# ----------------------------------------------------------------------------
# Building the archive.


def _disable_cudnn(*models) -> int:
  """Sets ``use_cudnn=False`` on every LSTM (see the module docstring)."""
  import keras
  count = 0
  for model in models:
    for layer in model._flatten_layers(include_self=True, recursive=True):
      if isinstance(layer, keras.layers.LSTM):
        layer.use_cudnn = False
        count += 1
  return count


def _decode_batch(examples: tf.Tensor, config: config_lib.Config):
  """Parses serialized records with the reader's batch decoder (dequantized).

  Args:
    examples: string [B] serialized records of ``config``'s feature level.
    config: the training config (feature level, max_frames, num_classes).

  Returns:
    The reader's decoded dict (``id`` [B], ``audio`` / ``visual`` float32
    [B, T, D] or [B, D], ``num_frames`` int32 [B]), after an assertion that
    fails the call on a malformed record.
  """
  n = tf.size(examples, out_type=tf.int64)
  batch = {
      "record": examples,
      "reason": tf.fill(tf.shape(examples), ""),
      "file": tf.fill(tf.shape(examples), _REQUEST_FILE),
      "index": tf.range(n),
  }
  d = config.data
  if d.feature_level == "frame":
    out, reason = reader.decode_frame_batch(
        batch, d.num_classes, d.max_frames, include_segments=False, dequantize=True)
  else:
    out, reason = reader.decode_video_batch(batch, d.num_classes)
  # Labels do not matter for encoding: only feature problems fail a request.
  reason = tf.where(tf.strings.regex_full_match(reason, "labels out of .*"), "", reason)
  message = reader.bad_message(batch, out["id"], reason)
  check = tf.debugging.Assert(tf.reduce_all(tf.equal(reason, "")), [message])
  with tf.control_dependencies([check]):
    return {k: tf.identity(out[k]) for k in ("id", "audio", "visual", "num_frames")}


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


def _top_k_search(ids: tf.Variable, matrix: tf.Variable, k: int):
  """Maps encoder outputs to the exact top-k of ``matrix`` ([N, E])."""
  def search(out):
    scores = tf.matmul(out["embedding"], matrix, transpose_b=True)  # [B, N]
    top = tf.math.top_k(scores, k=k, sorted=True)
    return {"ids": tf.gather(ids, top.indices), "scores": top.values}
  return search


class _Builder:
  """Adds the signatures of one model to an ``ExportArchive``."""

  def __init__(self, config: config_lib.Config, audio_encoder, visual_encoder):
    import keras
    self.config = config
    self.frame = config.data.feature_level == "frame"
    self.encoders = {"audio": audio_encoder, "visual": visual_encoder}
    self.archive = keras.export.ExportArchive()
    self.archive.track(audio_encoder)
    self.archive.track(visual_encoder)
    self.functions: Dict[str, Any] = {}

  def _specs(self, modality: str) -> List[tf.TensorSpec]:
    dim = DIMS[modality]
    if self.frame:
      return [tf.TensorSpec([None, None, dim], tf.float32, name=modality),
              tf.TensorSpec([None], tf.int32, name="num_frames")]
    return [tf.TensorSpec([None, dim], tf.float32, name=modality)]

  def _encode(self, modality: str, features, num_frames=None) -> Dict[str, tf.Tensor]:
    encoder = self.encoders[modality]
    if self.frame:
      out = encoder([features, num_frames], training=False)
      return {"embedding": out["embedding"], "timeline": out["timeline"]}
    return {"embedding": encoder([features], training=False)["embedding"]}

  def _add(self, name: str, fn, specs) -> None:
    self.functions[name] = self.archive.add_endpoint(name, fn, input_signature=specs)

  def _endpoint(self, modality: str, post=None):
    """A function of the modality's signature inputs -> encoder outputs.

    ``post`` maps the encoder output dict to the signature outputs. (A
    factory, not default arguments: tf.function cannot save Python objects
    in a signature.)
    """
    post = post or (lambda out: out)
    if self.frame:
      def fn(features, num_frames):
        return post(self._encode(modality, features, num_frames))
    else:
      def fn(features):
        return post(self._encode(modality, features))
    return fn

  def add_encoders(self) -> None:
    for modality in ("audio", "visual"):
      self._add(ENCODE_SIGNATURES[modality], self._endpoint(modality),
                self._specs(modality))

  def add_examples(self) -> None:
    def encode_examples(examples):
      batch = _decode_batch(examples, self.config)
      out = {"id": batch["id"]}
      for modality in ("audio", "visual"):
        enc = self._encode(modality, batch[modality], batch["num_frames"])
        out[f"{modality}_embedding"] = enc["embedding"]
        if self.frame:
          out[f"{modality}_timeline"] = enc["timeline"]
      return out
    self._add(ENCODE_EXAMPLES, encode_examples,
              [tf.TensorSpec([None], tf.string, name="examples")])

  def add_search(self, catalogue, k: int) -> Dict[str, Any]:
    """Bakes ``catalogue`` into search_by_audio / search_by_visual."""
    ids = tf.Variable(np.asarray(catalogue.ids, dtype=object), dtype=tf.string,
                      trainable=False, name="catalogue_ids")
    self.search_variables = [ids]
    k = int(min(k, catalogue.size))
    for modality in ("audio", "visual"):
      target = OTHER[modality]
      matrix = tf.Variable(np.ascontiguousarray(catalogue.embeddings(target), np.float32),
                           trainable=False, name=f"catalogue_{target}_embeddings")
      self.search_variables.append(matrix)
      self._add(SEARCH_SIGNATURES[modality],
                self._endpoint(modality, _top_k_search(ids, matrix, k)),
                self._specs(modality))
    return {"path": os.path.abspath(catalogue.path) if catalogue.path else None,
            "num_items": catalogue.size, "k": k,
            "targets": {SEARCH_BY_AUDIO: "visual", SEARCH_BY_VISUAL: "audio"}}


def graph_op_types(version_dir: str) -> set:
  """Every op type in the SavedModel's graph and function library."""
  sm = _read_saved_model(version_dir)
  ops = set()
  for meta_graph in sm.meta_graphs:
    ops.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
      ops.update(node.op for node in function.node_def)
  return ops


def hide_gpus() -> bool:
  """Hides GPUs from this process if TF has not initialized them yet."""
  try:
    if tf.config.list_physical_devices("GPU"):
      tf.config.set_visible_devices([], "GPU")
    return True
  except RuntimeError:  # Devices already initialized.
    return False


def load_model_dir(model_dir: str):
  """``(config, audio_encoder, visual_encoder)`` of a yt8m-train folder."""
  import keras
  from yt8m_crossmodal import models  # Registers the custom classes.
  if not model_dir:
    raise UsageError("--model_dir is required")
  model_path = os.path.join(model_dir, "model.keras")
  if not tf.io.gfile.exists(model_path):
    raise UsageError(f"no trained model at {model_path!r} (run yt8m-train first)")
  model = keras.models.load_model(model_path, compile=False)
  config = getattr(model, "crossmodal_config", None)
  config_path = os.path.join(model_dir, "config.json")
  if tf.io.gfile.exists(config_path):
    config = config_lib.load_config(config_path)
  if config is None:
    raise UsageError(f"no config.json in {model_dir!r}")
  try:
    audio = model.get_layer(models.AUDIO_ENCODER_NAME)
    visual = model.get_layer(models.VISUAL_ENCODER_NAME)
  except ValueError as e:
    raise UsageError(f"{model_path!r} has no audio/visual encoder layers") from e
  frame = len(audio.inputs) == 2
  if frame != (config.data.feature_level == "frame"):
    raise UsageError(f"config.json says feature_level={config.data.feature_level!r} "
                     "but the saved model is of the other level")
  return config, audio, visual


def _check_catalogue(path: str, embedding_size: int):
  from yt8m_crossmodal import retrieval
  try:
    catalogue = retrieval.load_catalogue(path, load_indexes=False)
  except ValueError as e:
    raise UsageError(f"--search_catalogue: {e}") from e
  if catalogue.size == 0:
    raise UsageError(f"--search_catalogue {path!r} is empty")
  if catalogue.embedding_size != embedding_size:
    raise UsageError(
        f"--search_catalogue {path!r} holds {catalogue.embedding_size}-d embeddings "
        f"but the model's queries are {embedding_size}-d: embed the catalogue with "
        "this model")
  return catalogue


def export(config: config_lib.Config, audio_encoder, visual_encoder,
           export_dir: str, version: int = 0, search_catalogue: str = "",
           search_k: int = 10, source: Optional[Dict[str, Any]] = None
           ) -> Dict[str, Any]:
  """Writes ``<export_dir>/<version>/`` from in-memory encoders.

  Args:
    config: the model's training config (feature level, max_frames...).
    audio_encoder / visual_encoder: the Keras encoders (see
      :func:`yt8m_crossmodal.models.build_encoders`).
    export_dir: the model folder.
    version: version number; 0 picks max(existing) + 1 (1 when none).
    search_catalogue: index folder to bake into search signatures ("" none).
    search_k: K of the search signatures (capped at the catalogue size).
    source: extra JSON-able info recorded in export.json (e.g. model_dir).

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
  frame = config.data.feature_level == "frame"
  embedding_size = int(config.model.embedding_size)
  catalogue = _check_catalogue(search_catalogue, embedding_size) if search_catalogue else None
  if tf.io.gfile.exists(export_dir) and not tf.io.gfile.isdir(export_dir):
    raise UsageError(f"--export_dir {export_dir!r} is a file")
  tf.io.gfile.makedirs(export_dir)
  versions = existing_versions(export_dir)
  version = version or (versions[-1] + 1 if versions else 1)
  final = os.path.join(export_dir, str(version))
  if tf.io.gfile.exists(final):
    raise UsageError(f"version {version} already exists at {final!r}: refusing to "
                     "overwrite it (give another --version, or none for the next one)")

  lstm_layers = _disable_cudnn(audio_encoder, visual_encoder)
  builder = _Builder(config, audio_encoder, visual_encoder)
  # encode_examples first: ExportArchive also registers the first endpoint as
  # serving_default.
  builder.add_examples()
  builder.add_encoders()
  search_info = builder.add_search(catalogue, search_k) if catalogue is not None else None
  if catalogue is not None:
    builder.archive.add_variable_collection("catalogue", builder.search_variables)

  import keras
  info = {
      "version": version,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "feature_level": config.data.feature_level,
      "embedding_size": embedding_size,
      "max_frames": config.data.max_frames,
      "serving_default": SERVING_DEFAULT_IS,
      "search": search_info,
      "lstm_layers_without_cudnn": lstm_layers,
      "tensorflow_version": tf.__version__,
      "keras_version": keras.__version__,
      "source": source or {},
  }
  tmp = os.path.join(export_dir, f"{TMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
  try:
    builder.archive.write_out(tmp, verbose=False)
    cudnn = sorted(op for op in graph_op_types(tmp) if op.startswith("CudnnRNN"))
    if cudnn:
      raise RuntimeError(f"the exported graph holds GPU-only ops {cudnn}")
    info["signatures"] = signature_defs(tmp)
    extra = os.path.join(tmp, ASSETS_EXTRA)
    tf.io.gfile.makedirs(extra)
    config_lib.save_config(config, os.path.join(extra, CONFIG_FILE))
    with tf.io.gfile.GFile(os.path.join(extra, EXPORT_FILE), "w") as f:
      f.write(json.dumps(info, indent=2, sort_keys=True))
    if tf.io.gfile.exists(final):
      raise UsageError(f"version {version} appeared at {final!r} during the export")
    tf.io.gfile.rename(tmp, final, overwrite=False)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
    raise
  logging.info("exported version %d to %s", version, final)
  return dict(info, path=final)


def run(cfg: ExportConfig) -> Dict[str, Any]:
  """Exports ``cfg.model_dir`` as configured; returns :func:`export`'s dict."""
  if not cfg.export_dir:
    raise UsageError("--export_dir is required")
  config, audio, visual = load_model_dir(cfg.model_dir)
  return export(config, audio, visual, cfg.export_dir, version=cfg.version,
                search_catalogue=cfg.search_catalogue, search_k=cfg.search_k,
                source={"model_dir": os.path.abspath(cfg.model_dir)})


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {argv[1:]}")
  hide_gpus()
  info = run(flags.read(ExportConfig))
  print(f"exported {info['feature_level']}-level model (E={info['embedding_size']}) "
        f"as version {info['version']}: {info['path']}")
  for name, sig in sorted(info["signatures"].items()):
    ins = ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in sig["inputs"].items())
    outs = ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in sig["outputs"].items())
    print(f"  {name}: ({ins}) -> ({outs})")
  print(json.dumps(info, sort_keys=True))


def cli():
  flags.define(ExportConfig)
  cli_lib.run(main)


if __name__ == "__main__":
  cli()
