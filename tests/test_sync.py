"""Tests of yt8m_crossmodal.evaluation.sync."""

import numpy as np
import pytest

from yt8m_crossmodal.evaluation import sync


def _unit(rng, *shape):
  x = rng.standard_normal(shape).astype(np.float32)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_make_sync_tasks_windows_fit():
  num_frames = np.array([10, 29, 30, 31, 60, 300, 5])
  s, length = 5, 20
  tasks, skipped = sync.make_sync_tasks(num_frames, s, length, seed=0)
  assert skipped == 3  # 10, 29 and 5 < L + 2S = 30
  np.testing.assert_array_equal(tasks[:, 0], [2, 3, 4, 5])
  for _ in range(20):
    tasks, _ = sync.make_sync_tasks(num_frames, s, length, seed=_)
    for i, t0, d in tasks:
      assert -s <= d <= s
      assert t0 - s >= 0 and t0 + length + s <= num_frames[i]
      assert t0 + d >= 0 and t0 + d + length <= num_frames[i]
  a, _ = sync.make_sync_tasks(num_frames, s, length, seed=7)
  b, _ = sync.make_sync_tasks(num_frames, s, length, seed=7)
  np.testing.assert_array_equal(a, b)


def test_estimate_offset_sign_convention():
  rng = np.random.default_rng(0)
  timeline = _unit(rng, 60, 16)  # The same content in both modalities.
  t0, s, length = 20, 5, 10
  for d in (-5, -2, 0, 3, 5):
    excerpt = timeline[t0 + d:t0 + d + length]  # audio seconds [t0+d, ...)
    est, scores = sync.estimate_offset(excerpt, timeline, t0, s, scorer="mean_cosine")
    assert est == d
    assert scores.shape == (2 * s + 1,)
    assert scores[d + s] == pytest.approx(1.0, abs=1e-5)


def test_estimate_offset_edges_and_ties():
  constant = np.ones([30, 4], np.float32) / 2
  est, scores = sync.estimate_offset(constant[:5], constant, 2, 3)
  assert est == 0  # All tied: the smallest |offset|.
  assert np.all(np.isinf(scores[:1]))  # o = -3 would start at second -1.
  est, scores = sync.estimate_offset(constant[:5], constant, 0, 2,
                                        visual_len=3)
  assert est == 0 and np.all(np.isinf(scores))  # Nothing fits.


def test_sync_metrics_hand_worked():
  out = sync.sync_metrics([0, 1, -3], [0, 0, 0])
  assert out["sync/exact"] == pytest.approx(1 / 3)
  assert out["sync/within_1s"] == pytest.approx(2 / 3)
  assert out["sync/mae_seconds"] == pytest.approx(4 / 3)
  assert out["sync/tasks"] == 3
  assert sync.sync_metrics([], [])["sync/tasks"] == 0


def test_evaluate_sync_recoverable_and_not():
  rng = np.random.default_rng(5)
  n, t, e = 12, 60, 16
  num_frames = np.array([60, 45, 40, 20] * 3)
  visual = _unit(rng, n, t, e)
  visual[np.arange(t)[None, :] >= num_frames[:, None]] = 0
  out = sync.sync_from_timelines(visual.copy(), visual, num_frames, 5, 20, seed=1)
  assert out["sync/exact"] == 1.0 and out["sync/mae_seconds"] == 0.0
  assert out["sync/tasks"] == 9 and out["sync/skipped"] == 3
  # Unrelated audio: the offset cannot be recovered.
  audio = _unit(rng, n, t, e)
  out = sync.sync_from_timelines(audio, visual, num_frames, 5, 20, seed=1)
  assert out["sync/exact"] < 1.0 and out["sync/mae_seconds"] > 0.0


