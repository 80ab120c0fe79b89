"""Evaluating an export through its serving signatures (``yt8m-evaluate``).

Example::

  yt8m-evaluate --export_dir=saved_models/temporal \\
      --data='/data/yt8m/frame/validate00*.tfrecord' --output_dir=eval/temporal
  yt8m-evaluate --export_dir=saved_models/temporal/3 --data=... --max_videos=2000

``--export_dir`` is a model folder (its highest version is used) or a version
folder. Nothing of the training code runs: the SavedModel is loaded with
``tf.saved_model.load`` and its ``encode_audio`` / ``encode_visual``
signatures, wrapped as encode functions, embed the data (read with the
project's reader, which gives the features the signatures take after
dequantization) for :mod:`yt8m_crossmodal.evaluation.embedding`.

Metrics (keys of the JSON line and of ``metrics.json``):

- clip retrieval, both directions (``a2v`` = audio query, visual candidates;
  ``v2a``): ``recall@1/5/10``, ``median_rank``, ``mean_rank``, ``map`` over
  the whole set (``all/...``) and a fixed random pool per ``--pool_sizes``
  entry (``pool256/...``), see :mod:`yt8m_crossmodal.evaluation.metrics`;
- frame level: ``timeline/a2v_recall@1`` ..., sync (``sync/exact``,
  ``sync/within_1s``, ``sync/mae_seconds``, ``sync/tasks``, ``sync/skipped``:
  audio excerpts of ``--excerpt_seconds`` encoded alone, offsets within
  ``--max_offset``; ``sync/aligned_answered``, ``sync/unaligned_refused``,
  ``sync/unaligned_tasks``, ``sync/confidence_auc``: ``yt8m-sync``'s
  confidence and default threshold; with ``--offsets_file`` the stored
  lateness is part of the truth and soundtracks listed as unrelated are
  unaligned, scored by the last three, not as misses);
- frame level, temporal re-ranking: each query's top ``--rerank_top`` clip
  candidates (exact search over the whole set) are re-scored with
  :func:`yt8m_crossmodal.retrieval.rerank_by_timeline` (``--rerank_alpha``
  weight of the clip score): ``rerank/a2v_recall@1_before`` / ``_after`` and
  ``rerank/a2v_recall@<N>`` (the ceiling: true match among the N).

With ``--output_dir``: ``metrics.json``, TensorBoard scalars
(``tensorboard/``, step = export version), ``recall_at_k.png`` (Recall@K per
direction), ``sync_offsets.png`` (similarity vs offset of a few sync tasks,
estimated and true offsets marked), ``mturk_batch.csv`` (Mechanical Turk batch
input: one row per query and direction, ``query_id, query_modality,
candidate_modality, candidate_1_id, candidate_1_rank, ...``, then
``candidate_1_score, ...`` and, for a frame-level export, the ``sync_*``
columns, see :func:`reports.write_mturk_csv`), ``mturk_layout.html`` (the
task layout for those columns, :mod:`yt8m_crossmodal.evaluation.mturk_layout`;
ratings come back through ``yt8m-human-eval``) and
``index.html`` (the same queries with their top results, scores and whether
the true match is among them).

The last stdout line is one JSON object (NaN written as null).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import numpy as np
from absl import logging

from yt8m_crossmodal.jobs.config import EvaluateConfig
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.progress import Progress
from yt8m_crossmodal.evaluation import calibration, embedding, mturk_layout, reports, sync
from yt8m_crossmodal.evaluation.rerank import rerank_metrics
from yt8m_crossmodal.serving.loading import LoadedExport, load_export


def embed_with_export(exp: LoadedExport, pattern: str, batch_size: int = 64,
          max_videos: int = 0, skip_bad_records: bool = False,
          modalities=("audio", "visual")) -> embedding.EmbeddedSet:
  """Embeds the videos of ``pattern`` through the export's signatures.

  With one of ``modalities``, records holding only that one are read too,
  and the other's embeddings are None.
  """
  frame = exp.feature_level == "frame"
  ds = exp.read_records(pattern, batch_size, skip_bad_records, modalities=modalities)
  bar = Progress("embedded videos", max_videos or None)
  try:
    return embedding.embed_dataset(
        ds, exp.encode_fn("audio") if "audio" in modalities else None,
        exp.encode_fn("visual") if "visual" in modalities else None,
        limit=max_videos, keep_audio_features=frame and "audio" in modalities,
        progress=bar.update)
  finally:
    bar.close()


def _lateness(truth, path: str, ids) -> np.ndarray:
  """[N] each video's stored lateness from the truth file (NaN: unaligned)."""
  late = np.full([len(ids)], np.nan)
  for i, video_id in enumerate(ids):
    if video_id in truth["unaligned"]:
      continue
    if video_id not in truth["late"]:
      raise UsageError(f"video id {video_id!r} is not in the offsets file {path}")
    late[i] = truth["late"][video_id]
  return late


