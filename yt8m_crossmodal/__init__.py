"""yt8m-crossmodal: temporal-aware joint audio-visual embeddings from YouTube-8M features.

The Python API (:mod:`yt8m_crossmodal.api`) at the top level::

  import yt8m_crossmodal as ym
  encoder = ym.load_encoder("saved_models/demo")
  result = ym.synchronize(encoder.encode_audio(a).timeline,
                          encoder.encode_visual(v).timeline)

Importing the package loads nothing heavy: each name is looked up in
:mod:`yt8m_crossmodal.api` on first use, and TensorFlow loads (quietly) on
the first call that needs it.
"""

import importlib as _importlib

__version__ = "0.2.0"


def _api():
  return _importlib.import_module("yt8m_crossmodal.api")


def __getattr__(name):
  if not name.startswith("_") and name in _api().__all__:
    return getattr(_api(), name)
  raise AttributeError(f"module 'yt8m_crossmodal' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_api().__all__))
