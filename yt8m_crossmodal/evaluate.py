"""``yt8m-evaluate``: scores an exported model through its serving signatures.

Example::

  yt8m-evaluate --export_dir=saved_models/temporal \\
      --data='/data/yt8m/frame/validate00*.tfrecord' --output_dir=eval/temporal
  yt8m-evaluate --export_dir=saved_models/temporal/3 --data=... --max_videos=2000

``--export_dir`` is a model folder (its highest version is used) or a version
folder. Nothing of the training code runs: the SavedModel is loaded with
``tf.saved_model.load`` and its ``encode_audio`` / ``encode_visual``
signatures, wrapped as encode functions, embed the data (read with the
project's reader, which gives the features the signatures take after
dequantization) for :mod:`yt8m_crossmodal.evaluation.encode`.

Metrics (keys of the JSON line and of ``metrics.json``):

- clip retrieval, both directions (``a2v`` = audio query, visual candidates;
  ``v2a``): ``recall@1/5/10``, ``median_rank``, ``mean_rank``, ``map`` over
  the whole set (``all/...``) and a fixed random pool per ``--pool_sizes``
  entry (``pool256/...``), see :mod:`yt8m_crossmodal.evaluation.metrics`;
- frame level: ``timeline/a2v_recall@1`` ..., sync (``sync/exact``,
  ``sync/within_1s``, ``sync/mae_seconds``, ``sync/tasks``, ``sync/skipped``:
  audio excerpts of ``--excerpt_seconds`` encoded alone, offsets within
  ``--max_offset``);
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
candidate_modality, candidate_1_id, candidate_1_rank, ...``) and
``index.html`` (the same queries with their top results, scores and whether
the true match is among them).

The last stdout line is one JSON object (NaN written as null).
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import math
import os
import time
from typing import Any, Dict, List, Tuple

from absl import logging
import numpy as np

from yt8m_crossmodal import cli as cli_lib
from yt8m_crossmodal import export as export_lib
from yt8m_crossmodal import flags
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.data import reader
from yt8m_crossmodal.evaluation import encode
from yt8m_crossmodal.evaluation import metrics as metrics_lib
from yt8m_crossmodal.config import option

import tensorflow as tf  # noqa: E402

UsageError = cli_lib.UsageError
DIRECTIONS = (("a2v", "audio", "visual"), ("v2a", "visual", "audio"))



@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
  """Options of ``yt8m-evaluate`` (each field is a flag of the same name)."""

  export_dir: str = option("", "Model folder (highest version used) or version folder.")
  data: str = option("", "File pattern(s) of the evaluation TFRecords.")
  output_dir: str = option("", "Where metrics.json, plots, TensorBoard, mturk_batch.csv "
                       "and index.html go ('': stdout only).")
  pool_sizes: Tuple[int, ...] = option((256, 1000), "Candidate pool sizes (the whole "
                                   "set is always scored too).")
  max_offset: int = option(5, "Sync: offsets in [-S, S] seconds.")
  excerpt_seconds: int = option(20, "Sync: audio excerpt length L in seconds.")
  max_videos: int = option(0, "Videos evaluated (0: all).")
  batch_size: int = option(64, "Videos encoded per signature call.")
  rerank_top: int = option(10, "Temporal re-ranking: clip candidates re-scored per query.")
  rerank_alpha: float = option(0.5, "Temporal re-ranking: weight of the clip score.")
  rated_queries: int = option(100, "Queries per direction in mturk_batch.csv and "
                          "index.html (0: all).")
  rated_candidates: int = option(5, "Top results per query in mturk_batch.csv / index.html.")
  sync_plots: int = option(4, "Sync tasks drawn in sync_offsets.png.")
  seed: int = option(0, "Seed of the pools and sync tasks.")
  skip_bad_records: bool = option(False, "Skip bad records instead of failing.")


def _check(cfg: EvaluateConfig) -> None:
  if not cfg.data:
    raise UsageError("--data is required")
  if any(p < 2 for p in cfg.pool_sizes):
    raise UsageError(f"--pool_sizes must be >= 2, got {list(cfg.pool_sizes)}")
  for name in ("batch_size", "rerank_top", "rated_candidates", "excerpt_seconds"):
    if getattr(cfg, name) <= 0:
      raise UsageError(f"--{name} must be positive")
  if cfg.max_offset < 0 or cfg.max_videos < 0 or cfg.rated_queries < 0:
    raise UsageError("--max_offset, --max_videos and --rated_queries must be >= 0")
  if not 0.0 <= cfg.rerank_alpha <= 1.0:
    raise UsageError(f"--rerank_alpha must be in [0, 1], got {cfg.rerank_alpha}")


def embed(exp: export_lib.LoadedExport, pattern: str, batch_size: int = 64,
          max_videos: int = 0, skip_bad_records: bool = False) -> encode.EmbeddedSet:
  """Embeds the videos of ``pattern`` through the export's signatures."""
  frame = exp.feature_level == "frame"
  ds = reader.make_dataset(
      pattern, feature_level=exp.feature_level, batch_size=batch_size,
      num_classes=exp.config.data.num_classes, max_frames=exp.max_frames, seed=0,
      skip_bad_records=skip_bad_records)
  start = time.time()

  def progress(n):
    logging.info("embedded %d videos (%.1f videos/s)", n, n / max(1e-9, time.time() - start))

  return encode.embed_dataset(ds, exp.encode_fn("audio"), exp.encode_fn("visual"),
                              limit=max_videos, keep_audio_features=frame,
                              progress=progress)


