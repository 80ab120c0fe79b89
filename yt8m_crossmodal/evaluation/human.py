"""Mechanical Turk results: human precision, nDCG, agreement, score vs rating.

Reads MTurk's results download (``Batch_<id>_batch_results.csv``: one row per
assignment, columns ``HITId``, ``WorkerId``, ``AssignmentStatus``, the batch
columns as ``Input.<column>`` and the answers as ``Answer.<name>``) of a
batch made from ``mturk_batch.csv`` with ``mturk_layout.html``.

An answer ``relevance_<j>`` (0 does not fit, 1 partly fits, 2 fits well) is
read from ``Answer.relevance_<j>`` (``"2"``), from one boolean column per
value (``Answer.relevance_<j>.2`` = ``true``) or from the JSON list in
``Answer.taskAnswers``; ``sync`` likewise.

Rules: rejected assignments are left out; a row with an answer outside the
scale, a query modality other than audio/visual, no HIT or worker id, or a
second assignment of the same worker on a HIT is malformed: named
(file, line, reason) and left out; a blank answer is missing (that candidate
is not rated by that worker). A candidate's rating is the mean over its
workers; it is relevant when that mean is >= ``relevant_rating``.
Candidates nobody rated are dropped from the ranked list (condensed list)
before precision and nDCG.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import glob
import json
import math
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from yt8m_crossmodal import escaping
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import mturk_layout

RELEVANCE_VALUES = tuple(str(v) for v, _ in sorted(mturk_layout.RELEVANCE_LABELS))  # 0 1 2
SYNC_VALUES = tuple(v for v, _ in mturk_layout.SYNC_LABELS)
DIRECTION = {"audio": "a2v", "visual": "v2a"}
REQUIRED = ("HITId", "WorkerId", "AssignmentStatus", "Input.query_id",
            "Input.query_modality", "Input.candidate_1_id")
_TRUE = {"true", "on", "1", "yes"}
# Longest cell read (Python's csv stops at 131,072 characters by default; a
# worker's free-text answer may be longer).
MAX_CELL_CHARS = 1 << 24


@dataclasses.dataclass
class Hit:
  """One HIT (a batch row): its query, candidates and the workers' answers.

  Attributes:
    ratings: ``[worker answers]`` per candidate, each a list of ints in 0..2.
    scores: the model score per candidate (None where the batch had none).
    sync: the workers' sync answers; ``sync_truth`` the answer the true
      offset implies (None: no sync question on this row).
  """
  hit_id: str
  query_id: str
  direction: str
  candidates: List[str]
  scores: List[Optional[float]]
  ratings: List[List[int]]
  workers: List[str] = dataclasses.field(default_factory=list)
  sync: List[str] = dataclasses.field(default_factory=list)
  sync_truth: Optional[str] = None
  sync_model_exact: Optional[bool] = None


@dataclasses.dataclass
class Results:
  """What :func:`read_results` kept, and what it left out and why."""
  hits: Dict[str, Hit]
  assignments: int = 0
  rejected: int = 0
  missing_answers: int = 0
  malformed: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  files: List[str] = dataclasses.field(default_factory=list)


def expand(patterns: str) -> List[str]:
  """Comma-separated file patterns -> sorted file names (UsageError if none)."""
  files: List[str] = []
  for pattern in (p.strip() for p in patterns.split(",")):
    if pattern:
      files += sorted(glob.glob(pattern)) or ([pattern] if os.path.isfile(pattern) else [])
  if not files:
    raise UsageError(f"--results matches no file: {patterns!r}")
  return files


def _answers(row: Dict[str, str]) -> Dict[str, str]:
  """``name -> value`` of a row's answers, whichever of MTurk's forms they take."""
  out: Dict[str, str] = {}
  task = (row.get("Answer.taskAnswers") or "").strip()
  if task:
    try:
      parsed = json.loads(task)
    except json.JSONDecodeError as e:
      raise ValueError(f"Answer.taskAnswers is not JSON ({e.msg})") from None
    except RecursionError:
      raise ValueError("Answer.taskAnswers is nested too deeply") from None
    for entry in parsed if isinstance(parsed, list) else [parsed]:
      if not isinstance(entry, (dict, type(None))):
        raise ValueError("Answer.taskAnswers is not a list of objects (name: answer)")
      for name, value in (entry or {}).items():
        if isinstance(value, dict):  # {"2": true, "1": false}
          chosen = [k for k, v in value.items() if v is True]
          value = chosen[0] if len(chosen) == 1 else ("" if not chosen else ",".join(chosen))
        out[name] = "" if value is None else str(value)
  for column, value in row.items():
    if not column or not column.startswith("Answer.") or column == "Answer.taskAnswers":
      continue
    name = column[len("Answer."):]
    value = (value or "").strip()
    head, _, choice = name.rpartition(".")
    if head and (choice in RELEVANCE_VALUES or choice in SYNC_VALUES):
      if value.lower() in _TRUE:
        out[head] = choice if not out.get(head) else out[head] + "," + choice
      else:
        out.setdefault(head, "")
    else:
      out[name] = value
  return out


def _number(text: str) -> Optional[float]:
  try:
    value = float(text)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def _sync_truth(estimated: int, true: int) -> str:
  """The right answer for pictures from t0 + estimated, audio from t0 + true."""
  if estimated == true:
    return "in_sync"
  return "audio_early" if estimated < true else "audio_late"


def read_results(files: Sequence[str]) -> Results:
  """Reads MTurk results files (see the module docstring for the rules).

  Raises:
    UsageError: a file without the columns of a results download.
  """
  out = Results(hits={}, files=list(files))
  seen = set()
  for name in files:
    try:
      _read_file(name, out, seen)
    except UnicodeDecodeError as e:
      raise UsageError(f"{name}: not UTF-8 text (byte {e.start} of the file: "
                       f"{e.reason}); MTurk writes its results files in UTF-8") from None
    except csv.Error as e:
      raise UsageError(f"{name}: not a readable CSV file ({e})") from None
    except OSError as e:
      raise UsageError(f"cannot read {name!r}: {e.strerror or e}") from None
  return out


def _cell(row: Dict[str, str], column: str) -> str:
  """A batch value read back (``Input.<column>``): the text before mturk_cell."""
  return escaping.mturk_value((row.get(column) or "").strip())


def _read_file(name: str, out: Results, seen: set) -> None:
  """:func:`read_results` of one file."""
  limit = csv.field_size_limit()
  csv.field_size_limit(MAX_CELL_CHARS)
  try:
    with open(name, newline="", encoding="utf-8-sig") as f:
      reader = csv.DictReader(f)
      columns = reader.fieldnames or []
      missing = [c for c in REQUIRED if c not in columns]
      if missing:
        raise UsageError(f"{name}: not an MTurk results file, no column(s) {', '.join(missing)}")
      k = max(int(m.group(1)) for m in (re.fullmatch(r"Input\.candidate_(\d+)_id", c)
                                        for c in columns) if m)
      try:
        _read_rows(name, reader, k, out, seen)
      except csv.Error as e:
        raise UsageError(f"{name}, line {reader.line_num}: not readable as CSV ({e})") from None
  finally:
    csv.field_size_limit(limit)


def _read_rows(name: str, reader, k: int, out: Results, seen: set) -> None:
  """The rows of one results file into ``out``."""
  for row in reader:
    line = reader.line_num
    hit_id, worker = (row.get("HITId") or "").strip(), (row.get("WorkerId") or "").strip()

    def bad(reason, hit_id=hit_id, worker=worker, line=line):
      out.malformed.append({"file": name, "line": line, "hit": hit_id, "worker": worker,
                            "reason": reason})
    if (row.get("AssignmentStatus") or "").strip() == "Rejected":
      out.rejected += 1
      continue
    if not hit_id or not worker:
      bad("no HITId or WorkerId")
      continue
    modality = _cell(row, "Input.query_modality")
    if modality not in DIRECTION:
      bad(f"Input.query_modality {modality!r} is not audio or visual")
      continue
    try:
      answers = _answers(row)
    except ValueError as e:
      bad(str(e))
      continue
    candidates = [_cell(row, f"Input.candidate_{j}_id") for j in range(1, k + 1)]
    ratings: List[Optional[int]] = []
    problems = []
    for j, cand in enumerate(candidates, 1):
      value = answers.get(mturk_layout.ANSWER_RELEVANCE.format(j=j), "") if cand else ""
      if value == "":
        ratings.append(None)
      elif value in RELEVANCE_VALUES:
        ratings.append(int(value))
      else:
        problems.append(f"Answer.relevance_{j} = {value!r} is not 0, 1 or 2")
    sync_start = (row.get("Input.sync_audio_start") or "").strip()
    sync_answer = answers.get(mturk_layout.ANSWER_SYNC, "") if sync_start else ""
    if sync_answer and sync_answer not in SYNC_VALUES:
      problems.append(f"Answer.sync = {sync_answer!r} is not one of {', '.join(SYNC_VALUES)}")
    if (hit_id, worker) in seen:
      problems.append(f"a second assignment of worker {worker} on HIT {hit_id}")
    if problems:
      bad("; ".join(problems))
      continue
    seen.add((hit_id, worker))
    out.assignments += 1
    hit = out.hits.get(hit_id)
    if hit is None:
      hit = out.hits[hit_id] = Hit(
          hit_id=hit_id, query_id=_cell(row, "Input.query_id"),
          direction=DIRECTION[modality], candidates=candidates,
          scores=[_number(row.get(f"Input.candidate_{j}_score", ""))
                  for j in range(1, k + 1)],
          ratings=[[] for _ in candidates])
      est = _number(row.get("Input.sync_estimated_offset", ""))
      true = _number(row.get("Input.sync_true_offset", ""))
      if sync_start and est is not None and true is not None:
        hit.sync_truth = _sync_truth(int(est), int(true))
        hit.sync_model_exact = int(est) == int(true)
    hit.workers.append(worker)
    out.missing_answers += sum(1 for r, c in zip(ratings, candidates) if c and r is None)
    out.missing_answers += int(bool(sync_start and not sync_answer))
    for j, r in enumerate(ratings):
      if r is not None:
        hit.ratings[j].append(r)
    if sync_answer:
      hit.sync.append(sync_answer)
  return out


def fleiss_kappa(items: Iterable[Sequence[Any]], categories: Sequence[Any]
                 ) -> Tuple[Optional[float], Optional[float], int]:
  """Fleiss' kappa over items rated by >= 2 raters (their number may vary).

  Args:
    items: the ratings of each item (any number; items with < 2 are skipped).
    categories: the possible ratings.

  Returns:
    ``(kappa, observed agreement P, items used)``; kappa is None when chance
    agreement is 1 (one category only), both None when no item has 2 ratings.
  """
  counts = np.array([[list(r).count(c) for c in categories] for r in items if len(r) >= 2],
                    dtype=np.float64).reshape(-1, len(categories))
  if not len(counts):
    return None, None, 0
  n = counts.sum(axis=1)
  p_item = (counts * (counts - 1)).sum(axis=1) / (n * (n - 1))
  observed = float(p_item.mean())
  share = counts.sum(axis=0) / n.sum()
  chance = float((share ** 2).sum())
  kappa = None if chance >= 1 - 1e-12 else (observed - chance) / (1 - chance)
  return kappa, observed, len(counts)


def _ranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks, ties getting their mean rank."""
  order = np.argsort(x, kind="stable")
  ranks = np.empty(len(x))
  sorted_x = x[order]
  start = 0
  for end in range(1, len(x) + 1):
    if end == len(x) or sorted_x[end] != sorted_x[start]:
      ranks[order[start:end]] = (start + end + 1) / 2.0
      start = end
  return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> Optional[float]:
  if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return None
  return float(np.corrcoef(x, y)[0, 1])


