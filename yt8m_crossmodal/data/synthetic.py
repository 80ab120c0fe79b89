"""Synthetic YouTube-8M-format data with learnable cross-modal and temporal structure.

Each video has a latent timeline ``z[t]`` (``latent_dim`` numbers per second),
the sum of

- **scenes** (in the scene subspace): consecutive segments (about 12 s on
  average) whose vector mixes a *topic* from a shared pool (topics are the
  labels) with a scene-specific vector, so two videos on the same topics
  still differ;
- **texture** (in the dynamic subspace): a fast AR(1) process shared by both
  modalities, which gives every second a fingerprint (what synchronization
  can lock onto) and averages out over a clip;
- **events** (dynamic subspace): sparse two-second bursts drawn from a pool
  of event types, at the same second in both modalities.

Audio and visual features are two different random linear read-outs of
``z`` with PCA-like decaying variances per feature dimension, plus per-video
nuisance and per-second noise of each modality's own, clipped to [-2, 2] and
8-bit quantized exactly as the real release. A fraction of videos
(``unrelated_fraction``) get a soundtrack from an independent latent timeline
(music laid over a video, say), which no model can align. With
``max_offset`` > 0 the audio of each video is shifted by a known offset ``d``
(audio second ``t`` carries the latent of second ``t + d``), written to a
sidecar JSON file.

That is the ``texture`` preset (the default). ``--preset=events`` and
``--preset=music_over`` draw a harder family closer to real videos (see
:data:`PRESETS` and :func:`_events_video`): sparse shared events, slow scenes
plus drift, non-linear read-outs, strong noise, per-video style, offsets
padded by repeating the edge seconds, and (``music_over``) a third of the
soundtracks on their own same-topic trajectory.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, List, Optional

import numpy as np

from yt8m_crossmodal import paths
from yt8m_crossmodal.config import option
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import realistic

RELEASES = ("2017", "2018", "2019")
UNALIGNED_KINDS = ("other", "same_topic", "same_scenes")



@dataclasses.dataclass(frozen=True)
class SynthConfig:
  """Options of ``yt8m-synth`` (each field is a flag of the same name).

  >>> SynthConfig(output_dir="data", min_frames=50, max_frames=40).validate()
  Traceback (most recent call last):
  ...
  yt8m_crossmodal.errors.UsageError: need 1 <= --min_frames <= --max_frames, got 50, 40
  """

  output_dir: str = option("", "Folder to write the shards into (created).",
                           path=paths.OUTPUT_FOLDER)
  prefix: str = option("train", "Shard file name prefix: <prefix>0000.tfrecord ...")
  feature_level: str = option("frame", "frame or video.", choices=("frame", "video"))
  release: str = option("2018", "Field layout: 2017 (video_id, 4716 classes), 2018, "
                    "2019 (adds segment fields).", choices=RELEASES)
  num_videos: int = option(1000, "Videos to write.")
  num_shards: int = option(4, "Shards (files) to spread them over.")
  min_frames: int = option(120, "Shortest video in seconds.")
  max_frames: int = option(300, "Longest video in seconds.")
  seed: int = option(0, "Random seed; the same seed writes the same bytes.")
  max_offset: int = option(0, "Shift each video's audio by a known offset in "
                       "[-max_offset, max_offset] seconds (sidecar offsets.json).")
  unrelated_fraction: float = option(0.05, "Fraction of videos whose soundtrack is unrelated.")
  num_topics: int = option(200, "Topics in the shared pool (labels are drawn from them).")
  preset: str = option("texture", "Data family: texture (the original: dense shared "
                    "texture), events (sparse shared events, slow scenes, non-linear "
                    "read-outs) or music_over (events plus a third of soundtracks on "
                    "their own same-topic trajectory) or realistic (per-second "
                    "statistics and video-level correlations like released features; "
                    "--unrelated_fraction of soundtracks are unrelated).",
                    choices=("texture", "events", "music_over", "realistic"))
  world_seed: int = option(1234, "Seed of the shared 'world' (topics, read-outs): keep it "
                       "equal across train/validation sets.")
  unaligned_fraction: float = option(0.0, "Fraction of videos whose soundtrack is laid "
                                 "over footage it does not belong to (listed under "
                                 "'unrelated' in the offsets file).")
  unaligned_kind: str = option(
      "same_scenes", "What such a soundtrack shares with the footage: other (nothing: "
      "another video's topics), same_topic (the topics, its own scenes) or same_scenes "
      "(the topics, the scene changes and the slow content; only the per-second "
      "events differ: the hardest case).", choices=UNALIGNED_KINDS)
  drift_rate: float = option(0.0, "Soundtracks that drift: picture second t is heard at "
                         "(1 + r) t - offset, r = +-drift_rate (0.04: a 25 fps "
                         "conversion of 24 fps material); rate and offset per video in "
                         "the offsets file under 'drift'.")
  drift_fraction: float = option(1.0, "With --drift_rate: the fraction of aligned "
                             "soundtracks that drift (the others keep a constant offset).")

  def validate(self) -> None:
    """Raises UsageError naming the flag of a bad value."""
    if not self.output_dir:
      raise UsageError("--output_dir is required")
    if self.num_videos <= 0 or self.num_shards <= 0:
      raise UsageError("--num_videos and --num_shards must be positive")
    if not 1 <= self.min_frames <= self.max_frames:
      raise UsageError(f"need 1 <= --min_frames <= --max_frames, got {self.min_frames}, "
                       f"{self.max_frames}")


@dataclasses.dataclass
class _World:
  """Everything shared by all videos of a data set (and across splits)."""

  topics: np.ndarray        # [num_topics, K]
  events: np.ndarray        # [num_events, K]
  audio_readout: np.ndarray  # [K, 128]
  visual_readout: np.ndarray  # [K, 1024]
  audio_noise: np.ndarray    # [128] per-dimension noise std
  visual_noise: np.ndarray   # [1024]
  topic_labels: np.ndarray   # [num_topics] class index of each topic


LATENT_DIM = 32
# The latent splits into a *scene* subspace (topics, scenes: what a video is
# about, what survives averaging over time) and a *dynamic* subspace (texture
# and events: what happens when, averaging to about zero). Clip-level training
# alone has no reason to keep the dynamic subspace; aligning seconds needs it.
SCENE_DIM = 16


def _decay(dim: int, rng) -> np.ndarray:
  """PCA-like standard deviations, decreasing over feature dimensions."""
  return 0.9 / np.sqrt(1.0 + np.arange(dim) / 12.0)


def make_world(num_topics: int, num_classes: int, seed: int) -> _World:
  rng = np.random.default_rng(seed)
  k = LATENT_DIM

  def readout(dim):
    w = rng.normal(size=(k, dim)) / np.sqrt(k)
    return w * _decay(dim, rng)[None, :]

  scene_part = np.zeros(k)
  scene_part[:SCENE_DIM] = 1.0
  return _World(
      topics=rng.normal(size=(num_topics, k)) * scene_part,
      events=rng.normal(size=(24, k)) * (1.0 - scene_part) * 1.5,
      audio_readout=readout(feat.AUDIO_DIM),
      visual_readout=readout(feat.VISUAL_DIM),
      audio_noise=0.35 * _decay(feat.AUDIO_DIM, rng),
      visual_noise=0.35 * _decay(feat.VISUAL_DIM, rng),
      topic_labels=rng.permutation(num_classes)[:num_topics],
  )


def _latent(world: _World, length: int, rng, topics: np.ndarray):
  """Latent timeline [length, K] and the scene boundaries."""
  k = LATENT_DIM
  z = np.empty((length, k))
  t = 0
  while t < length:
    dur = max(4, int(rng.exponential(12.0)))
    topic = world.topics[rng.choice(topics)]
    z[t:t + dur, :SCENE_DIM] = 0.8 * topic[:SCENE_DIM] + 0.8 * rng.normal(size=SCENE_DIM)
    t += dur
  dynamic = k - SCENE_DIM
  texture = np.empty((length, dynamic))
  texture[0] = rng.normal(size=dynamic)
  eps = rng.normal(size=(length, dynamic))
  for i in range(1, length):
    texture[i] = 0.5 * texture[i - 1] + 0.87 * eps[i]
  z[:, SCENE_DIM:] = 0.8 * texture
  n_events = rng.poisson(length / 8.0)
  for _ in range(n_events):
    at = rng.integers(0, length)
    kind = world.events[rng.integers(0, len(world.events))]
    for j, w in enumerate((1.0, 0.5)):
      if at + j < length:
        z[at + j] += w * kind
  return z


def _modality(z, readout, noise_std, nuisance_std, rng):
  base = z @ readout
  nuisance = rng.normal(size=readout.shape[1]) * nuisance_std
  noise = rng.normal(size=base.shape) * noise_std[None, :]
  return feat.quantize(base + nuisance + noise)


@dataclasses.dataclass
class SyntheticVideo:
  id: str
  labels: List[int]
  audio: np.ndarray   # uint8 [T, 128]
  visual: np.ndarray  # uint8 [T, 1024]
  offset: int
  related: bool
  segments: Optional[Dict[str, list]] = None
  drift: float = 0.0  # r: picture second t is heard at (1 + r) t - offset


def generate_videos(cfg: SynthConfig) -> Iterator[SyntheticVideo]:
  """Yields ``cfg.num_videos`` synthetic videos, deterministic for ``cfg.seed``.

  With ``cfg.unaligned_fraction`` some videos are replaced by footage with a
  soundtrack of another origin (:func:`unaligned_video`), drawn from a random
  stream of their own: the other videos are the family's, byte for byte.
  """
  videos = _family_videos(cfg)
  if cfg.unaligned_fraction <= 0 and cfg.drift_rate == 0:
    yield from videos
    return
  rng = np.random.default_rng([cfg.seed, 7207])
  drift_rng = np.random.default_rng([cfg.seed, 7211])
  for video in videos:
    if cfg.unaligned_fraction > 0 and rng.random() < cfg.unaligned_fraction:
      video = unaligned_video(cfg, video, rng)
    if cfg.drift_rate and video.related and drift_rng.random() < cfg.drift_fraction:
      video = drifting_video(video, cfg.drift_rate * drift_rng.choice([-1.0, 1.0]))
    yield video


def _family_videos(cfg: SynthConfig) -> Iterator[SyntheticVideo]:
  """The family's videos (``cfg.preset``), all with their own soundtracks."""
  if cfg.preset == "realistic":
    yield from _generate_realistic_videos(cfg)
    return
  if cfg.preset != "texture":
    yield from _generate_event_videos(cfg, PRESETS[cfg.preset])
    return
  num_classes = 4716 if cfg.release == "2017" else 3862
  world = make_world(cfg.num_topics, num_classes, cfg.world_seed)
  rng = np.random.default_rng(cfg.seed)
  pad = cfg.max_offset
  for i in range(cfg.num_videos):
    length = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    n_topics = int(rng.integers(1, 4))
    topics = rng.choice(cfg.num_topics, size=n_topics, replace=False)
    z = _latent(world, length + 2 * pad, rng, topics)
    offset = int(rng.integers(-pad, pad + 1)) if pad else 0
    visual_z = z[pad:pad + length]
    related = rng.random() >= cfg.unrelated_fraction
    audio_z = (z[pad + offset:pad + offset + length] if related else
               _latent(world, length, rng, rng.choice(cfg.num_topics, size=n_topics)))
    visual = _modality(visual_z, world.visual_readout, world.visual_noise, 0.3, rng)
    audio = _modality(audio_z, world.audio_readout, world.audio_noise, 0.3, rng)
    labels = sorted(int(world.topic_labels[t]) for t in topics)
    segments = _segments(length, labels, rng) if cfg.release == "2019" else None
    yield SyntheticVideo(id=f"{cfg.prefix[:2]}{cfg.seed % 1000:03d}{i:06d}",
                         labels=labels, audio=audio, visual=visual, offset=offset,
                         related=related, segments=segments)