def evaluate_export(cfg: EvaluateConfig) -> Dict[str, Any]:
  """Evaluates as configured; returns the flat result dict (also written)."""
  cfg.validate()  # Also checks that --output_dir is a writable folder, before the work.
  truth = calibration.read_truth(cfg.offsets_file) if cfg.offsets_file else None
  exp = load_export(cfg.export_dir)
  frame = exp.feature_level == "frame"
  embedded = embed_with_export(exp, cfg.data, cfg.batch_size, cfg.max_videos, cfg.skip_bad_records)
  n = len(embedded)
  logging.info("embedded %d videos with %s", n, exp.path)
  pools = tuple(int(p) for p in cfg.pool_sizes) + (None,)
  result: Dict[str, Any] = {"export": io_utils.abspath(exp.path), "version": exp.version,
                            "feature_level": exp.feature_level,
                            "embedding_size": exp.embedding_size}
  result.update(embedding.evaluate_embedded(embedded, None, pool_sizes=pools,
                                         max_offset=cfg.max_offset,
                                         excerpt_seconds=cfg.excerpt_seconds,
                                         seed=cfg.seed, hub_weight=cfg.hub_weight))
  details, late = None, None
  if frame and embedded.has_timelines:
    late = _lateness(truth, cfg.offsets_file, embedded.ids) if truth else None
    sync_result, details = sync.sync_from_encoded_excerpts(
        embedded, exp.encode_fn("audio"), cfg.max_offset, cfg.excerpt_seconds,
        seed=cfg.seed, batch_size=cfg.batch_size, return_details=True, late=late)
    result.update(sync_result)
    result.update(rerank_metrics(embedded, cfg.rerank_top, cfg.rerank_alpha))
  result = {k: reports.jsonable(v) for k, v in result.items()}

  if cfg.output_dir:
    out = cfg.output_dir
    io_utils.writable_dir(out, "--output_dir")
    files = {"metrics": os.path.join(out, "metrics.json"),
             "tensorboard": os.path.join(out, "tensorboard"),
             "recall_plot": os.path.join(out, "recall_at_k.png"),
             "mturk_csv": os.path.join(out, "mturk_batch.csv"),
             "mturk_layout": os.path.join(out, "mturk_layout.html"),
             "html": os.path.join(out, "index.html")}
    reports.plot_recall_curves(embedded, files["recall_plot"])
    if details is not None:
      sync_path = os.path.join(out, "sync_offsets.png")
      if reports.plot_sync(details, embedded.ids, cfg.max_offset, cfg.sync_plots, sync_path):
        files["sync_plot"] = sync_path
    tops = reports.top_results(embedded, cfg.rated_queries, cfg.rated_candidates)
    k = min(cfg.rated_candidates, n)
    sync_rows = (reports.sync_rows(details, cfg.excerpt_seconds, late)
                 if details is not None and len(details[0]) else None)
    reports.write_mturk_csv(embedded, tops, k, files["mturk_csv"], sync_rows)
    mturk_layout.write_layout(files["mturk_layout"], k, sync=sync_rows is not None)
    plots = [files[k] for k in ("recall_plot", "sync_plot") if k in files]
    reports.write_html(embedded, tops, result, files["html"], plots, cfg.pool_sizes)
    reports.write_tensorboard(result, files["tensorboard"], step=exp.version or 0,
                              plots=plots)
    result["files"] = files
    io_utils.atomic_write(files["metrics"], json.dumps(result, indent=2, sort_keys=True))
  return result
