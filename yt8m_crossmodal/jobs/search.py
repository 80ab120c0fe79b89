"""Cross-modal search of a catalogue with queries from records (``yt8m-search``).

Example::

  yt8m-search --export_dir=saved_models/temporal --index=indexes/train \\
      --query_data='queries/*.tfrecord' --query_modality=audio --k=10
  # a 10-second audio clip (seconds 30..39 of each query), where does it fit?
  yt8m-search --export_dir=saved_models/temporal --index=indexes/train \\
      --query_data=... --query_modality=audio --query_start=30 --query_seconds=10 \\
      --rerank=50

Queries are read with the project's reader and encoded through the exported
model ``--export_dir`` (required: a SavedModel is a program, so only an
export the user names is loaded, never the one an index's ``meta.json``
names) with its ``encode_<query_modality>`` signature. The catalogue
of the *other* modality is searched (an audio query finds videos by their
visual embedding): exact inner product, or the faiss index with
``--ann=hnsw|ivf|ivfpq`` (the kind ``yt8m-embed --ann`` built; an IVF-PQ
shortlist of ``--refine`` x k is re-scored with the exact embeddings).

- ``--rerank=N`` (N >= k): the top N clip candidates are re-scored by
  timeline alignment (:func:`yt8m_crossmodal.retrieval.rerank_by_timeline`,
  ``score = alpha * clip_score + (1 - alpha) * timeline_score``, alpha =
  ``--rerank_alpha``) and the best k are reported.
- ``--query_seconds=L``: only seconds ``[query_start, query_start + L)`` of
  each query are encoded (a short clip; fewer if the video ends sooner; a
  query with no second left is reported with an ``error``). Segment
  localization is then on: each result also gets ``best_start_second``, the
  start second in that catalogue video where the clip's timeline fits best
  (:func:`yt8m_crossmodal.retrieval.localize`), and ``timeline_score``.
  ``--localize`` asks for the same with whole queries.

Timelines (re-ranking, localization, clips) need a frame-level export and a
catalogue embedded with ``--timelines``.

Output: one JSON line per query::

  {"query_id": "...", "query_modality": "audio", "target_modality": "visual",
   "query_seconds": [start, end], "results": [{"id": "...", "score": 0.93,
   "rank": 1, "best_start_second": 41, "timeline_score": 0.88,
   "clip_score": 0.97}, ...]}

(``clip_score`` with ``--rerank``; ``best_start_second`` / ``timeline_score``
with timelines in use; ``warning`` when ``--export_dir`` is not the export
that embedded the index, as named in its ``meta.json``). A query whose
embedding holds NaN or Inf stops the search with an error, and so does an
index whose files differ from the sizes and SHA-256 digests its
``meta.json`` recorded, or whose rows read hold NaN or Inf
(``--verify_index``, see :mod:`yt8m_crossmodal.retrieval.integrity`): every
line printed is strict JSON.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

from absl import logging
import numpy as np

from yt8m_crossmodal.serving.loading import load_export
from yt8m_crossmodal.serving.signatures import OTHER
from yt8m_crossmodal import retrieval
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.jobs.config import SearchConfig
from yt8m_crossmodal.errors import UsageError




def _load_catalogue(cfg: SearchConfig) -> retrieval.Catalogue:
  try:
    return retrieval.load_catalogue(cfg.index, verify=cfg.verify_index)
  except ValueError as e:
    raise UsageError(f"--index: {e}") from e


class Searcher:
  """Everything a search needs, loaded and checked once."""

  def __init__(self, cfg: SearchConfig):
    cfg.validate()
    self.cfg = cfg
    self.catalogue = _load_catalogue(cfg)
    # Only the export the user named is loaded (a SavedModel is a program);
    # the index's meta.json is used only to warn when it names another one.
    self.export = load_export(cfg.export_dir)
    width, cat_width = self.export.embedding_size, self.catalogue.embedding_size
    if width != cat_width:
      raise UsageError(f"query width {width} != catalogue width {cat_width}: the "
                       f"export {self.export.path!r} did not embed {cfg.index!r}")
    built_by = self.catalogue.meta.get("model") or {}
    self.export_mismatch = None
    if isinstance(built_by.get("export_dir"), str) and built_by["export_dir"] and (
        io_utils.abspath(built_by["export_dir"]) != io_utils.abspath(self.export.path)
        or built_by.get("created") != self.export.info.get("created")):
      self.export_mismatch = (
          f"the index {cfg.index!r} was embedded by the export "
          f"{built_by['export_dir']!r} (created {built_by.get('created')}), not by "
          f"{self.export.path!r} (created {self.export.info.get('created')}): scores "
          "compare embeddings of two different models")
      logging.warning("%s", self.export_mismatch)
    self.target = OTHER[cfg.query_modality]
    if self.target not in self.catalogue.modalities:
      (held,) = self.catalogue.modalities
      raise UsageError(f"the index {cfg.index!r} holds {held} embeddings only (embedded with "
                       f"yt8m-embed --modalities={held}): it answers "
                       f"--query_modality={OTHER[held]} queries, not "
                       f"{cfg.query_modality} ones")
    self.clip = cfg.query_seconds > 0 or cfg.query_start > 0
    self.use_timelines = bool(cfg.rerank or cfg.localize or self.clip)
    if self.use_timelines:
      why = "for --rerank, --localize and --query_seconds/--query_start"
      self.export.require_timelines(why)
      if not self.catalogue.has_timelines:
        raise UsageError(f"the index {cfg.index!r} stores no timelines (needed {why}): "
                         "embed it with yt8m-embed --timelines")
    if cfg.ann != "none":
      if self.target not in self.catalogue.indexes:
        raise UsageError(f"the index {cfg.index!r} has no faiss index for "
                         f"{self.target!r}: embed it with yt8m-embed --ann={cfg.ann}")
      kind = (self.catalogue.meta.get("faiss") or {}).get(self.target, {}).get("kind")
      if kind != cfg.ann:
        raise UsageError(f"--ann={cfg.ann} but the index {cfg.index!r} holds a {kind} "
                         f"index for {self.target!r}: pass --ann={kind}")
    if cfg.hub_weight and len(self.catalogue.modalities) == 1:
      logging.info("one-modality index %r: no hubness to correct for, results are ranked "
                   "by plain cosine", cfg.index)
    elif cfg.hub_weight and self.target not in self.catalogue.hubness:
      logging.warning("the index %r stores no hubness (embedded before yt8m-embed wrote "
                      "it): results are ranked by plain cosine; embed it again for "
                      "--hub_weight", cfg.index)
    self.encode = self.export.encode_fn(cfg.query_modality)

  def _crop(self, features: np.ndarray, num_frames: np.ndarray):
    """Seconds [start, start + L) of each query: (features, lengths, starts)."""
    cfg = self.cfg
    if not self.clip or features.ndim != 3:
      return features, num_frames, np.zeros_like(num_frames)
    start = cfg.query_start
    stop = start + cfg.query_seconds if cfg.query_seconds else features.shape[1]
    cropped = features[:, start:stop]
    lengths = np.clip(num_frames - start, 0, cropped.shape[1]).astype(np.int32)
    if cropped.shape[1] == 0:  # Every query ends before query_start.
      cropped = np.zeros((features.shape[0], 1, features.shape[2]), features.dtype)
    return cropped, lengths, np.full_like(num_frames, start)

  def __call__(self) -> Iterator[Dict[str, Any]]:
    """Yields one result dict per query (see the module docstring)."""
    cfg, exp = self.cfg, self.export
    # Only the query's modality is read: a sound-only or pictures-only record
    # (a song, a podcast, a silent clip) is a query as good as any.
    ds = exp.read_records(cfg.query_data, cfg.batch_size, cfg.skip_bad_records,
                          modalities=(cfg.query_modality,))
    params = {}
    if cfg.nprobe:
      params["nprobe"] = cfg.nprobe
    if cfg.ef_search:
      params["ef_search"] = cfg.ef_search
    if cfg.refine:
      params["refine"] = cfg.refine
    fetch = max(cfg.k, cfg.rerank)
    done = 0
    for batch in ds:
      ids = [i.decode() for i in batch["id"].numpy()]
      n = len(ids) if not cfg.max_queries else min(len(ids), cfg.max_queries - done)
      if n <= 0:
        break
      features = feat.to_float(batch[cfg.query_modality].numpy()[:n])
      num_frames = batch["num_frames"].numpy()[:n].astype(np.int32)
      features, lengths, starts = self._crop(features, num_frames)
      valid = lengths > 0
      embedding = timeline = None
      if valid.any():
        embedding, timeline = self.encode(features[valid], lengths[valid])
        finite = np.isfinite(embedding).all(axis=1)
        if timeline is not None and self.use_timelines:
          finite &= np.isfinite(timeline.reshape(len(timeline), -1)).all(axis=1)
        if not finite.all():
          bad = [i for i, v in zip(ids[:n], valid) if v][int(np.argmin(finite))]
          raise UsageError(f"the embedding or timeline of query {bad!r} holds NaN or Inf: the "
                           f"export {exp.path!r} is broken (a diverged model?)")
        scores, indices = self.catalogue.search(
            embedding, target=self.target, k=fetch,
            method="exact" if cfg.ann == "none" else "index",
            hub_weight=cfg.hub_weight, **params)
      row = 0
      for j in range(n):
        line: Dict[str, Any] = {"query_id": ids[j], "query_modality": cfg.query_modality,
                                "target_modality": self.target}
        if self.export_mismatch:
          line["warning"] = self.export_mismatch
        if self.clip:
          line["query_seconds"] = [int(starts[j]), int(starts[j] + lengths[j])]
        if not valid[j]:
          line["results"] = []
          line["error"] = (f"query has {int(num_frames[j])} seconds: nothing at or "
                           f"after --query_start={cfg.query_start}")
          logging.warning("query %s skipped: %s", ids[j], line["error"])
        else:
          tl = timeline[row] if timeline is not None else None
          line["results"] = retrieval.ranked_results(
              self.catalogue, self.target, scores[row], indices[row], cfg.k, tl,
              int(lengths[j]), cfg.rerank, cfg.rerank_alpha, self.use_timelines)
          row += 1
        yield line
      done += n
      if cfg.max_queries and done >= cfg.max_queries:
        break


def json_line(line: Dict[str, Any]) -> str:
  """``line`` as strict JSON (never ``NaN`` or ``Infinity``).

  Raises:
    UsageError: a value is not finite (naming the query).
  """
  try:
    return json.dumps(line, allow_nan=False)
  except ValueError as e:
    raise UsageError(f"the results of query {line.get('query_id')!r} hold a score that is "
                     "NaN or Inf: the index or the export is damaged") from e


def search_queries(cfg: SearchConfig) -> List[Dict[str, Any]]:
  """Runs the search; returns the per-query result dicts."""
  return list(Searcher(cfg)())
