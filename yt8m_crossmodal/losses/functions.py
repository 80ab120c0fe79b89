"""The math of the loss terms as pure functions (``keras.ops`` only).

Conventions: embeddings are unit vectors, so the dot product is the cosine
similarity; larger is more similar. A triplet (anchor, positive, negative)
costs ``relu(margin - sim(anchor, positive) + sim(anchor, negative))``.
All functions compute in float32 (float16 inputs are upcast) and return
finite values for degenerate batches: anchors without any usable negative
contribute nothing and empty means are 0.

Every triplet function returns a dict of scalars:

* ``loss``: the mined triplet loss;
* ``active_fraction``: fraction of the counted triplets with a positive hinge
  (for ``batch_hard``/``semi_hard`` one mined triplet per anchor, for ``all``
  every valid triplet);
* ``positive_similarity``: mean anchor-positive similarity over valid anchors;
* ``negative_similarity``: mean similarity of the hardest (most similar)
  negative over anchors that have one, whatever the mining mode.
"""

from keras import ops

MINING_MODES = ("batch_hard", "semi_hard", "all")

# Similarities are cosines in [-1, 1]; this stands for "no candidate".
_NO_CANDIDATE = -1e4


def _f32(x):
  return ops.cast(x, "float32")


def _masked_mean(values, mask):
  weights = ops.cast(mask, "float32")
  values = ops.where(mask, values, ops.zeros_like(values))
  return ops.sum(values) / ops.maximum(ops.sum(weights), 1.0)


def _masked_max(values, mask, axis=-1):
  """(max over entries where mask, whether there is any); 0 where none."""
  has_any = ops.any(mask, axis=axis)
  filled = ops.where(mask, values, ops.full_like(values, _NO_CANDIDATE))
  best = ops.max(filled, axis=axis)
  return ops.where(has_any, best, ops.zeros_like(best)), has_any


def pairwise_similarity(x, y):
  """Cosine similarity of unit vectors: ``x [..., N, E] @ y [..., M, E]^T``."""
  x, y = _f32(x), _f32(y)
  return ops.matmul(x, ops.swapaxes(y, -1, -2))


def off_diagonal_mask(batch_size):
  """Bool ``[B, B]``, True off the diagonal (``batch_size`` may be a tensor)."""
  idx = ops.arange(0, batch_size, 1, dtype="int32")
  return ops.not_equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))


def shared_label_mask(labels):
  """Bool ``[B, B]``: videos ``i`` and ``j`` share at least one label."""
  labels = ops.cast(ops.greater(_f32(labels), 0.0), "float32")
  return ops.greater(ops.matmul(labels, ops.transpose(labels)), 0.5)


