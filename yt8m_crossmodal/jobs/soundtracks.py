"""Soundtracks for a picture track, with where in each song to start (``yt8m-soundtracks``).

Example::

  yt8m-soundtracks --index=index/songs --export_dir=saved_models/frame \\
      --visual_data=my_clip.tfrecord --k=5 --output=soundtracks.html

Each record of ``--visual_data`` is a picture track (a silent clip, or a
video whose sound is to be replaced; its rgb features are used). Its clip
embedding finds the ``--candidates`` soundtracks of the index whose audio
clip embeddings fit best (cosine less ``--hub_weight`` x each soundtrack's
hubness). For each, the song's timeline slides along the pictures' at every
start where the shorter of the two lies wholly on the longer
(:func:`yt8m_crossmodal.sync.answer.estimate`, the estimator of
``yt8m-sync``): the best start, and its confidence, the probability that no
start would fit as well by chance (1 - a p-value against the song's own
null; high only when sound events line up with picture events). The
soundtracks are ranked by ``clip_weight * clip_score + (1 - clip_weight) *
fit``, ``fit`` being the mean cosine of the song's and the pictures' seconds
from that start.

Only the index's audio side is read (embeddings, timelines, hubness), so an
index embedded with audio only works as well as an ordinary one.

Each answer is a dict: ``query_id``, ``seconds`` (the picture track's
length) and ``soundtracks``: ``[{"rank", "id", "score", "song_start_second",
"video_start_second", "seconds", "fit", "clip_score", "confidence",
"confident", "labels", "link", "media"}]``: play the song from
``song_start_second`` with the pictures from ``video_start_second`` (one of
the two is 0), for ``seconds`` seconds.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

from absl import logging
import numpy as np

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.answers import context
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs.config import SoundtracksConfig
from yt8m_crossmodal.serving.loading import load_export
from yt8m_crossmodal.sync import answer

# The longest picture track read (seconds).
MAX_TRACK_SECONDS = 4 * 3600
PIECE_BATCH = 16


def song_start(song: np.ndarray, pictures: np.ndarray, min_confidence: float
               ) -> Dict[str, Any]:
  """Where in ``song`` [S, E] to start so that it fits ``pictures`` [T, E].

  Returns:
    ``song_start_second``, ``video_start_second`` (one of them 0),
    ``seconds`` (how long both run together: the shorter one), ``fit`` (mean
    cosine of their seconds from there), ``confidence``, ``confident``.
  """
  shorter = min(len(song), len(pictures))
  est = answer.estimate(song, pictures, 0, max(len(song), len(pictures)), min_confidence,
                        min_overlap=shorter)
  late = int(est["best_offset_seconds"])  # Song second ``late`` plays with picture 0.
  song_first, video_first = max(late, 0), max(-late, 0)
  pairs = np.einsum("te,te->t", song[song_first:song_first + shorter],
                    pictures[video_first:video_first + shorter])
  return {"song_start_second": song_first, "video_start_second": video_first,
          "seconds": int(shorter), "fit": float(pairs.mean()) if shorter else 0.0,
          "confidence": float(est["confidence"]),
          "confident": bool(est["confidence"] >= min_confidence)}


class SoundtrackFinder:
  """Everything the search needs, loaded and checked once."""

  def __init__(self, cfg: SoundtracksConfig):
    cfg.validate()
    self.cfg = cfg
    try:
      self.catalogue = retrieval.load_catalogue(cfg.index, verify=cfg.verify_index)
    except ValueError as e:
      raise UsageError(f"--index: {e}") from e
    self.export = load_export(cfg.export_dir)
    self.export.require_timelines("for yt8m-soundtracks (it finds where in a song to start)")
    if not self.catalogue.has_timelines:
      raise UsageError(f"the index {cfg.index!r} stores no timelines: embed it with "
                       "yt8m-embed --timelines")
    if self.export.embedding_size != self.catalogue.embedding_size:
      raise UsageError(f"the export {self.export.path!r} (E = {self.export.embedding_size}) "
                       f"did not embed {cfg.index!r} (E = {self.catalogue.embedding_size})")
    if cfg.hub_weight and self.catalogue.item_hubness("audio", "visual") is None:
      logging.warning("the index %r stores no hubness of its soundtracks: ranked by plain "
                      "cosine", cfg.index)
    self.encode = self.export.encode_fn("visual")
    self.describer = context.make_describer(
        cfg.vocabulary, cfg.manifest,
        context.num_classes_of(self.catalogue.meta, self.export.config.data.num_classes),
        context.source_patterns(self.catalogue.meta) + cfg.visual_data.split(","))

  def _encode(self, visual: np.ndarray):
    """(clip [E], timeline [T, E]) of a picture track ([T, 1024] float)."""
    clip, timeline = self.encode(visual[None], np.array([len(visual)], np.int32))
    return np.asarray(clip[0], np.float32), np.asarray(timeline[0, :len(visual)], np.float32)

  def soundtracks(self, query_id: str, visual: np.ndarray, labels=None) -> Dict[str, Any]:
    """The answer for one picture track (``visual`` [T, 1024] float features)."""
    cfg, cat = self.cfg, self.catalogue
    clip, pictures = self._encode(visual)
    scores, items = cat.search(clip[None], target="audio", k=cfg.candidates,
                               hub_weight=cfg.hub_weight, query_modality="visual")
    found: List[Dict[str, Any]] = []
    valid = items[0] >= 0
    for item, clip_score in zip(items[0][valid], scores[0][valid]):
      length = int(cat.num_frames[item])
      if length < 1:
        continue
      song = cat.timeline_rows("audio", [item])[0, :length]
      fit = song_start(song, pictures, cfg.min_confidence)
      found.append(dict(
          {"id": cat.ids[item], "score": cfg.clip_weight * float(clip_score)
           + (1 - cfg.clip_weight) * fit["fit"], "clip_score": float(clip_score)},
          **fit, _item=int(item)))
    found.sort(key=lambda r: -r["score"])
    out: Dict[str, Any] = {"query_id": query_id, "seconds": int(len(visual))}
    out.update(self.describer.query(query_id, labels))
    results = []
    for rank, r in enumerate(found[:cfg.k], start=1):
      item = r.pop("_item")
      r["rank"] = rank
      label_ids = cat.labels_of(item) if cat.has_labels else None
      described = self.describer.result(r, label_ids or None, r["song_start_second"])
      results.append({k: described[k] for k in _ORDER if k in described})
    out["soundtracks"] = results
    return out

  def __call__(self) -> Iterator[Dict[str, Any]]:
    """Yields one answer per record of ``--visual_data``."""
    cfg = self.cfg
    ds = pipeline.make_dataset(
        cfg.visual_data, feature_level="frame", batch_size=1,
        num_classes=self.export.config.data.num_classes, max_frames=MAX_TRACK_SECONDS,
        seed=0, skip_bad_records=cfg.skip_bad_records, file_order=True,
        modalities=("visual",))  # Records with visual only (yt8m-extract) are read too.
    done = 0
    for batch in ds:
      query_id = batch["id"].numpy()[0].decode()
      length = int(batch["num_frames"].numpy()[0])
      if length < 1:
        logging.warning("picture track %s has no second: skipped", query_id)
        continue
      visual = feat.to_float(batch["visual"].numpy()[0, :length])
      labels = np.flatnonzero(batch["labels"].numpy()[0] > 0).tolist()
      yield self.soundtracks(query_id, visual, labels or None)
      done += 1
      if cfg.max_records and done >= cfg.max_records:
        break


_ORDER = ("rank", "id", "score", "song_start_second", "video_start_second", "seconds",
          "fit", "clip_score", "confidence", "confident", "labels", "link", "media")
