"""Custom Keras layers (backend-agnostic: ``keras`` / ``keras.ops`` only)."""

from yt8m_crossmodal.layers.cross_modal_loss import CrossModalLoss, CrossModalTripletLoss
from yt8m_crossmodal.layers.dequantize import Dequantize
from yt8m_crossmodal.layers.frame_dense import FrameDense
from yt8m_crossmodal.layers.l2_normalize import L2Normalize
from yt8m_crossmodal.layers.masked_mean import MaskedMean
from yt8m_crossmodal.layers.masking import FrameMask, frame_mask
from yt8m_crossmodal.layers.standardize import Standardize
from yt8m_crossmodal.layers.window_pool import MaskedWindowPool
from yt8m_crossmodal.layers.window_upsample import WindowUpsample

__all__ = [
    "CrossModalLoss",
    "CrossModalTripletLoss",
    "Dequantize",
    "FrameDense",
    "FrameMask",
    "L2Normalize",
    "MaskedMean",
    "MaskedWindowPool",
    "Standardize",
    "WindowUpsample",
    "frame_mask",
]
