"""What every loss term shares: its inputs, its place in the sum, its directions.

A term is a module of this package (see :mod:`~yt8m_crossmodal.losses.terms`
for the list and ``docs/layout.md`` for how to add one). Two-way terms weight
their directions in one place, :func:`two_way`.
"""

import dataclasses
from typing import Any


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


@dataclasses.dataclass(frozen=True)
class Directions:
  """Weights of the two directions of a two-way term (audio anchors first)."""

  audio_to_visual: float = 1.0
  visual_to_audio: float = 1.0

  @classmethod
  def of(cls, loss_config) -> "Directions":
    """The directions of ``--audio_to_visual_weight`` / ``--visual_to_audio_weight``."""
    return cls(loss_config.audio_to_visual_weight, loss_config.visual_to_audio_weight)


@dataclasses.dataclass(frozen=True)
class WeightedTerm:
  """One term of the objective: parts ``<name>_*``, summed as ``weight * loss``."""

  name: str
  weight: float
  config: Any


# The parts every two-way term reports first (see two_way).
TWO_WAY_PARTS = ("loss", "a2v_loss", "v2a_loss")


def two_way(a2v, v2a, directions: Directions, **parts):
  """A two-way term's parts: ``loss``, the weighted sum of its directions, and theirs.

  The one place the direction weights apply. Returns ``{"loss", "a2v_loss",
  "v2a_loss", **parts}`` (a term reports the ones it lists in ``PARTS``).
  """
  loss = directions.audio_to_visual * a2v + directions.visual_to_audio * v2a
  return {"loss": loss, "a2v_loss": a2v, "v2a_loss": v2a, **parts}
