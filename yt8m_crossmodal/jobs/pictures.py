"""Pictures for a long soundtrack: a storyboard (``yt8m-pictures``).

Example::

  yt8m-pictures --index=index/frame --export_dir=saved_models/frame \\
      --audio_data=broadcast.tfrecord --output=storyboard.html

Each record of ``--audio_data`` is a soundtrack of any length (a radio
broadcast of hours, from ``yt8m-extract`` or any frame-level record; its
audio is used). It is encoded through the export in pieces of the model's
``max_frames`` seconds (its timeline, one vector per second) and cut into
segments of ``--segment_seconds`` every ``--hop_seconds``. For each segment,
the best-fitting stretches of video across the whole catalogue are found
(:mod:`yt8m_crossmodal.retrieval.stretches`: a pass over every video's
timeline in windows of ``--window_seconds``, the ``--candidates`` best
windows per segment, then their stretches scored exactly), each video's
best stretch ranked by ``clip_weight * clip + (1 - clip_weight) * stretch``:
``clip`` is the segment's clip embedding (encoded on its own) against the
video's (less ``--hub_weight`` x its hubness), ``stretch`` the mean cosine of
the segment's seconds with the stretch's. Then
:func:`yt8m_crossmodal.retrieval.storyboard.choose` gives each segment its
``--k`` pictures from different videos, and leaves out a video suggested
less than ``--repeat_gap_seconds`` before, so that no video fills the
broadcast. With ``--window_index=DIR`` the window pass is replaced by a faiss
index of the windows, built into ``DIR`` on first use and read by later runs
(:mod:`yt8m_crossmodal.retrieval.window_index`).

Each storyboard is a dict: ``query_id``, ``seconds`` (soundtrack length),
``segment_seconds``, ``hop_seconds``, ``repeat_gap_seconds``, ``videos``
(distinct videos suggested), ``most_uses`` (segments of the most suggested
video) and ``segments``: ``[{"segment", "start_second", "end_second",
"pictures": [{"rank", "id", "start_second", "end_second", "score",
"stretch_score", "clip_score", "labels", "link", "media"}]}]``.
"""

from __future__ import annotations

import collections
import time
from typing import Any, Dict, Iterator, List

from absl import logging
import numpy as np

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.answers import context
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs.config import PicturesConfig
from yt8m_crossmodal.retrieval import storyboard, stretches, window_index
from yt8m_crossmodal.serving.loading import load_export

# The longest soundtrack read (seconds): a day.
MAX_SOUNDTRACK_SECONDS = 24 * 3600
ENCODE_BATCH = 16


def encode_timeline(encode_fn, features: np.ndarray, piece: int) -> np.ndarray:
  """[T, E] the timeline of a long track, encoded in pieces of ``piece`` seconds.

  Args:
    encode_fn: an encode function (``features [B, t, D], num_frames [B]``).
    features: [T, D] float features.
    piece: seconds per encoder call (the model's ``max_frames``).
  """
  total = features.shape[0]
  starts = list(range(0, total, piece))
  out = []
  for b in range(0, len(starts), ENCODE_BATCH):
    group = starts[b:b + ENCODE_BATCH]
    lengths = np.array([min(piece, total - s) for s in group], np.int32)
    batch = np.zeros((len(group), int(lengths.max()), features.shape[1]), np.float32)
    for j, s in enumerate(group):
      batch[j, :lengths[j]] = features[s:s + lengths[j]]
    _, timeline = encode_fn(batch, lengths)
    out += [timeline[j, :lengths[j]] for j in range(len(group))]
  return np.concatenate(out).astype(np.float32)


def encode_segments(encode_fn, features: np.ndarray, spans) -> np.ndarray:
  """[S, E] each segment's clip embedding, the segment encoded on its own."""
  out = []
  for b in range(0, len(spans), 64):
    group = spans[b:b + 64]
    lengths = np.array([e - s for s, e in group], np.int32)
    batch = np.zeros((len(group), int(lengths.max()), features.shape[1]), np.float32)
    for j, (s, e) in enumerate(group):
      batch[j, :e - s] = features[s:e]
    clip, _ = encode_fn(batch, lengths)
    out.append(np.asarray(clip, np.float32))
  return np.concatenate(out)


