"""Math the loss terms share (``keras.ops`` only).

Conventions: embeddings are unit vectors, so the dot product is the cosine
similarity; larger is more similar. A triplet (anchor, positive, negative)
costs ``relu(margin - sim(anchor, positive) + sim(anchor, negative))``.
All functions compute in float32 (float16 inputs are upcast) and return
finite values for degenerate batches: anchors without any usable negative
contribute nothing and empty means are 0.

The triplet functions (:func:`triplet_loss_from_similarity` and the terms
built on it) return a dict of scalars:

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
NO_CANDIDATE = -1e4


def f32(x):
  return ops.cast(x, "float32")


def masked_mean(values, mask):
  weights = ops.cast(mask, "float32")
  values = ops.where(mask, values, ops.zeros_like(values))
  return ops.sum(values) / ops.maximum(ops.sum(weights), 1.0)


def masked_max(values, mask, axis=-1):
  """(max over entries where mask, whether there is any); 0 where none."""
  has_any = ops.any(mask, axis=axis)
  filled = ops.where(mask, values, ops.full_like(values, NO_CANDIDATE))
  best = ops.max(filled, axis=axis)
  return ops.where(has_any, best, ops.zeros_like(best)), has_any


def pairwise_similarity(x, y):
  """Cosine similarity of unit vectors: ``x [..., N, E] @ y [..., M, E]^T``."""
  x, y = f32(x), f32(y)
  return ops.matmul(x, ops.swapaxes(y, -1, -2))


def off_diagonal_mask(batch_size):
  """Bool ``[B, B]``, True off the diagonal (``batch_size`` may be a tensor)."""
  idx = ops.arange(0, batch_size, 1, dtype="int32")
  return ops.not_equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))


def shared_label_mask(labels):
  """Bool ``[B, B]``: videos ``i`` and ``j`` share at least one label."""
  labels = ops.cast(ops.greater(f32(labels), 0.0), "float32")
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
  sim = f32(similarity)
  pos = f32(positive_similarity)
  negatives = ops.cast(negative_mask, "bool")
  if anchor_mask is None:
    anchor_mask = ops.ones_like(pos, dtype="bool")
  else:
    anchor_mask = ops.cast(anchor_mask, "bool")
    negatives = ops.logical_and(negatives, ops.expand_dims(anchor_mask, -1))

  hardest, has_negative = masked_max(sim, negatives)
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
      semi, has_semi = masked_max(sim, easier)
      mined = ops.where(has_semi, semi, hardest)
    hinge = ops.relu(margin - pos + mined)
    loss = masked_mean(hinge, has_negative)
    active_fraction = masked_mean(
        ops.cast(ops.greater(hinge, 0.0), "float32"), has_negative)
  return {
      "loss": loss,
      "active_fraction": active_fraction,
      "positive_similarity": masked_mean(pos, anchor_mask),
      "negative_similarity": masked_mean(hardest, has_negative),
  }


def triplet_parts(a2v, v2a):
  """The parts two triplet directions report together (audio anchors first)."""
  return dict(active_fraction=0.5 * (a2v["active_fraction"] + v2a["active_fraction"]),
              positive_similarity=a2v["positive_similarity"],
              negative_similarity=0.5 * (a2v["negative_similarity"]
                                         + v2a["negative_similarity"]))
