"""Frozen configuration dataclasses.

Every tunable of training lives in one of the dataclasses below. Each field
name is unique across the sections, so the absl flag that sets it carries the
same name (``--lstm_units`` sets ``ModelConfig.lstm_units``); the mapping is
built in :mod:`yt8m_crossmodal.tools.flag_config`, the only module that reads
absl FLAGS. A :class:`Config` reads and writes every field by that name too
(``config.lstm_units``, ``config["lstm_units"]``, ``config.replace(lstm_units=8)``).
Help text for a flag comes from the field's ``metadata["help"]``, its checks
from ``metadata["check"]`` (and ``choices``), run by ``Config.validate()``.

The resolved :class:`Config` is written as JSON next to checkpoints
(``<model_dir>/config.json``) and into every export (``assets.extra/``), and
read back with :func:`Config.from_dict` / :func:`load_config`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import Any, Callable, Dict, Tuple

from yt8m_crossmodal import paths
from yt8m_crossmodal.errors import UsageError

# Releases: number of label classes.
NUM_CLASSES_2017 = 4716
NUM_CLASSES_2018 = 3862

MAX_FRAMES = 300


@dataclasses.dataclass(frozen=True)
class Check:
  """What a field's value must be: ``test(value)`` and how to say it.

  A failing value raises ``UsageError("--<field> must be <what>, got <value>")``
  (``"--<field> <what>"`` when ``what`` is a whole predicate, e.g. "is required").
  """

  test: Callable[[Any], bool]
  what: str
  predicate: bool = False

  def __call__(self, name: str, value: Any, prefix: str = "--") -> None:
    """Raises UsageError naming ``prefix + name`` (``prefix=""``: an argument)."""
    if not self.test(value):
      if self.predicate:
        raise UsageError(f"{prefix}{name} {self.what}")
      raise UsageError(f"{prefix}{name} must be {self.what}, got {value!r}")


def _finite(x) -> bool:
  return math.isfinite(x)


REQUIRED = Check(bool, "is required", predicate=True)
POSITIVE = Check(lambda v: v >= 1, "positive")
NON_NEGATIVE = Check(lambda v: v >= 0, ">= 0")
POSITIVE_NUMBER = Check(lambda v: _finite(v) and v > 0, "a positive number")
NON_NEGATIVE_NUMBER = Check(lambda v: _finite(v) and v >= 0, "a number >= 0")
FRACTION = Check(lambda v: _finite(v) and 0 <= v < 1, "in [0, 1)")
UNIT_INTERVAL = Check(lambda v: _finite(v) and 0 <= v <= 1, "in [0, 1]")  # Weights, probabilities.
POSITIVE_SIZES = Check(lambda v: all(s >= 1 for s in v), "positive sizes")


def option(default: Any, help_text: str, check: Check = None, **kw):
  """A dataclass field that becomes an absl flag: ``help``, ``choices``, ``check``."""
  metadata = {"help": help_text, **kw}
  if check is not None:
    metadata["check"] = check
  return dataclasses.field(default=default, metadata=metadata)


def check_field(field: dataclasses.Field, value: Any) -> None:
  """Runs the ``check`` declared beside ``field`` (if any) on ``value``."""
  if "check" in field.metadata:
    field.metadata["check"](field.name, value)


def check_fields(config: Any) -> None:
  """Runs the ``check`` declared beside each field of the dataclass ``config``.

  The one way a config checks a field's own value: the training sections
  (:meth:`Section.validate`) and the tools' configs
  (:mod:`yt8m_crossmodal.jobs.config`, whose ``validate()`` calls it) alike.
  """
  for f in dataclasses.fields(config):
    check_field(f, getattr(config, f.name))


def check_arguments(klass: Any, **values: Any) -> None:
  """Runs the checks declared beside ``klass``'s fields on arguments of their names.

  For a function that takes some of a config's fields as arguments (named
  without ``--`` in its messages): ``check_arguments(SyncConfig, max_offset=0)``.
  """
  fields = {f.name: f for f in dataclasses.fields(klass)}
  for name, value in values.items():
    check = fields[name].metadata.get("check")
    if check is not None:
      check(name, value, prefix="")


class Section:
  """Base of the config sections: :meth:`validate` runs each field's checks."""

  def validate(self) -> None:
    """Raises UsageError naming the flag of the first bad value."""
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      choices = f.metadata.get("choices")
      if choices and value not in choices:
        raise UsageError(f"--{f.name} must be one of {tuple(choices)}, got {value!r}")
      check_field(f, value)
    self.validate_together()

  def validate_together(self) -> None:
    """Checks that involve several fields of the section (none by default)."""


