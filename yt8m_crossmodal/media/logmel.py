"""VGGish's log-mel front end, and one 0.96 s example per whole second.

The front end as VGGish documents it (``vggish_params.py``,
``mel_features.py``), on 16 kHz mono samples in [-1, 1]:

- frames of 25 ms (400 samples) every 10 ms (160 samples), no padding;
- a *periodic* Hann window, a 512-point FFT, the magnitude of its 257 bins;
- 64 triangular mel bands from 125 to 7500 Hz, triangles linear on the HTK
  mel scale ``1127 ln(1 + f / 700)`` with peaks of 1, the DC bin excluded;
- ``log(mel + 0.01)``;
- examples of 96 frames (0.96 s).

**Examples and seconds.** VGGish itself takes consecutive 0.96 s examples
(hop 0.96 s), which drift against one-per-second pictures (example 25 starts
at 24 s). Here example ``k`` starts at second ``k``: frames ``100 k .. 100 k
+ 95``, i.e. samples ``[16000 k, 16000 k + 15600)``; the last 40 ms of each
second are not heard by any example. This is what MediaPipe's YouTube-8M
feature-extraction graph does (0.96 s windows, -0.04 s overlap), so audio
step ``k`` and picture step ``k`` describe the same second. A second whose
example would run past the end of the sound is not written.
"""

from __future__ import annotations

from typing import Iterator, List, Tuple

import numpy as np

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 400  # 25 ms.
HOP_SAMPLES = 160  # 10 ms.
FFT_LENGTH = 512  # The next power of two of the window.
NUM_BANDS = 64
LOWER_HZ = 125.0
UPPER_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s.
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_SAMPLES  # 100: example k starts at frame 100 k.
EXAMPLE_SAMPLES = (EXAMPLE_FRAMES - 1) * HOP_SAMPLES + WINDOW_SAMPLES  # 15600.

_MEL_BREAK_HZ = 700.0
_MEL_HIGH_Q = 1127.0


def hertz_to_mel(hz):
  """HTK mel scale."""
  return _MEL_HIGH_Q * np.log(1.0 + np.asarray(hz, np.float64) / _MEL_BREAK_HZ)


def periodic_hann(length: int = WINDOW_SAMPLES) -> np.ndarray:
  """``0.5 - 0.5 cos(2 pi n / length)``, n = 0 .. length - 1."""
  return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def mel_matrix(num_bins: int = FFT_LENGTH // 2 + 1, sample_rate: int = SAMPLE_RATE,
               num_bands: int = NUM_BANDS, lower_hz: float = LOWER_HZ,
               upper_hz: float = UPPER_HZ) -> np.ndarray:
  """``[num_bins, num_bands]``: spectrogram magnitudes ``@`` it = mel bands."""
  bins_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_bins))
  edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_bands + 2)
  lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
  rising = (bins_mel[:, None] - lower) / (center - lower)
  falling = (upper - bins_mel[:, None]) / (upper - center)
  weights = np.maximum(0.0, np.minimum(rising, falling))
  weights[0, :] = 0.0  # The DC bin is in no band.
  return weights


_WINDOW = periodic_hann()
_MEL = mel_matrix()


def log_mel_frames(frames: np.ndarray) -> np.ndarray:
  """``[..., 400]`` sample frames -> ``[..., 64]`` log-mel values."""
  spectrum = np.abs(np.fft.rfft(frames * _WINDOW, FFT_LENGTH))
  flat = spectrum.reshape(-1, spectrum.shape[-1]) @ _MEL  # One 2-D product (BLAS).
  return np.log(flat + LOG_OFFSET).reshape(spectrum.shape[:-1] + (NUM_BANDS,))


def log_mel(samples: np.ndarray) -> np.ndarray:
  """Every 10 ms frame of ``samples`` (complete frames only): ``[F, 64]`` float64."""
  samples = np.asarray(samples, np.float64)
  count = 1 + (samples.shape[0] - WINDOW_SAMPLES) // HOP_SAMPLES
  if count <= 0:
    return np.zeros((0, NUM_BANDS))
  frames = np.lib.stride_tricks.as_strided(
      samples, shape=(count, WINDOW_SAMPLES),
      strides=(samples.strides[0] * HOP_SAMPLES, samples.strides[0]), writeable=False)
  return log_mel_frames(frames)


def examples_per_second(samples: np.ndarray) -> np.ndarray:
  """The example of each whole second of ``samples`` (second 0 at sample 0).

  Returns:
    float32 ``[S, 96, 64]``, S = the seconds ``k`` with ``16000 k + 15600 <=
    len(samples)``.
  """
  samples = np.ascontiguousarray(samples, np.float64)
  seconds = (samples.shape[0] - EXAMPLE_SAMPLES) // SAMPLE_RATE + 1
  if seconds <= 0:
    return np.zeros((0, EXAMPLE_FRAMES, NUM_BANDS), np.float32)
  step = samples.strides[0]
  frames = np.lib.stride_tricks.as_strided(
      samples, shape=(seconds, EXAMPLE_FRAMES, WINDOW_SAMPLES),
      strides=(step * SAMPLE_RATE, step * HOP_SAMPLES, step), writeable=False)
  return log_mel_frames(frames).astype(np.float32)


class SecondFramer:
  """Turns consecutive blocks of samples into one example per whole second.

  Holds at most about one block and one second of samples. ``push`` the
  blocks in order, then ``finish``; each returns ``(first_second,
  examples [n, 96, 64])`` for the seconds that became complete.
  """

  def __init__(self, max_block_seconds: int = 32):
    self.next_second = 0
    self._buffer: List[np.ndarray] = []
    self._buffered = 0
    self._max_block = max_block_seconds * SAMPLE_RATE

  def push(self, samples: np.ndarray) -> Iterator[Tuple[int, np.ndarray]]:
    self._buffer.append(np.asarray(samples, np.float32))
    self._buffered += samples.shape[0]
    if self._buffered >= self._max_block:
      yield from self._drain()

  def finish(self) -> Iterator[Tuple[int, np.ndarray]]:
    yield from self._drain()
    self._buffer, self._buffered = [], 0

  def _drain(self) -> Iterator[Tuple[int, np.ndarray]]:
    if not self._buffer:
      return
    data = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
    examples = examples_per_second(data)
    used = examples.shape[0] * SAMPLE_RATE
    self._buffer = [data[used:]] if used < data.shape[0] else []
    self._buffered = data.shape[0] - used
    if examples.shape[0]:
      yield self.next_second, examples
      self.next_second += examples.shape[0]
