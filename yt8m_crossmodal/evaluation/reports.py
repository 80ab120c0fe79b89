"""Evaluation outputs: plots, the Mechanical Turk batch, the HTML page, scalars."""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from yt8m_crossmodal import escaping
from yt8m_crossmodal import io_utils
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
  save_figure(plt, fig, path)


def save_figure(plt, fig, path: str) -> None:
  """Writes ``fig`` as a PNG to ``path`` (aside, then renamed) and closes it."""
  png = io.BytesIO()
  try:
    fig.savefig(png, format="png", dpi=100)
  finally:
    plt.close(fig)
  io_utils.atomic_write(path, png.getvalue())


def _sync_examples(tasks, estimated, count: int) -> List[int]:
  """Task rows to draw: the first ones, plus the first miss if there is one."""
  missed = np.nonzero(estimated != tasks[:, 2])[0]
  rows = list(range(min(count, len(tasks))))
  if len(missed) and missed[0] not in rows:
    rows[-1] = int(missed[0])
  return rows


def plot_sync(details, ids: List[str], max_offset: int, count: int, path: str) -> bool:
  """Similarity vs offset of ``count`` sync tasks (one a miss if any); False if none.

  Each panel: an audio excerpt shifted by a known offset d (audio seconds
  ``[t0 + d, t0 + d + L)``) scored against the pictures at every candidate
  offset; the true d (thick green) and the estimate (dashed red) are marked,
  so both show when they agree.
  """
  tasks, estimated, scores = details
  rows = _sync_examples(tasks, estimated, count)
  if not rows:
    return False
  plt = _plt()
  offsets = np.arange(-max_offset, max_offset + 1)
  cols = min(len(rows), 2)
  grid = int(math.ceil(len(rows) / cols))
  fig, axes = plt.subplots(grid, cols, figsize=(5.5 * cols, 3.2 * grid + 0.8), squeeze=False)
  for j in range(grid * cols):
    ax = axes[j // cols][j % cols]
    if j >= len(rows):
      ax.axis("off")
      continue
    row = rows[j]
    video, t0, true = tasks[row]
    est = int(estimated[row])
    ax.plot(offsets, np.where(np.isfinite(scores[row]), scores[row], np.nan), "o-",
            color="tab:blue", zorder=3)
    ax.axvline(true, color="tab:green", linewidth=6, alpha=0.35, label=f"true {true:+d} s",
               zorder=1)
    ax.axvline(est, color="tab:red", linestyle="--", linewidth=1.5,
               label=f"estimated {est:+d} s", zorder=2)
    verdict = "right" if est == true else f"MISSED by {abs(est - true)} s"
    ax.set_title(f"{escaping.plot_text(ids[video])}: excerpt from {t0 + true} s, {verdict}",
                 fontsize=9)
    ax.set_xticks(offsets)
    ax.set_xlabel("candidate offset d (s)")
    ax.set_ylabel("mean similarity")
    ax.legend(fontsize=8, loc="best")
  fig.suptitle("Audio excerpt vs pictures at each offset. d > 0: the excerpt comes d s "
               "later in the soundtrack than the pictures it is scored against.", fontsize=9)
  fig.tight_layout()
  save_figure(plt, fig, path)
  return True


def top_results(embedded: embedding.EmbeddedSet, queries: int, k: int):
  """Per direction: (query rows, scores [Q, k], indices [Q, k]).

  The queries are the first ``queries`` videos by id (0: all), in id order.
  """
  n = len(embedded)
  order = np.argsort(np.asarray(embedded.ids, dtype=object), kind="stable")
  rows = order[:n if queries == 0 else min(queries, n)]
  out = {}
  for name, query, target in DIRECTIONS:
    q = embedded.audio_embedding if query == "audio" else embedded.visual_embedding
    c = embedded.visual_embedding if target == "visual" else embedded.audio_embedding
    scores, indices = exact_search(q[rows], c, min(k, n))
    out[name] = (rows, scores, indices)
  return out


SYNC_COLUMNS = ("sync_picture_start", "sync_audio_start", "sync_seconds",
                "sync_estimated_offset", "sync_true_offset")


def sync_rows(details, excerpt_seconds: int, late=None) -> Dict[int, List[int]]:
  """Per video row with a sync task: the values of :data:`SYNC_COLUMNS`.

  The pictures start where the model places the excerpt: the audio seconds
  that belong with pictures ``[t0 + d, t0 + d + L)`` under pictures from
  ``t0 + estimate``, so they are in sync exactly when the estimate is the
  true offset ``d``. With ``late`` ([N] stored lateness, NaN: unaligned, as
  :func:`yt8m_crossmodal.evaluation.sync.sync_tasks_and_excerpts` takes it)
  those audio seconds start at ``t0 + d + late``, and unaligned videos have
  no row (there is no right answer to ask about).
  """
  tasks, estimated, _ = details
  shift = np.zeros(1 + int(max([t[0] for t in tasks], default=0)))
  if late is not None:
    shift = np.asarray(late, np.float64)
  return {int(video): [int(t0 + est), int(t0 + d + shift[video]), int(excerpt_seconds),
                       int(est), int(d)]
          for (video, t0, d), est in zip(tasks, estimated) if not np.isnan(shift[video])}


def write_mturk_csv(embedded: embedding.EmbeddedSet, tops, k: int, path: str,
                    sync: Dict[int, List[int]] = None) -> int:
  """Mechanical Turk batch input: header row, one row per query; returns rows.

  Columns: ``query_id, query_modality, candidate_modality``, then
  ``candidate_<j>_id, candidate_<j>_rank`` for j = 1..k, then
  ``candidate_<j>_score`` for j = 1..k (the model's cosine similarity, for the
  score-vs-rating correlation), and with ``sync`` (:func:`sync_rows`) the
  :data:`SYNC_COLUMNS`, filled on audio-query rows whose video has a sync
  task and empty elsewhere. Ranks past the number of videos are empty.

  MTurk pastes the values into the task's HTML as they are, and people open
  the file in spreadsheets: every value goes through
  :func:`yt8m_crossmodal.escaping.mturk_cell` (HTML-escaped, no cell a
  formula); ``yt8m-human-eval`` undoes it on the ids it reads back.
  """
  header = ["query_id", "query_modality", "candidate_modality"]
  for j in range(1, k + 1):
    header += [f"candidate_{j}_id", f"candidate_{j}_rank"]
  header += [f"candidate_{j}_score" for j in range(1, k + 1)]
  if sync is not None:
    header += list(SYNC_COLUMNS)
  count = 0
  text = io.StringIO(newline="")
  writer = csv.writer(text, quoting=csv.QUOTE_ALL)
  writer.writerow(header)
  for name, query, target in DIRECTIONS:
    rows, scores, indices = tops[name]
    for row, sc, cand in zip(rows, scores, indices):
      line = [embedded.ids[row], query, target]
      for rank in range(k):
        if rank < len(cand):
          line += [embedded.ids[cand[rank]], rank + 1]
        else:
          line += ["", ""]
      line += [f"{sc[rank]:.6f}" if rank < len(cand) else "" for rank in range(k)]
      if sync is not None:
        values = sync.get(int(row)) if query == "audio" else None
        line += values if values is not None else [""] * len(SYNC_COLUMNS)
      writer.writerow([escaping.mturk_cell(v) for v in line])
      count += 1
  io_utils.atomic_write(path, text.getvalue())
  return count


HEADLINE_KEYS = (("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"),
                 ("median_rank", "median rank"))


def headline(result: Dict[str, Any], pool_sizes: Sequence[int]) -> List[Dict[str, Any]]:
  """The figures asked for, first: per requested pool, then the whole set.

  One row per (candidates, ranking): ``candidates`` (the pool asked for, and
  the set's size when it is smaller), ``ranking`` ("as yt8m-search ranks"
  (cosine - w * hubness, when ``hub_*`` keys are present) or "plain
  cosine"), then ``a2v/<key>`` and ``v2a/<key>`` for R@1, R@5, R@10 and the
  median rank.
  """
  n = result.get("num_videos")
  rows = []
  for pool in [*pool_sizes, None]:
    name = "all" if pool is None else f"pool{pool}"
    if f"{name}/a2v/recall@1" not in result:
      continue
    actual = result.get(f"{name}/pool_size")
    if pool is None:
      label = f"all {n}"
    elif actual is not None and actual < pool:
      label = f"{pool} (all {actual})"
    else:
      label = str(pool)
    for prefix, ranking in (("hub_", "as yt8m-search ranks"), ("", "plain cosine")):
      if f"{prefix}{name}/a2v/recall@1" not in result:
        continue
      row: Dict[str, Any] = {"candidates": label, "ranking": ranking}
      for direction in ("a2v", "v2a"):
        for key, _ in HEADLINE_KEYS:
          row[f"{direction}/{key}"] = result.get(f"{prefix}{name}/{direction}/{key}")
      rows.append(row)
  return rows


def _cell(key: str, value) -> str:
  if value is None:
    return "-"
  return f"{value:g}" if key == "median_rank" else f"{value:.3f}"


def headline_text(result: Dict[str, Any], pool_sizes: Sequence[int]) -> str:
  """:func:`headline` as aligned text lines (what ``yt8m-evaluate`` prints first)."""
  rows = headline(result, pool_sizes)
  header = ["candidates", "ranking"] + [f"{d} {name}" for d in ("a2v", "v2a")
                                        for _, name in HEADLINE_KEYS]
  table = [header] + [[r["candidates"], r["ranking"]] + [
      _cell(key, r[f"{d}/{key}"]) for d in ("a2v", "v2a") for key, _ in HEADLINE_KEYS]
                      for r in rows]
  widths = [max(len(line[j]) for line in table) for j in range(len(header))]
  lines = ["  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                     for j, (c, w) in enumerate(zip(line, widths))).rstrip()
           for line in table]
  return ("Clip retrieval (a2v: audio query, visual candidates; v2a: the reverse; R@K: "
          "share of queries whose true match is in the top K):\n" + "\n".join(lines))


def _headline_html(result: Dict[str, Any], pool_sizes: Sequence[int]) -> str:
  esc = escaping.html_text
  rows = headline(result, pool_sizes)
  head = ("<tr><th rowspan='2'>candidates</th><th rowspan='2'>ranking</th>"
          "<th colspan='4'>audio &rarr; visual</th><th colspan='4'>visual &rarr; audio</th></tr>"
          "<tr>" + "".join(f"<th>{esc(name)}</th>" for _ in range(2)
                           for _, name in HEADLINE_KEYS) + "</tr>")
  body = "".join(
      "<tr>" + f"<td>{esc(r['candidates'])}</td><td>{esc(r['ranking'])}</td>" + "".join(
          f"<td class='num'>{esc(_cell(key, r[f'{d}/{key}']))}</td>"
          for d in ("a2v", "v2a") for key, _ in HEADLINE_KEYS) + "</tr>" for r in rows)
  return f"<table class='headline'>{head}{body}</table>"


def _figure(value) -> str:
  return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def write_html(embedded: embedding.EmbeddedSet, tops, result: Dict[str, Any], path: str,
               plots: Sequence[str] = (), pool_sizes: Sequence[int] = ()) -> None:
  """A static page: headline figures, the plots, the queries and their top results.

  Args:
    embedded: the evaluated set.
    tops: :func:`top_results`.
    result: the metrics (``export``, ``version``, ``all/...`` keys).
    path: the page to write (names in it are relative to its folder).
    plots: PNG files in the page's folder to show.
    pool_sizes: the pools asked for: their figures come first (:func:`headline`).
  """
  esc = escaping.html_text
  export = result.get("export") or ""
  name = os.path.basename(os.path.dirname(export.rstrip("/"))) or export
  version = result.get("version")
  n = len(embedded)
  shown = len(next(iter(tops.values()))[0]) if tops else 0
  parts = [
      "<!DOCTYPE html><html><head><meta charset='utf-8'>",
      "<title>yt8m-evaluate</title><style>body{font-family:sans-serif;max-width:75em}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
      "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}"
      ".hit{background:#cfc;font-weight:bold}.miss{color:#a00}img{max-width:100%}</style>"
      "</head><body>",
      f"<h1>Retrieval results: {esc(name)}"
      + (f", version {esc(str(version))}" if version is not None else "") + "</h1>",
      f"<p>{n} videos. Clip retrieval: the share of queries whose true match is in the "
      "top K (R@K) and its median rank, among the candidates asked for (the true match "
      "and random others), then among all the videos; ranked as <code>yt8m-search</code> "
      "ranks (cosine less the hubness correction) and by plain cosine.</p>",
      _headline_html(result, pool_sizes),
      "<p>" + (f"Sync exact {_figure(result.get('sync/exact'))}, within 1 s "
               f"{_figure(result.get('sync/within_1s'))}. " if "sync/exact" in result else "")
      + "Full figures: <a href='metrics.json'>metrics.json</a>.</p>",
  ]
  for plot in plots:
    rel = os.path.basename(plot)
    parts.append(f"<p><a href='{esc(rel)}'><img src='{esc(rel)}' alt='{esc(rel)}'></a></p>")
  for direction, query, target in DIRECTIONS:
    rows, scores, indices = tops[direction]
    k = indices.shape[1]
    parts.append(f"<h2>{esc(direction)}: {esc(query)} query &rarr; {esc(target)} results</h2>")
    parts.append(f"<p>{shown} of {n} queries, the first by id, in id order; each with its "
                 f"top {k} results (score below the id). Highlighted: the true match.</p>")
    parts.append("<table><tr><th>query id</th><th>true match in top "
                 f"{k}</th>" + "".join(f"<th>#{j + 1}</th>" for j in range(k)) + "</tr>")
    for row, sc, cand in zip(rows, scores, indices):
      hit = bool(np.any(cand == row))
      cells = []
      for sim, c in zip(sc, cand):
        cls = " class='hit'" if c == row else ""
        cells.append(f"<td{cls}>{esc(embedded.ids[c])}<br><small>{sim:.3f}</small></td>")
      found = "yes" if hit else "<span class='miss'>no</span>"
      parts.append(f"<tr><td>{esc(embedded.ids[row])}</td><td>{found}</td>"
                   + "".join(cells) + "</tr>")
    parts.append("</table>")
  parts.append("</body></html>")
  io_utils.atomic_write(path, "\n".join(parts))


def write_tensorboard(result: Dict[str, Any], log_dir: str, step: int,
                      plots: Sequence[str] = ()) -> None:
  """The finite numbers of ``result`` as scalars, and each PNG of ``plots`` as an
  image (``plots/<file name>``), at ``step`` (the export version)."""
  writer = tf.summary.create_file_writer(log_dir)
  with writer.as_default():
    for key, value in sorted(result.items()):
      if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        tf.summary.scalar(key, float(value), step=step)
    for plot in plots:
      image = tf.image.decode_png(tf.io.read_file(plot), channels=3)
      name = os.path.splitext(os.path.basename(plot))[0]
      tf.summary.image(f"plots/{name}", image[None], step=step)
  writer.flush()
  writer.close()


def jsonable(value):
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value