def rerank_metrics(embedded: encode.EmbeddedSet, top: int, alpha: float
                   ) -> Dict[str, float]:
  """R@1 before/after re-ranking each query's top clip candidates by timeline.

  Args:
    embedded: an embedded set with timelines.
    top: N, clip candidates per query (exact search over the whole set).
    alpha: weight of the clip score in the combined score.

  Returns:
    ``rerank/<dir>_recall@1_before``, ``rerank/<dir>_recall@1_after``,
    ``rerank/<dir>_recall@<N>`` for ``dir`` in a2v, v2a, plus ``rerank/top``
    and ``rerank/alpha``.
  """
  n = len(embedded)
  top = min(top, n)
  catalogue = retrieval.Catalogue(
      ids=list(range(n)), audio_embeddings=embedded.audio_embedding,
      visual_embeddings=embedded.visual_embedding,
      audio_timelines=embedded.padded_timelines("audio"),
      visual_timelines=embedded.padded_timelines("visual"),
      num_frames=embedded.num_frames)
  out: Dict[str, float] = {"rerank/top": top, "rerank/alpha": alpha}
  for name, query, target in DIRECTIONS:
    scores, indices = retrieval.exact_search(catalogue.embeddings(query),
                                             catalogue.embeddings(target), top)
    timelines = embedded.audio_timelines if query == "audio" else embedded.visual_timelines
    before = after = within = 0
    for i in range(n):
      result = retrieval.rerank_by_timeline(timelines[i], int(embedded.num_frames[i]),
                                            indices[i], catalogue, scores[i], alpha,
                                            modality=target)
      before += int(indices[i, 0] == i)
      after += int(result.indices.size > 0 and result.indices[0] == i)
      within += int(i in indices[i])
    out[f"rerank/{name}_recall@1_before"] = before / n
    out[f"rerank/{name}_recall@1_after"] = after / n
    out[f"rerank/{name}_recall@{top}"] = within / n
  return out


