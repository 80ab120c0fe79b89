"""Decoding media files with PyAV: one picture a second, sound at 16 kHz mono.

:class:`MediaDecoder` reads a file once (its first video and first audio
stream demuxed together) and yields, in time order:

- :class:`Picture` ``(second, time, rgb)``: for each whole second ``k``, the
  first frame shown at or after ``k`` (as the YouTube-8M extractor takes it),
  if one starts before ``k + 1``; where none does (a still picture, a gap of a
  variable frame rate), the frame on screen at ``k``; after the last frame,
  a second counts when that frame stays on screen for half of it. ``rgb`` is uint8
  ``[H, W, 3]`` in R, G, B order at the stream's own size.
- :class:`Sound` ``(start, samples)``: consecutive blocks of the sound,
  every channel averaged into one (the mean, as VGGish's input does) and
  resampled to 16 kHz by FFmpeg's resampler, as float32 in [-1, 1];
  ``start`` is the index of the first sample (sample ``i`` is heard at
  ``i / 16000`` s).

Times count from the start of the file (its earliest stream), so second
``k`` of the pictures and of the sound are the same moment; a sound stream
that starts late is preceded by silence. Memory stays bounded whatever the
length: a block of sound and one frame at a time.

Everything wrong with a file raises :class:`MediaError` with one line that
names the file: not media, empty, no usable stream, damaged or truncated
part-way (decoding fails, or ends well before the duration the file
declares).
"""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction
from typing import Any, Dict, Iterator, Optional, Union

import numpy as np

SAMPLE_RATE = 16000  # What VGGish's front end takes.

# Decoding that ends this many seconds before the declared duration means a
# truncated or damaged file (encoders pad and round by well under a second).
TRUNCATION_TOLERANCE = 1.5


class MediaError(Exception):
  """A file that cannot be used; the message is one line naming the file."""


@dataclasses.dataclass
class Picture:
  second: int
  time: float
  rgb: np.ndarray


@dataclasses.dataclass
class Sound:
  start: int
  samples: np.ndarray


@dataclasses.dataclass
class MediaInfo:
  """What a file holds (the manifest's ``streams``).

  Attributes:
    path: the file.
    container: FFmpeg's format name.
    duration_seconds: declared duration (None when the file does not say).
    video: ``{"codec", "width", "height", "frame_rate"}`` or None.
    audio: ``{"codec", "sample_rate", "channels", "layout"}`` or None.
  """

  path: str
  container: str
  duration_seconds: Optional[float]
  video: Optional[Dict[str, Any]]
  audio: Optional[Dict[str, Any]]

  def streams(self) -> Dict[str, Any]:
    return {"container": self.container, "video": self.video, "audio": self.audio}


def _av():
  import av  # pylint: disable=import-outside-toplevel
  return av


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return text[0] if text else type(error).__name__


def _open(path: str):
  """The PyAV container of ``path``; MediaError when it is not media."""
  av = _av()
  if not os.path.exists(path):
    raise MediaError(f"{path}: no such file")
  if os.path.isdir(path):
    raise MediaError(f"{path}: is a folder, not a media file")
  if os.path.getsize(path) == 0:
    raise MediaError(f"{path}: empty file (0 bytes)")
  try:
    return av.open(path, metadata_errors="ignore")
  except av.error.FFmpegError as e:
    reason = getattr(e, "strerror", None) or _first_line(e)
    raise MediaError(f"{path}: not a media file FFmpeg can read ({reason})") from None
  except (OSError, UnicodeDecodeError, ValueError) as e:
    raise MediaError(f"{path}: cannot open it ({_first_line(e)})") from None


def _video_stream(container):
  attached = _av().stream.Disposition.attached_pic
  for s in container.streams.video:
    if int(getattr(s, "disposition", 0) or 0) & int(attached):
      continue  # Cover art of a song, not pictures over time.
    return s
  return None


def _info(path: str, container, video, audio) -> MediaInfo:
  duration = None
  if container.duration:
    duration = container.duration / 1_000_000
  vinfo = ainfo = None
  if video is not None:
    rate = video.average_rate or video.guessed_rate
    vinfo = {"codec": video.codec_context.name, "width": video.codec_context.width,
             "height": video.codec_context.height,
             "frame_rate": round(float(rate), 3) if rate else None}
  if audio is not None:
    ctx = audio.codec_context
    ainfo = {"codec": ctx.name, "sample_rate": ctx.sample_rate, "channels": ctx.channels,
             "layout": ctx.layout.name if ctx.layout is not None else None}
  return MediaInfo(path=path, container=container.format.name, duration_seconds=duration,
                   video=vinfo, audio=ainfo)


