"""yt8m-crossmodal: temporal-aware joint audio-visual embeddings from YouTube-8M features.

The Python API (:mod:`yt8m_crossmodal.api`) at the top level::

  import yt8m_crossmodal as ym
  encoder = ym.load_encoder("saved_models/demo")
  video = next(ym.read_records("data/validate*.tfrecord"))
  result = ym.synchronize(encoder.encode_audio(video.audio).timeline,
                          encoder.encode_visual(video.visual).timeline)

Importing the package loads nothing heavy: each name is looked up in
:mod:`yt8m_crossmodal.api` on first use, and TensorFlow loads (quietly) on
the first call that needs it.
"""

__version__ = "0.2.0"

# The API's names, listed here as well as in api.__all__ (a test keeps the two
# equal): ``from yt8m_crossmodal import io_utils`` asks this module's
# __getattr__ first, which must answer for a submodule without importing api.
_API = (
    "Config", "load_config", "named_config", "EXPERIMENTS", "EmbedConfig", "EvaluateConfig",
    "ExportConfig", "SearchConfig", "SyncConfig", "ValidateConfig", "SynthConfig",
    "HumanEvalConfig", "ExtractConfig", "PicturesConfig", "SoundtracksConfig", "UsageError",
    "Video", "read_records",
    "Embedding", "Encoder", "load_encoder", "open_catalogue", "search_catalogue",
    "SyncResult", "synchronize", "train", "export", "embed", "search", "sync_records",
    "evaluate", "validate_records", "make_sample_data", "human_eval", "extract",
    "find_pictures", "find_soundtracks",
)

__all__ = ["__version__", *_API]


def __getattr__(name):
  if name in _API:
    from yt8m_crossmodal import api  # pylint: disable=import-outside-toplevel
    return getattr(api, name)
  raise AttributeError(f"module 'yt8m_crossmodal' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_API))