def triplet_loss_from_similarity(similarity, positive_similarity,
                                 negative_mask, margin, mining,
                                 anchor_mask=None):
  """Mined triplet loss from precomputed similarities.

  Args:
    similarity: ``[..., A, N]``, similarity of anchor ``a`` to candidate ``n``.
    positive_similarity: ``[..., A]``, similarity of each anchor to its
      positive.
    negative_mask: bool ``[..., A, N]``, which candidates are negatives.
    margin: Hinge margin.
    mining: ``batch_hard`` (hardest negative per anchor), ``semi_hard`` (most
      similar negative that is less similar than the positive; the hardest
      one when there is none) or ``all`` (mean over all active triplets, i.e.
      those with a positive hinge).
    anchor_mask: optional bool ``[..., A]``, valid anchors (others are
      ignored, also for ``positive_similarity``).

  Returns:
    The dict described in the module docstring.
  """
  if mining not in MINING_MODES:
    raise ValueError(f"mining must be one of {MINING_MODES}, got {mining!r}")
  sim = _f32(similarity)
  pos = _f32(positive_similarity)
  negatives = ops.cast(negative_mask, "bool")
  if anchor_mask is None:
    anchor_mask = ops.ones_like(pos, dtype="bool")
  else:
    anchor_mask = ops.cast(anchor_mask, "bool")
    negatives = ops.logical_and(negatives, ops.expand_dims(anchor_mask, -1))

  hardest, has_negative = _masked_max(sim, negatives)
  if mining == "all":
    hinge = ops.relu(margin - ops.expand_dims(pos, -1) + sim)
    active = ops.logical_and(negatives, ops.greater(hinge, 0.0))
    n_active = ops.sum(ops.cast(active, "float32"))
    loss = (ops.sum(ops.where(active, hinge, ops.zeros_like(hinge)))
            / ops.maximum(n_active, 1.0))
    active_fraction = n_active / ops.maximum(
        ops.sum(ops.cast(negatives, "float32")), 1.0)
  else:
    mined = hardest
    if mining == "semi_hard":
      easier = ops.logical_and(
          negatives, ops.less(sim, ops.expand_dims(pos, -1)))
      semi, has_semi = _masked_max(sim, easier)
      mined = ops.where(has_semi, semi, hardest)
    hinge = ops.relu(margin - pos + mined)
    loss = _masked_mean(hinge, has_negative)
    active_fraction = _masked_mean(
        ops.cast(ops.greater(hinge, 0.0), "float32"), has_negative)
  return {
      "loss": loss,
      "active_fraction": active_fraction,
      "positive_similarity": _masked_mean(pos, anchor_mask),
      "negative_similarity": _masked_mean(hardest, has_negative),
  }


def clip_triplet_loss(anchors, candidates, *, margin, mining,
                      negative_mask=None):
  """One direction of the clip-level loss.

  ``candidates[i]`` is the positive of ``anchors[i]``; the other rows of
  ``candidates`` are its negatives unless ``negative_mask`` ([B, B] bool)
  says otherwise (the diagonal is always excluded).
  """
  anchors, candidates = _f32(anchors), _f32(candidates)
  sim = pairwise_similarity(anchors, candidates)
  pos = ops.sum(anchors * candidates, axis=-1)
  negatives = off_diagonal_mask(ops.shape(anchors)[0])
  if negative_mask is not None:
    negatives = ops.logical_and(negatives, ops.cast(negative_mask, "bool"))
  return triplet_loss_from_similarity(sim, pos, negatives, margin, mining)


def cross_modal_clip_loss(audio, visual, *, margin, mining,
                          labels=None, exclude_shared_labels=False,
                          audio_to_visual_weight=1.0,
                          visual_to_audio_weight=1.0):
  """Bidirectional in-batch clip triplet loss.

  Audio anchors ``audio[i]`` with positive ``visual[i]`` and negatives
  ``visual[j]`` (j != i), and the reverse; with ``exclude_shared_labels``
  a ``j`` sharing any label with ``i`` is not a negative (``labels`` is the
  multi-hot ``[B, C]``).

  Returns:
    ``loss`` (weighted sum of the directions), ``audio_to_visual`` and
    ``visual_to_audio`` (the per-direction dicts of
    :func:`triplet_loss_from_similarity`).

  ``margin`` and ``mining`` have no defaults: the one source of the defaults
  is ``config.LossConfig`` (through its term configs).
  """
  audio, visual = _f32(audio), _f32(visual)
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
  loss = (audio_to_visual_weight * a2v["loss"]
          + visual_to_audio_weight * v2a["loss"])
  return {"loss": loss, "audio_to_visual": a2v, "visual_to_audio": v2a}


