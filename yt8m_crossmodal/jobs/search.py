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

``--target_modality`` picks what is searched: ``other`` (the default: the
other modality), ``audio`` or ``visual`` (either catalogue, the query's own
modality included: sounds like this sound), or ``both`` (a topic search:
sound and pictures ranked together). A result of the query's own modality
with the query's own id is the query itself and is left out. With
``both`` each kind's scores also subtract ``--hub_weight`` x the query's
own hubness against that kind (measured as the index measured its items),
which puts the two kinds on one scale: a query lies closer to everything of
its own modality.

Output (``--format``; see :mod:`yt8m_crossmodal.answers`): a table, an HTML
page, or one JSON object per query (scores rounded to 4 decimals)::

  {"query_id": "...", "query_modality": "audio", "target_modality": "visual",
   "query_seconds": [start, end], "query_labels": ["Concert"],
   "query_link": "...", "results": [{"id": "...", "kind": "pictures",
   "score": 0.93, "rank": 1, "best_start_second": 41, "timeline_score": 0.88,
   "clip_score": 0.97, "labels": ["Concert", "Guitar"], "link": "..."}, ...]}

(``clip_score`` with ``--rerank``; ``best_start_second`` / ``timeline_score``
with timelines in use, ``best_start_second`` never negative: a result shorter
than the query fits inside it, from the query's ``query_start_second``;
``labels`` when the index stores them; ``link`` and ``media`` see
:data:`yt8m_crossmodal.answers.describe.FIELDS_HELP`; ``warning`` when
``--export_dir`` is not the export that embedded the index, as named in its
``meta.json``). A query whose
embedding holds NaN or Inf stops the search with an error, and so does an
index whose files differ from the sizes and SHA-256 digests its
``meta.json`` recorded, or whose rows read hold NaN or Inf
(``--verify_index``, see :mod:`yt8m_crossmodal.retrieval.integrity`): every
line printed is strict JSON.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

from absl import logging
import numpy as np

from yt8m_crossmodal.serving.loading import load_export
from yt8m_crossmodal.serving.signatures import OTHER
from yt8m_crossmodal import retrieval
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.answers import context
from yt8m_crossmodal.answers.formats import json_line as strict_json_line
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.jobs.config import SearchConfig
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.retrieval import hubness
from yt8m_crossmodal.retrieval.folder import MODALITIES

KINDS = {"audio": "sound", "visual": "pictures"}


def _load_catalogue(cfg: SearchConfig) -> retrieval.Catalogue:
  try:
    return retrieval.load_catalogue(cfg.index, verify=cfg.verify_index)
  except ValueError as e:
    raise UsageError(f"--index: {e}") from e


