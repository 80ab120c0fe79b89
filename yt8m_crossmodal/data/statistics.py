"""Statistics that say how much features look like the released ones.

Used by ``benchmarks/realism.py`` to compare ``yt8m-synth`` families with real
records (AudioSet's per-second audio embeddings, YouTube-8M's video-level
means). Numpy only.
"""

from __future__ import annotations

from typing import Dict, Iterable

import numpy as np

from yt8m_crossmodal.data import features as feat


def window_statistics(clips: Iterable[np.ndarray], window: int = 10,
                      top: int = 10) -> Dict[str, float]:
  """Per-second statistics over non-overlapping windows of ``window`` seconds.

  Each window is centred on its own mean vector before the similarity and
  spread figures are taken, so what a clip is about (its mean) does not count.

  Args:
    clips: per-second features, each ``[T, D]`` (uint8 bytes are dequantized,
      floats used as they are); clips shorter than ``window`` are skipped.
    window: window length in seconds.
    top: number of leading directions for ``top_share``.

  Returns:
    ``cosine_1``, ``cosine_5``: mean cosine of the centred seconds ``t`` and
    ``t + 1`` (``t + 5``); ``within_share``: share of the total variance
    that lies inside the windows; ``top_share``: share of the within-window
    variance in its ``top`` leading principal directions; ``dim_std``: mean
    over dimensions of each dimension's standard deviation over all seconds;
    ``saturated``: share of values at the ends of the quantized range;
    ``windows``: how many windows were used.

  Raises:
    ValueError: when no clip is ``window`` seconds long.
  """
  windows = []
  for clip in clips:
    x = feat.to_float(clip)
    for start in range(0, len(x) - window + 1, window):
      windows.append(x[start:start + window])
  if not windows:
    raise ValueError(f"no clip is at least {window} seconds long")
  x = np.stack(windows).astype(np.float64)           # [N, W, D]
  centred = x - x.mean(axis=1, keepdims=True)
  flat = x.reshape(-1, x.shape[-1])
  total = ((flat - flat.mean(0)) ** 2).sum(-1).mean()
  within = (centred ** 2).sum(-1).mean()
  eig = np.linalg.eigvalsh(np.cov(centred.reshape(-1, x.shape[-1]).T))[::-1]
  lo, hi = feat.dequantize(np.uint8(0)), feat.dequantize(np.uint8(255))
  return {
      "cosine_1": _mean_cosine(centred, 1),
      "cosine_5": _mean_cosine(centred, 5) if window > 5 else float("nan"),
      "within_share": float(within / max(total, 1e-12)),
      "top_share": float(eig[:top].sum() / max(eig.sum(), 1e-12)),
      "dim_std": float(flat.std(axis=0).mean()),
      "saturated": float(((flat <= lo + 1e-6) | (flat >= hi - 1e-6)).mean()),
      "windows": len(windows),
  }


def _mean_cosine(centred: np.ndarray, lag: int) -> float:
  a, b = centred[:, :-lag], centred[:, lag:]
  norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
  return float(((a * b).sum(-1) / np.maximum(norms, 1e-12)).mean())


def held_out_canonical_correlations(audio: np.ndarray, visual: np.ndarray,
                                    dims: int = 10, reg: float = 0.1) -> np.ndarray:
  """Canonical correlations of two views, fitted on one half, measured on the other.

  In-sample canonical correlations of 1024-d features on a few thousand videos
  are inflated by over-fitting; these are not.

  Args:
    audio: ``[N, Da]`` (e.g. ``mean_audio``). visual: ``[N, Dv]`` the same
      videos' ``mean_rgb``. Rows are split by parity (even: fit).
    dims: how many directions.
    reg: ridge of the fit, relative to each covariance's mean variance.

  Returns:
    ``[dims]`` correlations of the projections on the odd rows, in the order
    of the fitted directions.
  """
  from yt8m_crossmodal import cca as cca_lib  # numpy only
  audio, visual = np.asarray(audio, np.float64), np.asarray(visual, np.float64)
  model = cca_lib.fit_cca(audio[0::2], visual[0::2], dims, reg=reg)
  a, v = model.audio(audio[1::2]), model.visual(visual[1::2])
  a, v = a - a.mean(0), v - v.mean(0)
  return (a * v).sum(0) / np.maximum(
      np.linalg.norm(a, axis=0) * np.linalg.norm(v, axis=0), 1e-12)