def clip_contrastive_loss(audio, visual, *, temperature,
                          audio_to_visual_weight=1.0,
                          visual_to_audio_weight=1.0,
                          negative_weights=None,
                          audio_memory=None, visual_memory=None, memory_valid=None):
  """Symmetric in-batch InfoNCE on clip embeddings.

  Audio ``audio[i]`` must pick ``visual[i]`` among the ``B`` visual
  embeddings of the batch with logits ``cosine / temperature``, and the
  reverse. Every other video of the batch is a negative, weighted by how
  close it is (no mining).

  Args:
    audio, visual: ``[B, E]`` unit rows; row ``i`` of both is one video.
    temperature: softmax temperature (cosine units).
    audio_to_visual_weight, visual_to_audio_weight: direction weights.
    negative_weights: optional ``[B, B]`` in [0, 1]: how much video ``j``
      counts as a negative of video ``i`` (its term of the softmax's
      denominator is multiplied by it; 0 takes it out; symmetric, the
      diagonal is ignored). None: every other video counts fully.
    audio_memory, visual_memory: optional ``[M, E]`` embeddings of earlier
      batches (a memory bank, no gradient), extra negatives: audio queries
      also rank ``visual_memory``, visual queries ``audio_memory``.
    memory_valid: bool ``[M]``, the memory rows that hold an embedding.

  Returns:
    ``{"loss"`` (weighted sum of the directions), ``"audio_to_visual"``,
    ``"visual_to_audio"`` (mean cross-entropy of each direction),
    ``"accuracy"`` (share of rows whose own match has the top logit, both
    directions, in the batch), ``"positive_similarity"``,
    ``"negative_similarity"`` (mean similarity of the most similar other
    video of the batch)``}``.
  """
  audio, visual = _f32(audio), _f32(visual)
  sim = pairwise_similarity(audio, visual)  # [i, j] = <audio_i, visual_j>
  logits = sim / float(temperature)
  positive = ops.sum(audio * visual, axis=-1)
  true_logit = positive / float(temperature)
  others = off_diagonal_mask(ops.shape(audio)[0])
  denominators = logits
  if negative_weights is not None:
    log_weights = ops.log(ops.maximum(_f32(negative_weights), 1e-30))
    log_weights = ops.where(others, ops.maximum(log_weights, _NO_CANDIDATE),
                            ops.zeros_like(log_weights))
    denominators = logits + log_weights
  a2v_terms, v2a_terms = ops.logsumexp(denominators, axis=1), ops.logsumexp(denominators, axis=0)
  if audio_memory is not None:
    valid = ops.expand_dims(ops.cast(memory_valid, "bool"), 0)
    to_visual = ops.where(valid, pairwise_similarity(audio, visual_memory) / float(temperature),
                          _NO_CANDIDATE)
    to_audio = ops.where(valid, pairwise_similarity(visual, audio_memory) / float(temperature),
                         _NO_CANDIDATE)
    a2v_terms = ops.logaddexp(a2v_terms, ops.logsumexp(to_visual, axis=1))
    v2a_terms = ops.logaddexp(v2a_terms, ops.logsumexp(to_audio, axis=1))
  a2v = ops.mean(a2v_terms - true_logit)
  v2a = ops.mean(v2a_terms - true_logit)
  top = ops.logical_and(
      ops.greater_equal(true_logit, ops.max(logits, axis=1)),
      ops.greater_equal(true_logit, ops.max(logits, axis=0)))
  hardest, has_other = _masked_max(sim, others)
  return {"loss": audio_to_visual_weight * a2v + visual_to_audio_weight * v2a,
          "audio_to_visual": a2v, "visual_to_audio": v2a,
          "accuracy": ops.mean(ops.cast(top, "float32")),
          "positive_similarity": ops.mean(positive),
          "negative_similarity": _masked_mean(hardest, has_other)}


