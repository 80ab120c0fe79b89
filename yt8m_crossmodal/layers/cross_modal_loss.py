"""Layer that adds the cross-modal training objective to a model."""

import dataclasses

import keras
from keras import ops

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import losses
from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.layers.masking import frame_mask
from yt8m_crossmodal.losses import clip_contrastive

# The output key of the loss parts: {name: float32 scalar} (see metric_names).
LOSS_PARTS = "loss_parts"

_EMBEDDING_KEYS = ("audio_embedding", "visual_embedding", "audio_timeline",
                   "visual_timeline")


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class CrossModalLoss(keras.layers.Layer):
  """Adds the objective of ``loss_config`` with ``add_loss``; passes embeddings on.

  Called on a dict with ``audio_embedding`` and ``visual_embedding``
  (``[B, E]``), optionally ``audio_timeline``/``visual_timeline``
  (``[B, T, E]``), ``num_frames`` (``[B]``) and ``labels`` (``[B, C]``
  multi-hot). Returns the embeddings/timelines given, as float32, plus
  ``loss_parts``: ``{name: float32 scalar}`` for each of ``metric_names``.

  The loss is the weighted sum of the terms of ``losses.terms_from`` (see
  :mod:`yt8m_crossmodal.losses`): the clip term, and with timelines the
  temporal triplets, the sync loss and the per-second InfoNCE; the
  classification term (a shared ``Dense(C)`` head on both clip embeddings,
  needs ``labels``) has its weight ramped from 0 over
  ``classification_warmup_steps`` training calls, counted by ``step``.

  The layer updates no metric itself (that breaks the JAX trainer's stateless
  step): the training model averages ``loss_parts`` in ``compute_metrics``.
  Runs in float32 by default (embeddings are upcast under mixed precision).

  Args:
    loss_config: a ``LossConfig`` or its dict (missing fields as
      ``config.section_from_dict`` fills them).
  """

  def __init__(self, loss_config=None, **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    self.loss_config = config_lib.section_from_dict(LossConfig, loss_config or {})
    self.loss_config.validate()
    # Window starts of the per-second InfoNCE (a state variable, so the JAX
    # trainer threads it like dropout's).
    self.seed_generator = keras.random.SeedGenerator(0)
    self.classifier = None
    self.step = None
    self.memory = None
    self._terms = ()

  @property
  def terms(self):
    """The ``losses.WeightedTerm`` s summed (known once built)."""
    return self._terms

  @property
  def metric_names(self):
    """Names of the loss parts returned under ``loss_parts`` (and logged by fit)."""
    names = losses.part_names(self.terms)
    if self._term("classification"):
      names.append("classification_weight")
    return names

  def _term(self, name):
    return next((t for t in self.terms if t.name == name), None)

  def build(self, input_shape):
    for key in ("audio_embedding", "visual_embedding"):
      if key not in input_shape:
        raise ValueError(f"{self.name}: missing input {key!r}")
    has_timelines = ("audio_timeline" in input_shape
                     and "visual_timeline" in input_shape)
    self._terms = losses.terms_from(self.loss_config, has_timelines)
    if self.loss_config.exclude_shared_labels and "labels" not in input_shape:
      # Whichever the clip term (the flag is read by the triplets only).
      raise ValueError(f"{self.name}: exclude_shared_labels needs 'labels'")
    for term in self._terms:
      for key, setting in losses.terms.needs(term).items():
        if key not in input_shape:
          raise ValueError(f"{self.name}: {setting} needs {key!r}")
    clip = self._term("clip").config
    if isinstance(clip, clip_contrastive.ClipContrastiveConfig):
      if clip.memory_size:
        size, dim = clip.memory_size, input_shape["audio_embedding"][-1]
        self.memory = {
            name: self.add_weight(name=f"{name}_memory", shape=(size, dim),
                                  initializer="zeros", trainable=False,
                                  aggregation="only_first_replica")
            for name in ("audio", "visual")}
        self.memory_filled = self.add_weight(
            name="memory_filled", shape=(), dtype="int32", initializer="zeros",
            trainable=False, autocast=False, aggregation="only_first_replica")
    if self._term("classification"):
      self.classifier = keras.layers.Dense(
          input_shape["labels"][-1], dtype=self.dtype_policy, name="classifier")
      self.classifier.build(tuple(input_shape["audio_embedding"]))
      self.step = self.add_weight(
          name="step", shape=(), dtype="int64", initializer="zeros",
          trainable=False, autocast=False, aggregation="only_first_replica")
    self.built = True

  def call(self, inputs, training=None):
    if "audio_members" in inputs and "visual_members" in inputs:
      return self._ensemble_call(inputs, training)
    x = losses.TermInputs(
        audio=ops.cast(inputs["audio_embedding"], "float32"),
        visual=ops.cast(inputs["visual_embedding"], "float32"),
        labels=inputs.get("labels"))
    if "audio_timeline" in inputs and "visual_timeline" in inputs:
      x.audio_timeline, x.visual_timeline = (inputs["audio_timeline"],
                                             inputs["visual_timeline"])
      batch, steps = ops.shape(x.audio_timeline)[0], ops.shape(x.audio_timeline)[1]
      if inputs.get("num_frames") is not None:
        x.mask = frame_mask(inputs["num_frames"], steps)
      else:
        x.mask = ops.ones((batch, steps), dtype="bool")
      if self._term("timeline_nce"):
        x.window_uniform = keras.random.uniform((batch,), seed=self.seed_generator)
    if self.memory is not None:
      x.audio_memory, x.visual_memory = self.memory["audio"], self.memory["visual"]
      size = ops.shape(self.memory["audio"])[0]
      x.memory_valid = ops.less(ops.arange(size, dtype="int32"), self.memory_filled)
    weights = {}
    classification = self._term("classification")
    if classification:
      x.audio_logits, x.visual_logits = self.classifier(x.audio), self.classifier(x.visual)
      weights["classification"] = losses.ramp_weight(
          self.step, classification.weight, classification.config.warmup_steps)
    total, parts = losses.objective(x, self.terms, weights)
    if classification:
      parts["classification_weight"] = ops.cast(weights["classification"], "float32")
      if training:
        self.step.assign_add(ops.ones((), dtype="int64"))
    if self.memory is not None and training:
      self._remember(x.audio, x.visual)
    self.add_loss(total)
    out = {key: ops.cast(inputs[key], "float32")
           for key in _EMBEDDING_KEYS if key in inputs}
    out[LOSS_PARTS] = parts
    return out

  def _ensemble_call(self, inputs, training):
    """The objective averaged over ensemble members ``[B, K, d]`` (each its own loss)."""
    if self.memory is not None:
      raise ValueError(f"{self.name}: a memory bank is not kept for ensemble members")
    if self._term("classification"):
      raise ValueError(f"{self.name}: classification_weight > 0 is not supported with "
                       "ensemble members")
    audio, visual = _members(inputs["audio_members"]), _members(inputs["visual_members"])
    members = len(audio)
    total, parts = 0.0, {}
    for a, v in zip(audio, visual):
      x = losses.TermInputs(audio=ops.cast(a, "float32"), visual=ops.cast(v, "float32"),
                            labels=inputs.get("labels"))
      member_total, member_parts = losses.objective(x, self.terms)
      total = total + member_total / members
      for name, value in member_parts.items():
        parts[name] = parts.get(name, 0.0) + value / members
    self.add_loss(total)
    out = {key: ops.cast(inputs[key], "float32")
           for key in _EMBEDDING_KEYS if key in inputs}
    out[LOSS_PARTS] = parts
    return out

  def _remember(self, audio, visual):
    """Puts the batch's embeddings first in the memory bank (the oldest drop out)."""
    size = self.memory["audio"].shape[0]
    for name, batch in (("audio", audio), ("visual", visual)):
      kept = ops.concatenate([ops.stop_gradient(batch), self.memory[name]], axis=0)
      self.memory[name].assign(kept[:size])
    filled = self.memory_filled + ops.cast(ops.shape(audio)[0], "int32")
    self.memory_filled.assign(ops.minimum(filled, size))

  def compute_output_spec(self, inputs, training=None):
    out = {key: keras.KerasTensor(inputs[key].shape, dtype="float32")
           for key in _EMBEDDING_KEYS if key in inputs}
    out[LOSS_PARTS] = {name: keras.KerasTensor((), dtype="float32")
                       for name in self.metric_names}
    return out

  def get_config(self):
    config = super().get_config()
    config["loss_config"] = dataclasses.asdict(self.loss_config)
    return config


def _members(value):
  """Ensemble members as a list of ``[B, d_k]``, from ``[B, K, d]`` or a list."""
  if isinstance(value, (list, tuple)):
    return list(value)
  return [value[:, k] for k in range(int(value.shape[1]))]


_LOSS_FIELDS = frozenset(f.name for f in dataclasses.fields(LossConfig))


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class CrossModalTripletLoss(CrossModalLoss):
  """:class:`CrossModalLoss` under its earlier name, which saved files hold.

  Keras keeps a layer's weights (the classification head, ``step``, the seed)
  under its class name, so the training model builds this class: checkpoints
  and ``model.keras`` files of earlier versions restore into it. It also
  takes the ``LossConfig`` fields as keyword arguments, as it did, and
  deserializes configs saved in that form (absent fields as
  ``config.section_from_dict`` fills them).
  """

  def __init__(self, loss_config=None, **kwargs):
    fields = {k: kwargs.pop(k) for k in list(kwargs) if k in _LOSS_FIELDS}
    if fields:
      base = config_lib.section_from_dict(LossConfig, loss_config or {})
      loss_config = dataclasses.replace(base, **fields)
    super().__init__(loss_config, **kwargs)

  @classmethod
  def from_loss_config(cls, loss_config, **kwargs):
    """Builds the layer from a ``config.LossConfig``."""
    return cls(loss_config, **kwargs)

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    fields = {k: config.pop(k) for k in list(config) if k in _LOSS_FIELDS}
    if fields:  # Saved with one argument per field.
      config["loss_config"] = config_lib.section_from_dict(LossConfig, fields)
    return cls(**config)