# ----------------------------------------------------------------------------
# The ``events`` / ``music_over`` family.


@dataclasses.dataclass(frozen=True)
class EventParams:
  """Parameters of the event-driven family (one place: :data:`PRESETS`)."""

  scene_seconds: tuple = (4, 25)   # scene length, uniform (inclusive)
  scene_topic_weight: float = 0.8  # scene = w * topic + (1 - w) * own vector
  drift_ar: float = 0.97           # AR(1) coefficient of the slow drift
  drift_std: float = 0.5           # stationary std of the drift
  event_rate: float = 0.1          # shared events per second
  event_seconds: tuple = (1, 2)    # event length, uniform (inclusive)
  event_gain: float = 1.6          # event amplitude (scenes have std ~1)
  solo_event_rate: float = 0.05    # per modality: events the other cannot see
  hidden_units: int = 64           # non-linear read-out: tanh(z A) B
  noise_std: float = 1.0           # per-second noise, times the dim decay
  style_std: float = 0.4           # per-video offset, times the dim decay
  gain_jitter: float = 0.2         # per-video gain (volume, exposure)
  music_over_fraction: float = 0.0  # soundtracks on their own trajectory


PRESETS = {
    "events": EventParams(),
    "music_over": EventParams(music_over_fraction=1.0 / 3.0),
}


