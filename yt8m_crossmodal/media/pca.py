"""The published PCA of each modality, and the 8-bit quantization after it.

**Pictures** (``yt8m_pca.tgz``: ``mean.npy``, ``eigenvals.npy``,
``eigenvecs.npy``), as the YouTube-8M extractor loads and applies them::

  mean = mean.npy[:, 0]                     # [2048]
  eigenvals = eigenvals.npy[:1024, 0]       # [1024]
  eigenvecs = eigenvecs.npy.T[:, :1024]     # [2048, 1024]: rows of the file are components
  x -> ((x - mean) @ eigenvecs) / sqrt(eigenvals + 1e-4)

then clipped to [-2, 2] and quantized as its ``quantize`` does:
``round((x + 2) * 255 / 4)``.

**Sound** (``vggish_pca_params.npz``: ``pca_eigen_vectors`` ``[128, 128]``,
``pca_means`` ``[128]``), as VGGish's ``vggish_postprocess.py`` does::

  e -> pca_eigen_vectors @ (e - pca_means)  # whitening is in the matrix

then clipped to [-2, 2] and quantized as that postprocessor does: ``(x + 2)
* 255 / 4`` cast to uint8, i.e. **truncated**, not rounded (it says its
output matches the AudioSet release, made "to stay compatible with the
YouTube-8M project"). Each modality follows its own published code; the two
quantizers differ by one step on about half the values.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Mapping

import numpy as np

from yt8m_crossmodal.data import features as feat

PICTURE_FEATURES = 2048
PICTURE_COMPONENTS = feat.VISUAL_DIM
WHITENING_EPSILON = 1e-4
PICTURE_FILES = ("mean.npy", "eigenvals.npy", "eigenvecs.npy")
SOUND_KEYS = ("pca_eigen_vectors", "pca_means")
PICTURE_ROUNDING = "round"  # feature_extractor/extract_tfrecords_main.py: int(round(f)).
SOUND_ROUNDING = "truncate"  # vggish_postprocess.py: astype(np.uint8).


class PCAError(ValueError):
  """PCA parameters of the wrong shape or kind; the message is one line."""


def _array(data: bytes, name: str, where: str) -> np.ndarray:
  try:
    return np.load(io.BytesIO(data), allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise PCAError(f"{where}: {name} is not a .npy array ({e})") from None


@dataclasses.dataclass(frozen=True)
class PicturePCA:
  """YouTube-8M's PCA of Inception's 2048 features (see the module docstring).

  Attributes:
    mean: [2048]; eigenvecs: [2048, 1024]; eigenvals: [1024].
  """

  mean: np.ndarray
  eigenvecs: np.ndarray
  eigenvals: np.ndarray

  @classmethod
  def from_files(cls, files: Mapping[str, bytes], where: str = "yt8m_pca") -> "PicturePCA":
    """From the bytes of ``mean.npy``, ``eigenvals.npy`` and ``eigenvecs.npy``."""
    mean, vals, vecs = (_array(files[n], n, where) for n in PICTURE_FILES)
    if mean.ndim != 2 or mean.shape[0] != PICTURE_FEATURES:
      raise PCAError(f"{where}: mean.npy is {mean.shape}, expected [2048, 1]")
    if vals.ndim != 2 or vals.shape[0] < PICTURE_COMPONENTS:
      raise PCAError(f"{where}: eigenvals.npy is {vals.shape}, expected [>= 1024, 1]")
    if vecs.ndim != 2 or vecs.shape[1] != PICTURE_FEATURES or vecs.shape[0] < PICTURE_COMPONENTS:
      raise PCAError(f"{where}: eigenvecs.npy is {vecs.shape}, expected [>= 1024, 2048] "
                     "(one component a row)")
    vals = vals[:PICTURE_COMPONENTS, 0]
    if not np.all(np.isfinite(vals)) or np.any(vals + WHITENING_EPSILON <= 0):
      raise PCAError(f"{where}: eigenvals.npy holds values <= -1e-4 or NaN")
    return cls(mean=np.asarray(mean[:, 0], np.float32),
               eigenvecs=np.ascontiguousarray(vecs.T[:, :PICTURE_COMPONENTS], np.float32),
               eigenvals=np.asarray(vals, np.float32))

  def apply(self, x: np.ndarray) -> np.ndarray:
    """``[n, 2048]`` -> whitened ``[n, 1024]`` float32 (not clipped)."""
    x = np.asarray(x, np.float32).reshape(-1, PICTURE_FEATURES)
    return ((x - self.mean) @ self.eigenvecs) / np.sqrt(self.eigenvals + WHITENING_EPSILON)

  def quantize(self, x: np.ndarray) -> np.ndarray:
    """Inception features ``[n, 2048]`` -> the record's uint8 ``[n, 1024]``."""
    return feat.quantize_features(self.apply(x), PICTURE_ROUNDING)


@dataclasses.dataclass(frozen=True)
class SoundPCA:
  """VGGish's PCA (see the module docstring).

  Attributes:
    matrix: [128, 128] ``pca_eigen_vectors`` (output dims in rows);
    means: [128] ``pca_means``.
  """

  matrix: np.ndarray
  means: np.ndarray

  @classmethod
  def from_npz(cls, data: bytes, where: str = "vggish_pca_params.npz") -> "SoundPCA":
    try:
      params = np.load(io.BytesIO(data), allow_pickle=False)
      arrays = {k: np.asarray(params[k]) for k in SOUND_KEYS}
    except KeyError:
      missing = [k for k in SOUND_KEYS if k not in getattr(params, "files", ())]
      raise PCAError(f"{where}: no array {missing[0] if missing else SOUND_KEYS[0]!r} (an "
                     f".npz with {', '.join(SOUND_KEYS)} expected)") from None
    except (ValueError, OSError, EOFError, AttributeError) as e:
      raise PCAError(f"{where}: not an .npz file ({e})") from None
    matrix, means = arrays["pca_eigen_vectors"], arrays["pca_means"].reshape(-1)
    dim = feat.AUDIO_DIM
    if matrix.shape != (dim, dim) or means.shape != (dim,):
      raise PCAError(f"{where}: pca_eigen_vectors {matrix.shape} and pca_means "
                     f"{arrays['pca_means'].shape}; expected [{dim}, {dim}] and [{dim}]")
    return cls(matrix=matrix.astype(np.float64), means=means.astype(np.float64))

  def apply(self, e: np.ndarray) -> np.ndarray:
    """``[n, 128]`` embeddings -> ``[n, 128]`` float64 (not clipped)."""
    e = np.asarray(e, np.float64).reshape(-1, feat.AUDIO_DIM)
    return (self.matrix @ (e - self.means).T).T

  def quantize(self, e: np.ndarray) -> np.ndarray:
    """VGGish embeddings ``[n, 128]`` -> the record's uint8 ``[n, 128]``."""
    return feat.quantize_features(self.apply(e), SOUND_ROUNDING)
