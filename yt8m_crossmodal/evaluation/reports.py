"""Evaluation outputs: plots, the Mechanical Turk batch, the HTML page, scalars."""

from __future__ import annotations

import csv
import html
import math
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf

from yt8m_crossmodal.evaluation import embedding
from yt8m_crossmodal.evaluation import metrics as metrics_lib
from yt8m_crossmodal.retrieval import exact_search

DIRECTIONS = (("a2v", "audio", "visual"), ("v2a", "visual", "audio"))


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def plot_recall_curves(embedded: embedding.EmbeddedSet, path: str) -> None:
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


def top_results(embedded: embedding.EmbeddedSet, queries: int, k: int):
  """Per direction: (query rows, scores [Q, k], indices [Q, k])."""
  n = len(embedded)
  rows = np.arange(n if queries == 0 else min(queries, n))
  out = {}
  for name, query, target in DIRECTIONS:
    q = embedded.audio_embedding if query == "audio" else embedded.visual_embedding
    c = embedded.visual_embedding if target == "visual" else embedded.audio_embedding
    scores, indices = exact_search(q[rows], c, min(k, n))
    out[name] = (rows, scores, indices)
  return out


def write_mturk_csv(embedded: embedding.EmbeddedSet, tops, k: int, path: str) -> int:
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


def write_html(embedded: embedding.EmbeddedSet, tops, result: Dict[str, Any], path: str) -> None:
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


def jsonable(value):
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value