@dataclasses.dataclass
class _EventWorld:
  topics: np.ndarray        # [num_topics, K]
  events: np.ndarray        # [num_events, K]
  audio_readout: tuple      # (A [K, H], B [H, 128])
  visual_readout: tuple     # (A [K, H], B [H, 1024])
  audio_decay: np.ndarray   # [128]
  visual_decay: np.ndarray  # [1024]
  topic_labels: np.ndarray  # [num_topics]


def make_event_world(num_topics: int, num_classes: int, seed: int,
                     p: EventParams) -> _EventWorld:
  """Topics, event types and two non-linear read-outs, fixed by ``seed``."""
  rng = np.random.default_rng(seed + 7919)
  k, h = LATENT_DIM, p.hidden_units

  def readout(dim):
    a = rng.normal(size=(k, h)) * (1.5 / np.sqrt(k))
    b = rng.normal(size=(h, dim)) / np.sqrt(h)
    return a, b * _decay(dim, rng)[None, :] * 1.6

  return _EventWorld(
      topics=rng.normal(size=(num_topics, k)),
      events=rng.normal(size=(32, k)),
      audio_readout=readout(feat.AUDIO_DIM),
      visual_readout=readout(feat.VISUAL_DIM),
      audio_decay=_decay(feat.AUDIO_DIM, rng),
      visual_decay=_decay(feat.VISUAL_DIM, rng),
      topic_labels=rng.permutation(num_classes)[:num_topics])