def shared_label_weights(labels, weight):
  """``[B, B]``: ``weight`` where videos ``i`` and ``j`` share a label, else 1."""
  shared = shared_label_mask(labels)
  return ops.where(shared, ops.full_like(_f32(shared), float(weight)),
                   ops.ones_like(_f32(shared)))


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
                          guard, audio_to_visual_weight=1.0,
                          visual_to_audio_weight=1.0, max_distance=0):
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
    ``loss`` (weighted sum of the directions), ``audio_to_visual``,
    ``visual_to_audio`` (per-direction dicts).
  """
  audio, visual = _f32(audio_timeline), _f32(visual_timeline)
  mask = ops.cast(mask, "bool")
  sim = pairwise_similarity(audio, visual)  # [b, t, t'] = <a_bt, v_bt'>
  pos = ops.sum(audio * visual, axis=-1)
  negatives = temporal_negative_mask(mask, guard, max_distance)  # symmetric
  a2v = triplet_loss_from_similarity(sim, pos, negatives, margin,
                                     "batch_hard", anchor_mask=mask)
  v2a = triplet_loss_from_similarity(ops.swapaxes(sim, 1, 2), pos, negatives,
                                     margin, "batch_hard", anchor_mask=mask)
  loss = (audio_to_visual_weight * a2v["loss"]
          + visual_to_audio_weight * v2a["loss"])
  return {"loss": loss, "audio_to_visual": a2v, "visual_to_audio": v2a}


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
  x = _f32(timeline)
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
    audio, visual = _f32(audio_timeline), _f32(visual_timeline)
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
          "accuracy": _masked_mean(correct, enough),
          "true_probability": _masked_mean(prob, enough)}


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
  x = ops.pad(_f32(timeline), [[0, 0], [0, window], [0, 0]])
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
  starts = ops.cast(ops.floor(_f32(uniform) * _f32(room)), "int32")
  return ops.minimum(starts, room - 1)


def timeline_contrastive_loss(audio_timeline, visual_timeline, mask, *,
                              temperature, audio_to_visual_weight=1.0,
                              visual_to_audio_weight=1.0):
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
    audio_to_visual_weight, visual_to_audio_weight: direction weights.

  Returns:
    ``{"loss", "accuracy" (the own second has the top logit, both
    directions), "positive_similarity"}``.
  """
  dim = ops.shape(audio_timeline)[-1]
  audio = ops.reshape(_f32(audio_timeline), (-1, dim))
  visual = ops.reshape(_f32(visual_timeline), (-1, dim))
  valid = ops.reshape(ops.cast(mask, "bool"), (-1,))
  pairs = ops.logical_and(ops.expand_dims(valid, 1), ops.expand_dims(valid, 0))
  logits = ops.matmul(audio, ops.transpose(visual)) / float(temperature)
  logits = ops.where(pairs, logits, ops.full_like(logits, _NO_CANDIDATE))
  positive = ops.sum(audio * visual, axis=-1)
  true_logit = positive / float(temperature)
  a2v = ops.logsumexp(logits, axis=1) - true_logit
  v2a = ops.logsumexp(logits, axis=0) - true_logit
  loss = (audio_to_visual_weight * _masked_mean(a2v, valid)
          + visual_to_audio_weight * _masked_mean(v2a, valid))
  top = ops.logical_and(
      ops.greater_equal(true_logit, ops.max(logits, axis=1)),
      ops.greater_equal(true_logit, ops.max(logits, axis=0)))
  return {"loss": loss,
          "accuracy": _masked_mean(ops.cast(top, "float32"), valid),
          "positive_similarity": _masked_mean(positive, valid)}


def sigmoid_cross_entropy(labels, logits):
  """Mean (over batch and classes) sigmoid cross-entropy, stable form."""
  labels, logits = _f32(labels), _f32(logits)
  return ops.mean(ops.relu(logits) - logits * labels
                  + ops.log1p(ops.exp(-ops.abs(logits))))


def ramp_weight(step, weight, warmup_steps):
  """``weight * min(step / warmup_steps, 1)``; ``weight`` if no warm-up."""
  if warmup_steps <= 0:
    return ops.convert_to_tensor(float(weight), "float32")
  fraction = ops.minimum(_f32(step) / float(warmup_steps), 1.0)
  return weight * fraction
