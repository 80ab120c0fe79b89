"""yt8m-crossmodal: temporal-aware joint audio-visual embeddings from YouTube-8M features."""

__version__ = "0.2.0"
