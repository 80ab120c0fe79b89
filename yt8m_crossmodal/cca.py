"""Per-second linear CCA: a synchronization and retrieval baseline.

Fitted on aligned (audio second, visual second) pairs of dequantized
training frames, it maps each second of either modality to a k-dim space
where the pairs correlate most. Numpy only.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Tuple

import numpy as np


@dataclasses.dataclass
class CCA:
  """Fitted projections: ``(x - mean) @ w`` for each modality.

  Attributes:
    audio_mean: [Da]. audio_w: [Da, k].
    visual_mean: [Dv]. visual_w: [Dv, k].
    correlations: [k] canonical correlations on the training seconds.
  """

  audio_mean: np.ndarray
  audio_w: np.ndarray
  visual_mean: np.ndarray
  visual_w: np.ndarray
  correlations: np.ndarray

  def audio(self, x: np.ndarray) -> np.ndarray:
    """[..., Da] float audio features -> [..., k] projections."""
    return (np.asarray(x, np.float32) - self.audio_mean) @ self.audio_w

  def visual(self, x: np.ndarray) -> np.ndarray:
    """[..., Dv] float visual features -> [..., k] projections."""
    return (np.asarray(x, np.float32) - self.visual_mean) @ self.visual_w


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh(c)
  return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T


def fit_cca(audio: np.ndarray, visual: np.ndarray, dims: int,
            reg: float = 1e-3) -> CCA:
  """Fits a regularized linear CCA.

  Args:
    audio: [N, Da] audio seconds. visual: [N, Dv] the aligned visual seconds.
    dims: k, number of canonical directions kept.
    reg: ridge added to each covariance, relative to its mean variance.

  Returns:
    A :class:`CCA`.
  """
  x = np.asarray(audio, np.float64)
  y = np.asarray(visual, np.float64)
  if len(x) != len(y) or len(x) < 2:
    raise ValueError(f"need N >= 2 aligned pairs, got {len(x)} and {len(y)}")
  mx, my = x.mean(0), y.mean(0)
  x, y = x - mx, y - my
  n = len(x)
  cxx, cyy, cxy = x.T @ x / n, y.T @ y / n, x.T @ y / n
  cxx += reg * np.trace(cxx) / len(cxx) * np.eye(len(cxx))
  cyy += reg * np.trace(cyy) / len(cyy) * np.eye(len(cyy))
  ix, iy = _inv_sqrt(cxx), _inv_sqrt(cyy)
  u, s, vt = np.linalg.svd(ix @ cxy @ iy)
  k = min(dims, len(s))
  return CCA(mx.astype(np.float32), (ix @ u[:, :k]).astype(np.float32),
             my.astype(np.float32), (iy @ vt.T[:, :k]).astype(np.float32),
             s[:k].astype(np.float32))


def stack_seconds(pairs: Iterable[Tuple[np.ndarray, np.ndarray]],
                  max_seconds: int = 0, seed: int = 0):
  """Stacks per-video (audio [T, Da], visual [T, Dv]) into aligned seconds.

  Args:
    pairs: per-video float features of equal length T.
    max_seconds: keep a random subset of at most this many seconds (0: all).
    seed: subset seed.

  Returns:
    ``(audio [N, Da], visual [N, Dv])``.
  """
  a, v = [], []
  for x, y in pairs:
    n = min(len(x), len(y))
    a.append(np.asarray(x[:n], np.float32))
    v.append(np.asarray(y[:n], np.float32))
  a, v = np.concatenate(a), np.concatenate(v)
  if max_seconds and len(a) > max_seconds:
    keep = np.random.default_rng(seed).choice(len(a), max_seconds, replace=False)
    a, v = a[keep], v[keep]
  return a, v
