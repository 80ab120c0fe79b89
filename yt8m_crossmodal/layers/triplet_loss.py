"""The loss layer's earlier module: see :mod:`.cross_modal_loss`."""

from yt8m_crossmodal.layers.cross_modal_loss import (  # noqa: F401
    LOSS_PARTS, CrossModalLoss, CrossModalTripletLoss)
