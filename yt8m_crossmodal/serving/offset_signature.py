"""``estimate_offset``: ``yt8m-sync``'s offset estimator as TensorFlow ops.

The numpy original is :func:`yt8m_crossmodal.sync.estimator.estimate_offset`
with ``scorer=OFFSET_SCORER`` (``centered``) and ``confidence_scorer=
CONFIDENCE_SCORER`` (``double_centered``); ``tests/test_sync_tool.py`` checks
that both give the same offsets, scores and confidences. Computed in float64
like the original.
"""

from __future__ import annotations

import tensorflow as tf


def _unit(x: tf.Tensor) -> tf.Tensor:
  return x / tf.maximum(tf.norm(x, axis=-1, keepdims=True), 1e-8)


def _diagonal_means(sim: tf.Tensor, starts: tf.Tensor) -> tf.Tensor:
  """``[K]``: ``mean_t sim[t, t + k]`` for ``k`` in ``0 .. starts - 1``."""
  length = tf.shape(sim)[0]
  t = tf.range(length)[None, :]
  k = tf.range(starts)[:, None]
  rows = tf.broadcast_to(t, [starts, length])
  index = tf.stack([rows, rows + k], axis=-1)
  return tf.reduce_mean(tf.gather_nd(sim, index), axis=1)


def _peak_zscore(scores: tf.Tensor) -> tf.Tensor:
  """(best - mean of the others) / std of the others; 0 under 3 scores."""
  n = tf.size(scores)

  def z():
    best = tf.argmax(scores, output_type=tf.int32)
    rest = tf.boolean_mask(scores, tf.not_equal(tf.range(n), best))
    spread = tf.maximum(tf.math.reduce_std(rest), 1e-6)
    return (scores[best] - tf.reduce_mean(rest)) / spread

  return tf.cond(n >= 3, z, lambda: tf.constant(0.0, tf.float64))


def estimate_one(audio: tf.Tensor, visual: tf.Tensor, audio_len: tf.Tensor,
                 visual_len: tf.Tensor, start: tf.Tensor, max_offset: tf.Tensor):
  """One video: ``(offset int32, scores f32 [2S+1], feasible bool [2S+1], confidence f32)``.

  Args:
    audio: [L, E] audio timeline of the excerpt (its first ``audio_len``
      rows valid).
    visual: [T, E] visual timeline (its first ``visual_len`` rows valid).
    start: the visual second where the excerpt starts at offset 0.
    max_offset: S; offsets ``-S .. S`` are scored.

  ``scores[o + S]`` is the centered score of offset ``o`` and 0 where the
  offset leaves the visual timeline (``feasible`` False there); the offset is
  the best feasible one (ties: the smallest |o|, then the negative); with
  none feasible, offset 0 and confidence 0.
  """
  s = max_offset
  size = 2 * s + 1
  lo = tf.maximum(-s, -start)
  hi = tf.minimum(s, visual_len - audio_len - start)
  feasible_any = tf.logical_and(audio_len > 0, hi >= lo)

  def compute():
    count = hi - lo + 1
    a = tf.cast(audio[:audio_len], tf.float64)
    w = tf.cast(visual[start + lo:start + hi + audio_len], tf.float64)
    centered = tf.matmul(_unit(a - tf.reduce_mean(a, 0, keepdims=True)),
                         _unit(w - tf.reduce_mean(w, 0, keepdims=True)),
                         transpose_b=True)
    scores = _diagonal_means(centered, count)
    raw = tf.matmul(_unit(a), _unit(w), transpose_b=True)
    raw = (raw - tf.reduce_mean(raw, 1, keepdims=True)
           - tf.reduce_mean(raw, 0, keepdims=True))
    confidence = _peak_zscore(_diagonal_means(raw, count))
    offsets = lo + tf.range(count)
    tied = tf.equal(scores, tf.reduce_max(scores))
    # Smallest |o| first, then the negative: rank 2|o| + (o > 0).
    rank = 2 * tf.abs(offsets) + tf.cast(offsets > 0, tf.int32)
    rank = tf.where(tied, rank, tf.fill(tf.shape(rank), 4 * s + 4))
    offset = tf.gather(offsets, tf.argmin(rank, output_type=tf.int32))
    slots = (offsets + s)[:, None]
    full = tf.scatter_nd(slots, tf.cast(scores, tf.float32), [size])
    feasible = tf.scatter_nd(slots, tf.ones([count], tf.bool), [size])
    return offset, full, feasible, tf.cast(confidence, tf.float32)

  def none():
    return (tf.constant(0, tf.int32), tf.zeros([size], tf.float32),
            tf.zeros([size], tf.bool), tf.constant(0.0, tf.float32))

  return tf.cond(feasible_any, compute, none)


def estimate_batch(audio_timeline, visual_timeline, audio_num_frames,
                   visual_num_frames, start, max_offset):
  """:func:`estimate_one` over a batch: ``{"offset_seconds" [B], "scores" [B, 2S+1],
  "feasible" [B, 2S+1], "confidence" [B]}``."""
  def one(args):
    a, v, la, lv, t0 = args
    return estimate_one(a, v, la, lv, t0, max_offset)

  offset, scores, feasible, confidence = tf.map_fn(
      one, (audio_timeline, visual_timeline, audio_num_frames, visual_num_frames, start),
      fn_output_signature=(tf.TensorSpec([], tf.int32), tf.TensorSpec([None], tf.float32),
                           tf.TensorSpec([None], tf.bool), tf.TensorSpec([], tf.float32)))
  return {"offset_seconds": offset, "scores": scores, "feasible": feasible,
          "confidence": confidence}