@dataclasses.dataclass(frozen=True)
class DataConfig(Section):
  """Where the records are and how they are read."""

  train_data: str = option("", f"Training TFRecords: {paths.PATTERN_HELP}.",
                           check=REQUIRED, path=paths.RECORDS)
  validation_data: str = option(
      "", f"Validation TFRecords (metrics each epoch): {paths.PATTERN_HELP}.",
      path=paths.RECORDS)
  feature_level: str = option(
      "frame", "'frame' (SequenceExample, per second) or 'video' (Example, "
      "mean_rgb/mean_audio).", choices=("frame", "video"))
  num_classes: int = option(
      NUM_CLASSES_2018, "Label vocabulary size: 3862 (2018+) or 4716 (2017).",
      check=POSITIVE)
  max_frames: int = option(MAX_FRAMES, "Frames (seconds) kept per video.", check=POSITIVE)
  batch_size: int = option(
      0, "Global batch size (split across replicas); 0: picked by the model and "
      "the number of training videos (64 at frame level; 64-512 at video level), "
      "logged and written to config.json.",
      check=Check(lambda v: v == 0 or v >= 2,
                  ">= 2 (negatives come from the batch), or 0 to pick it"))
  shuffle_buffer: int = option(2048, "Records in the shuffle buffer (0: none).",
                               check=NON_NEGATIVE)
  skip_bad_records: bool = option(
      False, "Skip (count and log) bad records instead of failing.")
  validation_size: int = option(
      1000, "Validation videos used for the per-epoch metrics (0: all).",
      check=NON_NEGATIVE)


