"""Decoding media with PyAV: which frame stands for each second, the sound's
resampling and alignment, long files in bounded memory, and bad files."""

import tracemalloc

import numpy as np
import pytest

from yt8m_crossmodal.media import decode
from yt8m_crossmodal.media import logmel
from yt8m_crossmodal.media import synthetic as syn


def _decode(path, **kw):
  pictures, sound = [], []
  with decode.MediaDecoder(path, **kw) as d:
    for event in d.events():
      (pictures if isinstance(event, decode.Picture) else sound).append(event)
  samples = np.concatenate([s.samples for s in sound]) if sound else np.zeros(0)
  return d, pictures, samples


def _frame_index(rgb):
  """The frame a lossless sample picture shows (its background gray level)."""
  gray = int(rgb[0, -1, 1])  # Green of the right edge: background, never the bar.
  return {syn.frame_gray(i): i for i in range(180)}[gray]


def test_each_second_is_the_first_frame_at_or_after_it(tmp_path):
  # Lossless pictures at 10 fps: the frame of second k is frame 10 k exactly.
  path = syn.write_media(str(tmp_path / "a.mkv"), syn.SampleMedia(seconds=6, fps=10,
                                                                   sample_rate=0))
  d, pictures, _ = _decode(path)
  assert [p.second for p in pictures] == list(range(6))
  assert [_frame_index(p.rgb) for p in pictures] == [0, 10, 20, 30, 40, 50]
  assert [p.time for p in pictures] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
  assert pictures[0].rgb.shape == (48, 64, 3) and pictures[0].rgb.dtype == np.uint8
  # Channel order: the moving bar is (230, 60, 60) in R, G, B.
  x = (10 * 4) % (64 - 8)
  assert tuple(pictures[1].rgb[0, x + 2]) == (230, 60, 60)


def test_ntsc_rate_and_variable_frame_rate(tmp_path):
  # 29.97 fps: frame i at i * 1001 / 30000 s; second k takes the first frame >= k.
  path = syn.write_media(str(tmp_path / "ntsc.mp4"), syn.SampleMedia(
      seconds=4, fps="30000/1001", sample_rate=0))
  _, pictures, _ = _decode(path)
  assert len(pictures) == 4
  for p in pictures:
    assert 0 <= p.time - p.second < 1001 / 30000 + 1e-9, (p.second, p.time)
  # Variable frame rate: where no frame starts in [k, k + 1), the one on screen.
  path = syn.write_media(str(tmp_path / "vfr.mkv"), syn.SampleMedia(
      seconds=5, vfr_times=[0, 0.5, 0.7, 3.2, 3.3, 4.9], sample_rate=0))
  d, pictures, _ = _decode(path)
  assert [round(p.time, 3) for p in pictures] == [0.0, 0.7, 0.7, 3.2, 4.9]
  assert d.frame_intervals[1] > 2 * d.frame_intervals[0]


def test_sound_is_mono_16k_resampled_and_aligned_with_the_pictures(tmp_path):
  # 44.1 kHz stereo (right channel at half level): the mean of the channels,
  # resampled: a 440 Hz tone keeps its frequency and level (0.75 of full
  # scale), and the count of samples is the duration at 16 kHz.
  media = syn.SampleMedia(seconds=3, fps=0, sample_rate=44100, channels=2,
                          tone_seconds=[0, 1, 2], tone_hz=440, tone_level=1.0)
  path = syn.write_media(str(tmp_path / "stereo.wav"), media)
  d, pictures, samples = _decode(path)
  assert not pictures and d.info.audio["sample_rate"] == 44100
  assert abs(len(samples) - 48000) <= 16
  middle = samples[8000:40000]
  spectrum = np.abs(np.fft.rfft(middle))
  assert np.argmax(spectrum) * 16000 / len(middle) == pytest.approx(440, abs=1)
  assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.75 / np.sqrt(2), rel=0.01)
  # Above 8 kHz nothing survives (no aliasing into the band).
  high = syn.write_media(str(tmp_path / "high.wav"), syn.SampleMedia(
      seconds=2, sample_rate=44100, tone_seconds=[0, 1], tone_hz=11000, tone_level=1.0))
  _, _, samples = _decode(high)
  assert np.sqrt(np.mean(samples[4000:-4000] ** 2)) < 0.01
  # Odd rate, eight channels.
  odd = syn.write_media(str(tmp_path / "odd.flac"), syn.SampleMedia(
      seconds=2, sample_rate=11025, channels=8, tone_seconds=[1]))
  d, _, samples = _decode(odd)
  assert d.info.audio["channels"] == 8 and abs(len(samples) - 32000) <= 16
  assert np.abs(samples[:15000]).max() < 1e-3 < np.abs(samples[17000:31000]).max()
  # A sound that starts 2 s after the pictures: silence first, then second 3's tone
  # at second 3 of the file.
  late = syn.write_media(str(tmp_path / "late.mkv"), syn.SampleMedia(
      seconds=3, fps=10, sample_rate=16000, audio_start=2.0, tone_seconds=[3]))
  _, pictures, samples = _decode(late)
  assert len(pictures) == 3 and len(samples) == 5 * 16000
  assert np.abs(samples[:48000]).max() == 0 and np.abs(samples[48000:64000]).max() > 0.4


