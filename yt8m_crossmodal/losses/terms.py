"""Loss terms: one pure function per term config, summed by :func:`objective`.

Each term function takes the batch's :class:`TermInputs` and its own config
(from :mod:`yt8m_crossmodal.config`, e.g. ``LossConfig.timeline_nce``) and
returns ``{part: float32 scalar}`` with at least ``loss``; :func:`part_names`
lists the parts before any tensor exists. Only ``keras.ops``.
"""

import dataclasses
from typing import Any, Dict, Optional, Sequence

from keras import ops

from yt8m_crossmodal import config as cfg
from yt8m_crossmodal.losses import functions as F


@dataclasses.dataclass
class TermInputs:
  """What the terms read from a batch (None where the model has none).

  Attributes:
    audio, visual: clip embeddings ``[B, E]``, unit rows.
    audio_timeline, visual_timeline: ``[B, T, E]`` unit rows.
    mask: bool ``[B, T]``, valid seconds.
    labels: multi-hot ``[B, C]``.
    window_uniform: ``[B]`` in [0, 1), picks the per-second InfoNCE windows.
    audio_logits, visual_logits: ``[B, C]`` label logits of the clip embeddings.
    audio_memory, visual_memory: ``[M, E]`` embeddings of earlier batches.
    memory_valid: bool ``[M]``, the memory rows that hold one.
  """

  audio: Any
  visual: Any
  audio_timeline: Any = None
  visual_timeline: Any = None
  mask: Any = None
  labels: Any = None
  window_uniform: Any = None
  audio_logits: Any = None
  visual_logits: Any = None
  audio_memory: Any = None
  visual_memory: Any = None
  memory_valid: Any = None


def _two_way(a2v, v2a, directions, **parts):
  """A two-way term's dict: the weighted sum of the directions and their parts."""
  loss = directions.audio_to_visual * a2v + directions.visual_to_audio * v2a
  return {"loss": loss, "a2v_loss": a2v, "v2a_loss": v2a, **parts}


def _triplet_parts(a2v, v2a):
  return dict(active_fraction=0.5 * (a2v["active_fraction"] + v2a["active_fraction"]),
              positive_similarity=a2v["positive_similarity"],
              negative_similarity=0.5 * (a2v["negative_similarity"]
                                         + v2a["negative_similarity"]))


def clip_contrastive(x: TermInputs, c: cfg.ClipContrastiveConfig) -> Dict[str, Any]:
  """Symmetric in-batch InfoNCE of the clip embeddings (and a memory bank)."""
  weights = None
  if c.shared_label_weight < 1:
    weights = F.shared_label_weights(x.labels, c.shared_label_weight)
  out = F.clip_contrastive_loss(x.audio, x.visual, temperature=c.temperature,
                                negative_weights=weights, audio_memory=x.audio_memory,
                                visual_memory=x.visual_memory, memory_valid=x.memory_valid)
  return _two_way(out["audio_to_visual"], out["visual_to_audio"], c.directions,
                  accuracy=out["accuracy"],
                  positive_similarity=out["positive_similarity"],
                  negative_similarity=out["negative_similarity"])


def clip_triplet(x: TermInputs, c: cfg.ClipTripletConfig) -> Dict[str, Any]:
  """Mined in-batch triplets of the clip embeddings, both directions."""
  out = F.cross_modal_clip_loss(x.audio, x.visual, margin=c.margin, mining=c.mining,
                                labels=x.labels,
                                exclude_shared_labels=c.exclude_shared_labels)
  a2v, v2a = out["audio_to_visual"], out["visual_to_audio"]
  return _two_way(a2v["loss"], v2a["loss"], c.directions, **_triplet_parts(a2v, v2a))


def temporal_triplets(x: TermInputs, c: cfg.TemporalTripletConfig) -> Dict[str, Any]:
  """Within-video triplets of the timelines, hardest negative second."""
  out = F.temporal_triplet_loss(x.audio_timeline, x.visual_timeline, x.mask,
                                margin=c.margin, guard=c.guard,
                                max_distance=c.max_distance)
  a2v, v2a = out["audio_to_visual"], out["visual_to_audio"]
  return _two_way(a2v["loss"], v2a["loss"], c.directions, **_triplet_parts(a2v, v2a))