def targets_of(query_modality: str, target_modality: str) -> List[str]:
  """The catalogue modalities searched for ``--target_modality``."""
  if target_modality == "other":
    return [OTHER[query_modality]]
  if target_modality == "both":
    return list(MODALITIES)
  return [target_modality]


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
    held = self.catalogue.modalities
    self.targets = [t for t in targets_of(cfg.query_modality, cfg.target_modality)
                    if cfg.target_modality != "both" or t in held]
    self.target = (self.targets[0] if cfg.target_modality != "both" else "both")
    for target in self.targets:
      if target not in held:
        raise UsageError(f"the index {cfg.index!r} holds {held[0]} embeddings only (embedded "
                         f"with yt8m-embed --modalities={held[0]}): it answers "
                         f"--query_modality={OTHER[held[0]]} queries, not {cfg.query_modality} "
                         f"ones (--target_modality={held[0]}: {held[0]} like the query)")
    self.clip = cfg.query_seconds > 0 or cfg.query_start > 0
    self.use_timelines = bool(cfg.rerank or cfg.localize or self.clip)
    if self.use_timelines:
      why = "for --rerank, --localize and --query_seconds/--query_start"
      self.export.require_timelines(why)
      if not self.catalogue.has_timelines:
        raise UsageError(f"the index {cfg.index!r} stores no timelines (needed {why}): "
                         "embed it with yt8m-embed --timelines")
    for target in self.targets:
      self._check_target(target)
    self.encode = self.export.encode_fn(cfg.query_modality)
    self.describer = context.make_describer(
        cfg.vocabulary, cfg.manifest,
        context.num_classes_of(self.catalogue.meta, self.export.config.data.num_classes),
        context.source_patterns(self.catalogue.meta) + cfg.query_data.split(","))
    self._banks: Dict[str, np.ndarray] = {}

  def _check_target(self, target: str) -> None:
    cfg = self.cfg
    if cfg.ann != "none":
      if target not in self.catalogue.indexes:
        raise UsageError(f"the index {cfg.index!r} has no faiss index for "
                         f"{target!r}: embed it with yt8m-embed --ann={cfg.ann}")
      kind = (self.catalogue.meta.get("faiss") or {}).get(target, {}).get("kind")
      if kind != cfg.ann:
        raise UsageError(f"--ann={cfg.ann} but the index {cfg.index!r} holds a {kind} "
                         f"index for {target!r}: pass --ann={kind}")
    if cfg.hub_weight and len(self.catalogue.modalities) == 1:
      logging.info("one-modality index %r: no hubness to correct for, results are ranked "
                   "by plain cosine", cfg.index)
    elif cfg.hub_weight and self.catalogue.item_hubness(target, cfg.query_modality) is None:
      same = target == cfg.query_modality
      logging.warning("the index %r stores no hubness%s (embedded before yt8m-embed wrote "
                      "it): %s results are ranked by plain cosine; embed it again for "
                      "--hub_weight", cfg.index, " against its own modality" if same else "",
                      target)

  def _query_hubness(self, target: str, embedding: np.ndarray, ids: List[str]
                     ) -> np.ndarray:
    """[Q] the queries' own hubness against ``target`` (``both`` only; else zeros).

    A query of the target's modality that is itself in the catalogue (its
    id) is left out of its own bank, as the items' hubness leaves them out.
    """
    if len(self.targets) == 1 or not self.cfg.hub_weight:
      return np.zeros([embedding.shape[0]], np.float32)
    if target not in self._banks:
      rows = hubness.bank_rows(self.catalogue.size)
      self._banks[target] = (retrieval.gather_rows(self.catalogue.embeddings(target), rows),
                             {self.catalogue.ids[r]: j for j, r in enumerate(rows)})
    bank, where = self._banks[target]
    params = hubness.params_of(self.catalogue.meta.get("hubness"))
    own = np.array([where.get(i, -1) if target == self.cfg.query_modality else -1
                    for i in ids], np.int64)
    return hubness.query_hubness(embedding, bank, exclude=own, **params)

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

  def _results(self, query_id: str, found, row: int, timeline, length: int, start: int
               ) -> List[Dict[str, Any]]:
    """One query's results over every target, best first (see the module docstring)."""
    cfg = self.cfg
    merged = []
    for target, (scores, indices, own) in found.items():
      same = target == cfg.query_modality
      extra = int(same)  # The query itself may be among them.
      items = retrieval.ranked_results(
          self.catalogue, target, scores[row], indices[row], cfg.k + extra, timeline, length,
          cfg.rerank + extra if cfg.rerank else 0, cfg.rerank_alpha, self.use_timelines)
      if same:
        items = [r for r in items if r["id"] != query_id]
      for item in items[:cfg.k]:
        shift = cfg.hub_weight * float(own[row])
        item["score"] -= shift
        if "clip_score" in item:
          item["clip_score"] -= shift
        item["kind"] = KINDS[target]
        merged.append(item)
    merged.sort(key=lambda r: -r["score"])
    out = []
    for rank, item in enumerate(merged[:cfg.k], start=1):
      table_row = item.pop("row")
      item["rank"] = rank
      if "query_start_second" in item:
        item["query_start_second"] += start
      labels = self.catalogue.labels_of(table_row) if self.catalogue.has_labels else None
      described = self.describer.result(item, labels or None,
                                        item.get("best_start_second"))
      out.append({k: described[k] for k in _ORDER if k in described})
    return out

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
    fetch = max(cfg.k, cfg.rerank) + (cfg.query_modality in self.targets)
    done = 0
    for batch in ds:
      ids = [i.decode() for i in batch["id"].numpy()]
      n = len(ids) if not cfg.max_queries else min(len(ids), cfg.max_queries - done)
      if n <= 0:
        break
      features = feat.to_float(batch[cfg.query_modality].numpy()[:n])
      num_frames = batch["num_frames"].numpy()[:n].astype(np.int32)
      labels = batch["labels"].numpy()[:n]
      features, lengths, starts = self._crop(features, num_frames)
      valid = lengths > 0
      timeline = None
      found = {}
      if valid.any():
        embedding, timeline = self.encode(features[valid], lengths[valid])
        finite = np.isfinite(embedding).all(axis=1)
        if timeline is not None and self.use_timelines:
          finite &= np.isfinite(timeline.reshape(len(timeline), -1)).all(axis=1)
        if not finite.all():
          bad = [i for i, v in zip(ids[:n], valid) if v][int(np.argmin(finite))]
          raise UsageError(f"the embedding or timeline of query {bad!r} holds NaN or Inf: the "
                           f"export {exp.path!r} is broken (a diverged model?)")
        for target in self.targets:
          scores, indices = self.catalogue.search(
              embedding, target=target, k=fetch,
              method="exact" if cfg.ann == "none" else "index",
              hub_weight=cfg.hub_weight, query_modality=cfg.query_modality, **params)
          found[target] = (scores, indices, self._query_hubness(
              target, embedding, [i for i, v in zip(ids[:n], valid) if v]))
      row = 0
      for j in range(n):
        line: Dict[str, Any] = {"query_id": ids[j], "query_modality": cfg.query_modality,
                                "target_modality": self.target}
        if self.export_mismatch:
          line["warning"] = self.export_mismatch
        if self.clip:
          line["query_seconds"] = [int(starts[j]), int(starts[j] + lengths[j])]
        classes = np.flatnonzero(labels[j] > 0).tolist()
        line.update(self.describer.query(ids[j], classes or None, int(starts[j])))
        if not valid[j]:
          line["results"] = []
          line["error"] = (f"query has {int(num_frames[j])} seconds: nothing at or "
                           f"after --query_start={cfg.query_start}")
          logging.warning("query %s skipped: %s", ids[j], line["error"])
        else:
          tl = timeline[row] if timeline is not None else None
          line["results"] = self._results(ids[j], found, row, tl, int(lengths[j]),
                                          int(starts[j]))
          row += 1
        yield line
      done += n
      if cfg.max_queries and done >= cfg.max_queries:
        break


# The order of a result's fields in the answers.
_ORDER = ("id", "kind", "score", "rank", "best_start_second", "query_start_second",
          "timeline_score", "clip_score", "labels", "link", "media")


def json_line(line: Dict[str, Any]) -> str:
  """``line`` as strict JSON (never ``NaN`` or ``Infinity``).

  Raises:
    UsageError: a value is not finite (naming the query).
  """
  return strict_json_line(line, f"query {line.get('query_id')!r}")


def search_queries(cfg: SearchConfig) -> List[Dict[str, Any]]:
  """Runs the search; returns the per-query result dicts."""
  return list(Searcher(cfg)())
