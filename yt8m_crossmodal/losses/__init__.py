"""The training loss: one module per term, pure ``keras.ops`` functions.

A term's module (:mod:`.clip_contrastive`, :mod:`.clip_triplet`,
:mod:`.temporal_triplets`, :mod:`.sync_offset`, :mod:`.timeline_nce`,
:mod:`.classification`) holds its config, its math and how it reads the
flags and the batch; :mod:`.common` the math they share; :mod:`.terms`
the list of terms, :func:`terms_from` (the terms of a ``LossConfig``) and
:func:`objective`, their weighted sum.
"""

from yt8m_crossmodal.losses.base import Directions, TermInputs, WeightedTerm, two_way
from yt8m_crossmodal.losses.classification import (
    ClassificationConfig, ramp_weight, sigmoid_cross_entropy)
from yt8m_crossmodal.losses.clip_contrastive import (
    ClipContrastiveConfig, clip_contrastive_loss, shared_label_weights)
from yt8m_crossmodal.losses.clip_triplet import (
    ClipTripletConfig, clip_triplet_loss, cross_modal_clip_loss)
from yt8m_crossmodal.losses.common import (
    MINING_MODES, off_diagonal_mask, pairwise_similarity, shared_label_mask,
    triplet_loss_from_similarity)
from yt8m_crossmodal.losses.sync_offset import (
    SyncOffsetConfig, centered_timeline, sync_offset_loss)
from yt8m_crossmodal.losses.temporal_triplets import (
    TemporalTripletConfig, temporal_negative_mask, temporal_triplet_loss)
from yt8m_crossmodal.losses.terms import objective, part_names, term_loss, terms_from
from yt8m_crossmodal.losses.timeline_nce import (
    TimelineNCEConfig, crop_windows, random_window_starts, timeline_contrastive_loss)

__all__ = [
    "ClassificationConfig", "ClipContrastiveConfig", "ClipTripletConfig", "Directions",
    "MINING_MODES", "SyncOffsetConfig", "TemporalTripletConfig", "TermInputs",
    "TimelineNCEConfig", "WeightedTerm", "centered_timeline", "clip_contrastive_loss",
    "clip_triplet_loss", "crop_windows", "cross_modal_clip_loss", "objective",
    "off_diagonal_mask", "pairwise_similarity", "part_names", "ramp_weight",
    "random_window_starts", "shared_label_mask", "shared_label_weights",
    "sigmoid_cross_entropy", "sync_offset_loss", "temporal_negative_mask",
    "temporal_triplet_loss", "term_loss", "terms_from", "timeline_contrastive_loss",
    "triplet_loss_from_similarity", "two_way",
]
