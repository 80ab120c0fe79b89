"""The training loss: pure ``keras.ops`` functions.

:mod:`~yt8m_crossmodal.losses.functions` holds the math (triplet mining,
InfoNCE, the sync offset loss); :mod:`~yt8m_crossmodal.losses.terms` the loss
terms (one function per term config of :mod:`yt8m_crossmodal.config`) and
:func:`~yt8m_crossmodal.losses.terms.objective`, their weighted sum.
"""

from yt8m_crossmodal.losses.functions import *  # noqa: F401,F403
from yt8m_crossmodal.losses.functions import MINING_MODES  # noqa: F401
from yt8m_crossmodal.losses.terms import TermInputs, objective, part_names, term_loss  # noqa: F401
