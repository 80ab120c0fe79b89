"""The sequence-level sync loss on the timelines (``--sync_weight``, frame level).

Flags: ``--sync_weight``, ``--sync_loss_offsets``, ``--sync_loss_window``,
``--sync_loss_temperature``, ``--sync_loss_center``, ``--sync_loss_reweight``.
Reads the timelines and their mask. One-way: no direction weights.
"""

import dataclasses
from typing import Any, Dict, Optional

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses.base import TermInputs, WeightedTerm
from yt8m_crossmodal.losses.common import f32, masked_mean

NAME = "sync"
ORDER = 30  # Its place in the sum (terms.modules).
SECTION = "sync_loss"  # TensorBoard's section of its parts.
PARTS = ("loss", "accuracy", "true_probability")


@dataclasses.dataclass(frozen=True)
class SyncOffsetConfig:
  """Softmax over candidate offsets -K..K of windowed timeline similarities."""

  max_offset: int
  window: int
  temperature: float
  center: bool
  reweight: bool


CONFIG = SyncOffsetConfig


def term_from(loss: LossConfig, has_timelines: bool) -> Optional[WeightedTerm]:
  """The term of ``loss``; None without timelines."""
  if not has_timelines:
    return None
  return WeightedTerm(NAME, loss.sync_weight, SyncOffsetConfig(
      loss.sync_loss_offsets, loss.sync_loss_window, loss.sync_loss_temperature,
      loss.sync_loss_center, loss.sync_loss_reweight))


def compute(x: TermInputs, c: SyncOffsetConfig) -> Dict[str, Any]:
  """Which offset of -K..K aligns each window of the timelines (true: 0)."""
  return sync_offset_loss(x.audio_timeline, x.visual_timeline, x.mask,
                          max_offset=c.max_offset, window=c.window,
                          temperature=c.temperature, center=c.center, reweight=c.reweight)


def _shift_time(x, offset, mask):
  """``(y, valid)`` with ``y[:, t] = x[:, t + offset]``; valid where in range."""
  steps = ops.shape(mask)[1]
  idx = ops.arange(0, steps, 1, dtype="int32") + offset
  inside = ops.logical_and(ops.greater_equal(idx, 0), ops.less(idx, steps))
  shifted_mask = ops.roll(mask, -offset, axis=1)
  valid = ops.logical_and(ops.logical_and(mask, shifted_mask),
                          ops.expand_dims(inside, 0))
  return ops.roll(x, -offset, axis=1), valid


def _window_sums(values, window):
  """``[B, T]`` -> ``[B, ceil(T / window)]`` sums over consecutive windows."""
  steps = ops.shape(values)[1]
  windows = (steps + window - 1) // window
  values = ops.pad(values, [[0, 0], [0, windows * window - steps]])
  return ops.sum(ops.reshape(values, (-1, windows, window)), axis=2)


def centered_timeline(timeline, mask):
  """Unit rows of ``timeline [B, T, E]`` minus its masked mean over time."""
  x = f32(timeline)
  weights = ops.expand_dims(ops.cast(mask, "float32"), -1)
  mean = ops.sum(x * weights, axis=1, keepdims=True) / ops.maximum(
      ops.sum(weights, axis=1, keepdims=True), 1.0)
  x = (x - mean) * weights
  return x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-6)


def sync_offset_loss(audio_timeline, visual_timeline, mask, *, max_offset,
                     window, temperature, center, reweight):
  """Sequence-level sync loss: which offset aligns each window?

  Each video is cut into windows of ``window`` seconds; for each candidate
  offset ``o`` in ``-K..K`` a window scores the mean over its seconds ``t``
  of ``<audio[t], visual[t + o]>``; the loss is the cross-entropy of the
  softmax over offsets (logits ``score / temperature``) with the true
  offset 0. Windows with fewer than ``window // 2`` valid seconds at some
  offset are skipped.

  Args:
    audio_timeline, visual_timeline: ``[B, T, E]`` timelines.
    mask: bool ``[B, T]`` valid seconds.
    max_offset: K (python int).
    window: window length in seconds (python int).
    temperature: softmax temperature.
    center: score centered, renormalized rows (:func:`centered_timeline`).
    reweight: weight each window by its stop-gradient probability of offset
      0 (videos that cannot be aligned count less).

  Returns:
    ``{"loss", "accuracy" (argmax == 0 over counted windows),
    "true_probability" (mean softmax probability of offset 0)}``.
  """
  mask = ops.cast(mask, "bool")
  if center:
    audio = centered_timeline(audio_timeline, mask)
    visual = centered_timeline(visual_timeline, mask)
  else:
    audio, visual = f32(audio_timeline), f32(visual_timeline)
  scores, enough = [], None
  for offset in range(-int(max_offset), int(max_offset) + 1):
    shifted, valid = _shift_time(visual, offset, mask)
    valid_f = ops.cast(valid, "float32")
    dots = ops.sum(audio * shifted, axis=-1) * valid_f
    counts = _window_sums(valid_f, window)
    scores.append(_window_sums(dots, window) / ops.maximum(counts, 1.0))
    ok = ops.greater_equal(counts, float(max(window // 2, 1)))
    enough = ok if enough is None else ops.logical_and(enough, ok)
  logits = ops.stack(scores, axis=-1) / temperature  # [B, W, 2K + 1]
  true_logit = logits[..., int(max_offset)]
  ce = ops.logsumexp(logits, axis=-1) - true_logit
  prob = ops.exp(-ce)
  weights = ops.cast(enough, "float32")
  if reweight:
    weights = weights * ops.stop_gradient(prob)
  loss = ops.sum(ce * weights) / ops.maximum(ops.sum(weights), 1e-6)
  correct = ops.cast(ops.greater_equal(true_logit, ops.max(logits, axis=-1)),
                     "float32")
  return {"loss": loss,
          "accuracy": masked_mean(correct, enough),
          "true_probability": masked_mean(prob, enough)}