def _scene_track(world, length, topics, p, rng):
  """Slow content [length, K]: piecewise-constant scenes plus AR(1) drift."""
  k = LATENT_DIM
  z = np.empty((length, k))
  t = 0
  lo, hi = p.scene_seconds
  while t < length:
    dur = int(rng.integers(lo, hi + 1))
    topic = world.topics[rng.choice(topics)]
    w = p.scene_topic_weight
    z[t:t + dur] = w * topic + (1 - w) * rng.normal(size=k)
    t += dur
  drift = np.empty((length, k))
  drift[0] = rng.normal(size=k) * p.drift_std
  innov = rng.normal(size=(length, k)) * p.drift_std * np.sqrt(1 - p.drift_ar ** 2)
  for i in range(1, length):
    drift[i] = p.drift_ar * drift[i - 1] + innov[i]
  return z + drift


def _add_events(world, z, rate, p, rng):
  """Adds sparse events (random type, 1-2 s) to ``z`` in place."""
  length = len(z)
  lo, hi = p.event_seconds
  for _ in range(rng.poisson(rate * length)):
    at = int(rng.integers(0, length))
    kind = world.events[rng.integers(0, len(world.events))]
    kind = p.event_gain * (0.8 * kind + 0.6 * rng.normal(size=kind.shape))
    z[at:at + int(rng.integers(lo, hi + 1))] += kind