def sync_offset(x: TermInputs, c: cfg.SyncOffsetConfig) -> Dict[str, Any]:
  """Which offset of -K..K aligns each window of the timelines (true: 0)."""
  return F.sync_offset_loss(x.audio_timeline, x.visual_timeline, x.mask,
                            max_offset=c.max_offset, window=c.window,
                            temperature=c.temperature, center=c.center,
                            reweight=c.reweight)


def timeline_nce(x: TermInputs, c: cfg.TimelineNCEConfig) -> Dict[str, Any]:
  """Per-second InfoNCE over a window of ``c.seconds`` of every video."""
  starts = F.random_window_starts(x.mask, c.seconds, x.window_uniform)
  audio, mask = F.crop_windows(x.audio_timeline, x.mask, starts, c.seconds)
  visual, _ = F.crop_windows(x.visual_timeline, x.mask, starts, c.seconds)
  return F.timeline_contrastive_loss(
      audio, visual, mask, temperature=c.temperature,
      audio_to_visual_weight=c.directions.audio_to_visual,
      visual_to_audio_weight=c.directions.visual_to_audio)


def classification(x: TermInputs, c: cfg.ClassificationConfig) -> Dict[str, Any]:
  """Mean sigmoid cross-entropy of the labels from both clip embeddings."""
  del c  # The warm-up ramps the weight (see objective), not the loss.
  return {"loss": 0.5 * (F.sigmoid_cross_entropy(x.labels, x.audio_logits)
                         + F.sigmoid_cross_entropy(x.labels, x.visual_logits))}


_TWO_WAY = ("loss", "a2v_loss", "v2a_loss")
_TRIPLET = ("active_fraction", "positive_similarity", "negative_similarity")
# Term config type: (function, its parts in order).
TERMS = {
    cfg.ClipContrastiveConfig: (clip_contrastive, _TWO_WAY + (
        "accuracy", "positive_similarity", "negative_similarity")),
    cfg.ClipTripletConfig: (clip_triplet, _TWO_WAY + _TRIPLET),
    cfg.TemporalTripletConfig: (temporal_triplets, _TWO_WAY + _TRIPLET),
    cfg.SyncOffsetConfig: (sync_offset, ("loss", "accuracy", "true_probability")),
    cfg.TimelineNCEConfig: (timeline_nce, ("loss", "accuracy", "positive_similarity")),
    cfg.ClassificationConfig: (classification, ("loss",)),
}


def term_loss(inputs: TermInputs, config: cfg.TermConfig) -> Dict[str, Any]:
  """The parts of the term that ``config`` configures."""
  return TERMS[type(config)][0](inputs, config)


def part_names(terms: Sequence[cfg.WeightedTerm]) -> list:
  """``<term>_<part>`` for every part of ``terms``, in order."""
  return [f"{t.name}_{part}" for t in terms for part in TERMS[type(t.config)][1]]


def objective(inputs: TermInputs, terms: Sequence[cfg.WeightedTerm],
              weights: Optional[Dict[str, Any]] = None):
  """The weighted sum of ``terms`` and their parts.

  Args:
    inputs: the batch.
    terms: e.g. ``LossConfig.terms(has_timelines)``.
    weights: ``{term name: weight}`` replacing ``term.weight`` (a tensor, e.g.
      a warm-up ramp).

  Returns:
    ``(total, {"<term>_<part>": float32 scalar})``.
  """
  weights = weights or {}
  total, parts = 0.0, {}
  for term in terms:
    out = term_loss(inputs, term.config)
    total = total + weights.get(term.name, term.weight) * out["loss"]
    parts.update({f"{term.name}_{k}": ops.cast(v, "float32") for k, v in out.items()})
  return total, parts
