"""The label-classification regularizer (``--classification_weight``).

Flags: ``--classification_weight``, ``--classification_warmup_steps``. Reads
the labels and the label logits of both clip embeddings (the loss layer's
shared ``Dense(C)`` head); its weight ramps up from 0 (:func:`ramp_weight`,
applied by the layer).
"""

import dataclasses
from typing import Any, Dict, Optional

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses.base import TermInputs, WeightedTerm
from yt8m_crossmodal.losses.common import f32

NAME = "classification"
ORDER = 50  # Its place in the sum (terms.modules).
SECTION = "classification"  # TensorBoard's section of its parts.
PARTS = ("loss",)


@dataclasses.dataclass(frozen=True)
class ClassificationConfig:
  """Label classification of both clip embeddings by one shared head."""

  warmup_steps: int


CONFIG = ClassificationConfig


def term_from(loss: LossConfig, has_timelines: bool) -> Optional[WeightedTerm]:
  """The term of ``loss``; its weight is the peak of its warm-up ramp."""
  del has_timelines  # Both levels.
  return WeightedTerm(NAME, loss.classification_weight,
                      ClassificationConfig(loss.classification_warmup_steps))


def needs(c: ClassificationConfig) -> Dict[str, str]:
  """``{input: the setting that needs it}``."""
  del c
  return {"labels": "classification_weight > 0"}


def compute(x: TermInputs, c: ClassificationConfig) -> Dict[str, Any]:
  """Mean sigmoid cross-entropy of the labels from both clip embeddings."""
  del c  # The warm-up ramps the weight (see ramp_weight), not the loss.
  return {"loss": 0.5 * (sigmoid_cross_entropy(x.labels, x.audio_logits)
                         + sigmoid_cross_entropy(x.labels, x.visual_logits))}


def sigmoid_cross_entropy(labels, logits):
  """Mean (over batch and classes) sigmoid cross-entropy, stable form."""
  labels, logits = f32(labels), f32(logits)
  return ops.mean(ops.relu(logits) - logits * labels
                  + ops.log1p(ops.exp(-ops.abs(logits))))


def ramp_weight(step, weight, warmup_steps):
  """``weight * min(step / warmup_steps, 1)``; ``weight`` if no warm-up."""
  if warmup_steps <= 0:
    return ops.convert_to_tensor(float(weight), "float32")
  fraction = ops.minimum(f32(step) / float(warmup_steps), 1.0)
  return weight * fraction
