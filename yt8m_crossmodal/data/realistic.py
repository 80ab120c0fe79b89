"""The ``realistic`` sample-data family: per-second statistics like released features.

Calibrated on the properties of real records (``benchmarks/realism.py``
prints them side by side): AudioSet's per-second audio embeddings (the same
feature YouTube-8M ships) and YouTube-8M's video-level means.

Each modality's feature of second ``t`` is a linear read-out of

- a **video constant** (what the video is about, its recording style), made
  of a part shared by both modalities (the topics) and a part of its own,
  with a shared share that decays over latent directions, so that the
  canonical correlations of the video-level means fall off as real ones do;
- **slow content**: scenes of 4-40 s and a slow drift, shared;
- **fast dynamics**: an AR(1) process (coefficient ``fast_ar``) and sparse
  events, mostly shared (what synchronization locks onto);

plus white per-second noise of its own in every feature dimension. Read-outs
spread the variance over many directions (real features are PCA-whitened);
the gain puts about a fifth of the values at the ends of the 8-bit range, as
in real records.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from yt8m_crossmodal.data import features as feat


@dataclasses.dataclass(frozen=True)
class RealisticParams:
  """Variances are per feature dimension before quantization."""

  latent_dim: int = 40              # K, directions of the video constant and dynamics
  constant_var: float = 0.4         # video constant
  style_var: float = 0.15           # per-video, per-dimension offset of each modality
  shared_first: float = 0.85        # shared share of latent direction 0 ...
  shared_decay: float = 0.8         # ... times this per further direction
  slow_var: float = 0.3             # scenes and drift
  scene_seconds: tuple = (4, 40)
  fast_var: float = 0.5             # AR(1) fast dynamics and events
  fast_ar: float = 0.55
  fast_shared: float = 0.8          # share of the fast dynamics both modalities see
  event_rate: float = 0.08          # shared events per second
  noise_var: float = 0.75           # white per-second noise
  visual_gain: float = 0.3          # visual variances relative to audio


@dataclasses.dataclass
class RealisticWorld:
  """What all videos of a data set share (and train/test splits too)."""

  topics: np.ndarray           # [num_topics, K]
  events: np.ndarray           # [num_events, K]
  readouts: dict               # modality -> [K, D], rows of unit mean square
  shared: np.ndarray           # [K] shared share of each constant direction
  topic_labels: np.ndarray     # [num_topics]


def make_world(num_topics: int, num_classes: int, seed: int,
               p: RealisticParams) -> RealisticWorld:
  rng = np.random.default_rng(seed + 104729)
  k = p.latent_dim

  def readout(dim):  # Unit variance per output dim for a unit-variance latent.
    w = rng.normal(size=(k, dim))
    return w / np.sqrt(k)

  return RealisticWorld(
      topics=rng.normal(size=(num_topics, k)),
      events=rng.normal(size=(32, k)) * 1.5,
      readouts={"audio": readout(feat.AUDIO_DIM), "visual": readout(feat.VISUAL_DIM)},
      shared=p.shared_first * p.shared_decay ** np.arange(k),
      topic_labels=rng.permutation(num_classes)[:num_topics])


def _ar1(length, dim, coef, rng):
  """Unit-variance AR(1) rows ``[length, dim]``."""
  x = np.empty((length, dim))
  x[0] = rng.normal(size=dim)
  innov = rng.normal(size=(length, dim)) * np.sqrt(1 - coef ** 2)
  for t in range(1, length):
    x[t] = coef * x[t - 1] + innov[t]
  return x


def _slow(length, k, p, rng):
  """Unit-variance slow content ``[length, K]``: scenes plus a drift."""
  scenes = np.empty((length, k))
  t = 0
  lo, hi = p.scene_seconds
  while t < length:
    dur = int(rng.integers(lo, hi + 1))
    scenes[t:t + dur] = rng.normal(size=k)
    t += dur
  return np.sqrt(0.7) * scenes + np.sqrt(0.3) * _ar1(length, k, 0.98, rng)


def _fast(world, length, k, p, rng):
  """Fast dynamics ``[length, K]``: AR(1) plus sparse events, about unit variance."""
  fast = _ar1(length, k, p.fast_ar, rng)
  for _ in range(rng.poisson(p.event_rate * length)):
    at = int(rng.integers(0, length))
    fast[at:at + int(rng.integers(1, 3))] += world.events[rng.integers(0, len(world.events))]
  return fast / np.sqrt(1 + p.event_rate * 1.5 * 2.25)


def video_features(world: RealisticWorld, p: RealisticParams, length: int,
                   topics: np.ndarray, related: bool, rng, unrelated_kind="same_topic"):
  """``(audio uint8 [T, 128], visual uint8 [T, 1024])`` of one video.

  An unrelated soundtrack (``related`` False) shares with the pictures, by
  ``unrelated_kind``: ``same_topic`` the video constant's topics (its own
  slow content and fast dynamics), ``same_scenes`` the topics and the slow
  content (only the fast dynamics and events differ: the hardest case), or
  ``other`` nothing (another video's topics too).
  """
  k = p.latent_dim
  topic = world.topics[topics].mean(0) * np.sqrt(len(topics))
  common = np.sqrt(0.8) * topic + np.sqrt(0.2) * rng.normal(size=k)
  slow = _slow(length, k, p, rng)
  fast = _fast(world, length, k, p, rng)
  sources = {"visual": (common, slow, fast), "audio": (common, slow, fast)}
  if not related:  # The soundtrack's own sources, by kind; the pictures keep theirs.
    audio_common, audio_slow = common, slow
    if unrelated_kind != "same_scenes":
      audio_slow = _slow(length, k, p, rng)
    if unrelated_kind == "other":
      other = world.topics[rng.choice(len(world.topics), size=len(topics), replace=False)]
      audio_common = (np.sqrt(0.8) * other.mean(0) * np.sqrt(len(topics))
                      + np.sqrt(0.2) * rng.normal(size=k))
    sources["audio"] = (audio_common, audio_slow, _fast(world, length, k, p, rng))
  out = {}
  for modality, readout in world.readouts.items():
    common, slow, fast = sources[modality]
    gain = 1.0 if modality == "audio" else p.visual_gain
    own_constant = rng.normal(size=k)
    constant = np.sqrt(world.shared) * common + np.sqrt(1 - world.shared) * own_constant
    own_fast = _ar1(length, k, p.fast_ar, rng)
    dynamics = (np.sqrt(p.slow_var) * slow
                + np.sqrt(p.fast_var) * (np.sqrt(p.fast_shared) * fast
                                         + np.sqrt(1 - p.fast_shared) * own_fast))
    dim = readout.shape[1]
    x = ((np.sqrt(p.constant_var) * constant + dynamics) @ readout
         + np.sqrt(p.style_var) * rng.normal(size=dim)
         + np.sqrt(p.noise_var) * rng.normal(size=(length, dim)))
    out[modality] = feat.quantize(np.sqrt(gain) * x)
  return out["audio"], out["visual"]
