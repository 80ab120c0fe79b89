"""The clip term as symmetric in-batch InfoNCE (``--clip_loss=contrastive``).

Flags: ``--clip_temperature``, ``--clip_shared_label_weight``,
``--clip_memory_size``, the direction weights. Chosen by ``--clip_loss``
(``auto``: this one when the model has no timelines, the video-level model).
Reads the clip embeddings, the labels (when ``shared_label_weight < 1``) and
the memory bank the loss layer keeps (when ``memory_size > 0``).
"""

import dataclasses
from typing import Any, Dict, Optional

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses.base import (
    TWO_WAY_PARTS, Directions, TermInputs, WeightedTerm, two_way)
from yt8m_crossmodal.losses.common import (
    NO_CANDIDATE, f32, masked_max, masked_mean, off_diagonal_mask, pairwise_similarity,
    shared_label_mask)

NAME = "clip"
ORDER = 10  # Its place in the sum (terms.modules).
SECTION = "clip_contrastive"  # TensorBoard's section of its parts.
PARTS = TWO_WAY_PARTS + ("accuracy", "positive_similarity", "negative_similarity")


@dataclasses.dataclass(frozen=True)
class ClipContrastiveConfig:
  """Symmetric in-batch InfoNCE on the clip embeddings.

  ``shared_label_weight``: how much a video sharing a label with the anchor
  counts as its negative (1: fully, 0: not at all); ``memory_size``: embeddings
  of earlier batches kept as extra negatives (0: the batch alone).
  """

  temperature: float
  directions: Directions = Directions()
  shared_label_weight: float = 1.0
  memory_size: int = 0


CONFIG = ClipContrastiveConfig


def chosen(loss: LossConfig, has_timelines: bool) -> bool:
  """Whether the clip term is contrastive: ``auto`` is, without timelines."""
  return loss.clip_loss == "contrastive" or (loss.clip_loss == "auto" and not has_timelines)


def term_from(loss: LossConfig, has_timelines: bool) -> Optional[WeightedTerm]:
  """The term of ``loss`` (weight 1), or None when the clip term is triplets."""
  if not chosen(loss, has_timelines):
    return None
  return WeightedTerm(NAME, 1.0, ClipContrastiveConfig(
      loss.clip_temperature, Directions.of(loss), loss.clip_shared_label_weight,
      loss.clip_memory_size))


def needs(c: ClipContrastiveConfig) -> Dict[str, str]:
  """``{input: the setting that needs it}``."""
  return {"labels": "clip_shared_label_weight < 1"} if c.shared_label_weight < 1 else {}


def compute(x: TermInputs, c: ClipContrastiveConfig) -> Dict[str, Any]:
  """Symmetric in-batch InfoNCE of the clip embeddings (and a memory bank)."""
  weights = None
  if c.shared_label_weight < 1:
    weights = shared_label_weights(x.labels, c.shared_label_weight)
  out = clip_contrastive_loss(x.audio, x.visual, temperature=c.temperature,
                              negative_weights=weights, audio_memory=x.audio_memory,
                              visual_memory=x.visual_memory, memory_valid=x.memory_valid)
  return two_way(out["audio_to_visual"], out["visual_to_audio"], c.directions,
                 accuracy=out["accuracy"],
                 positive_similarity=out["positive_similarity"],
                 negative_similarity=out["negative_similarity"])


def clip_contrastive_loss(audio, visual, *, temperature, negative_weights=None,
                          audio_memory=None, visual_memory=None, memory_valid=None):
  """Symmetric in-batch InfoNCE on clip embeddings.

  Audio ``audio[i]`` must pick ``visual[i]`` among the ``B`` visual
  embeddings of the batch with logits ``cosine / temperature``, and the
  reverse. Every other video of the batch is a negative, weighted by how
  close it is (no mining).

  Args:
    audio, visual: ``[B, E]`` unit rows; row ``i`` of both is one video.
    temperature: softmax temperature (cosine units).
    negative_weights: optional ``[B, B]`` in [0, 1]: how much video ``j``
      counts as a negative of video ``i`` (its term of the softmax's
      denominator is multiplied by it; 0 takes it out; symmetric, the
      diagonal is ignored). None: every other video counts fully.
    audio_memory, visual_memory: optional ``[M, E]`` embeddings of earlier
      batches (a memory bank, no gradient), extra negatives: audio queries
      also rank ``visual_memory``, visual queries ``audio_memory``.
    memory_valid: bool ``[M]``, the memory rows that hold an embedding.

  Returns:
    ``{"loss"`` (the sum of the directions, unweighted: the term weights
    them), ``"audio_to_visual"``,
    ``"visual_to_audio"`` (mean cross-entropy of each direction),
    ``"accuracy"`` (share of rows whose own match has the top logit, both
    directions, in the batch), ``"positive_similarity"``,
    ``"negative_similarity"`` (mean similarity of the most similar other
    video of the batch)``}``.
  """
  audio, visual = f32(audio), f32(visual)
  sim = pairwise_similarity(audio, visual)  # [i, j] = <audio_i, visual_j>
  logits = sim / float(temperature)
  positive = ops.sum(audio * visual, axis=-1)
  true_logit = positive / float(temperature)
  others = off_diagonal_mask(ops.shape(audio)[0])
  denominators = logits
  if negative_weights is not None:
    log_weights = ops.log(ops.maximum(f32(negative_weights), 1e-30))
    log_weights = ops.where(others, ops.maximum(log_weights, NO_CANDIDATE),
                            ops.zeros_like(log_weights))
    denominators = logits + log_weights
  a2v_terms, v2a_terms = ops.logsumexp(denominators, axis=1), ops.logsumexp(denominators, axis=0)
  if audio_memory is not None:
    valid = ops.expand_dims(ops.cast(memory_valid, "bool"), 0)
    to_visual = ops.where(valid, pairwise_similarity(audio, visual_memory) / float(temperature),
                          NO_CANDIDATE)
    to_audio = ops.where(valid, pairwise_similarity(visual, audio_memory) / float(temperature),
                         NO_CANDIDATE)
    a2v_terms = ops.logaddexp(a2v_terms, ops.logsumexp(to_visual, axis=1))
    v2a_terms = ops.logaddexp(v2a_terms, ops.logsumexp(to_audio, axis=1))
  a2v = ops.mean(a2v_terms - true_logit)
  v2a = ops.mean(v2a_terms - true_logit)
  top = ops.logical_and(
      ops.greater_equal(true_logit, ops.max(logits, axis=1)),
      ops.greater_equal(true_logit, ops.max(logits, axis=0)))
  hardest, has_other = masked_max(sim, others)
  return {"loss": a2v + v2a,
          "audio_to_visual": a2v, "visual_to_audio": v2a,
          "accuracy": ops.mean(ops.cast(top, "float32")),
          "positive_similarity": ops.mean(positive),
          "negative_similarity": masked_mean(hardest, has_other)}


def shared_label_weights(labels, weight):
  """``[B, B]``: ``weight`` where videos ``i`` and ``j`` share a label, else 1."""
  shared = shared_label_mask(labels)
  return ops.where(shared, ops.full_like(f32(shared), float(weight)),
                   ops.ones_like(f32(shared)))