def probe(path: str) -> MediaInfo:
  """The streams of ``path`` (headers only); MediaError when it is not media."""
  container = _open(path)
  try:
    audio = container.streams.audio[0] if container.streams.audio else None
    return _info(path, container, _video_stream(container), audio)
  finally:
    container.close()


class MediaDecoder:
  """One pass over a media file (see the module docstring).

  Args:
    path: the file.
    pictures: decode the pictures (if the file has a video stream).
    sound: decode the sound (if it has an audio stream).
    max_seconds: stop after this many seconds (0: the whole file).

  Attributes:
    info: the :class:`MediaInfo` (``video`` / ``audio`` None for a stream
      the file lacks).
    frames_decoded: picture frames decoded so far.
    pictures_end: end of the last picture frame, in seconds.
    frame_intervals: (shortest, longest) gap between frames (a variable
      frame rate shows as a wide range).
    samples: 16 kHz samples yielded so far.
  """

  def __init__(self, path: str, pictures: bool = True, sound: bool = True,
               max_seconds: int = 0):
    self.path = path
    self.max_seconds = int(max_seconds)
    self._container = _open(path)
    c = self._container
    video = _video_stream(c)
    audio = c.streams.audio[0] if c.streams.audio else None
    self.info = _info(path, c, video, audio)  # What the file has, asked for or not.
    self._video = video if pictures else None
    self._audio = audio if sound else None
    self.frames_decoded = 0
    self.pictures_end = 0.0
    self.frame_intervals = (None, None)
    self.samples = 0
    start = c.start_time
    self._origin = Fraction(start, 1_000_000) if start not in (None, 0) else Fraction(0)

  def close(self) -> None:
    self._container.close()

  def __enter__(self) -> "MediaDecoder":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  @property
  def has_pictures(self) -> bool:
    return self._video is not None

  @property
  def has_sound(self) -> bool:
    return self._audio is not None

  def _time(self, frame) -> Optional[Fraction]:
    if frame.pts is None or frame.time_base is None:
      return None
    return Fraction(frame.pts) * Fraction(frame.time_base) - self._origin

  def events(self) -> Iterator[Union[Picture, Sound]]:
    """Yields the :class:`Picture` and :class:`Sound` items in time order."""
    av = _av()
    streams = [s for s in (self._video, self._audio) if s is not None]
    if not streams:
      return
    if self._video is not None:
      self._video.thread_type = "AUTO"
    pictures = _PictureSelector(
        self.max_seconds,
        (self._video.average_rate or self._video.guessed_rate) if self._video is not None else None)
    pictures.done = self._video is None
    sound = _SoundTrack(self.max_seconds) if self._audio is not None else None
    where = 0.0
    try:
      for packet in self._container.demux(*streams):
        for frame in packet.decode():
          if packet.stream is self._video:
            t = self._time(frame)  # Exact (a Fraction): seconds are compared with it.
            self.frames_decoded += 1
            yield from pictures.add(frame, t)
          else:
            t = self._time(frame) if not sound.started else None
            yield from sound.add(frame, t)
          if frame.time is not None:
            where = max(where, frame.time - float(self._origin))
        if pictures.done and (sound is None or sound.done):
          break
      if sound is not None:
        yield from sound.flush()
      yield from pictures.flush()
    except av.error.FFmpegError as e:
      reason = getattr(e, "strerror", None) or _first_line(e)
      raise MediaError(f"{self.path}: damaged at about {where:.1f} s: cannot decode it "
                       f"({reason})") from None
    finally:
      self.pictures_end = pictures.end
      self.frame_intervals = pictures.intervals
      self.samples = sound.samples if sound is not None else 0
    self._check_complete()

  def _check_complete(self) -> None:
    """MediaError when decoding ended well before the declared duration."""
    declared = self.info.duration_seconds
    if not declared or self.max_seconds:
      return
    ends = []
    if self._video is not None:
      ends.append(self.pictures_end)
    if self._audio is not None:
      ends.append(self.samples / SAMPLE_RATE)
    if ends and max(ends) < declared - TRUNCATION_TOLERANCE:
      raise MediaError(f"{self.path}: truncated or damaged: decoding ends at "
                       f"{max(ends):.1f} s of the {declared:.1f} s the file declares")