@dataclasses.dataclass(frozen=True)
class ModelConfig(Section):
  """Architecture of the encoders."""

  model: str = option(
      "auto", "Model: temporal (multi-stride LSTMs over frame-level data) or "
      "video_level (the published MLP baseline over video-level means); auto "
      "picks by --feature_level.", choices=("auto", "temporal", "video_level"))
  projection_units: int = option(256, "Per-frame dense projection width.",
                                 check=POSITIVE)
  dropout: float = option(0.2, "Dropout after the per-frame projection.", check=FRACTION)
  window_strides: Tuple[int, ...] = option(
      (1, 5, 15), "Window strides in seconds, one LSTM stack each.",
      check=Check(lambda v: len(v) > 0 and all(s > 0 for s in v), "positive"))
  lstm_layers: int = option(2, "Stacked LSTM layers per stride.", check=POSITIVE)
  lstm_units: int = option(256, "Units per LSTM layer.", check=POSITIVE)
  embedding_size: int = option(256, "Dimension of the joint embedding space.",
                               check=POSITIVE)
  frame_skip: bool = option(
      True, "Fuse the per-second projection with the LSTM strides (a skip "
      "connection that keeps second-to-second detail in the timeline).")
  timeline_source: str = option(
      "local", "What the timeline is made of: fused (the shared projection of "
      "the fused strides, like the clip) or local (a branch of its own: a "
      "per-second projection of the features, no LSTM context, so an excerpt "
      "encodes the same alone or cut from a video).",
      choices=("fused", "local"))
  timeline_kernel: int = option(
      1, "Width in seconds of the local timeline's projection (1: per second).",
      check=POSITIVE)
  timeline_hidden_units: int = option(
      0, "Local timeline: width of a hidden per-second ReLU layer before the "
      "projection (0: none, a linear per-second projection).", check=NON_NEGATIVE)
  clip_timeline_weight: float = option(
      1.0, "Weight of the mean timeline row in the clip embedding: the clip is "
      "L2(L2(LSTM clip) + w * L2(mean timeline row)), trained as one (0: the "
      "LSTM clip alone).", check=NON_NEGATIVE_NUMBER)
  video_encoder: str = option(
      "residual", "Video-level model's towers: residual (input "
      "standardization, a projection, pre-norm residual GELU blocks with "
      "dropout) or mlp (the published ReLU MLP, sizes --audio_tower and "
      "--visual_tower).", choices=("residual", "mlp"))
  video_hidden_units: int = option(
      512, "Video-level residual towers: width of the blocks.", check=POSITIVE)
  video_blocks: int = option(
      1, "Video-level residual towers: residual blocks per tower.", check=NON_NEGATIVE)
  video_dropout: float = option(
      0.5, "Video-level residual towers: dropout inside each block.", check=FRACTION)
  video_input_dropout: float = option(
      0.2, "Video-level residual towers: dropout of the standardized inputs.",
      check=FRACTION)
  video_linear_dims: int = option(
      128, "Video-level residual towers: dimensions of a linear branch set to "
      "the canonical directions of the training data (a CCA of the "
      "standardized means, fitted when training starts, then frozen); the "
      "embedding is the L2 normalized concatenation of the residual branch "
      "(embedding_size - video_linear_dims) and the linear one (0: no linear "
      "branch).")
  video_towers: int = option(
      1, "Video-level residual towers: residual towers per modality, trained as "
      "an ensemble (each tower's embedding with the linear branch has a clip loss "
      "of its own) and exported as one model whose cosine is the mean of theirs; "
      "they share the embedding's residual dimensions (embedding_size - "
      "video_linear_dims).", check=POSITIVE)
  video_linear_trainable: bool = option(
      False, "Video-level residual towers: train the linear branch after it is set "
      "to the canonical directions (default: frozen).")
  audio_tower: Tuple[int, ...] = option(
      (450, 450, 250, 250), "Video-level model: hidden sizes of the audio MLP.",
      check=POSITIVE_SIZES)
  visual_tower: Tuple[int, ...] = option(
      (2000, 2000, 700, 700), "Video-level model: hidden sizes of the visual MLP.",
      check=POSITIVE_SIZES)