# ----------------------------------------------------------------------------
# Outputs.


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def plot_recall_curves(embedded: encode.EmbeddedSet, path: str) -> None:
  """Recall@K (whole set) against K, one curve per direction."""
  plt = _plt()
  n = len(embedded)
  ks = np.arange(1, n + 1)
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, query, target in DIRECTIONS:
    q = embedded.audio_embedding if query == "audio" else embedded.visual_embedding
    c = embedded.visual_embedding if target == "visual" else embedded.audio_embedding
    ranks = metrics_lib.true_match_ranks(q, c)
    recall = np.searchsorted(np.sort(ranks), ks, side="right") / n
    ax.plot(ks, recall, label=f"{name} ({query} -> {target})")
  ax.plot(ks, ks / n, "k:", label="chance")
  ax.set_xscale("log")
  ax.set_xlabel("K")
  ax.set_ylabel("Recall@K")
  ax.set_ylim(0, 1.02)
  ax.set_title(f"Clip retrieval over {n} videos")
  ax.grid(True, alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_sync(details, ids: List[str], max_offset: int, count: int, path: str) -> bool:
  """Similarity vs offset of the first ``count`` sync tasks; False if none."""
  tasks, estimated, scores = details
  count = min(count, len(tasks))
  if count == 0:
    return False
  plt = _plt()
  offsets = np.arange(-max_offset, max_offset + 1)
  cols = min(count, 2)
  rows = int(math.ceil(count / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3 * rows), squeeze=False)
  for j in range(rows * cols):
    ax = axes[j // cols][j % cols]
    if j >= count:
      ax.axis("off")
      continue
    video, t0, true = tasks[j]
    ax.plot(offsets, np.where(np.isfinite(scores[j]), scores[j], np.nan), "o-")
    ax.axvline(true, color="green", linestyle="-", label=f"true {true:+d}s")
    ax.axvline(estimated[j], color="red", linestyle="--",
               label=f"estimated {int(estimated[j]):+d}s")
    ax.set_title(f"{ids[video]} (t0={t0}s)", fontsize=9)
    ax.set_xticks(offsets)
    ax.set_xlabel("offset (s)")
    ax.set_ylabel("mean similarity")
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True


def top_results(embedded: encode.EmbeddedSet, queries: int, k: int):
  """Per direction: (query rows, scores [Q, k], indices [Q, k])."""
  n = len(embedded)
  rows = np.arange(n if queries == 0 else min(queries, n))
  out = {}
  for name, query, target in DIRECTIONS:
    q = embedded.audio_embedding if query == "audio" else embedded.visual_embedding
    c = embedded.visual_embedding if target == "visual" else embedded.audio_embedding
    scores, indices = retrieval.exact_search(q[rows], c, min(k, n))
    out[name] = (rows, scores, indices)
  return out


def write_mturk_csv(embedded: encode.EmbeddedSet, tops, k: int, path: str) -> int:
  """Mechanical Turk batch input: header row, one row per query; returns rows."""
  header = ["query_id", "query_modality", "candidate_modality"]
  for j in range(1, k + 1):
    header += [f"candidate_{j}_id", f"candidate_{j}_rank"]
  count = 0
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    for name, query, target in DIRECTIONS:
      rows, _, indices = tops[name]
      for row, cand in zip(rows, indices):
        line = [embedded.ids[row], query, target]
        for rank in range(k):
          if rank < len(cand):
            line += [embedded.ids[cand[rank]], rank + 1]
          else:
            line += ["", ""]
        writer.writerow(line)
        count += 1
  return count


def write_html(embedded: encode.EmbeddedSet, tops, result: Dict[str, Any], path: str) -> None:
  """A static page listing the queries and their top results."""
  esc = html.escape
  parts = [
      "<!DOCTYPE html><html><head><meta charset='utf-8'>",
      "<title>yt8m-evaluate</title><style>body{font-family:sans-serif}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
      ".hit{background:#cfc;font-weight:bold}.miss{color:#a00}</style></head><body>",
      f"<h1>Retrieval results: {esc(str(result.get('export')))}</h1>",
      f"<p>{len(embedded)} videos. R@1 a2v {result.get('all/a2v/recall@1')}, "
      f"v2a {result.get('all/v2a/recall@1')}. Highlighted: the true match.</p>",
  ]
  for name, query, target in DIRECTIONS:
    rows, scores, indices = tops[name]
    k = indices.shape[1]
    parts.append(f"<h2>{esc(name)}: {esc(query)} query &rarr; {esc(target)} results</h2>")
    parts.append("<table><tr><th>query id</th><th>true match in top "
                 f"{k}</th>" + "".join(f"<th>#{j + 1}</th>" for j in range(k)) + "</tr>")
    for row, sc, cand in zip(rows, scores, indices):
      hit = bool(np.any(cand == row))
      cells = []
      for s, c in zip(sc, cand):
        cls = " class='hit'" if c == row else ""
        cells.append(f"<td{cls}>{esc(embedded.ids[c])}<br><small>{s:.4f}</small></td>")
      found = "yes" if hit else "<span class='miss'>no</span>"
      parts.append(f"<tr><td>{esc(embedded.ids[row])}</td><td>{found}</td>"
                   + "".join(cells) + "</tr>")
    parts.append("</table>")
  parts.append("</body></html>")
  with open(path, "w") as f:
    f.write("\n".join(parts))


def write_tensorboard(result: Dict[str, Any], log_dir: str, step: int) -> None:
  writer = tf.summary.create_file_writer(log_dir)
  with writer.as_default():
    for key, value in sorted(result.items()):
      if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        tf.summary.scalar(key, float(value), step=step)
  writer.flush()
  writer.close()


def _jsonable(value):
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


# ----------------------------------------------------------------------------
# Main.


def run(cfg: EvaluateConfig) -> Dict[str, Any]:
  """Evaluates as configured; returns the flat result dict (also written)."""
  _check(cfg)
  exp = export_lib.load_export(cfg.export_dir)
  frame = exp.feature_level == "frame"
  embedded = embed(exp, cfg.data, cfg.batch_size, cfg.max_videos, cfg.skip_bad_records)
  n = len(embedded)
  logging.info("embedded %d videos with %s", n, exp.path)
  pools = tuple(int(p) for p in cfg.pool_sizes) + (None,)
  result: Dict[str, Any] = {"export": os.path.abspath(exp.path), "version": exp.version,
                            "feature_level": exp.feature_level,
                            "embedding_size": exp.embedding_size}
  result.update(encode.evaluate_embedded(embedded, None, pool_sizes=pools,
                                         max_offset=cfg.max_offset,
                                         excerpt_seconds=cfg.excerpt_seconds,
                                         seed=cfg.seed))
  details = None
  if frame and embedded.has_timelines:
    sync, details = encode.sync_evaluation(
        embedded, exp.encode_fn("audio"), cfg.max_offset, cfg.excerpt_seconds,
        seed=cfg.seed, batch_size=cfg.batch_size, return_details=True)
    result.update(sync)
    result.update(rerank_metrics(embedded, cfg.rerank_top, cfg.rerank_alpha))
  result = {k: _jsonable(v) for k, v in result.items()}

  if cfg.output_dir:
    out = cfg.output_dir
    os.makedirs(out, exist_ok=True)
    files = {"metrics": os.path.join(out, "metrics.json"),
             "tensorboard": os.path.join(out, "tensorboard"),
             "recall_plot": os.path.join(out, "recall_at_k.png"),
             "mturk_csv": os.path.join(out, "mturk_batch.csv"),
             "html": os.path.join(out, "index.html")}
    plot_recall_curves(embedded, files["recall_plot"])
    if details is not None:
      sync_path = os.path.join(out, "sync_offsets.png")
      if plot_sync(details, embedded.ids, cfg.max_offset, cfg.sync_plots, sync_path):
        files["sync_plot"] = sync_path
    tops = top_results(embedded, cfg.rated_queries, cfg.rated_candidates)
    write_mturk_csv(embedded, tops, min(cfg.rated_candidates, n), files["mturk_csv"])
    write_html(embedded, tops, result, files["html"])
    write_tensorboard(result, files["tensorboard"], step=exp.version or 0)
    result["files"] = files
    with open(files["metrics"], "w") as f:
      json.dump(result, f, indent=2, sort_keys=True)
  return result


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {argv[1:]}")
  result = run(flags.read(EvaluateConfig))
  print(f"{result['num_videos']} videos, export {result['export']}")
  for name in ("a2v", "v2a"):
    print(f"{name}: R@1 {result.get(f'all/{name}/recall@1')}, "
          f"R@10 {result.get(f'all/{name}/recall@10')}, "
          f"median rank {result.get(f'all/{name}/median_rank')}")
  if "sync/exact" in result:
    print(f"sync: exact {result['sync/exact']}, within 1s {result['sync/within_1s']}")
  print(json.dumps(result, sort_keys=True))


def cli():
  flags.define(EvaluateConfig)
  cli_lib.run(main)


if __name__ == "__main__":
  cli()
