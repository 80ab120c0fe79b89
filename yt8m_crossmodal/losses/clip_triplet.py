"""The clip term as mined in-batch triplets (``--clip_loss=triplet``).

Flags: ``--margin``, ``--mining``, ``--exclude_shared_labels``, the direction
weights. Chosen by ``--clip_loss`` (``auto``: this one when the model has
timelines, the temporal model). Reads the clip embeddings and, with
``exclude_shared_labels``, the labels.
"""

import dataclasses
from typing import Any, Dict, Optional

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses import clip_contrastive
from yt8m_crossmodal.losses.base import (
    TWO_WAY_PARTS, Directions, TermInputs, WeightedTerm, two_way)
from yt8m_crossmodal.losses.common import (
    f32, off_diagonal_mask, pairwise_similarity, shared_label_mask,
    triplet_loss_from_similarity, triplet_parts)

NAME = "clip"
ORDER = 11  # Its place in the sum (terms.modules).
SECTION = "clip_triplets"  # TensorBoard's section of its parts.
PARTS = TWO_WAY_PARTS + ("active_fraction", "positive_similarity", "negative_similarity")


@dataclasses.dataclass(frozen=True)
class ClipTripletConfig:
  """Mined in-batch triplets on the clip embeddings."""

  margin: float
  mining: str
  exclude_shared_labels: bool = False
  directions: Directions = Directions()


CONFIG = ClipTripletConfig


def term_from(loss: LossConfig, has_timelines: bool) -> Optional[WeightedTerm]:
  """The term of ``loss`` (weight 1), or None when the clip term is contrastive."""
  if clip_contrastive.chosen(loss, has_timelines):
    return None
  return WeightedTerm(NAME, 1.0, ClipTripletConfig(
      loss.margin, loss.mining, loss.exclude_shared_labels, Directions.of(loss)))


def needs(c: ClipTripletConfig) -> Dict[str, str]:
  """``{input: the setting that needs it}``."""
  return {"labels": "exclude_shared_labels"} if c.exclude_shared_labels else {}


def compute(x: TermInputs, c: ClipTripletConfig) -> Dict[str, Any]:
  """Mined in-batch triplets of the clip embeddings, both directions."""
  out = cross_modal_clip_loss(x.audio, x.visual, margin=c.margin, mining=c.mining,
                              labels=x.labels, exclude_shared_labels=c.exclude_shared_labels)
  a2v, v2a = out["audio_to_visual"], out["visual_to_audio"]
  return two_way(a2v["loss"], v2a["loss"], c.directions, **triplet_parts(a2v, v2a))


def clip_triplet_loss(anchors, candidates, *, margin, mining,
                      negative_mask=None):
  """One direction of the clip-level loss.

  ``candidates[i]`` is the positive of ``anchors[i]``; the other rows of
  ``candidates`` are its negatives unless ``negative_mask`` ([B, B] bool)
  says otherwise (the diagonal is always excluded).
  """
  anchors, candidates = f32(anchors), f32(candidates)
  sim = pairwise_similarity(anchors, candidates)
  pos = ops.sum(anchors * candidates, axis=-1)
  negatives = off_diagonal_mask(ops.shape(anchors)[0])
  if negative_mask is not None:
    negatives = ops.logical_and(negatives, ops.cast(negative_mask, "bool"))
  return triplet_loss_from_similarity(sim, pos, negatives, margin, mining)


def cross_modal_clip_loss(audio, visual, *, margin, mining,
                          labels=None, exclude_shared_labels=False):
  """Bidirectional in-batch clip triplet loss.

  Audio anchors ``audio[i]`` with positive ``visual[i]`` and negatives
  ``visual[j]`` (j != i), and the reverse; with ``exclude_shared_labels``
  a ``j`` sharing any label with ``i`` is not a negative (``labels`` is the
  multi-hot ``[B, C]``).

  Returns:
    ``loss`` (the sum of the directions, unweighted: the term weights
    them), ``audio_to_visual`` and
    ``visual_to_audio`` (the per-direction dicts of
    :func:`triplet_loss_from_similarity`).

  ``margin`` and ``mining`` have no defaults: the one source of the defaults
  is ``config.LossConfig`` (through :class:`ClipTripletConfig`).
  """
  audio, visual = f32(audio), f32(visual)
  sim = pairwise_similarity(audio, visual)  # [i, j] = <audio_i, visual_j>
  pos = ops.sum(audio * visual, axis=-1)
  negatives = off_diagonal_mask(ops.shape(audio)[0])
  if exclude_shared_labels:
    if labels is None:
      raise ValueError("exclude_shared_labels needs labels")
    negatives = ops.logical_and(negatives,
                                ops.logical_not(shared_label_mask(labels)))
  a2v = triplet_loss_from_similarity(sim, pos, negatives, margin, mining)
  v2a = triplet_loss_from_similarity(ops.transpose(sim), pos,
                                     ops.transpose(negatives), margin, mining)
  return {"loss": a2v["loss"] + v2a["loss"], "audio_to_visual": a2v, "visual_to_audio": v2a}
