"""Per-second InfoNCE on the timelines (``--timeline_nce_weight``, frame level).

Flags: ``--timeline_nce_weight``, ``--timeline_nce_temperature``,
``--timeline_nce_seconds``, the direction weights. Reads the timelines, their
mask and ``window_uniform`` (the loss layer draws it, a state of its own).
"""

import dataclasses
from typing import Any, Dict, Optional

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses.base import Directions, TermInputs, WeightedTerm, two_way
from yt8m_crossmodal.losses.common import NO_CANDIDATE, f32, masked_mean

NAME = "timeline_nce"
ORDER = 40  # Its place in the sum (terms.modules).
SECTION = "timeline_nce"  # TensorBoard's section of its parts.
PARTS = ("loss", "accuracy", "positive_similarity")


@dataclasses.dataclass(frozen=True)
class TimelineNCEConfig:
  """Per-second InfoNCE over a random window of every video of the batch."""

  temperature: float
  seconds: int
  directions: Directions = Directions()


CONFIG = TimelineNCEConfig


def term_from(loss: LossConfig, has_timelines: bool) -> Optional[WeightedTerm]:
  """The term of ``loss``; None without timelines."""
  if not has_timelines:
    return None
  return WeightedTerm(NAME, loss.timeline_nce_weight, TimelineNCEConfig(
      loss.timeline_nce_temperature, loss.timeline_nce_seconds, Directions.of(loss)))


def compute(x: TermInputs, c: TimelineNCEConfig) -> Dict[str, Any]:
  """Per-second InfoNCE over a window of ``c.seconds`` of every video."""
  starts = random_window_starts(x.mask, c.seconds, x.window_uniform)
  audio, mask = crop_windows(x.audio_timeline, x.mask, starts, c.seconds)
  visual, _ = crop_windows(x.visual_timeline, x.mask, starts, c.seconds)
  out = timeline_contrastive_loss(audio, visual, mask, temperature=c.temperature)
  return two_way(out["audio_to_visual"], out["visual_to_audio"], c.directions,
                 accuracy=out["accuracy"], positive_similarity=out["positive_similarity"])


def crop_windows(timeline, mask, starts, window):
  """Windows of ``window`` seconds: ``([B, W, E], bool [B, W])``.

  Row ``b`` is ``timeline[b, starts[b]:starts[b] + window]``; seconds past
  the end or not valid in ``mask`` are masked out (and zero), so ``window``
  may exceed the time axis.

  Args:
    timeline: ``[B, T, E]``.
    mask: bool ``[B, T]`` valid seconds.
    starts: int ``[B]`` first second of each window.
    window: W, a python int.
  """
  window = int(window)
  x = ops.pad(f32(timeline), [[0, 0], [0, window], [0, 0]])
  valid = ops.pad(ops.cast(mask, "bool"), [[0, 0], [0, window]])
  idx = (ops.expand_dims(ops.cast(starts, "int32"), 1)
         + ops.expand_dims(ops.arange(0, window, 1, dtype="int32"), 0))
  rows = ops.take_along_axis(
      x, ops.broadcast_to(ops.expand_dims(idx, -1),
                          (ops.shape(x)[0], window, ops.shape(x)[2])), axis=1)
  valid = ops.take_along_axis(valid, idx, axis=1)
  return rows * ops.expand_dims(ops.cast(valid, "float32"), -1), valid


def random_window_starts(mask, window, uniform):
  """int32 ``[B]``: a start per row such that the window lies in its valid span.

  ``uniform`` ([B] in [0, 1)) picks the start among ``0 .. max(n - window,
  0)``, ``n`` the row's number of valid seconds (the valid seconds being a
  prefix, as ``num_frames`` makes them).
  """
  n = ops.sum(ops.cast(mask, "int32"), axis=1)
  room = ops.maximum(n - int(window), 0) + 1
  starts = ops.cast(ops.floor(f32(uniform) * f32(room)), "int32")
  return ops.minimum(starts, room - 1)


def timeline_contrastive_loss(audio_timeline, visual_timeline, mask, *,
                              temperature):
  """Per-second InfoNCE over every second of the batch, both directions.

  The ``N = B * W`` valid seconds are pooled: audio second ``(b, t)`` must
  pick visual second ``(b, t)`` among all ``N`` visual seconds (the same
  video's other seconds, near and far, and every second of the other
  videos), with logits ``cosine / temperature``; and the reverse. Unlike
  hardest-negative triplets, a neighbour second that looks the same costs a
  bounded ``log 2`` rather than a gradient pushing two alike seconds apart,
  so slowly changing footage with sparse events still trains. Memory is
  ``O(N^2)``: crop long videos first (:func:`crop_windows`).

  Args:
    audio_timeline, visual_timeline: ``[B, W, E]`` unit rows.
    mask: bool ``[B, W]`` valid seconds.
    temperature: softmax temperature (cosine units).

  Returns:
    ``{"loss"`` (the sum of the directions, unweighted: the term weights
    them), ``"audio_to_visual"``, ``"visual_to_audio"`` (mean cross-entropy
    of each direction over the valid seconds), ``"accuracy"`` (the own
    second has the top logit, both directions), ``"positive_similarity"}``.
  """
  dim = ops.shape(audio_timeline)[-1]
  audio = ops.reshape(f32(audio_timeline), (-1, dim))
  visual = ops.reshape(f32(visual_timeline), (-1, dim))
  valid = ops.reshape(ops.cast(mask, "bool"), (-1,))
  pairs = ops.logical_and(ops.expand_dims(valid, 1), ops.expand_dims(valid, 0))
  logits = ops.matmul(audio, ops.transpose(visual)) / float(temperature)
  logits = ops.where(pairs, logits, ops.full_like(logits, NO_CANDIDATE))
  positive = ops.sum(audio * visual, axis=-1)
  true_logit = positive / float(temperature)
  a2v = masked_mean(ops.logsumexp(logits, axis=1) - true_logit, valid)
  v2a = masked_mean(ops.logsumexp(logits, axis=0) - true_logit, valid)
  top = ops.logical_and(
      ops.greater_equal(true_logit, ops.max(logits, axis=1)),
      ops.greater_equal(true_logit, ops.max(logits, axis=0)))
  return {"loss": a2v + v2a, "audio_to_visual": a2v, "visual_to_audio": v2a,
          "accuracy": masked_mean(ops.cast(top, "float32"), valid),
          "positive_similarity": masked_mean(positive, valid)}
