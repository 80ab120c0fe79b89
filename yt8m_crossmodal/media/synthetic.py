"""Sample media files with known content: moving patterns and tones at known seconds.

Used by the tests and ``benchmarks/extract.py`` (written with PyAV, so
nothing else is needed). What each second holds is known exactly:

- pictures: a bar that moves one step a frame over a dark background whose
  gray level encodes the frame index (``frame_gray``); the seconds listed in
  ``flash_seconds`` are wholly white (every frame of ``[k, k + 1)``), and
  ``color`` paints every frame one solid RGB color instead;
- sound: silence (or quiet noise) with a sine of ``tone_hz`` during each
  second listed in ``tone_seconds`` (``[k, k + 1)``).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Optional, Sequence, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class SampleMedia:
  """What :func:`write_media` writes.

  Attributes:
    seconds: duration (may be fractional).
    fps: picture frames per second (a Fraction or int); 0: no pictures.
    size: (width, height) of the pictures.
    sample_rate: sound samples per second; 0: no sound.
    channels: sound channels (the same signal in each, scaled 1, 0.5, ...).
    tone_seconds: whole seconds that hold the tone.
    tone_hz: its frequency.
    tone_level: its amplitude (full scale = 1).
    noise_level: standard deviation of the background noise (0: silence).
    flash_seconds: whole seconds whose pictures are white.
    color: one solid RGB color for every picture instead of the pattern.
    video_codec, audio_codec, container: what PyAV writes (``None``: from
      the file name: mp4 -> h264 + aac, mkv -> ffv1 + flac, webm -> vp9 +
      opus, wav -> pcm_s16le, mp3, flac, ogg -> opus, m4a -> aac).
    vfr_times: explicit frame times in seconds (a variable frame rate);
      overrides ``fps``'s regular grid.
    audio_start: the sound starts this many seconds after the pictures
      (``seconds`` of sound are written from then on).
    seed: of the noise.
  """

  seconds: float = 10.0
  fps: object = 10
  size: Tuple[int, int] = (64, 48)
  sample_rate: int = 16000
  channels: int = 1
  tone_seconds: Sequence[int] = ()
  tone_hz: float = 1000.0
  tone_level: float = 0.5
  noise_level: float = 0.0
  flash_seconds: Sequence[int] = ()
  color: Optional[Tuple[int, int, int]] = None
  video_codec: Optional[str] = None
  audio_codec: Optional[str] = None
  vfr_times: Optional[Sequence[float]] = None
  audio_start: float = 0.0
  seed: int = 0


_BY_SUFFIX = {
    "mp4": ("libx264", "aac"), "mov": ("libx264", "aac"), "mkv": ("ffv1", "flac"),
    "webm": ("libvpx-vp9", "libopus"), "wav": (None, "pcm_s16le"), "mp3": (None, "libmp3lame"),
    "flac": (None, "flac"), "ogg": (None, "libopus"), "m4a": (None, "aac"),
    "avi": ("mpeg4", "pcm_s16le"),
}


def frame_gray(index: int) -> int:
  """The background gray level of picture frame ``index`` (0..199, never white)."""
  return 20 + (index * 7) % 180


def picture(media: SampleMedia, index: int, time: float) -> np.ndarray:
  """The RGB uint8 ``[H, W, 3]`` picture of frame ``index`` shown at ``time``."""
  w, h = media.size
  if media.color is not None:
    return np.broadcast_to(np.array(media.color, np.uint8), (h, w, 3)).copy()
  if int(np.floor(time)) in set(media.flash_seconds):
    return np.full((h, w, 3), 255, np.uint8)
  img = np.full((h, w, 3), frame_gray(index), np.uint8)
  x = (index * 4) % max(1, w - 8)
  img[:, x:x + 8] = (230, 60, 60)
  return img


def sound(media: SampleMedia, start: int, stop: int) -> np.ndarray:
  """Mono float32 samples ``[start, stop)`` of the sound track."""
  rate = media.sample_rate
  n = np.arange(start, stop)
  t = media.audio_start + n / rate
  out = np.zeros(n.shape, np.float64)
  if media.noise_level:
    rng = np.random.default_rng(media.seed + start)
    out += rng.normal(0.0, media.noise_level, n.shape)
  if len(media.tone_seconds):
    on = np.isin(np.floor(t).astype(np.int64), np.asarray(media.tone_seconds, np.int64))
    out += np.where(on, media.tone_level * np.sin(2 * np.pi * media.tone_hz * t), 0.0)
  return out.astype(np.float32)


def write_media(path: str, media: SampleMedia = SampleMedia()) -> str:
  """Writes ``media`` to ``path`` (container from the suffix); returns ``path``."""
  import av  # pylint: disable=import-outside-toplevel
  suffix = path.rsplit(".", 1)[-1].lower()
  video_codec, audio_codec = _BY_SUFFIX.get(suffix, ("libx264", "aac"))
  video_codec = media.video_codec or video_codec
  audio_codec = media.audio_codec or audio_codec
  has_video = bool(video_codec) and (media.fps or media.vfr_times) and suffix not in (
      "wav", "mp3", "flac", "ogg", "m4a")
  has_audio = bool(audio_codec) and media.sample_rate > 0
  with av.open(path, "w") as out:
    vstream = astream = None
    if has_video:
      rate = Fraction(media.fps).limit_denominator(1001) if media.fps else Fraction(1000)
      vstream = out.add_stream(video_codec, rate=rate)
      vstream.width, vstream.height = media.size
      vstream.pix_fmt = "bgr0" if video_codec == "ffv1" else "yuv420p"
      if video_codec == "libx264":
        vstream.options = {"crf": "12", "preset": "ultrafast"}
      if media.vfr_times is not None:
        vstream.time_base = Fraction(1, 1000)
    if has_audio:
      astream = out.add_stream(audio_codec, rate=media.sample_rate)
      astream.layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(
          media.channels, f"{media.channels}c")
    if vstream is not None:
      if media.vfr_times is not None:
        times = [float(t) for t in media.vfr_times]
      else:
        count = int(np.ceil(media.seconds * float(rate) - 1e-9))
        times = [i / float(rate) for i in range(count)]
      for i, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(picture(media, i, t), format="rgb24")
        if vstream.pix_fmt != "rgb24":
          frame = frame.reformat(format=vstream.pix_fmt)
        if media.vfr_times is not None:
          frame.pts = int(round(t * 1000))
          frame.time_base = Fraction(1, 1000)
        else:
          frame.pts = i
        for packet in vstream.encode(frame):
          out.mux(packet)
      for packet in vstream.encode():
        out.mux(packet)
    if astream is not None:
      total = int(round(media.seconds * media.sample_rate))
      block = astream.codec_context.frame_size or 1024
      gains = np.array([1.0 / (1 + c) for c in range(media.channels)], np.float32)
      fmt = astream.codec_context.format.name
      for s in range(0, total, block):
        mono = sound(media, s, min(total, s + block))
        planes = (gains[:, None] * mono[None]).astype(np.float32)
        frame = _audio_frame(planes, fmt, astream.layout.name)
        frame.sample_rate = media.sample_rate
        frame.pts = s + int(round(media.audio_start * media.sample_rate))
        for packet in astream.encode(frame):
          out.mux(packet)
      for packet in astream.encode():
        out.mux(packet)
  return path


def _audio_frame(planes: np.ndarray, fmt: str, layout: str):
  """An ``av.AudioFrame`` of ``planes`` [C, n] float32 in the encoder's sample format."""
  import av  # pylint: disable=import-outside-toplevel
  planar = fmt.endswith("p")
  base = fmt.rstrip("p")
  if base == "s16":
    data = np.clip(np.round(planes * 32767), -32768, 32767).astype(np.int16)
  elif base == "s32":
    data = np.clip(np.round(planes * 2147483647.0), -2**31, 2**31 - 1).astype(np.int32)
  else:
    data = planes.astype(np.float32)
  if not planar:
    data = data.T.reshape(1, -1)
  return av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