def correlation(scores: Sequence[float], ratings: Sequence[float]) -> Dict[str, Optional[float]]:
  """Spearman and Pearson correlation (None with < 3 pairs or a constant side)."""
  x, y = np.asarray(scores, np.float64), np.asarray(ratings, np.float64)
  return {"spearman": _pearson(_ranks(x), _ranks(y)) if len(x) >= 3 else None,
          "pearson": _pearson(x, y), "pairs": len(x)}


def ranking_metrics(gains: Sequence[Optional[float]], ks: Sequence[int],
                    relevant_rating: float) -> Dict[str, float]:
  """Precision@k and nDCG@k of one query's candidates in model order.

  Args:
    gains: the mean human rating per candidate, rank order; None: not rated
      (dropped first: condensed list).
    ks: cut-offs.
    relevant_rating: a candidate is relevant when its mean rating is >= this.

  Returns:
    ``precision@k`` (relevant among the first k rated) and ``ndcg@k``
    (gain = mean rating, discount log2(rank + 1), ideal = the same gains
    sorted; 0 when every gain is 0) per k.
  """
  g = np.array([v for v in gains if v is not None], np.float64)
  ideal = np.sort(g)[::-1]
  out = {}
  for k in ks:
    top = g[:k]
    discount = 1.0 / np.log2(np.arange(2, len(top) + 2))
    out[f"precision@{k}"] = float(np.mean(top >= relevant_rating)) if len(top) else math.nan
    best = float((ideal[:k] * discount).sum())
    out[f"ndcg@{k}"] = float((top * discount).sum()) / best if best > 0 else 0.0
  return out