def _shifted_set(late, n=12, t=60, e=16, seed=3):
  """An EmbeddedSet whose audio 'features' are the visual timeline late by ``late[i]``
  seconds (edges repeated), or another timeline where ``late[i]`` is NaN."""
  from yt8m_crossmodal.evaluation.embedding import EmbeddedSet
  rng = np.random.default_rng(seed)
  visual = [_unit(rng, t, e) for _ in range(n)]
  audio = []
  for v, d in zip(visual, late):
    if np.isnan(d):
      audio.append(_unit(rng, t, e))
    else:
      audio.append(v[np.clip(np.arange(t) - int(d), 0, t - 1)])
  return EmbeddedSet(ids=[f"v{i}" for i in range(n)], audio_embedding=np.zeros((n, e)),
                     visual_embedding=np.zeros((n, e)), num_frames=np.full(n, t),
                     labels=np.zeros((n, 1)), visual_timelines=visual, audio_features=audio)


def test_encoded_excerpts_with_the_truth_file_lateness_and_unaligned():
  # Stored lateness is part of the truth; unaligned soundtracks are refusals
  # (or false answers), not sync misses.
  late = np.array([3, -4, 0, 2, np.nan, np.nan, 5, -1, np.nan, 0, 1, -2], np.float64)
  embedded = _shifted_set(late)
  identity = lambda x, n: (None, np.asarray(x, np.float64))
  out = sync.sync_from_encoded_excerpts(embedded, identity, 5, 20, seed=1, late=late)
  assert out["sync/tasks"] == 9 and out["sync/unaligned_tasks"] == 3
  assert out["sync/exact"] == 1.0 and out["sync/aligned_answered"] == 1.0
  assert out["sync/unaligned_refused"] == 1.0 and out["sync/confidence_auc"] == 1.0
  # Without the truth file the stored lateness counts as misses.
  out = sync.sync_from_encoded_excerpts(embedded, identity, 5, 20, seed=1)
  assert out["sync/tasks"] == 12 and out["sync/exact"] < 0.8


def test_mturk_sync_rows_follow_the_stored_lateness():
  from yt8m_crossmodal.evaluation import reports
  tasks = np.array([[0, 10, 2], [1, 10, -1], [2, 8, 0]])
  details = (tasks, np.array([2, 0, 1]), None)
  # Pictures from t0 + estimate; the audio that belongs with pictures
  # t0 + d starts at t0 + d + late (video 1 is 3 s late; video 2 unaligned).
  rows = reports.sync_rows(details, 20, late=np.array([0.0, 3.0, np.nan]))
  assert rows == {0: [12, 12, 20, 2, 2], 1: [10, 12, 20, 0, -1]}
  assert reports.sync_rows(details, 20)[2] == [9, 8, 20, 1, 0]


def test_score_drift_places_paths_and_counts_misplaced_answers():
  from yt8m_crossmodal.evaluation import calibration
  truth = {"late": {"a": 2, "b": 0, "c": 1, "u": 0}, "unaligned": {"u"},
           "drift": {"a": (2.0, 0.04)}}
  frames = {"a": 100, "b": 100, "c": 100, "u": 100}
  lines = [
      # the drifting one followed exactly, answered
      {"id": "a", "late_at_start": 2.0, "rate": 0.04, "model": "drift", "status": "synchronized"},
      # a constant one placed 3 s off, answered: a wrong answer
      {"id": "b", "late_at_start": 3.0, "rate": 0.0, "model": "constant_offset",
       "status": "synchronized"},
      # a constant one right but refused
      {"id": "c", "late_at_start": 1.0, "rate": 0.0, "model": "constant_offset",
       "status": "cannot_synchronize"},
      {"id": "u", "late_at_start": 0.0, "rate": 0.0, "model": "constant_offset",
       "status": "cannot_synchronize"}]
  out = calibration.score_drift(lines, truth, frames)
  assert out["drift_videos"] == 1 and out["drift_within_1s"] == 1.0
  assert out["drift_model_chosen"] == 1.0 and out["drift_answered"] == 1.0
  assert out["constant_within_1s"] == 0.5 and out["constant_answered"] == 0.5
  assert out["answered_within_1s"] == 0.5 and out["answered_misplaced"] == 1
