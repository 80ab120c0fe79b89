"""The command-line tools, one module per console script (never imported as
a library): each reads its config from flags, calls the library and prints.
Run one as ``yt8m-<name>`` or ``python -m yt8m_crossmodal.tools.<name>``."""

import os

from yt8m_crossmodal import quiet

# Keep TF's start-up chatter out of the tools' output. This package is
# imported before any tool module, so before TensorFlow loads.
quiet.begin()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Verbose: TF's errors stay.
