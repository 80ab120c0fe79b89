"""From a media file to YouTube-8M frame features (the published recipe).

:func:`load_networks` reads the published files once (through a
:class:`~yt8m_crossmodal.media.weights.WeightStore`); :func:`extract_file`
decodes one file (:mod:`.decode`) and computes, per whole second:

- ``rgb``: the picture of that second -> the 2015 Inception graph's 2048
  ``pool_3`` values (:mod:`.inception`) -> YouTube-8M's PCA to 1024,
  whitened, clipped and rounded to bytes (:mod:`.pca`);
- ``audio``: the 0.96 s log-mel example that starts at that second
  (:mod:`.logmel`) -> VGGish's 128-d embedding (:mod:`.vggish`) -> its PCA,
  clipped and truncated to bytes.

Pictures and sound are processed as they are decoded, a few seconds at a
time, so memory does not grow with the length of the file (only the
features do: 1152 bytes a second).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.media import decode as decode_lib
from yt8m_crossmodal.media import inception as inception_lib
from yt8m_crossmodal.media import logmel
from yt8m_crossmodal.media import pca as pca_lib
from yt8m_crossmodal.media import vggish as vggish_lib
from yt8m_crossmodal.media import weights as weights_lib

MODALITIES = ("audio", "visual")
STAGES = ("decode", "pictures_network", "log_mel", "sound_network", "pca", "write")
PICTURE_BATCH = 16  # Pictures whose PCA is computed at once.
SOUND_BATCH = 64  # Examples per VGGish call.


class StageTimes:
  """Wall-clock seconds spent in each stage (:data:`STAGES`)."""

  def __init__(self):
    self.seconds: Dict[str, float] = {s: 0.0 for s in STAGES}

  @contextlib.contextmanager
  def timed(self, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
      yield
    finally:
      self.seconds[stage] += time.perf_counter() - start

  def add(self, other: "StageTimes") -> None:
    for k, v in other.seconds.items():
      self.seconds[k] = self.seconds.get(k, 0.0) + v


@dataclasses.dataclass
class Networks:
  """What extraction needs, loaded once.

  Attributes:
    pictures: ``rgb uint8 [H, W, 3] -> float32 [2048]`` or None.
    picture_pca: :class:`~.pca.PicturePCA` or None.
    sound: the Keras VGGish (``[B, 96, 64] -> [B, 128]``) or None.
    sound_pca: :class:`~.pca.SoundPCA` or None.
    digests: ``{file name: sha256}`` of the files they came from.
  """

  pictures: Optional[Callable[[np.ndarray], np.ndarray]] = None
  picture_pca: Optional[pca_lib.PicturePCA] = None
  sound: Optional[object] = None
  sound_pca: Optional[pca_lib.SoundPCA] = None
  digests: Dict[str, str] = dataclasses.field(default_factory=dict)

  @property
  def modalities(self) -> Tuple[str, ...]:
    return tuple(m for m, ok in (("audio", self.sound is not None),
                                 ("visual", self.pictures is not None)) if ok)

  def embed_sound(self, examples: np.ndarray) -> np.ndarray:
    """``[n, 96, 64]`` -> ``[n, 128]`` float32."""
    return np.asarray(self.sound.predict_on_batch(np.asarray(examples, np.float32)))


def load_networks(store: weights_lib.WeightStore,
                  modalities: Sequence[str] = MODALITIES) -> Networks:
  """Reads the published files of ``modalities`` from ``store``.

  Raises:
    weights_lib.WeightsError: a file is absent, unreachable or fails its
      digest; ``ValueError`` subclasses naming the file when its content is
      not what the recipe needs.
  """
  nets = Networks()
  if "visual" in modalities:
    graph = store.member(weights_lib.INCEPTION, inception_lib.GRAPH_FILE)
    nets.pictures = inception_lib.load_inception(
        graph, f"{weights_lib.INCEPTION.name}:{inception_lib.GRAPH_FILE}")
    nets.picture_pca = pca_lib.PicturePCA.from_files(
        weights_lib.archive_members(store, weights_lib.YT8M_PCA), weights_lib.YT8M_PCA.name)
  if "audio" in modalities:
    nets.sound = vggish_lib.load_vggish(store.file(weights_lib.VGGISH))
    nets.sound_pca = pca_lib.SoundPCA.from_npz(
        weights_lib.bytes_of(store, weights_lib.VGGISH_PCA), weights_lib.VGGISH_PCA.name)
  nets.digests = dict(store.digests)
  return nets


@dataclasses.dataclass
class Extracted:
  """One file's features.

  Attributes:
    rgb: uint8 ``[T, 1024]`` or None (no pictures).
    audio: uint8 ``[T', 128]`` or None (no sound).
    mean_rgb, mean_audio: float32 means of the features before quantization.
    info: the file's :class:`~.decode.MediaInfo` (every stream found, used or not).
    notes: what the manifest should say about it (a stream too short...).
  """

  rgb: Optional[np.ndarray]
  audio: Optional[np.ndarray]
  mean_rgb: Optional[np.ndarray]
  mean_audio: Optional[np.ndarray]
  info: decode_lib.MediaInfo
  notes: List[str]
  frame_intervals: Tuple[Optional[float], Optional[float]] = (None, None)

  @property
  def seconds(self) -> int:
    """Seconds the project's reader reads: the shorter present modality."""
    lengths = [len(x) for x in (self.rgb, self.audio) if x is not None]
    return min(lengths) if lengths else 0


class _Modality:
  """Features of one modality, quantized as they come."""

  def __init__(self, rounding: str, project: Callable[[np.ndarray], np.ndarray], dim: int):
    self.rounding, self.project, self.dim = rounding, project, dim
    self.rows: List[np.ndarray] = []
    self.sum = np.zeros(dim, np.float64)
    self.count = 0

  def add(self, raw: np.ndarray) -> None:
    projected = self.project(raw)
    self.sum += projected.sum(axis=0)
    self.count += projected.shape[0]
    self.rows.append(feat.quantize_features(projected, self.rounding))

  def result(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    if not self.count:
      return None, None
    return np.concatenate(self.rows), (self.sum / self.count).astype(np.float32)


def _timed_events(decoder: decode_lib.MediaDecoder, times: StageTimes):
  events = decoder.events()
  while True:
    with times.timed("decode"):
      try:
        event = next(events)
      except StopIteration:
        return
    yield event


def extract_file(path: str, nets: Networks, modalities: Sequence[str] = MODALITIES,
                 max_seconds: int = 0, times: Optional[StageTimes] = None,
                 on_seconds: Optional[Callable[[float], None]] = None) -> Extracted:
  """The features of the media file ``path`` (see the module docstring).

  Args:
    path: a local media file.
    nets: from :func:`load_networks` (with the networks of ``modalities``).
    modalities: what to extract when the file has it: "audio", "visual".
    max_seconds: only the first seconds (0: all of it).
    times: where the time of each stage is added.
    on_seconds: called with the media seconds done so far.

  Returns:
    An :class:`Extracted`, with at least one modality.

  Raises:
    decode_lib.MediaError: the file cannot be used (one line naming it).
  """
  times = times or StageTimes()
  want_pictures = "visual" in modalities and nets.pictures is not None
  want_sound = "audio" in modalities and nets.sound is not None
  with times.timed("decode"):
    decoder = decode_lib.MediaDecoder(path, pictures=want_pictures, sound=want_sound,
                                      max_seconds=max_seconds)
  with decoder:
    if not (decoder.has_pictures or decoder.has_sound):
      have = [k for k, v in (("video", decoder.info.video), ("audio", decoder.info.audio)) if v]
      wanted = "/".join(m for m in modalities)
      if not have:
        raise decode_lib.MediaError(f"{path}: no usable stream (no video, no audio)")
      raise decode_lib.MediaError(f"{path}: no stream for --modalities={wanted} (it has "
                                  f"{' and '.join(have)} only)")
    pictures = _Modality(pca_lib.PICTURE_ROUNDING, nets.picture_pca.apply,
                         feat.VISUAL_DIM) if decoder.has_pictures else None
    sound = _Modality(pca_lib.SOUND_ROUNDING, nets.sound_pca.apply,
                      feat.AUDIO_DIM) if decoder.has_sound else None
    framer = logmel.SecondFramer()
    picture_batch: List[np.ndarray] = []
    examples: List[np.ndarray] = []
    pending = [0]  # Examples in ``examples``.
    done = {"visual": 0, "audio": 0}

    def flush_pictures():
      if picture_batch:
        with times.timed("pca"):
          pictures.add(np.stack(picture_batch))
        picture_batch.clear()

    def flush_sound():
      if pending[0]:
        batch = np.concatenate(examples)
        examples.clear()
        pending[0] = 0
        with times.timed("sound_network"):
          raw = nets.embed_sound(batch)
        with times.timed("pca"):
          sound.add(raw)

    def take_examples(produced):
      for _, block in produced:
        examples.append(block)
        pending[0] += block.shape[0]
        done["audio"] += block.shape[0]
        if pending[0] >= SOUND_BATCH:
          flush_sound()

    for event in _timed_events(decoder, times):
      if isinstance(event, decode_lib.Picture):
        with times.timed("pictures_network"):
          picture_batch.append(nets.pictures(event.rgb))
        done["visual"] = event.second + 1
        if len(picture_batch) >= PICTURE_BATCH:
          flush_pictures()
      else:
        with times.timed("log_mel"):
          produced = list(framer.push(event.samples))
        take_examples(produced)
      if on_seconds is not None:
        on_seconds(max(done.values()))
    with times.timed("log_mel"):
      produced = list(framer.finish())
    take_examples(produced)
    if pictures is not None:
      flush_pictures()
    if sound is not None:
      flush_sound()
    if on_seconds is not None:
      on_seconds(max(done.values()))
  notes = []
  rgb, mean_rgb = pictures.result() if pictures is not None else (None, None)
  audio, mean_audio = sound.result() if sound is not None else (None, None)
  if sound is not None and audio is None:
    notes.append("sound shorter than 0.96 s: no audio steps")
  if pictures is not None and rgb is None:
    notes.append("no picture could be decoded")
  if rgb is None and audio is None:
    raise decode_lib.MediaError(f"{path}: nothing to extract: shorter than one second of "
                                "sound and without a picture")
  info = decoder.info  # The streams found (what the record holds: ``rgb`` / ``audio``).
  lo, hi = decoder.frame_intervals
  if lo and hi and hi > 1.5 * lo and info.video is not None:
    info.video["variable_frame_rate"] = True
  return Extracted(rgb=rgb, audio=audio, mean_rgb=mean_rgb, mean_audio=mean_audio,
                   info=info, notes=notes, frame_intervals=decoder.frame_intervals)