@dataclasses.dataclass(frozen=True)
class LossConfig(Section):
  """The training objective: a weighted sum of loss terms.

  The fields are flat, one flag each (and so in ``config.json``); each term's
  module under :mod:`yt8m_crossmodal.losses` reads its own into its config
  (``losses.terms_from(loss_config, has_timelines)``).
  """

  clip_loss: str = option(
      "auto", "Clip-level loss: contrastive (symmetric in-batch InfoNCE), "
      "triplet (mined triplets, see --mining) or auto (contrastive for the "
      "video-level model, triplet for the temporal model).",
      choices=("auto", "contrastive", "triplet"))
  clip_temperature: float = option(
      0.1, "Softmax temperature of the contrastive clip loss.", check=POSITIVE_NUMBER)
  clip_shared_label_weight: float = option(
      1.0, "Contrastive clip loss: how much a video that shares a label with the "
      "anchor counts as its negative (1: fully; 0: two videos of one topic are "
      "not pushed apart).", check=UNIT_INTERVAL)
  clip_memory_size: int = option(
      0, "Contrastive clip loss: embeddings of the last batches kept (no gradient) "
      "as extra negatives of each modality, a memory bank (0: the batch alone).",
      check=NON_NEGATIVE)
  mining: str = option(
      "semi_hard", "Negative of each clip triplet: batch_hard (the most similar "
      "other clip), semi_hard (the most similar one that is less similar than the "
      "positive, else the most similar) or all (every triplet with a positive hinge).",
      choices=("batch_hard", "semi_hard", "all"))
  margin: float = option(0.2, "Triplet margin (cosine similarity units).",
                         check=NON_NEGATIVE_NUMBER)
  audio_to_visual_weight: float = option(
      1.0, "Weight of the audio-to-visual direction (audio anchors) in each two-way "
      "term: the clip loss, the temporal triplets and the per-second contrastive "
      "loss.", check=NON_NEGATIVE_NUMBER)
  visual_to_audio_weight: float = option(
      1.0, "Weight of the visual-to-audio direction (visual anchors) in each two-way "
      "term: the clip loss, the temporal triplets and the per-second contrastive "
      "loss.", check=NON_NEGATIVE_NUMBER)
  exclude_shared_labels: bool = option(
      False, "Do not use negatives that share a label with the anchor.")
  temporal_weight: float = option(
      0.0, "Weight of temporal triplets on the timelines: each second's positive is "
      "the other modality's same second, its negative the most similar other second "
      "of the same video (0: off).", check=NON_NEGATIVE_NUMBER)
  temporal_margin: float = option(0.2, "Margin of temporal triplets.",
                                  check=NON_NEGATIVE_NUMBER)
  temporal_guard: int = option(
      1, "Temporal negatives are seconds at least this far from the anchor "
      "(1: every other second; larger for slowly changing footage).", check=POSITIVE)
  temporal_max_distance: int = option(
      0, "Temporal negatives are at most this many seconds from the anchor "
      "(offset-aware negatives: the same video shifted by guard..this; 0: any).",
      check=NON_NEGATIVE)
  sync_weight: float = option(
      0.0, "Weight of the sequence-level sync loss: softmax over candidate "
      "offsets of each window's mean diagonal similarity, true offset 0 "
      "(0: off).", check=NON_NEGATIVE_NUMBER)
  sync_loss_offsets: int = option(5, "Sync loss: candidate offsets -K..K.",
                                  check=POSITIVE)
  sync_loss_window: int = option(20, "Sync loss: window length in seconds.",
                                 check=POSITIVE)
  sync_loss_temperature: float = option(0.05, "Sync loss: softmax temperature.",
                                        check=POSITIVE_NUMBER)
  sync_loss_center: bool = option(
      True, "Sync loss: remove each video's mean timeline row (style, topic) "
      "and renormalize before scoring offsets.")
  sync_loss_reweight: bool = option(
      False, "Sync loss: weight each window by its (stop-gradient) probability "
      "of the true offset, which down-weights videos that cannot be aligned.")
  timeline_nce_weight: float = option(
      1.0, "Weight of the per-second contrastive (InfoNCE) loss on the "
      "timelines: each audio second picks its own visual second among all "
      "seconds of a window of every video in the batch, and the reverse "
      "(0: off).", check=NON_NEGATIVE_NUMBER)
  timeline_nce_temperature: float = option(
      0.1, "Per-second contrastive loss: softmax temperature.", check=POSITIVE_NUMBER)
  timeline_nce_seconds: int = option(
      32, "Per-second contrastive loss: window of seconds taken from each "
      "video at a random start (memory grows with (batch x window)^2).",
      check=POSITIVE)
  classification_weight: float = option(
      0.0, "Weight of the label-classification regularizer (0: off).",
      check=NON_NEGATIVE_NUMBER)
  classification_warmup_steps: int = option(
      1000, "Steps over which the classification weight ramps up from 0.",
      check=NON_NEGATIVE)

  def validate_together(self) -> None:
    if not self.audio_to_visual_weight + self.visual_to_audio_weight > 0:
      raise UsageError("--audio_to_visual_weight must be positive when "
                       "--visual_to_audio_weight is 0, got "
                       f"{self.audio_to_visual_weight!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
  """Optimization and run control."""

  model_dir: str = option("", "Checkpoints, logs, TensorBoard and config.json.",
                          check=REQUIRED, path=paths.OUTPUT_FOLDER)
  epochs: int = option(
      0, "Training epochs; 0: picked by the model and the number of training "
      "videos (10 at frame level; 10-30 at video level), logged and written to "
      "config.json.", check=NON_NEGATIVE)
  steps_per_epoch: int = option(0, "Steps per epoch (0: one pass over the data).",
                                check=NON_NEGATIVE)
  learning_rate: float = option(
      0.0, "Peak learning rate; 0: picked by the model and the number of training "
      "videos (1e-3 at frame level; 1e-3 or 2e-3 at video level), logged and "
      "written to config.json.",
      check=Check(lambda v: _finite(v) and v >= 0, "a positive number, or 0 to pick it"))
  lr_schedule: str = option("cosine", "constant or cosine (with warm-up).",
                        choices=("constant", "cosine"))
  warmup_steps: int = option(200, "Linear learning-rate warm-up steps.", check=NON_NEGATIVE)
  clipnorm: float = option(1.0, "Gradient clipping by global norm (0: off).",
                           check=NON_NEGATIVE_NUMBER)
  weight_decay: float = option(1e-4, "AdamW weight decay.", check=NON_NEGATIVE_NUMBER)
  seed: int = option(42, "Seed of weights, shuffling and dropout.")
  restart: bool = option(
      False, "Start over: remove the backup, checkpoints, log and model of an earlier "
      "run in --model_dir. Without it a killed run resumes where it stopped and a "
      "finished one is left as it is (raise --epochs to train more).")
  allow_config_change: bool = option(
      False, "Resume a run although training or data flags (--learning_rate, "
      "--batch_size, --train_data, ...) differ from its config.json; the changes "
      "are recorded in config_changes.json with the first epoch they apply to. "
      "(Model and loss flags must stay the same.)")
  distribution_strategy: str = option(
      "none", "none, mirrored or multi_worker (reads TF_CONFIG).",
      choices=("none", "mirrored", "multi_worker"))
  projector_samples: int = option(
      200, "Validation clips written to the TensorBoard embedding projector.",
      check=NON_NEGATIVE)
  sync_max_offset: int = option(5, "Validation sync: offsets in [-S, S] seconds.",
                                check=NON_NEGATIVE)
  sync_excerpt_seconds: int = option(20, "Validation sync: excerpt length L.",
                                     check=POSITIVE)
  precision: str = option(
      "float32", "Dtype policy of the training step: float32, or "
      "mixed_bfloat16 for accelerators (bfloat16 compute, float32 weights; "
      "embeddings, timelines and the loss stay float32; the export is "
      "float32 whatever it is).", choices=("float32", "mixed_bfloat16"))
  backend: str = option(
      "auto", "Keras backend of the training step: tensorflow, jax or torch (auto: "
      "KERAS_BACKEND, else Keras' own default). The input pipeline, TensorBoard "
      "and the export run on TensorFlow whatever it is.",
      choices=("auto", "tensorflow", "jax", "torch"))

  def validate_together(self) -> None:
    if self.distribution_strategy == "multi_worker" and not self.steps_per_epoch:
      raise UsageError(
          "--distribution_strategy=multi_worker needs --steps_per_epoch (workers read "
          "different files, so 'one pass' would end at different steps)")


_SECTIONS = (("data", DataConfig), ("model", ModelConfig), ("loss", LossConfig),
             ("train", TrainConfig))

# Fields added with a default that differs from what the code did before they
# existed: a saved config (config.json, a .keras file) that lacks one gets
# this value, so an older model rebuilds (exports, resumes) as it was trained.
ABSENT_FIELD_VALUES = {
    "timeline_source": "fused",
    "timeline_nce_weight": 0.0,
    "clip_timeline_weight": 0.0,
    "clip_loss": "triplet",
    "video_encoder": "mlp",
}


def with_absent_fields(klass, values: Dict[str, Any]) -> Dict[str, Any]:
  """``values`` of a saved ``klass`` section plus :data:`ABSENT_FIELD_VALUES`."""
  names = {f.name for f in dataclasses.fields(klass)}
  filled = {k: v for k, v in ABSENT_FIELD_VALUES.items() if k in names}
  filled.update(values)
  return filled


def section_from_dict(klass, values):
  """``klass(**values)`` for a saved section, ignoring (and logging) unknown fields.

  ``values`` may already be a ``klass``. Fields it lacks take
  :data:`ABSENT_FIELD_VALUES` (saved before they existed), else their
  defaults; lists become tuples where the field is a tuple.
  """
  if isinstance(values, klass):
    return values
  known = {f.name: f for f in dataclasses.fields(klass)}
  unknown = sorted(set(values) - set(known))
  if unknown:
    logging.warning("ignoring %s fields unknown to this version: %s",
                    klass.__name__, unknown)
  kept = {}
  for key, value in with_absent_fields(klass, values).items():
    if key in known:
      kept[key] = tuple(value) if isinstance(known[key].default, tuple) else value
  return klass(**kept)


@dataclasses.dataclass(frozen=True)
class Config:
  """The whole resolved configuration of a training run.

  Its fields are the flags of ``yt8m-train``, grouped in four sections
  (``data``, ``model``, ``loss``, ``train``); every field reads and writes by
  its flag name, whatever its section:

  >>> config = Config().replace(train_data="data/train*.tfrecord", lstm_units=128)
  >>> config.lstm_units, config["lstm_units"], config.model.lstm_units
  (128, 128, 128)
  >>> config.feature_level, config.data.feature_level
  ('frame', 'frame')
  >>> config.replace(progress=False)
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: --progress is a switch of the console tools ...

  (``config.model`` is the model section; the ``--model`` field reads as
  ``config["model"]`` or ``config.model.model``.)
  """

  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  loss: LossConfig = dataclasses.field(default_factory=LossConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def validate(self) -> None:
    """Raises UsageError naming the flag of the first bad value.

    Runs every section's field checks (``check`` beside each field), then the
    checks that span sections.
    """
    for name, _ in _SECTIONS:
      getattr(self, name).validate()
    d, m = self.data, self.model
    video_residual = m.video_encoder == "residual" and (
        m.model == "video_level" or (m.model == "auto" and d.feature_level == "video"))
    if video_residual and not 0 <= m.video_linear_dims < m.embedding_size:
      raise UsageError(
          f"--video_linear_dims must be in [0, --embedding_size={m.embedding_size}) for "
          f"the residual video-level towers, got {m.video_linear_dims!r}")
    if video_residual and m.embedding_size - m.video_linear_dims < m.video_towers:
      raise UsageError(
          f"--video_towers={m.video_towers} needs as many residual dimensions "
          f"(--embedding_size - --video_linear_dims = "
          f"{m.embedding_size - m.video_linear_dims})")

  def to_dict(self) -> Dict[str, Dict[str, Any]]:
    return {name: dataclasses.asdict(getattr(self, name)) for name, _ in _SECTIONS}

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, d: Dict[str, Dict[str, Any]]) -> "Config":
    """Builds a config from :meth:`to_dict` output; unknown keys are errors.

    A field missing from ``d`` takes its :data:`ABSENT_FIELD_VALUES` value
    if it has one (a config saved before the field existed), else its default.
    """
    sections = {}
    for name, klass in _SECTIONS:
      values = with_absent_fields(klass, d.get(name, {}))
      known = {f.name: f for f in dataclasses.fields(klass)}
      unknown = set(values) - set(known)
      if unknown:
        raise ValueError(f"Unknown {name} config fields: {sorted(unknown)}")
      for key, value in values.items():
        if isinstance(known[key].default, tuple):
          values[key] = tuple(value)
      sections[name] = klass(**values)
    return cls(**sections)

  def replace(self, **fields: Any) -> "Config":
    """A copy with fields replaced, by their flag names (``lstm_units=8``).

    Raises:
      UsageError: a name that is no field of the config (with the closest
        ones; ``progress`` and ``verbose`` are switches of the console
        tools, ``config`` is ``named_config``).
    """
    updates = {name: {} for name, _ in _SECTIONS}
    for key, value in fields.items():
      section = field_section(key)
      updates[section][key] = value
    return Config(**{
        name: dataclasses.replace(getattr(self, name), **updates[name])
        for name, _ in _SECTIONS
    })

  def __getitem__(self, name: str) -> Any:
    """A field by its flag name: ``config["lstm_units"]``, ``config["model"]``."""
    return getattr(getattr(self, field_section(name)), name)

  def __getattr__(self, name: str) -> Any:
    """A field by its flag name: ``config.lstm_units`` (= ``config.model.lstm_units``).

    Every field reads so but ``model``, which names the model section
    (``config.model.model``, or ``config["model"]``, is the field).
    """
    if name.startswith("_"):  # Python's own (copy, pickle) look-ups.
      raise AttributeError(name)
    section = _FIELD_SECTIONS.get(name)
    if section is None:
      raise AttributeError(f"'Config' object has no attribute {name!r} (and no config "
                           f"field of that name{_close(name)})")
    return getattr(object.__getattribute__(self, section), name)

  def flat_dict(self) -> Dict[str, Any]:
    """``{flag name: value}`` of every field (what ``replace`` takes)."""
    return {f.name: getattr(getattr(self, section), f.name) for section, f in all_fields()}


# Flags of the console tools that are not fields of a config, and what to do
# from Python instead.
_NOT_FIELDS = {
    "progress": "--progress is a switch of the console tools (a progress line on a "
                "terminal), not a config field; from Python, set "
                "yt8m_crossmodal.progress.ENABLED = False to turn progress lines off",
    "verbose": "--verbose is a switch of the console tools, not a config field; from "
               "Python, set YT8M_VERBOSE=1 in the environment before TensorFlow loads",
    "config": "--config is yt8m-train's flag that names a configuration, not a config "
              "field; from Python, named_config(name, **fields)",
}


def _close(name: str) -> str:
  import difflib  # pylint: disable=import-outside-toplevel
  close = difflib.get_close_matches(name, FIELD_NAMES, n=3)
  return f"; did you mean {', '.join(close)}?" if close else ""


def field_section(name: str) -> str:
  """Section ('data', 'model', 'loss', 'train') that holds field ``name``.

  Raises:
    UsageError: no field is named so (said with the closest field names).
  """
  section = _FIELD_SECTIONS.get(name)
  if section is None:
    if name in _NOT_FIELDS:
      raise UsageError(_NOT_FIELDS[name])
    raise UsageError(f"no config field named {name!r}{_close(name)} (the fields are the "
                     "flags of yt8m-train; yt8m-train --help lists them)")
  return section


def all_fields():
  """Yields (section, dataclasses.Field) for every config field."""
  for section, klass in _SECTIONS:
    for f in dataclasses.fields(klass):
      yield section, f


_FIELD_SECTIONS = {f.name: section for section, f in all_fields()}
FIELD_NAMES = tuple(_FIELD_SECTIONS)


def save_config(config: Config, path: str) -> None:
  """Writes ``config`` as JSON to ``path`` (local or gs://), atomically."""
  from yt8m_crossmodal import io_utils  # Lazy: model code must import without TF.
  io_utils.atomic_write_text(path, config.to_json())


def load_config(path: str) -> Config:
  """Reads a config written by :func:`save_config` (``<model_dir>/config.json``).

  >>> config = load_config(f"{model_dir}/config.json")    # what yt8m-train wrote
  >>> config.feature_level, config.embedding_size
  ('frame', 6)
  """
  import tensorflow as tf  # Lazy: model code must import without TF.
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"No config at {path}")
  with tf.io.gfile.GFile(path) as f:
    return Config.from_dict(json.load(f))