def _nonlinear_modality(z, readout, decay, p, rng):
  """uint8 features: tanh read-out, per-video gain and style, noise."""
  a, b = readout
  base = np.tanh(z @ a) @ b
  gain = 1.0 + p.gain_jitter * rng.normal()
  style = rng.normal(size=b.shape[1]) * decay * p.style_std
  noise = rng.normal(size=base.shape) * decay[None, :] * p.noise_std
  return feat.quantize(gain * base + style + noise)


def _shift_edge_padded(x, offset):
  """Row ``t`` of the result is ``x[clip(t + offset)]`` (edges repeated)."""
  idx = np.clip(np.arange(len(x)) + offset, 0, len(x) - 1)
  return x[idx]


def _events_video(world, cfg, p, rng, index):
  """One video of the event family (see :class:`EventParams`)."""
  length = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
  n_topics = int(rng.integers(1, 4))
  topics = rng.choice(cfg.num_topics, size=n_topics, replace=False)
  offset = int(rng.integers(-cfg.max_offset, cfg.max_offset + 1)) if cfg.max_offset else 0
  related = rng.random() >= p.music_over_fraction
  shared = _scene_track(world, length, topics, p, rng)
  _add_events(world, shared, p.event_rate, p, rng)
  visual_z = shared.copy()
  if related:
    audio_z = shared.copy()
  else:  # Music over footage: same topics, its own trajectory and events.
    audio_z = _scene_track(world, length, topics, p, rng)
    _add_events(world, audio_z, p.event_rate, p, rng)
  _add_events(world, visual_z, p.solo_event_rate, p, rng)
  _add_events(world, audio_z, p.solo_event_rate, p, rng)
  visual = _nonlinear_modality(visual_z, world.visual_readout, world.visual_decay, p, rng)
  audio = _nonlinear_modality(audio_z, world.audio_readout, world.audio_decay, p, rng)
  audio = _shift_edge_padded(audio, offset)
  labels = sorted(int(world.topic_labels[t]) for t in topics)
  return SyntheticVideo(id=f"{cfg.prefix[:2]}{cfg.seed % 1000:03d}{index:06d}",
                        labels=labels, audio=audio, visual=visual, offset=offset,
                        related=related)


def _generate_event_videos(cfg: SynthConfig, p: EventParams) -> Iterator[SyntheticVideo]:
  num_classes = 4716 if cfg.release == "2017" else 3862
  world = make_event_world(cfg.num_topics, num_classes, cfg.world_seed, p)
  rng = np.random.default_rng(cfg.seed)
  for i in range(cfg.num_videos):
    video = _events_video(world, cfg, p, rng, i)
    if cfg.release == "2019":
      video.segments = _segments(len(video.audio), video.labels, rng)
    yield video


def _generate_realistic_videos(cfg: SynthConfig) -> Iterator[SyntheticVideo]:
  """The ``realistic`` family (:mod:`yt8m_crossmodal.data.realistic`)."""
  params = realistic.RealisticParams()
  num_classes = 4716 if cfg.release == "2017" else 3862
  world = realistic.make_world(cfg.num_topics, num_classes, cfg.world_seed, params)
  rng = np.random.default_rng(cfg.seed)
  for i in range(cfg.num_videos):
    length = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    topics = rng.choice(cfg.num_topics, size=int(rng.integers(1, 4)), replace=False)
    offset = int(rng.integers(-cfg.max_offset, cfg.max_offset + 1)) if cfg.max_offset else 0
    related = rng.random() >= cfg.unrelated_fraction
    audio, visual = realistic.video_features(world, params, length, topics, related, rng)
    labels = sorted(int(world.topic_labels[t]) for t in topics)
    yield SyntheticVideo(
        id=f"{cfg.prefix[:2]}{cfg.seed % 1000:03d}{i:06d}", labels=labels,
        audio=_shift_edge_padded(audio, offset), visual=visual, offset=offset,
        related=related,
        segments=_segments(length, labels, rng) if cfg.release == "2019" else None)


