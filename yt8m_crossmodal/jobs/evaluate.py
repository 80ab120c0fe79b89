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

The reports are replaced as one unit (staged in the folder, then renamed in
with ``metrics.json`` last; a kill leaves the old set or the new one, see
``docs/guarantees.md``); a plot that fails to draw is left out and named in
``plot_errors``, never costing the metrics. One evaluation at a time writes
a local ``--output_dir`` (lock file ``.<name>.lock`` next to it).

The last stdout line is one JSON object (NaN written as null).
"""

from __future__ import annotations

import contextlib
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


def _lateness(truth, path: str, ids, num_frames) -> np.ndarray:
  """[N] each video's stored lateness from the truth file (NaN: unaligned).

  Raises:
    UsageError: a video is not in the file, or its lateness is not shorter
      than the video (named).
  """
  late = np.full([len(ids)], np.nan)
  for i, (video_id, n) in enumerate(zip(ids, num_frames)):
    if video_id in truth["unaligned"]:
      continue
    if video_id not in truth["late"]:
      raise UsageError(f"video id {video_id!r} is not in the offsets file {path}")
    if abs(truth["late"][video_id]) >= n:
      raise UsageError(f"the offsets file {path} says video {video_id!r} is "
                       f"{truth['late'][video_id]} s late, but it has {int(n)} seconds")
    late[i] = truth["late"][video_id]
  return late


PLOT_FILES = {"recall_plot": "recall_at_k.png", "sync_plot": "sync_offsets.png"}
METRICS_FILE = "metrics.json"


def _plot(name: str, draw, files: io_utils.FileSet, result: Dict[str, Any]) -> bool:
  """Draws plot ``name`` into ``files``; a plot that fails is left out, never the metrics.

  Returns:
    True when written. A failure (not a full disk) is logged and named in
    ``result["plot_errors"]``, and the old plot of that name is removed with
    the commit (it would not belong to the new metrics).
  """
  try:
    if draw(files.path(PLOT_FILES[name])):
      return True
  except (UsageError, OSError, MemoryError):
    raise  # A full disk or no memory: the whole set fails, the old one stays.
  except Exception as e:  # pylint: disable=broad-except  (matplotlib raises many kinds)
    logging.warning("%s not drawn: %s: %s", PLOT_FILES[name], type(e).__name__, e)
    result.setdefault("plot_errors", {})[PLOT_FILES[name]] = (
        f"{type(e).__name__}: {io_utils.error_line(e)}")
  files.remove(PLOT_FILES[name])
  return False


def _write_reports(cfg: EvaluateConfig, exp: LoadedExport, embedded, result: Dict[str, Any],
                   details, late, files: io_utils.FileSet) -> Dict[str, str]:
  """The report files into ``files`` (staged); returns their final paths by key."""
  out, n = cfg.output_dir, len(embedded)
  final = {"metrics": os.path.join(out, METRICS_FILE),
           "tensorboard": os.path.join(out, "tensorboard"),
           "mturk_csv": os.path.join(out, "mturk_batch.csv"),
           "mturk_layout": os.path.join(out, "mturk_layout.html"),
           "html": os.path.join(out, "index.html")}
  staged = {k: files.path(os.path.basename(v)) for k, v in final.items()}
  plots = []
  if _plot("recall_plot", lambda p: reports.plot_recall_curves(embedded, p) or True,
           files, result):
    plots.append("recall_plot")
  if details is not None and _plot(
      "sync_plot", lambda p: reports.plot_sync(details, embedded.ids, cfg.max_offset,
                                               cfg.sync_plots, p), files, result):
    plots.append("sync_plot")
  elif details is None:
    files.remove(PLOT_FILES["sync_plot"])
  for key in plots:
    final[key] = os.path.join(out, PLOT_FILES[key])
  tops = reports.top_results(embedded, cfg.rated_queries, cfg.rated_candidates)
  k = min(cfg.rated_candidates, n)
  sync_rows = (reports.sync_rows(details, cfg.excerpt_seconds, late)
               if details is not None and len(details[0]) else None)
  reports.write_mturk_csv(embedded, tops, k, staged["mturk_csv"], sync_rows)
  mturk_layout.write_layout(staged["mturk_layout"], k, sync=sync_rows is not None)
  staged_plots = [files.path(PLOT_FILES[key]) for key in plots]
  reports.write_html(embedded, tops, result, staged["html"], staged_plots, cfg.pool_sizes)
  reports.write_tensorboard(result, final["tensorboard"], step=exp.version or 0,
                            plots=staged_plots)
  return final


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
    late = (_lateness(truth, cfg.offsets_file, embedded.ids, embedded.num_frames)
            if truth else None)
    sync_result, details = sync.sync_from_encoded_excerpts(
        embedded, exp.encode_fn("audio"), cfg.max_offset, cfg.excerpt_seconds,
        seed=cfg.seed, batch_size=cfg.batch_size, return_details=True, late=late)
    result.update(sync_result)
    result.update(rerank_metrics(embedded, cfg.rerank_top, cfg.rerank_alpha))
  result = {k: reports.jsonable(v) for k, v in result.items()}

  if cfg.output_dir:
    out = cfg.output_dir
    io_utils.writable_dir(out, "--output_dir")
    lock = (contextlib.nullcontext() if io_utils.is_remote(out)
            else io_utils.exclusive_output(out, "--output_dir"))
    with lock:
      io_utils.recover_file_sets(out)
      files = io_utils.FileSet(out)
      try:
        result["files"] = _write_reports(cfg, exp, embedded, result, details, late, files)
        io_utils.atomic_write(files.path(METRICS_FILE),
                              json.dumps(result, indent=2, sort_keys=True))
        files.commit(last=METRICS_FILE)
      except BaseException:
        files.abort()
        raise
  return result
