"""Layer that adds the cross-modal triplet loss to a model."""

import dataclasses

import keras
from keras import ops

from yt8m_crossmodal import losses
from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.layers.masking import frame_mask

# Constructor defaults are the LossConfig defaults: one source of truth.
_DEFAULTS = LossConfig()

CLIP_LOSSES = ("auto", "contrastive", "triplet")

# The output key of the loss parts: {name: float32 scalar} (see metric_names).
LOSS_PARTS = "loss_parts"

_EMBEDDING_KEYS = ("audio_embedding", "visual_embedding", "audio_timeline",
                   "visual_timeline")


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class CrossModalTripletLoss(keras.layers.Layer):
  """Adds the training loss with ``add_loss`` and passes embeddings through.

  Called on a dict with ``audio_embedding`` and ``visual_embedding``
  (``[B, E]``), optionally ``audio_timeline``/``visual_timeline``
  (``[B, T, E]``), ``num_frames`` (``[B]``) and ``labels`` (``[B, C]``
  multi-hot). Returns the dict of the embeddings/timelines given, unchanged
  (as float32), plus ``loss_parts``: ``{name: float32 scalar}`` for each name
  of ``metric_names`` (the parts, active fractions, similarities). The total
  loss is::

      clip = a2v_w * clip_a2v + v2a_w * clip_v2a    (clip_loss: symmetric
             InfoNCE, or triplets mined as configured; auto picks InfoNCE
             without timelines, triplets with them)
      temporal = a2v_w * temporal_a2v + v2a_w * temporal_v2a     (hardest)
      timeline_nce = per-second InfoNCE over a random window of
                     timeline_nce_seconds of every video (both directions)
      sync = softmax over candidate offsets of windowed diagonal means
      classification = mean of the sigmoid CE of both modalities through one
                       shared Dense(C) head on the clip embeddings
      total = clip + temporal_weight * temporal
              + timeline_nce_weight * timeline_nce + sync_weight * sync
              + ramp(step) * classification_weight * classification

  The temporal part needs timelines (frame level) and ``temporal_weight > 0``;
  the classification part needs ``labels`` and ``classification_weight > 0``.
  The weight ramps linearly from 0 over ``classification_warmup_steps``
  training calls, counted by the layer's own ``step`` variable.

  The math lives in :mod:`yt8m_crossmodal.losses`. The layer updates no
  metric itself (a metric updated inside ``call`` breaks the JAX trainer's
  stateless step): the training model averages ``loss_parts`` into its own
  trackers in ``compute_metrics``, on every backend, so they appear in
  ``model.fit`` logs / history (``val_`` prefixed in validation).
  Runs in float32 by default (embeddings are upcast under mixed precision).

  Constructor arguments are the fields of ``config.LossConfig``; use
  :meth:`from_loss_config`.
  """

  def __init__(self, clip_loss=_DEFAULTS.clip_loss,
               clip_temperature=_DEFAULTS.clip_temperature,
               mining=_DEFAULTS.mining, margin=_DEFAULTS.margin,
               audio_to_visual_weight=_DEFAULTS.audio_to_visual_weight,
               visual_to_audio_weight=_DEFAULTS.visual_to_audio_weight,
               exclude_shared_labels=_DEFAULTS.exclude_shared_labels,
               temporal_weight=_DEFAULTS.temporal_weight,
               temporal_margin=_DEFAULTS.temporal_margin,
               temporal_guard=_DEFAULTS.temporal_guard,
               temporal_max_distance=_DEFAULTS.temporal_max_distance,
               sync_weight=_DEFAULTS.sync_weight,
               sync_loss_offsets=_DEFAULTS.sync_loss_offsets,
               sync_loss_window=_DEFAULTS.sync_loss_window,
               sync_loss_temperature=_DEFAULTS.sync_loss_temperature,
               sync_loss_center=_DEFAULTS.sync_loss_center,
               sync_loss_reweight=_DEFAULTS.sync_loss_reweight,
               timeline_nce_weight=_DEFAULTS.timeline_nce_weight,
               timeline_nce_temperature=_DEFAULTS.timeline_nce_temperature,
               timeline_nce_seconds=_DEFAULTS.timeline_nce_seconds,
               classification_weight=_DEFAULTS.classification_weight,
               classification_warmup_steps=_DEFAULTS.classification_warmup_steps,
               **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    if mining not in losses.MINING_MODES:
      raise ValueError(
          f"mining must be one of {losses.MINING_MODES}, got {mining!r}")
    if clip_loss not in CLIP_LOSSES:
      raise ValueError(f"clip_loss must be one of {CLIP_LOSSES}, got {clip_loss!r}")
    if not clip_temperature > 0:
      raise ValueError(f"clip_temperature must be > 0, got {clip_temperature}")
    self.clip_loss = clip_loss
    self.clip_temperature = float(clip_temperature)
    self.use_contrastive_clip = False
    self.mining = mining
    self.margin = float(margin)
    self.audio_to_visual_weight = float(audio_to_visual_weight)
    self.visual_to_audio_weight = float(visual_to_audio_weight)
    self.exclude_shared_labels = bool(exclude_shared_labels)
    self.temporal_weight = float(temporal_weight)
    self.temporal_margin = float(temporal_margin)
    self.temporal_guard = int(temporal_guard)
    self.temporal_max_distance = int(temporal_max_distance)
    self.sync_weight = float(sync_weight)
    self.sync_loss_offsets = int(sync_loss_offsets)
    self.sync_loss_window = int(sync_loss_window)
    self.sync_loss_temperature = float(sync_loss_temperature)
    self.sync_loss_center = bool(sync_loss_center)
    self.sync_loss_reweight = bool(sync_loss_reweight)
    self.timeline_nce_weight = float(timeline_nce_weight)
    self.timeline_nce_temperature = float(timeline_nce_temperature)
    self.timeline_nce_seconds = int(timeline_nce_seconds)
    if self.timeline_nce_seconds < 1:
      raise ValueError("timeline_nce_seconds must be >= 1")
    # Window starts of the per-second contrastive loss (a state variable, so
    # the JAX trainer threads it like dropout's).
    self.seed_generator = keras.random.SeedGenerator(0)
    self.classification_weight = float(classification_weight)
    self.classification_warmup_steps = int(classification_warmup_steps)
    self.classifier = None
    self.step = None
    self.use_temporal = False
    self.use_sync = False
    self.use_timeline_nce = False
    self.use_classification = False
    self._part_names = []
    self._parts = {}

  @classmethod
  def from_loss_config(cls, loss_config, **kwargs):
    """Builds the layer from a ``config.LossConfig``."""
    return cls(**dataclasses.asdict(loss_config), **kwargs)

  @property
  def metric_names(self):
    """Names of the loss parts returned under ``loss_parts`` (and logged by fit)."""
    return list(self._part_names)

  def build(self, input_shape):
    for key in ("audio_embedding", "visual_embedding"):
      if key not in input_shape:
        raise ValueError(f"{self.name}: missing input {key!r}")
    has_timelines = ("audio_timeline" in input_shape
                     and "visual_timeline" in input_shape)
    self.use_temporal = has_timelines and self.temporal_weight > 0
    self.use_sync = has_timelines and self.sync_weight > 0
    self.use_timeline_nce = has_timelines and self.timeline_nce_weight > 0
    self.use_classification = self.classification_weight > 0
    if self.exclude_shared_labels and "labels" not in input_shape:
      raise ValueError(f"{self.name}: exclude_shared_labels needs 'labels'")

    # auto: contrastive for clip embeddings alone (video level), mined
    # triplets when timelines come too (frame level).
    self.use_contrastive_clip = (self.clip_loss == "contrastive" or (
        self.clip_loss == "auto" and not has_timelines))
    names = ["clip_loss", "clip_a2v_loss", "clip_v2a_loss",
             "clip_accuracy" if self.use_contrastive_clip else "clip_active_fraction",
             "clip_positive_similarity", "clip_negative_similarity"]
    if self.use_temporal:
      names += ["temporal_loss", "temporal_a2v_loss", "temporal_v2a_loss",
                "temporal_active_fraction", "temporal_positive_similarity",
                "temporal_negative_similarity"]
    if self.use_sync:
      names += ["sync_loss", "sync_accuracy", "sync_true_probability"]
    if self.use_timeline_nce:
      names += ["timeline_nce_loss", "timeline_nce_accuracy",
                "timeline_nce_positive_similarity"]
    if self.use_classification:
      if "labels" not in input_shape:
        raise ValueError(
            f"{self.name}: classification_weight > 0 needs 'labels'")
      num_classes = input_shape["labels"][-1]
      embedding_shape = tuple(input_shape["audio_embedding"])
      self.classifier = keras.layers.Dense(
          num_classes, dtype=self.dtype_policy, name="classifier")
      self.classifier.build(embedding_shape)
      self.step = self.add_weight(
          name="step", shape=(), dtype="int64", initializer="zeros",
          trainable=False, autocast=False, aggregation="only_first_replica")
      names += ["classification_loss", "classification_weight"]
    self._part_names = names
    self.built = True

  def _update(self, name, value):
    self._parts[name] = ops.cast(value, "float32")

  def _clip_part(self, audio, visual, labels):
    """The clip loss (contrastive or mined triplets); records its parts."""
    directions = dict(audio_to_visual_weight=self.audio_to_visual_weight,
                      visual_to_audio_weight=self.visual_to_audio_weight)
    if self.use_contrastive_clip:
      clip = losses.clip_contrastive_loss(
          audio, visual, temperature=self.clip_temperature, **directions)
      self._update("clip_a2v_loss", clip["audio_to_visual"])
      self._update("clip_v2a_loss", clip["visual_to_audio"])
      self._update("clip_accuracy", clip["accuracy"])
      self._update("clip_positive_similarity", clip["positive_similarity"])
      self._update("clip_negative_similarity", clip["negative_similarity"])
    else:
      clip = losses.cross_modal_clip_loss(
          audio, visual, margin=self.margin, mining=self.mining, labels=labels,
          exclude_shared_labels=self.exclude_shared_labels, **directions)
      a2v, v2a = clip["audio_to_visual"], clip["visual_to_audio"]
      self._update("clip_a2v_loss", a2v["loss"])
      self._update("clip_v2a_loss", v2a["loss"])
      self._update("clip_active_fraction",
                   0.5 * (a2v["active_fraction"] + v2a["active_fraction"]))
      self._update("clip_positive_similarity", a2v["positive_similarity"])
      self._update("clip_negative_similarity",
                   0.5 * (a2v["negative_similarity"]
                          + v2a["negative_similarity"]))
    self._update("clip_loss", clip["loss"])
    return clip["loss"]

  def call(self, inputs, training=None):
    self._parts = {}
    audio = ops.cast(inputs["audio_embedding"], "float32")
    visual = ops.cast(inputs["visual_embedding"], "float32")
    labels = inputs.get("labels")

    total = self._clip_part(audio, visual, labels)

    if self.use_temporal or self.use_sync or self.use_timeline_nce:
      audio_tl = inputs["audio_timeline"]
      steps = ops.shape(audio_tl)[1]
      if inputs.get("num_frames") is not None:
        mask = frame_mask(inputs["num_frames"], steps)
      else:
        mask = ops.ones((ops.shape(audio_tl)[0], steps), dtype="bool")
    if self.use_sync:
      sync = losses.sync_offset_loss(
          audio_tl, inputs["visual_timeline"], mask,
          max_offset=self.sync_loss_offsets, window=self.sync_loss_window,
          temperature=self.sync_loss_temperature,
          center=self.sync_loss_center, reweight=self.sync_loss_reweight)
      total = total + self.sync_weight * sync["loss"]
      self._update("sync_loss", sync["loss"])
      self._update("sync_accuracy", sync["accuracy"])
      self._update("sync_true_probability", sync["true_probability"])

    if self.use_timeline_nce:
      window = self.timeline_nce_seconds
      uniform = keras.random.uniform((ops.shape(audio_tl)[0],),
                                     seed=self.seed_generator)
      starts = losses.random_window_starts(mask, window, uniform)
      a_win, win_mask = losses.crop_windows(audio_tl, mask, starts, window)
      v_win, _ = losses.crop_windows(inputs["visual_timeline"], mask, starts,
                                     window)
      nce = losses.timeline_contrastive_loss(
          a_win, v_win, win_mask, temperature=self.timeline_nce_temperature,
          audio_to_visual_weight=self.audio_to_visual_weight,
          visual_to_audio_weight=self.visual_to_audio_weight)
      total = total + self.timeline_nce_weight * nce["loss"]
      self._update("timeline_nce_loss", nce["loss"])
      self._update("timeline_nce_accuracy", nce["accuracy"])
      self._update("timeline_nce_positive_similarity",
                   nce["positive_similarity"])

    if self.use_temporal:
      temporal = losses.temporal_triplet_loss(
          audio_tl, inputs["visual_timeline"], mask,
          margin=self.temporal_margin, guard=self.temporal_guard,
          max_distance=self.temporal_max_distance,
          audio_to_visual_weight=self.audio_to_visual_weight,
          visual_to_audio_weight=self.visual_to_audio_weight)
      t_a2v, t_v2a = temporal["audio_to_visual"], temporal["visual_to_audio"]
      total = total + self.temporal_weight * temporal["loss"]
      self._update("temporal_loss", temporal["loss"])
      self._update("temporal_a2v_loss", t_a2v["loss"])
      self._update("temporal_v2a_loss", t_v2a["loss"])
      self._update("temporal_active_fraction",
                   0.5 * (t_a2v["active_fraction"]
                          + t_v2a["active_fraction"]))
      self._update("temporal_positive_similarity",
                   t_a2v["positive_similarity"])
      self._update("temporal_negative_similarity",
                   0.5 * (t_a2v["negative_similarity"]
                          + t_v2a["negative_similarity"]))

    if self.use_classification:
      classification = 0.5 * (
          losses.sigmoid_cross_entropy(labels, self.classifier(audio))
          + losses.sigmoid_cross_entropy(labels, self.classifier(visual)))
      weight = losses.ramp_weight(self.step, self.classification_weight,
                                  self.classification_warmup_steps)
      total = total + weight * classification
      self._update("classification_loss", classification)
      self._update("classification_weight", weight)
      if training:
        self.step.assign_add(ops.ones((), dtype="int64"))

    self.add_loss(total)
    out = {key: ops.cast(inputs[key], "float32")
           for key in _EMBEDDING_KEYS if key in inputs}
    out[LOSS_PARTS] = dict(self._parts)
    self._parts = {}
    return out

  def compute_output_spec(self, inputs, training=None):
    out = {key: keras.KerasTensor(inputs[key].shape, dtype="float32")
           for key in _EMBEDDING_KEYS if key in inputs}
    out[LOSS_PARTS] = {name: keras.KerasTensor((), dtype="float32")
                       for name in self._part_names}
    return out

  def get_config(self):
    config = super().get_config()
    config.update({f.name: getattr(self, f.name)
                   for f in dataclasses.fields(LossConfig)})
    return config