def _cutoffs(k: int) -> List[int]:
  return sorted({c for c in (1, 3, 5, 10) if c <= k} | {k})


def summarize(results: Results, relevant_rating: float = 1.0) -> Dict[str, Any]:
  """The figures of :func:`read_results`'s output.

  Returns:
    Flat keys per direction (``a2v/``, ``v2a/``, ``all/``): ``queries``,
    ``precision@k``, ``ndcg@k`` (means over queries with a rated candidate),
    ``kappa`` and ``agreement`` (Fleiss' kappa and observed agreement over
    candidates with >= 2 ratings, ``kappa_items`` of them), ``spearman`` /
    ``pearson`` / ``score_pairs`` (model score vs mean rating per candidate);
    ``sync/...`` when there were sync questions; ``assignments``, ``rejected``,
    ``missing_answers``, ``workers``, ``hits``; and the lists ``queries``
    (per HIT: ids, ratings, agreement, kappa) and ``malformed``.
  """
  hits = list(results.hits.values())
  k = max((len(h.candidates) for h in hits), default=0)
  ks = _cutoffs(k) if k else []
  out: Dict[str, Any] = {
      "files": results.files, "assignments": results.assignments,
      "rejected": results.rejected, "missing_answers": results.missing_answers,
      "malformed_rows": len(results.malformed), "hits": len(hits),
      "workers": len({w for h in hits for w in h.workers}),
      "relevant_rating": relevant_rating,
  }
  queries = []
  per_query: Dict[str, Dict[str, float]] = {}
  for h in hits:
    gains = [float(np.mean(r)) if r else None for r in h.ratings]
    kappa, observed, used = fleiss_kappa(h.ratings, range(3))
    entry = {"hit": h.hit_id, "query_id": h.query_id, "direction": h.direction,
             "workers": len(h.workers), "candidates": h.candidates,
             "mean_ratings": gains, "ratings": h.ratings, "kappa": kappa,
             "agreement": observed, "kappa_items": used}
    if any(g is not None for g in gains):
      per_query[h.hit_id] = ranking_metrics(gains, ks, relevant_rating)
      entry.update(per_query[h.hit_id])
    queries.append(entry)
  for direction in ("a2v", "v2a", "all"):
    chosen = [h for h in hits if direction in ("all", h.direction)]
    rated = [per_query[h.hit_id] for h in chosen if h.hit_id in per_query]
    out[f"{direction}/queries"] = len(rated)
    for key in (f"{m}@{c}" for m in ("precision", "ndcg") for c in ks):
      values = [q[key] for q in rated if not math.isnan(q[key])]
      out[f"{direction}/{key}"] = float(np.mean(values)) if values else None
    kappa, observed, used = fleiss_kappa((r for h in chosen for r in h.ratings), range(3))
    out[f"{direction}/kappa"], out[f"{direction}/agreement"] = kappa, observed
    out[f"{direction}/kappa_items"] = used
    pairs = [(s, float(np.mean(r))) for h in chosen for s, r in zip(h.scores, h.ratings)
             if s is not None and r]
    corr = correlation([p[0] for p in pairs], [p[1] for p in pairs])
    out[f"{direction}/spearman"], out[f"{direction}/pearson"] = corr["spearman"], corr["pearson"]
    out[f"{direction}/score_pairs"] = corr["pairs"]
  synced = [h for h in hits if h.sync_truth is not None and h.sync]
  if synced:
    majority = {}
    for h in synced:
      top = collections.Counter(h.sync).most_common()
      if len(top) == 1 or top[0][1] > top[1][1]:
        majority[h.hit_id] = top[0][0]
    decided = [h for h in synced if h.hit_id in majority]
    out["sync/rated_tasks"] = len(synced)
    out["sync/majority_tasks"] = len(decided)
    for answer in SYNC_VALUES:
      out[f"sync/human_{answer}"] = (sum(majority[h.hit_id] == answer for h in decided)
                                     / len(decided)) if decided else None
    out["sync/human_matches_truth"] = (sum(majority[h.hit_id] == h.sync_truth for h in decided)
                                       / len(decided)) if decided else None
    out["sync/model_exact"] = sum(bool(h.sync_model_exact) for h in synced) / len(synced)
    kappa, observed, used = fleiss_kappa((h.sync for h in synced), SYNC_VALUES)
    out["sync/kappa"], out["sync/agreement"], out["sync/kappa_items"] = kappa, observed, used
    for h in synced:
      entry = next(q for q in queries if q["hit"] == h.hit_id)
      entry.update({"sync_answers": h.sync, "sync_majority": majority.get(h.hit_id),
                    "sync_truth": h.sync_truth})
  out["queries"] = queries
  out["malformed"] = results.malformed
  return out


