"""The training loss: pure ``keras.ops`` functions.

:mod:`~yt8m_crossmodal.losses.functions` holds the math (triplet mining,
InfoNCE, the sync offset loss); :mod:`~yt8m_crossmodal.losses.terms` the loss
terms (one function per term config of :mod:`yt8m_crossmodal.config`) and
:func:`~yt8m_crossmodal.losses.terms.objective`, their weighted sum.
"""

from yt8m_crossmodal.losses.functions import (
    MINING_MODES, centered_timeline, clip_contrastive_loss, clip_triplet_loss, crop_windows,
    cross_modal_clip_loss, off_diagonal_mask, pairwise_similarity, ramp_weight,
    random_window_starts, shared_label_mask, shared_label_weights, sigmoid_cross_entropy, sync_offset_loss,
    temporal_negative_mask, temporal_triplet_loss, timeline_contrastive_loss,
    triplet_loss_from_similarity)
from yt8m_crossmodal.losses.terms import TermInputs, objective, part_names, term_loss

__all__ = [
    "MINING_MODES", "TermInputs", "centered_timeline", "clip_contrastive_loss",
    "clip_triplet_loss", "crop_windows", "cross_modal_clip_loss", "objective",
    "off_diagonal_mask", "pairwise_similarity", "part_names", "ramp_weight",
    "random_window_starts", "shared_label_mask", "shared_label_weights", "sigmoid_cross_entropy", "sync_offset_loss",
    "temporal_negative_mask", "temporal_triplet_loss", "term_loss",
    "timeline_contrastive_loss", "triplet_loss_from_similarity",
]