def _segments(length, labels, rng):
  """2019 segment fields: up to 3 rated 5-second segments."""
  starts = sorted(int(s) for s in rng.choice(
      max(1, length // 5), size=min(3, max(1, length // 5)), replace=False) * 5)
  return {"segment_start_times": starts,
          "segment_labels": [int(labels[j % len(labels)]) for j in range(len(starts))],
          "segment_scores": [float(rng.random() < 0.7) for _ in starts]}


def frame_example(video: SyntheticVideo, release: str) -> bytes:
  """Serializes a video as a frame-level ``tf.train.SequenceExample``."""
  import tensorflow as tf
  se = tf.train.SequenceExample()
  id_key = "video_id" if release == "2017" else "id"
  se.context.feature[id_key].bytes_list.value.append(video.id.encode())
  se.context.feature["labels"].int64_list.value.extend(video.labels)
  if video.segments:
    se.context.feature["segment_start_times"].int64_list.value.extend(
        video.segments["segment_start_times"])
    se.context.feature["segment_labels"].int64_list.value.extend(
        video.segments["segment_labels"])
    se.context.feature["segment_scores"].float_list.value.extend(
        video.segments["segment_scores"])
  rgb = se.feature_lists.feature_list["rgb"]
  for row in video.visual:
    rgb.feature.add().bytes_list.value.append(row.tobytes())
  audio = se.feature_lists.feature_list["audio"]
  for row in video.audio:
    audio.feature.add().bytes_list.value.append(row.tobytes())
  return se.SerializeToString(deterministic=True)


def video_example(video: SyntheticVideo, release: str) -> bytes:
  """Serializes a video as a video-level ``tf.train.Example`` (means of frames)."""
  import tensorflow as tf
  ex = tf.train.Example()
  id_key = "video_id" if release == "2017" else "id"
  ex.features.feature[id_key].bytes_list.value.append(video.id.encode())
  ex.features.feature["labels"].int64_list.value.extend(video.labels)
  ex.features.feature["mean_rgb"].float_list.value.extend(
      feat.dequantize(video.visual).mean(axis=0).tolist())
  ex.features.feature["mean_audio"].float_list.value.extend(
      feat.dequantize(video.audio).mean(axis=0).tolist())
  return ex.SerializeToString(deterministic=True)


# ----------------------------------------------------------------------------
# Soundtracks laid over footage they do not belong to (``--unaligned_fraction``).


def _unaligned_latents(cfg: SynthConfig, world, length: int, topics: np.ndarray, rng):
  """(visual latent, audio latent) [length, K] of footage and a foreign soundtrack.

  ``other``: independent tracks on other topics; ``same_topic``: independent
  tracks on the same topics; ``same_scenes``: the same scenes (topics, scene
  vectors and changes) for both, each with its own drift and events (texture
  family: its own texture and events).
  """
  other_topics = rng.choice(cfg.num_topics, size=len(topics), replace=False)
  audio_topics = other_topics if cfg.unaligned_kind == "other" else topics
  if cfg.preset == "texture":
    visual_z = _latent(world, length, rng, topics)
    audio_z = _latent(world, length, rng, audio_topics)
    if cfg.unaligned_kind == "same_scenes":
      audio_z[:, :SCENE_DIM] = visual_z[:, :SCENE_DIM]
    return visual_z, audio_z
  p = PRESETS[cfg.preset]
  if cfg.unaligned_kind == "same_scenes":
    scenes = _scene_track(world, length, topics, dataclasses.replace(p, drift_std=0.0), rng)
    visual_z, audio_z = scenes + _drift(length, p, rng), scenes + _drift(length, p, rng)
  else:
    visual_z = _scene_track(world, length, topics, p, rng)
    audio_z = _scene_track(world, length, audio_topics, p, rng)
  for z in (visual_z, audio_z):
    _add_events(world, z, p.event_rate + p.solo_event_rate, p, rng)
  return visual_z, audio_z


def _drift(length: int, p: EventParams, rng) -> np.ndarray:
  """[length, K] AR(1) drift of ``p`` (what :func:`_scene_track` adds to the scenes)."""
  drift = np.empty((length, LATENT_DIM))
  drift[0] = rng.normal(size=LATENT_DIM) * p.drift_std
  innov = rng.normal(size=(length, LATENT_DIM)) * p.drift_std * np.sqrt(1 - p.drift_ar ** 2)
  for i in range(1, length):
    drift[i] = p.drift_ar * drift[i - 1] + innov[i]
  return drift


def unaligned_video(cfg: SynthConfig, like: SyntheticVideo, rng) -> SyntheticVideo:
  """Footage of the family with a soundtrack that does not belong to it.

  Args:
    cfg: the data set's options (``unaligned_kind`` says what the soundtrack
      shares with the footage).
    like: the family's video it replaces (its id and length are kept).
    rng: the random stream of unaligned videos.

  Returns:
    A :class:`SyntheticVideo` with ``related=False`` and offset 0.
  """
  num_classes = 4716 if cfg.release == "2017" else 3862
  topics = rng.choice(cfg.num_topics, size=int(rng.integers(1, 4)), replace=False)
  if cfg.preset == "realistic":
    params = realistic.RealisticParams()
    world = realistic.make_world(cfg.num_topics, num_classes, cfg.world_seed, params)
    audio, visual = realistic.video_features(world, params, len(like.visual), topics, False,
                                             rng, unrelated_kind=cfg.unaligned_kind)
  elif cfg.preset == "texture":
    world = make_world(cfg.num_topics, num_classes, cfg.world_seed)
    visual_z, audio_z = _unaligned_latents(cfg, world, len(like.visual), topics, rng)
    visual = _modality(visual_z, world.visual_readout, world.visual_noise, 0.3, rng)
    audio = _modality(audio_z, world.audio_readout, world.audio_noise, 0.3, rng)
  else:
    p = PRESETS[cfg.preset]
    world = make_event_world(cfg.num_topics, num_classes, cfg.world_seed, p)
    visual_z, audio_z = _unaligned_latents(cfg, world, len(like.visual), topics, rng)
    visual = _nonlinear_modality(visual_z, world.visual_readout, world.visual_decay, p, rng)
    audio = _nonlinear_modality(audio_z, world.audio_readout, world.audio_decay, p, rng)
  labels = sorted(int(world.topic_labels[t]) for t in topics)
  return dataclasses.replace(like, labels=labels, audio=audio, visual=visual, offset=0,
                             related=False)


def drifting_video(video: SyntheticVideo, rate: float) -> SyntheticVideo:
  """``video`` with a soundtrack whose clock runs ``1 + rate`` times the pictures'.

  Picture second t is heard at audio second ``(1 + rate) t - offset`` (the
  video's own constant offset at t = 0); audio rows are the nearest original
  seconds (edges repeated), as per-second features of resampled audio are.
  """
  n = len(video.audio)
  u = np.arange(n)
  # Original row j carries picture j + offset; row u must carry picture
  # (u + offset) / (1 + rate).
  rows = np.clip(np.round((u + video.offset) / (1.0 + rate) - video.offset), 0, n - 1)
  return dataclasses.replace(video, audio=video.audio[rows.astype(np.int64)],
                             drift=float(rate))
