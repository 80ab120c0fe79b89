"""Scoring synchronization answers against a truth file, with their calibration.

The truth file is ``yt8m-synth``'s ``<prefix>_offsets.json``: each video's
lateness (``audio_late_seconds``, + = audio late; older files only have
``offsets``, the opposite sign) and the soundtracks laid over footage they do
not belong to (``unrelated``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterable, List

import numpy as np

from yt8m_crossmodal import escaping
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.sync import statistics

BINS = 10
LEVELS = (0.5, 0.9, 0.95, 0.99, 0.999)  # thresholds of the null calibration


# Longest lateness an offsets file may give (an hour: far past any video's
# offsets; a value beyond it is a damaged or hostile file, not a recording).
MAX_LATENESS_SECONDS = 3600


def _whole_seconds(value: Any, where: str) -> int:
  """``value`` as a whole number of seconds within :data:`MAX_LATENESS_SECONDS`."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ValueError(f"{where} must be a whole number of seconds, got {value!r}")
  if not math.isfinite(value) or value != int(value):
    raise ValueError(f"{where} must be a whole number of seconds, got {value!r}")
  if abs(value) > MAX_LATENESS_SECONDS:
    raise ValueError(f"{where} is {value!r} s: beyond {MAX_LATENESS_SECONDS} s")
  return int(value)


def _number(value: Any, where: str, bound: float) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      math.isfinite(value) and abs(value) <= bound):
    raise ValueError(f"{where} must be a number within +-{bound}, got {value!r}")
  return float(value)


def _object(value: Any, where: str) -> Dict[str, Any]:
  if not isinstance(value, dict):
    raise ValueError(f"{where} must be a JSON object (id: value), got {type(value).__name__}")
  return value


def parse_truth(data: Any) -> Dict[str, Any]:
  """:func:`read_truth` of the parsed JSON; ValueError naming the bad entry."""
  data = _object(data, "the file")
  if "audio_late_seconds" in data:
    key, sign = "audio_late_seconds", 1
  elif "offsets" in data:
    key, sign = "offsets", -1
  else:
    raise ValueError("it has neither 'audio_late_seconds' nor 'offsets'")
  late = {str(k): sign * _whole_seconds(v, f"{key}[{k!r}]")
          for k, v in _object(data[key], key).items()}
  unrelated = data.get("unrelated", [])
  if not isinstance(unrelated, list) or not all(isinstance(v, str) for v in unrelated):
    raise ValueError(f"'unrelated' must be a list of ids, got {unrelated!r:.80}")
  drift = {}
  for k, v in _object(data.get("drift", {}), "drift").items():
    v = _object(v, f"drift[{k!r}]")
    if "late_at_start" not in v or "rate" not in v:
      raise ValueError(f"drift[{k!r}] needs 'late_at_start' and 'rate'")
    drift[str(k)] = (_number(v["late_at_start"], f"drift[{k!r}].late_at_start",
                             MAX_LATENESS_SECONDS),
                     _number(v["rate"], f"drift[{k!r}].rate", 1.0))
  return {"late": late, "unaligned": set(unrelated), "drift": drift}


def read_truth(path: str) -> Dict[str, Any]:
  """``{"late": {id: int}, "unaligned": set of ids, "drift": {id: (late, rate)}}``.

  Every value is checked: lateness a whole number of seconds within
  :data:`MAX_LATENESS_SECONDS`, ``unrelated`` a list of ids, drift numbers
  finite (the rate within +-1).

  Raises:
    UsageError: the file cannot be read, is not JSON, or an entry is bad (named).
  """
  import tensorflow as tf
  try:
    with tf.io.gfile.GFile(path) as f:
      return parse_truth(json.load(f))
  except (OSError, ValueError, tf.errors.OpError) as e:
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
              label=f"{escaping.plot_text(name)} (ECE {result['ece']:.3f})")
    null = result.get("unaligned_answered_at") or {}
    if null:
      c = np.array([float(k) for k in null])
      right.plot(1 - c, [max(v, 1e-3) for v in null.values()], marker="o",
                 label=escaping.plot_text(name))
  left.set_xlabel("confidence")
  left.set_ylabel("fraction right (aligned soundtrack, exact offset)")
  left.set_title(escaping.plot_text(title), fontsize=9)
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
