"""The loss layer's earlier module: see :mod:`.cross_modal_loss`."""

from yt8m_crossmodal.layers.cross_modal_loss import (
    LOSS_PARTS, CrossModalLoss, CrossModalTripletLoss)

__all__ = ["LOSS_PARTS", "CrossModalLoss", "CrossModalTripletLoss"]