def _fmt(value) -> str:
  return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def report(summary: Dict[str, Any]) -> str:
  """A few lines for people: counts, figures per direction, agreement, problems."""
  lines = [f"{summary['assignments']} assignment(s) used from {summary['hits']} HIT(s) by "
           f"{summary['workers']} worker(s); {summary['rejected']} rejected, "
           f"{summary['malformed_rows']} malformed row(s) left out, "
           f"{summary['missing_answers']} missing answer(s)"]
  for direction in ("a2v", "v2a", "all"):
    figures = [f"{key.split('/', 1)[1]} {_fmt(value)}" for key, value in summary.items()
               if key.startswith(direction + "/") and key.split("/", 1)[1].startswith(
                   ("precision@", "ndcg@"))]
    lines.append(f"{direction}: {summary[direction + '/queries']} queries; "
                 + ", ".join(figures)
                 + f"; Fleiss' kappa {_fmt(summary[direction + '/kappa'])} over "
                 f"{summary[direction + '/kappa_items']} candidates; score vs rating Spearman "
                 f"{_fmt(summary[direction + '/spearman'])}, Pearson "
                 f"{_fmt(summary[direction + '/pearson'])} ({summary[direction + '/score_pairs']} "
                 "candidates)")
  if "sync/rated_tasks" in summary:
    lines.append(f"sync: {summary['sync/rated_tasks']} tasks rated; majority in sync "
                 f"{_fmt(summary['sync/human_in_sync'])}, majority = the true answer "
                 f"{_fmt(summary['sync/human_matches_truth'])}, model exact "
                 f"{_fmt(summary['sync/model_exact'])}; Fleiss' kappa "
                 f"{_fmt(summary['sync/kappa'])}")
  for bad in summary["malformed"]:
    lines.append(f"malformed: {bad['file']}:{bad['line']} HIT {bad['hit'] or '?'} worker "
                 f"{bad['worker'] or '?'}: {bad['reason']}")
  return "\n".join(lines)


def write_tensorboard(summary: Dict[str, Any], text: str, log_dir: str, step: int = 0) -> None:
  """The report as a TensorBoard text summary (``human_eval/report``) and the
  finite figures as scalars (``human_eval/<key>``)."""
  import tensorflow as tf
  writer = tf.summary.create_file_writer(log_dir)
  with writer.as_default():
    tf.summary.text("human_eval/report", "\n".join("    " + l for l in text.splitlines()),
                    step=step)
    for key, value in sorted(summary.items()):
      if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        tf.summary.scalar(f"human_eval/{key}", float(value), step=step)
  writer.flush()
  writer.close()