def test_max_seconds_and_long_media_in_bounded_memory(tmp_path):
  path = syn.write_media(str(tmp_path / "cut.mkv"), syn.SampleMedia(seconds=8, fps=5,
                                                                    sample_rate=16000))
  _, pictures, samples = _decode(path, max_seconds=3)
  assert len(pictures) == 3 and len(samples) == 3 * 16000
  # Decoding and framing a long file holds a block at a time: the peak of
  # memory does not grow with the length.
  peaks = {}
  for seconds in (40, 160):
    long = syn.write_media(str(tmp_path / f"long{seconds}.wav"), syn.SampleMedia(
        seconds=seconds, sample_rate=16000, tone_seconds=range(0, seconds, 3)))
    tracemalloc.start()
    framer, count = logmel.SecondFramer(), 0
    with decode.MediaDecoder(long) as d:
      for event in d.events():
        for _, examples in framer.push(event.samples):
          count += len(examples)
    for _, examples in framer.finish():
      count += len(examples)
    peaks[seconds] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == seconds
  assert peaks[160] < 1.3 * peaks[40], peaks


@pytest.mark.parametrize("case", ["text", "empty", "truncated", "damaged", "folder",
                                  "missing"])
def test_unusable_files_are_one_line_naming_the_file(tmp_path, case):
  path = str(tmp_path / "bad.mkv")
  if case == "text":
    path = str(tmp_path / "notes.mp4")
    open(path, "w").write("not a video\n" * 10)
  elif case == "empty":
    open(path, "wb").close()
  elif case == "truncated":
    whole = syn.write_media(str(tmp_path / "whole.mkv"), syn.SampleMedia(
        seconds=20, fps=10, size=(160, 120), sample_rate=16000, noise_level=0.2))
    data = open(whole, "rb").read()
    open(path, "wb").write(data[:len(data) // 3])
  elif case == "damaged":  # Random bytes over the middle third.
    whole = syn.write_media(str(tmp_path / "whole.mkv"), syn.SampleMedia(
        seconds=10, fps=10, size=(160, 120), sample_rate=16000, noise_level=0.2))
    data = bytearray(open(whole, "rb").read())
    rng = np.random.default_rng(0)
    for i in rng.integers(len(data) // 3, 2 * len(data) // 3, 2000):
      data[i] = rng.integers(0, 256)
    open(path, "wb").write(bytes(data))
  elif case == "folder":
    path = str(tmp_path)
  want = {"text": "not a media file FFmpeg can read", "empty": "empty file (0 bytes)",
          "truncated": "truncated or damaged: decoding ends at",
          "damaged": "damaged at about", "folder": "is a folder",
          "missing": "no such file"}[case]
  with pytest.raises(decode.MediaError) as info:
    _decode(path)
  message = str(info.value)
  assert message.startswith(path) and want in message and "\n" not in message


def test_a_songs_cover_art_is_not_pictures(tmp_path):
  import av
  path = str(tmp_path / "cover.mp3")
  with av.open(path, "w") as out:
    sound = out.add_stream("libmp3lame", rate=44100)
    cover = out.add_stream("mjpeg", rate=1)
    cover.width = cover.height = 32
    cover.pix_fmt = "yuvj420p"
    cover.disposition = av.stream.Disposition.attached_pic
    frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
    frame = frame.reformat(format="yuvj420p")
    frame.pts = 0
    for packet in list(cover.encode(frame)) + list(cover.encode()):
      out.mux(packet)
    size = sound.codec_context.frame_size
    for start in range(0, 44100, size):
      block = syn.sound(syn.SampleMedia(sample_rate=44100, tone_seconds=[0]), start,
                        min(44100, start + size))
      chunk = av.AudioFrame.from_ndarray(block[None], format="fltp", layout="mono")
      chunk.sample_rate, chunk.pts = 44100, start
      for packet in sound.encode(chunk):
        out.mux(packet)
    for packet in sound.encode():
      out.mux(packet)
  d, pictures, samples = _decode(path)
  assert d.info.video is None and not pictures and len(samples) > 15000