class _PictureSelector:
  """Turns decoded frames (in presentation order) into one :class:`Picture` a second."""

  def __init__(self, max_seconds: int, frame_rate):
    self.max_seconds = max_seconds
    self.nominal = float(1 / Fraction(frame_rate)) if frame_rate else None
    self.next = 0
    self.prev = None  # [time, frame, rgb or None]: the last frame seen.
    self.end = 0.0
    self.intervals = (None, None)
    self.done = False

  def _limit_reached(self) -> bool:
    return bool(self.max_seconds) and self.next >= self.max_seconds

  @staticmethod
  def _rgb(entry) -> np.ndarray:
    if entry[2] is None:
      entry[2] = entry[1].to_ndarray(format="rgb24")
      entry[1] = None
    return entry[2]

  def add(self, frame, t: Optional[Fraction]) -> Iterator[Picture]:
    if self.done:
      return
    if t is None:  # No timestamp: it follows the last frame.
      t = self.prev[0] if self.prev is not None else Fraction(0)
    if self.prev is not None and t > self.prev[0]:
      gap = float(t - self.prev[0])
      lo, hi = self.intervals
      self.intervals = (gap if lo is None else min(lo, gap), gap if hi is None else max(hi, gap))
    current = [t, frame, None]
    duration = (float(frame.duration * frame.time_base)
                if getattr(frame, "duration", None) and frame.time_base else 0.0)
    self.end = max(self.end, float(t) + duration)
    while not self._limit_reached() and self.next <= t:
      # The first frame that starts in [k, k + 1); else the one on screen at k;
      # else (nothing shown yet) the first one after k.
      use = current if (t < self.next + 1 or self.prev is None) else self.prev
      yield Picture(self.next, float(use[0]), self._rgb(use))
      self.next += 1
    self.prev = current
    self.done = self._limit_reached()

  def flush(self) -> Iterator[Picture]:
    """The seconds the last frame stays on screen for."""
    if self.prev is not None and not self.done:
      if self.end <= float(self.prev[0]):  # No duration given: a typical interval.
        self.end = float(self.prev[0]) + (self.intervals[0] or self.nominal or 0.0)
      # A second counts when the last frame stays on screen for half of it.
      while not self._limit_reached() and self.next + 0.5 <= self.end + 1e-6:
        yield Picture(self.next, float(self.prev[0]), self._rgb(self.prev))
        self.next += 1
    self.done = True


class _SoundTrack:
  """Decoded audio frames -> mono 16 kHz blocks, aligned to the file's start."""

  def __init__(self, max_seconds: int):
    self.resampler = _av().AudioResampler(format="fltp", rate=SAMPLE_RATE)
    self.limit = max_seconds * SAMPLE_RATE if max_seconds else None
    self.samples = 0
    self.started = False
    self.done = False

  def _emit(self, frames) -> Iterator[Sound]:
    for out in frames:
      if self.done:
        return
      planes = out.to_ndarray().astype(np.float32, copy=False)
      mono = planes.mean(axis=0) if planes.ndim == 2 else planes
      if self.limit is not None and self.samples + mono.shape[0] >= self.limit:
        mono = mono[:self.limit - self.samples]
        self.done = True
      if mono.size:
        yield Sound(self.samples, mono)
        self.samples += mono.shape[0]

  def add(self, frame, t: Optional[Fraction]) -> Iterator[Sound]:
    if self.done:
      return
    if not self.started:
      self.started = True
      if t is not None and t > 0:  # The sound starts late: silence before it.
        lead = int(round(float(t) * SAMPLE_RATE))
        yield from self._emit([_Silence(lead)])
    frame.pts = None  # Consecutive samples: gaps in timestamps are not filled.
    yield from self._emit(self.resampler.resample(frame))

  def flush(self) -> Iterator[Sound]:
    if not self.done:
      yield from self._emit(self.resampler.resample(None))
    self.done = True


class _Silence:
  """A block of zeros that looks like a resampled frame."""

  def __init__(self, n: int):
    self.n = n

  def to_ndarray(self) -> np.ndarray:
    return np.zeros((1, self.n), np.float32)
