"""Temporal triplets on the timelines (``--temporal_weight``, frame level).

Flags: ``--temporal_weight``, ``--temporal_margin``, ``--temporal_guard``,
``--temporal_max_distance``, the direction weights. Reads the timelines and
their mask.
"""

import dataclasses
from typing import Any, Dict, Optional

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses.base import (
    TWO_WAY_PARTS, Directions, TermInputs, WeightedTerm, two_way)
from yt8m_crossmodal.losses.common import (
    f32, pairwise_similarity, triplet_loss_from_similarity, triplet_parts)

NAME = "temporal"
ORDER = 20  # Its place in the sum (terms.modules).
SECTION = "temporal_triplets"  # TensorBoard's section of its parts.
PARTS = TWO_WAY_PARTS + ("active_fraction", "positive_similarity", "negative_similarity")


@dataclasses.dataclass(frozen=True)
class TemporalTripletConfig:
  """Within-video triplets on the timelines (hardest negative second)."""

  margin: float
  guard: int
  max_distance: int = 0
  directions: Directions = Directions()


CONFIG = TemporalTripletConfig


def term_from(loss: LossConfig, has_timelines: bool) -> Optional[WeightedTerm]:
  """The term of ``loss``; None without timelines."""
  if not has_timelines:
    return None
  return WeightedTerm(NAME, loss.temporal_weight, TemporalTripletConfig(
      loss.temporal_margin, loss.temporal_guard, loss.temporal_max_distance,
      Directions.of(loss)))


def compute(x: TermInputs, c: TemporalTripletConfig) -> Dict[str, Any]:
  """Within-video triplets of the timelines, hardest negative second."""
  out = temporal_triplet_loss(x.audio_timeline, x.visual_timeline, x.mask,
                              margin=c.margin, guard=c.guard, max_distance=c.max_distance)
  a2v, v2a = out["audio_to_visual"], out["visual_to_audio"]
  return two_way(a2v["loss"], v2a["loss"], c.directions, **triplet_parts(a2v, v2a))


def temporal_negative_mask(mask, guard, max_distance=0):
  """Bool ``[B, T, T]``: ``t'`` is a negative for anchor ``t`` of video ``b``.

  Both seconds valid and ``|t - t'| >= max(guard, 1)`` (the anchor second
  itself is the positive, never a negative), and ``|t - t'| <=
  max_distance`` when ``max_distance > 0`` (offset-aware negatives).
  """
  mask = ops.cast(mask, "bool")
  steps = ops.shape(mask)[1]
  idx = ops.arange(0, steps, 1, dtype="int32")
  distance = ops.abs(ops.expand_dims(idx, 1) - ops.expand_dims(idx, 0))
  far = ops.greater_equal(distance, max(int(guard), 1))
  if max_distance and int(max_distance) > 0:
    far = ops.logical_and(far, ops.less_equal(distance, int(max_distance)))
  return ops.logical_and(
      ops.expand_dims(far, 0),
      ops.logical_and(ops.expand_dims(mask, 2), ops.expand_dims(mask, 1)))


def temporal_triplet_loss(audio_timeline, visual_timeline, mask, *, margin,
                          guard, max_distance=0):
  """Temporal (within-video) triplets with hardest-negative mining.

  For each valid second ``t`` of video ``b``: anchor ``audio[b, t]``,
  positive ``visual[b, t]``, negatives ``visual[b, t']`` with ``t'`` valid
  and ``guard <= |t - t'|`` (``<= max_distance`` if > 0); and the reverse. Seconds without a
  valid negative contribute nothing; the loss is the mean over the others.
  Memory is ``O(B T^2)`` (a ``[B, T, T]`` similarity), never ``[B, T, T, E]``.

  Args:
    audio_timeline, visual_timeline: ``[B, T, E]`` unit rows.
    mask: bool ``[B, T]`` valid seconds.
    margin, guard: as ``config.LossConfig``'s ``temporal_margin`` and
      ``temporal_guard`` (no defaults here: the config is their one source).

  Returns:
    ``loss`` (the sum of the directions, unweighted: the term weights
    them), ``audio_to_visual``,
    ``visual_to_audio`` (per-direction dicts).
  """
  audio, visual = f32(audio_timeline), f32(visual_timeline)
  mask = ops.cast(mask, "bool")
  sim = pairwise_similarity(audio, visual)  # [b, t, t'] = <a_bt, v_bt'>
  pos = ops.sum(audio * visual, axis=-1)
  negatives = temporal_negative_mask(mask, guard, max_distance)  # symmetric
  a2v = triplet_loss_from_similarity(sim, pos, negatives, margin,
                                     "batch_hard", anchor_mask=mask)
  v2a = triplet_loss_from_similarity(ops.swapaxes(sim, 1, 2), pos, negatives,
                                     margin, "batch_hard", anchor_mask=mask)
  return {"loss": a2v["loss"] + v2a["loss"], "audio_to_visual": a2v, "visual_to_audio": v2a}
