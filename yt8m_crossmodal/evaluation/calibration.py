"""Scoring synchronization answers against a truth file, with their calibration.

The truth file is ``yt8m-synth``'s ``<prefix>_offsets.json``: each video's
lateness (``audio_late_seconds``, + = audio late; older files only have
``offsets``, the opposite sign) and the soundtracks laid over footage they do
not belong to (``unrelated``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List

import numpy as np

from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.sync import statistics

BINS = 10
LEVELS = (0.5, 0.9, 0.95, 0.99, 0.999)  # thresholds of the null calibration


def read_truth(path: str) -> Dict[str, Any]:
  """``{"late": {id: int}, "unaligned": set of ids}`` from an offsets file."""
  import tensorflow as tf
  try:
    with tf.io.gfile.GFile(path) as f:
      data = json.load(f)
    if "audio_late_seconds" in data:
      late = {k: int(v) for k, v in data["audio_late_seconds"].items()}
    else:
      late = {k: -int(v) for k, v in data["offsets"].items()}
    return {"late": late, "unaligned": set(data.get("unrelated", [])),
            "drift": {k: (float(v["late_at_start"]), float(v["rate"]))
                      for k, v in data.get("drift", {}).items()}}
  except (OSError, ValueError, KeyError, TypeError, AttributeError,
          tf.errors.OpError) as e:
    raise UsageError(f"cannot read the offsets file {path}: {e}") from None


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray,
                               bins: int = BINS) -> Dict[str, Any]:
  """ECE of ``confidence`` as the probability of ``right``, equal-width bins.

  Returns:
    ``{"ece": float, "bins": [{"lo", "hi", "count", "confidence", "right"}]}``
    (empty bins left out).
  """
  confidence = np.asarray(confidence, np.float64)
  right = np.asarray(right, np.float64)
  edges = np.linspace(0.0, 1.0, bins + 1)
  which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
  rows, ece = [], 0.0
  for b in range(bins):
    inside = which == b
    if not inside.any():
      continue
    conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
    ece += inside.mean() * abs(conf - acc)
    rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]),
                 "count": int(inside.sum()), "confidence": conf, "right": acc})
  return {"ece": float(ece) if len(confidence) else float("nan"), "bins": rows}


def score_answers(lines: Iterable[Dict[str, Any]], truth: Dict[str, Any],
                  min_confidence: float) -> Dict[str, Any]:
  """Scores ``yt8m-sync`` answers (its JSON lines) against the truth.

  Returns:
    ``videos``, ``aligned``, ``unaligned``, ``auc``, ``aligned_answered``,
    ``unaligned_refused``, ``exact``, ``within_1s`` (best offset, aligned),
    ``answered_exact``, ``ece`` and ``reliability`` (the bins).
  """
  conf, aligned, err = [], [], []
  missing: List[str] = []
  for line in lines:
    vid = line["id"]
    if vid not in truth["late"] and vid not in truth["unaligned"]:
      missing.append(vid)
      continue
    conf.append(float(line["confidence"]))
    ok = vid not in truth["unaligned"]
    aligned.append(ok)
    err.append(abs(line["best_offset_seconds"] - truth["late"][vid]) if ok else np.inf)
  if missing:
    raise UsageError(f"{len(missing)} videos not in the offsets file, e.g. {missing[0]!r}")
  conf, aligned, err = np.array(conf), np.array(aligned, bool), np.array(err)
  answered = conf >= min_confidence
  nan = float("nan")
  cal = expected_calibration_error(conf, aligned & (err == 0))
  return {
      "videos": int(len(conf)), "aligned": int(aligned.sum()),
      "unaligned": int((~aligned).sum()),
      "auc": statistics.roc_auc(conf, aligned),
      "aligned_answered": float(answered[aligned].mean()) if aligned.any() else nan,
      "unaligned_refused": float((~answered[~aligned]).mean()) if (~aligned).any() else nan,
      "exact": float((err[aligned] == 0).mean()) if aligned.any() else nan,
      "within_1s": float((err[aligned] <= 1).mean()) if aligned.any() else nan,
      "answered_exact": (float((err[aligned & answered] == 0).mean())
                         if (aligned & answered).any() else nan),
      "min_confidence": float(min_confidence),
      "ece": cal["ece"], "reliability": cal["bins"],
      # The p-value's own calibration: unaligned answered at each threshold c
      # (at most 1 - c if the null holds).
      "unaligned_answered_at": ({str(c): float((conf[~aligned] >= c).mean()) for c in LEVELS}
                                if (~aligned).any() else {})}


def score_drift(lines: Iterable[Dict[str, Any]], truth: Dict[str, Any],
                frames: Dict[str, int]) -> Dict[str, Any]:
  """Scores ``yt8m-sync --drift`` answers on aligned soundtracks.

  Args:
    lines: answers with ``late_at_start``, ``rate``, ``model`` and ``status``.
    truth: :func:`read_truth`'s (drifting ones under ``drift``).
    frames: id -> the video's seconds.

  Returns:
    ``drift_videos``, ``drift_within_1s`` (mean over drifting soundtracks of
    the fraction of picture seconds whose lateness is placed within 1 s, the
    path reported whatever its confidence), ``drift_model_chosen``
    (drifting ones reported as drift), ``drift_answered`` (drifting ones
    answered), ``constant_within_1s``, ``constant_model_chosen`` and
    ``constant_answered`` (the others), ``answered_within_1s`` (the mean of
    that fraction over the answered aligned soundtracks) and
    ``answered_misplaced`` (answered aligned soundtracks with fewer than half
    of their seconds placed within 1 s: wrong answers).
  """
  within = {True: [], False: []}
  chosen = {True: [], False: []}
  answered = {True: [], False: []}
  for line in lines:
    vid = line["id"]
    if vid in truth["unaligned"] or "rate" not in line:
      continue
    drifting = vid in truth["drift"]
    start, rate = truth["drift"].get(vid, (truth["late"].get(vid, 0), 0.0))
    t = np.arange(frames[vid])
    placed = line["late_at_start"] + line["rate"] * t
    within[drifting].append(float(np.mean(np.abs(placed - (start + rate * t)) <= 1.0)))
    chosen[drifting].append((line["model"] == "drift") == drifting)
    answered[drifting].append(line.get("status") == "synchronized")
  mean = lambda x: float(np.mean(x)) if x else float("nan")
  placed = [w for d in (True, False) for w, a in zip(within[d], answered[d]) if a]
  return {"drift_videos": len(within[True]), "drift_within_1s": mean(within[True]),
          "drift_model_chosen": mean(chosen[True]), "drift_answered": mean(answered[True]),
          "constant_within_1s": mean(within[False]),
          "constant_model_chosen": mean(chosen[False]),
          "constant_answered": mean(answered[False]),
          "answered_within_1s": mean(placed),
          "answered_misplaced": int(sum(w < 0.5 for w in placed))}


def plot_reliability(results: Dict[str, Dict[str, Any]], path: str, title: str) -> None:
  """Calibration PNG of :func:`score_answers` results (name -> result, one curve each).

  Left: the reliability diagram (fraction right against confidence, per
  bin); right: unaligned soundtracks answered at each threshold c against
  the p-value's promise 1 - c (log scales).

  Args:
    results: name -> :func:`score_answers` result.
    path: the PNG (written aside, then renamed into place).
    title: the figure's title.
  """
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
  left.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
  right.plot([1e-3, 0.5], [1e-3, 0.5], color="grey", linestyle=":", label="1 - c")
  for name, result in results.items():
    rows = result["reliability"]
    left.plot([r["confidence"] for r in rows], [r["right"] for r in rows], marker="o",
              label=f"{name} (ECE {result['ece']:.3f})")
    null = result.get("unaligned_answered_at") or {}
    if null:
      c = np.array([float(k) for k in null])
      right.plot(1 - c, [max(v, 1e-3) for v in null.values()], marker="o", label=name)
  left.set_xlabel("confidence")
  left.set_ylabel("fraction right (aligned soundtrack, exact offset)")
  left.set_title(title, fontsize=9)
  left.legend(fontsize=6)
  right.set_xscale("log")
  right.set_yscale("log")
  right.set_xlabel("1 - threshold c (the p-value's promise)")
  right.set_ylabel("unaligned soundtracks answered (floor 0.001)")
  right.set_title("the null: false answers at each threshold", fontsize=9)
  right.legend(fontsize=6)
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  plt.close(fig)
  import os
  os.replace(tmp, path)