class PictureFinder:
  """Everything a storyboard needs, loaded and checked once."""

  def __init__(self, cfg: PicturesConfig):
    cfg.validate()
    self.cfg = cfg
    try:
      self.catalogue = retrieval.load_catalogue(cfg.index, verify=cfg.verify_index)
    except ValueError as e:
      raise UsageError(f"--index: {e}") from e
    self.export = load_export(cfg.export_dir)
    self.export.require_timelines("for yt8m-pictures (it matches seconds of sound "
                                  "with seconds of pictures)")
    if not self.catalogue.has_timelines:
      raise UsageError(f"the index {cfg.index!r} stores no timelines: embed it with "
                       "yt8m-embed --timelines")
    if self.export.embedding_size != self.catalogue.embedding_size:
      raise UsageError(f"the export {self.export.path!r} (E = {self.export.embedding_size}) "
                       f"did not embed {cfg.index!r} (E = {self.catalogue.embedding_size})")
    self.encode = self.export.encode_fn("audio")
    if cfg.hub_weight and self.catalogue.item_hubness("visual", "audio") is None:
      logging.warning("the index %r stores no hubness: windows and videos are scored by "
                      "plain cosine", cfg.index)
    self.describer = context.make_describer(
        cfg.vocabulary, cfg.manifest,
        context.num_classes_of(self.catalogue.meta, self.export.config.data.num_classes),
        context.source_patterns(self.catalogue.meta) + cfg.audio_data.split(","))
    self.windows = None
    if cfg.window_index:
      try:
        self.windows = window_index.open_or_build(cfg.window_index, self.catalogue, "visual",
                                                  cfg.window_seconds)
      except ValueError as e:
        raise UsageError(f"--window_index: {e}") from e

  def storyboard(self, query_id: str, audio: np.ndarray, labels=None) -> Dict[str, Any]:
    """The storyboard of one soundtrack (``audio`` [T, 128] float features)."""
    cfg, cat = self.cfg, self.catalogue
    begin = time.time()
    timeline = encode_timeline(self.encode, audio, self.export.max_frames)
    spans = stretches.segments(len(timeline), cfg.segment_seconds, cfg.hop_seconds)
    clips = encode_segments(self.encode, audio, spans)
    chosen = storyboard.plan(cat, timeline, clips, spans, cfg.k, cfg.repeat_gap_seconds,
                             cfg.window_seconds, cfg.candidates, cfg.hub_weight,
                             cfg.clip_weight, windows=self.windows, nprobe=cfg.nprobe)
    uses = collections.Counter(p.item for picks in chosen for p in picks)
    board: Dict[str, Any] = {
        "query_id": query_id, "seconds": int(len(timeline)),
        "segment_seconds": cfg.segment_seconds, "hop_seconds": cfg.hop_seconds,
        "repeat_gap_seconds": cfg.repeat_gap_seconds, "videos": len(uses),
        "most_uses": max(uses.values()) if uses else 0}
    board.update(self.describer.query(query_id, labels))
    board["segments"] = [
        {"segment": j, "start_second": a, "end_second": b,
         "pictures": [self._picture(rank, p, b - a) for rank, p in enumerate(picks, 1)]}
        for j, ((a, b), picks) in enumerate(zip(spans, chosen))]
    logging.info("storyboard of %s: %d s, %d segments in %.1f s", query_id, len(timeline),
                 len(spans), time.time() - begin)
    return board

  def _picture(self, rank: int, pick: storyboard.Pick, length: int) -> Dict[str, Any]:
    cat = self.catalogue
    item = {"rank": rank, "id": cat.ids[pick.item], "start_second": int(pick.start),
            "end_second": int(pick.start + length), "score": pick.score,
            "stretch_score": pick.stretch_score, "clip_score": pick.clip_score}
    labels = cat.labels_of(pick.item) if cat.has_labels else None
    return self.describer.result(item, labels or None, int(pick.start))

  def __call__(self) -> Iterator[Dict[str, Any]]:
    """Yields one storyboard per record of ``--audio_data``."""
    cfg = self.cfg
    ds = pipeline.make_dataset(
        cfg.audio_data, feature_level="frame", batch_size=1,
        num_classes=self.export.config.data.num_classes, max_frames=MAX_SOUNDTRACK_SECONDS,
        seed=0, skip_bad_records=cfg.skip_bad_records, file_order=True,
        modalities=("audio",))  # Records with audio only (yt8m-extract) are read too.
    done = 0
    for batch in ds:
      query_id = batch["id"].numpy()[0].decode()
      length = int(batch["num_frames"].numpy()[0])
      if cfg.max_seconds:
        length = min(length, cfg.max_seconds)
      if length < 1:
        logging.warning("soundtrack %s has no second: skipped", query_id)
        continue
      audio = feat.to_float(batch["audio"].numpy()[0, :length])
      labels: List[int] = np.flatnonzero(batch["labels"].numpy()[0] > 0).tolist()
      yield self.storyboard(query_id, audio, labels or None)
      done += 1
      if cfg.max_records and done >= cfg.max_records:
        break
