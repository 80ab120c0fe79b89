"""``estimate_offset``: ``yt8m-sync``'s offset estimator as TensorFlow ops.

The numpy original is :func:`yt8m_crossmodal.sync.estimator.synchronize`:
the same sign (+ = audio late), scores and null-calibrated confidence;
``tests/test_sync_tool.py`` checks the signature against ``yt8m-sync``'s own
answers and the truth file. Computed in float64 like the original; the
circular scores directly (``O(L T)``), not by FFT.
"""

from __future__ import annotations

import tensorflow as tf

from yt8m_crossmodal.sync import estimator


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


def _residual(x: tf.Tensor, k: int) -> tf.Tensor:
  """[T, E]: :func:`yt8m_crossmodal.sync.estimator.nearer_side_residual` (k odd)."""
  padded = tf.concat([tf.repeat(x[:1], k, axis=0), x, tf.repeat(x[-1:], k, axis=0)], 0)
  windows = tf.signal.frame(padded, 2 * k + 1, 1, axis=0)  # [T, 2k + 1, E]
  before = tf.sort(windows[:, :k], axis=1)[:, k // 2]
  after = tf.sort(windows[:, k + 1:], axis=1)[:, k // 2]
  nearer = tf.norm(x - before, axis=-1, keepdims=True) <= tf.norm(x - after, axis=-1,
                                                                   keepdims=True)
  return x - tf.where(nearer, before, after)


def _circular_scores(audio: tf.Tensor, visual: tf.Tensor) -> tf.Tensor:
  """[T]: ``mean_t <audio[t], visual[(t + k) mod T]>`` for k in 0 .. T - 1."""
  length, n = tf.shape(audio)[0], tf.shape(visual)[0]
  sim = tf.matmul(audio, visual, transpose_b=True)  # [L, T]
  t = tf.broadcast_to(tf.range(length)[None, :], [n, length])
  cols = tf.math.floormod(t + tf.range(n)[:, None], n)
  return tf.reduce_mean(tf.gather_nd(sim, tf.stack([t, cols], -1)), axis=1)


def _null_spread(null: tf.Tensor) -> tf.Tensor:
  """:func:`yt8m_crossmodal.sync.estimator.null_spread` (float64 scalar)."""
  m = tf.size(null)
  k = tf.maximum(1, tf.minimum(estimator.NULL_TAIL, m // 4))
  top = tf.math.top_k(null, k=k).values
  rank = tf.cast(tf.range(k), tf.float64) + 0.5
  q = tf.math.ndtri(1.0 - rank / tf.cast(m, tf.float64))
  mean = tf.reduce_mean(null)
  return tf.maximum(tf.maximum(tf.math.reduce_std(null), tf.reduce_max((top - mean) / q)),
                    tf.constant(1e-12, tf.float64))


def _null_confidence(audio: tf.Tensor, visual: tf.Tensor, lag: tf.Tensor,
                     count: tf.Tensor) -> tf.Tensor:
  """[2] float64: :func:`yt8m_crossmodal.sync.estimator.null_confidence`'s
  confidence and p-value."""
  residual = _residual(audio, estimator.RESIDUAL_SIDE)
  weighted = residual * tf.norm(residual, axis=-1, keepdims=True)
  scores = _circular_scores(weighted,
                            _unit(_residual(visual, estimator.PICTURE_RESIDUAL_SIDE)))
  n = tf.shape(scores)[0]
  dist = tf.abs(tf.math.floormod(tf.range(n) - lag + n // 2, n) - n // 2)
  null = tf.boolean_mask(scores, dist > estimator.NULL_GUARD)

  def confidence():
    z = (tf.gather(scores, tf.math.floormod(lag, n)) - tf.reduce_mean(null)) / _null_spread(null)
    tail = 0.5 * tf.math.erfc(z / tf.constant(2.0 ** 0.5, tf.float64))
    log_all_below = tf.cast(tf.maximum(count, 1), tf.float64) * tf.math.log1p(-tail)
    return tf.stack([tf.exp(log_all_below), -tf.math.expm1(log_all_below)])

  return tf.cond(tf.size(null) >= estimator.MIN_NULL_LAGS, confidence,
                 lambda: tf.constant([0.0, 1.0], tf.float64))


def estimate_one(audio: tf.Tensor, visual: tf.Tensor, audio_len: tf.Tensor,
                 visual_len: tf.Tensor, start: tf.Tensor, max_offset: tf.Tensor):
  """One video: ``(late int32, scores f32 [2S+1], feasible bool [2S+1], confidence f32,
  p_value f32)``.

  Args:
    audio: [L, E] audio timeline of the excerpt (its first ``audio_len``
      rows valid).
    visual: [T, E] visual timeline (its first ``visual_len`` rows valid).
    start: the visual second where the excerpt starts when in sync.
    max_offset: S; lateness ``-S .. S`` is scored.

  ``scores[late + S]`` is the weighted score of that lateness (+ = audio
  late) and 0 where the offset leaves the visual timeline (``feasible`` False
  there); the answer is the best feasible one (ties: the smallest |late|,
  then audio late); the confidence is the estimator's null-calibrated one;
  with nothing feasible, 0 and confidence 0.
  """
  s = max_offset
  size = 2 * s + 1
  lo = tf.maximum(-s, -start)  # placements: visual start + o, late = -o
  hi = tf.minimum(s, visual_len - audio_len - start)
  feasible_any = tf.logical_and(audio_len > 0, hi >= lo)

  def compute():
    count = hi - lo + 1
    a = tf.cast(audio[:audio_len], tf.float64)
    v = tf.cast(visual[:visual_len], tf.float64)
    w = v[start + lo:start + hi + audio_len]
    a_centered = a - tf.reduce_mean(a, 0, keepdims=True)
    a_weighted = a_centered / tf.maximum(tf.reduce_mean(tf.norm(a_centered, axis=-1)), 1e-12)
    centered = tf.matmul(a_weighted, _unit(w - tf.reduce_mean(w, 0, keepdims=True)),
                         transpose_b=True)
    scores = _diagonal_means(centered, count)
    lates = -(lo + tf.range(count))
    tied = scores >= tf.reduce_max(scores) - 1e-9
    # Smallest |late| first, then audio late: rank 2|late| + (late < 0).
    rank = 2 * tf.abs(lates) + tf.cast(lates < 0, tf.int32)
    rank = tf.where(tied, rank, tf.fill(tf.shape(rank), 4 * s + 4))
    late = tf.gather(lates, tf.argmin(rank, output_type=tf.int32))
    confidence = tf.cast(_null_confidence(a, v, start - late, count), tf.float32)
    slots = (lates + s)[:, None]
    full = tf.scatter_nd(slots, tf.cast(scores, tf.float32), [size])
    feasible = tf.scatter_nd(slots, tf.ones([count], tf.bool), [size])
    return late, full, feasible, confidence[0], confidence[1]
  def none():
    return (tf.constant(0, tf.int32), tf.zeros([size], tf.float32),
            tf.zeros([size], tf.bool), tf.constant(0.0, tf.float32),
            tf.constant(1.0, tf.float32))

  return tf.cond(feasible_any, compute, none)


def estimate_batch(audio_timeline, visual_timeline, audio_num_frames,
                   visual_num_frames, start, max_offset):
  """:func:`estimate_one` over a batch: ``{"offset_seconds" [B] (+ = audio late),
  "scores" [B, 2S+1], "feasible" [B, 2S+1], "confidence" [B], "p_value" [B]}``."""
  def one(args):
    a, v, la, lv, t0 = args
    return estimate_one(a, v, la, lv, t0, max_offset)

  offset, scores, feasible, confidence, p_value = tf.map_fn(
      one, (audio_timeline, visual_timeline, audio_num_frames, visual_num_frames, start),
      fn_output_signature=(tf.TensorSpec([], tf.int32), tf.TensorSpec([None], tf.float32),
                           tf.TensorSpec([None], tf.bool), tf.TensorSpec([], tf.float32),
                           tf.TensorSpec([], tf.float32)))
  return {"offset_seconds": offset, "scores": scores, "feasible": feasible,
          "confidence": confidence, "p_value": p_value}
