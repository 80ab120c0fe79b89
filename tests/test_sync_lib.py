"""The sync package (CCA, offset estimator), the sample-data families and the
experimental sync loss and local timeline (issue 8's lab)."""

import dataclasses
import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from yt8m_crossmodal import cca  # noqa: E402
from yt8m_crossmodal import losses  # noqa: E402
from yt8m_crossmodal.config import Config  # noqa: E402
from yt8m_crossmodal.data import synthetic  # noqa: E402
from yt8m_crossmodal.jobs import synth as synth_job  # noqa: E402
from yt8m_crossmodal.models import build_encoders  # noqa: E402
from yt8m_crossmodal.sync import drift, estimator, statistics  # noqa: E402


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_cca_finds_a_planted_linear_relation():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(4000, 3))
  audio = z @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(4000, 12))
  visual = z @ rng.normal(size=(3, 40)) + 0.1 * rng.normal(size=(4000, 40))
  fit = cca.fit_cca(audio, visual, dims=5)
  assert fit.correlations.shape == (5,)
  assert np.all(fit.correlations[:3] > 0.95) and np.all(fit.correlations[3:] < 0.3)
  a, v = fit.audio(audio[:500]), fit.visual(visual[:500])
  assert a.shape == (500, 5) and v.shape == (500, 5)
  assert np.corrcoef(a[:, 0], v[:, 0])[0, 1] > 0.95
  with pytest.raises(ValueError, match="aligned pairs"):
    cca.fit_cca(audio[:1], visual[:1], 2)


@pytest.mark.parametrize("scorer", statistics.SCORERS)
def test_every_scorer_recovers_a_shift(scorer):
  rng = np.random.default_rng(1)
  visual = _unit(rng.normal(size=(60, 8)))
  for d in (-4, 0, 3):
    excerpt = visual[20 + d:40 + d]  # Audio seconds [t0 + d, t0 + d + L).
    est = statistics.estimate_offset(excerpt, visual, 20, 5, scorer=scorer)
    assert est.offset == d and est.confidence > 3
    assert est.scores.shape == (11,) and np.argmax(est.scores) == d + 5


def test_estimate_edges_and_separate_confidence_scorer():
  rng = np.random.default_rng(2)
  visual = _unit(rng.normal(size=(30, 8)))
  est = statistics.estimate_offset(visual[2:12], visual, 2, 5)
  assert est.offset == 0 and np.isneginf(est.scores[:3]).all()  # o = -5..-3 leave [0, 30)
  other = statistics.estimate_offset(visual[2:12], visual, 2, 5,
                                    confidence_scorer="double_centered")
  assert other.offset == est.offset and other.confidence != est.confidence
  assert statistics.estimate_offset(visual[:0], visual, 2, 5).confidence == 0.0
  with pytest.raises(ValueError, match="scorer must be one of"):
    statistics.estimate_offset(visual[2:12], visual, 2, 5, scorer="median")


def test_peak_zscore_roc_auc_and_best_threshold_hand_worked():
  # Best 4; the rest 0, 1, 2: mean 1, std sqrt(2/3).
  assert statistics.peak_zscore(np.array([0.0, 4.0, 1.0, 2.0, -np.inf])) == pytest.approx(
      3 / np.sqrt(2 / 3))
  # Positives 0.9, 0.4; negatives 0.5, 0.1: 3 of 4 pairs ordered right.
  assert statistics.roc_auc([0.9, 0.4, 0.5, 0.1], [True, True, False, False]) == 0.75
  assert statistics.roc_auc([0.3, 0.3], [True, False]) == 0.5  # A tie counts half.
  threshold, acc = statistics.best_threshold([0.9, 0.4, 0.5, 0.1], [True, True, False, False])
  assert (threshold, acc) == (0.4, 0.75)


def test_presets_are_deterministic_and_have_their_properties(tmp_path):
  base = dict(num_videos=30, min_frames=60, max_frames=90, max_offset=5)
  videos = list(synthetic.generate_videos(synthetic.SynthConfig(preset="music_over", **base)))
  again = list(synthetic.generate_videos(synthetic.SynthConfig(preset="music_over", **base)))
  assert all(np.array_equal(a.audio, b.audio) and a.offset == b.offset
             for a, b in zip(videos, again))
  assert all(60 <= len(v.audio) == len(v.visual) <= 90 for v in videos)
  assert all(v.audio.dtype == np.uint8 and v.visual.shape[1] == 1024 for v in videos)
  unrelated = [v.id for v in videos if not v.related]
  assert 4 <= len(unrelated) <= 18  # About a third of 30.
  events = list(synthetic.generate_videos(synthetic.SynthConfig(preset="events", **base)))
  assert all(v.related for v in events) and len({v.offset for v in events}) > 3
  # The sidecar records offsets and the unaligned soundtracks.
  summary = synth_job.write_dataset(synthetic.SynthConfig(
      preset="music_over", output_dir=str(tmp_path), num_shards=2, **base))
  side = json.load(open(tmp_path / "train_offsets.json"))
  assert sorted(side["unrelated"]) == sorted(unrelated)
  assert side["offsets"] == {v.id: v.offset for v in videos}
  assert summary["unrelated_soundtracks"] == len(unrelated)


def test_sync_offset_loss_prefers_aligned_timelines():
  rng = np.random.default_rng(3)
  x = _unit(rng.normal(size=(2, 40, 8))).astype("float32")
  mask = np.ones((2, 40), bool)
  kw = dict(max_offset=3, window=10, temperature=0.05, center=True, reweight=False)
  aligned = losses.sync_offset_loss(x, x, mask, **kw)
  shifted = losses.sync_offset_loss(x, np.roll(x, 2, axis=1), mask, **kw)
  assert float(aligned["accuracy"]) == 1.0 and float(shifted["accuracy"]) == 0.0
  assert float(aligned["loss"]) < 0.1 < float(shifted["loss"])
  assert float(aligned["true_probability"]) > 0.9


def test_local_timeline_branch_is_zero_past_num_frames_and_sees_only_near_seconds():
  keras.utils.set_random_seed(0)
  config = Config().replace(projection_units=8, lstm_units=4, lstm_layers=1,
                            embedding_size=6, window_strides=(1, 3), dropout=0.0,
                            timeline_source="local", timeline_kernel=3)
  audio, _ = build_encoders(config.model)
  x = np.random.default_rng(0).normal(size=(2, 12, 128)).astype("float32")
  n = np.array([12, 7], np.int32)
  out = audio([x, n])
  tl = np.asarray(out["timeline"])
  assert tl.shape == (2, 12, 6) and np.all(tl[1, 7:] == 0)
  np.testing.assert_allclose(np.linalg.norm(tl[0], axis=-1), 1.0, rtol=1e-5)
  # A change at second 0 moves only seconds within the kernel's reach.
  y = x.copy()
  y[:, 0] += 5.0
  moved = np.abs(np.asarray(audio([y, n])["timeline"]) - tl).max(axis=-1)[0]
  assert moved[:2].min() > 1e-4 and moved[3:].max() < 1e-5


def _events(num, seed, frames=40):
  return list(synthetic.generate_videos(synthetic.SynthConfig(
      preset="events", num_videos=num, min_frames=frames, max_frames=frames,
      seed=seed)))


def _sync_exact(audio_encoder, visual_encoder, videos, offset=3):
  """Exact-offset rate of 20 s excerpts shifted by +-offset, own protocol."""
  from yt8m_crossmodal.data import features as feat
  hits = []
  for i, v in enumerate(videos):
    n = np.array([len(v.visual)], np.int32)
    vis = np.asarray(visual_encoder([feat.dequantize(v.visual)[None], n])["timeline"])[0]
    d = offset if i % 2 else -offset
    excerpt = feat.dequantize(v.audio[10 + d:30 + d])[None]
    aud = np.asarray(audio_encoder([excerpt, np.array([20], np.int32)])["timeline"])[0]
    hits.append(statistics.estimate_offset(aud, vis, 10, 5).offset == d)
  return float(np.mean(hits))


def test_timeline_contrastive_loss_teaches_the_local_timeline_to_synchronize():
  # Sparse shared events on slow scenes (the events family): a few epochs of
  # the per-second contrastive loss make the linear local timeline find
  # offsets far above chance (1 / 11); the untrained one does not.
  keras.utils.set_random_seed(0)
  config = Config().replace(
      projection_units=8, lstm_units=8, lstm_layers=1, embedding_size=32,
      window_strides=(1,), timeline_source="local", timeline_nce_weight=1.0,
      temporal_weight=0.0, timeline_nce_seconds=20, num_classes=3862)
  from yt8m_crossmodal.models import build_training_model
  model = build_training_model(config)
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  test = _events(40, seed=99)
  audio, visual = (model.get_layer("audio_encoder"),
                   model.get_layer("visual_encoder"))
  before = _sync_exact(audio, visual, test)
  train = _events(300, seed=1)
  x = {"audio": np.stack([v.audio for v in train]),
       "visual": np.stack([v.visual for v in train]),
       "num_frames": np.full(len(train), 40, np.int32),
       "labels": np.zeros((len(train), 3862), np.float32)}
  history = model.fit(x, batch_size=32, epochs=8, verbose=0).history
  assert history["timeline_nce_loss"][-1] < history["timeline_nce_loss"][0]
  after = _sync_exact(audio, visual, test)
  assert before < 0.4 and after >= 0.7, (before, after)


def test_synchronize_lateness_and_a_null_calibrated_confidence():
  rng = np.random.default_rng(4)
  visual = _unit(rng.normal(size=(90, 16)))
  for d in (-4, 0, 3):
    audio = visual[np.clip(np.arange(90) - d, 0, 89)]  # late by d seconds
    est = estimator.synchronize(audio[5:85], visual, 5, 5)
    assert est.late == d and est.confidence > 0.999 and est.p_value < 1e-3
    assert np.argmax(est.scores) == d + 5 and est.null_lags == 90 - 5
  # Unrelated soundtracks: the default threshold (p <= 0.01) answers about 1
  # in 100 or fewer, whatever the scale of the timelines (the p-value is
  # conservative: the offset is the centered score's pick, not the null's).
  p = np.array([estimator.synchronize(3.0 * rng.normal(size=(80, 16)), visual, 5, 5).p_value
                for _ in range(400)])
  assert np.mean(p <= 0.01) <= 0.03 and 0.2 <= np.mean(p <= 0.5) <= 0.65
  # Slow content shared by both (steps at the same seconds: scene changes)
  # is no evidence of sync: the residual removes it.
  steps = np.repeat(rng.normal(size=(9, 16)), 10, axis=0)
  noise = lambda: 0.3 * rng.normal(size=(90, 16))
  conf = [estimator.synchronize((steps + noise())[5:85], steps + noise(), 5, 5).confidence
          for _ in range(40)]
  assert np.mean(np.array(conf) >= estimator.MIN_CONFIDENCE) <= 0.05
  # Too short for a null: no confidence.
  assert estimator.synchronize(visual[2:8], visual[:12], 2, 2).confidence == 0.0


def test_a_loud_picture_event_of_its_own_does_not_make_an_excerpt_confident():
  # 20 s of a soundtrack with one sound event, over pictures it does not belong
  # to, with one loud picture event of their own that half resembles it: the
  # null must not be dominated by that picture second (with raw picture
  # residuals half of these excerpts were answered at 0.99).
  answered = []
  for seed in range(40):
    rng = np.random.default_rng(seed)
    visual, audio = 0.3 * rng.normal(size=(80, 16)), 0.3 * rng.normal(size=(20, 16))
    u, w = rng.normal(size=16), rng.normal(size=16)
    audio[10] += 2 * u
    visual[32] += 10 * (0.5 * u + 0.87 * w)
    answered.append(estimator.synchronize(audio, visual, 20, 5).confidence
                    >= estimator.MIN_CONFIDENCE)
  assert np.mean(answered) <= 0.1
  # The same soundtrack with its own pictures is answered, at the right offset.
  rng = np.random.default_rng(1)
  visual = rng.normal(size=(80, 16))
  est = estimator.synchronize(0.5 * visual[22:42] + 0.3 * rng.normal(size=(20, 16)),
                              visual, 20, 5)
  assert est.late == -2 and est.confidence >= estimator.MIN_CONFIDENCE


def _event_track(rng, types, length, gain):
  """[length, E] noise plus events (1-2 s) of the given types, 0.15 a second."""
  x = 0.3 * rng.normal(size=(length, types.shape[1]))
  for _ in range(rng.poisson(0.15 * length)):
    at = int(rng.integers(0, length))
    kind = 0.8 * types[rng.integers(len(types))] + 0.6 * rng.normal(size=types.shape[1])
    x[at:at + int(rng.integers(1, 3))] += gain * 4 * kind / np.sqrt(types.shape[1])
  return x


def test_picture_events_of_4_s_count_in_the_confidence(monkeypatch):
  # Events seen for 4 s and heard once (decaying): the 3 s picture residual
  # takes each for a step and drops it; the 5 s one keeps it, and the aligned
  # soundtrack is answered (within 1 s: a box seen for 4 s pins the onset
  # only so well).
  def video(seed, late=2):
    rng = np.random.default_rng(seed)
    visual, track = 0.3 * rng.normal(size=(90, 16)), 0.3 * rng.normal(size=(92, 16))
    for at in rng.choice(np.arange(8, 78, 4), 5, replace=False):
      kind = rng.normal(size=16)
      visual[at:at + 4] += kind
      track[at + late:at + late + 4] += kind[None] * np.exp(-np.arange(4) / 1.5)[:, None]
    return track[5:85], visual

  def answered(side):
    monkeypatch.setattr(estimator, "PICTURE_RESIDUAL_SIDE", side)
    found = [estimator.synchronize(*video(seed), 5, 5) for seed in range(20)]
    assert all(abs(est.late - 2) <= 1 for est in found)
    return sum(est.confidence >= estimator.MIN_CONFIDENCE for est in found)

  assert answered(estimator.PICTURE_RESIDUAL_SIDE) >= 17
  assert answered(3) <= 2


def test_recurring_event_kinds_do_not_make_unrelated_excerpts_confident():
  # Two kinds of event recur in sound and pictures (speech, say): an unrelated
  # 20 s soundtrack with loud events meets a same-kind picture event at many
  # lags by chance, so the null's upper tail is heavy. Read as a normal null
  # by its std (and the audio unweighted), 6% of these were answered at 0.99;
  # the tail-implied spread keeps it near the promised 1% (1.7%).
  rng = np.random.default_rng(0)
  answered = []
  for _ in range(300):
    types = rng.normal(size=(2, 64))
    audio, visual = _event_track(rng, types, 20, 4.0), _event_track(rng, types, 80, 1.0)
    answered.append(estimator.synchronize(audio, visual, 20, 5).confidence
                    >= estimator.MIN_CONFIDENCE)
  assert np.mean(answered) <= 0.035
  # Sound and pictures that belong together are still answered.
  right = 0
  for _ in range(40):
    types = rng.normal(size=(2, 64))
    visual = _event_track(rng, types, 80, 1.0)
    audio = visual[22:42] + 0.2 * rng.normal(size=(20, 64))
    est = estimator.synchronize(audio, visual, 20, 5)
    right += est.late == -2 and est.confidence >= estimator.MIN_CONFIDENCE
  assert right >= 36


def test_null_spread_and_the_weighted_null_by_hand():
  rng = np.random.default_rng(3)
  normal = rng.normal(size=2000)
  assert estimator.null_spread(normal) == pytest.approx(normal.std(), rel=0.15)
  # 5% of the null far out: the spread follows the tail, not the std.
  mixed = np.concatenate([rng.normal(size=190), 8.0 + rng.normal(size=10)])
  assert estimator.null_spread(mixed) > 1.5 * mixed.std()
  assert np.isfinite(estimator.null_spread(rng.normal(size=8)))
  # null_confidence as its docstring says, with loops: weighted audio
  # residuals (3 s a side) against unit picture residuals (5 s a side) at
  # every circular lag.
  audio, visual = rng.normal(size=(12, 5)), rng.normal(size=(40, 5))
  ra, rv = estimator.nearer_side_residual(audio, 3), estimator.nearer_side_residual(visual, 5)
  ra = ra * np.linalg.norm(ra, axis=1, keepdims=True)
  rv = rv / np.maximum(np.linalg.norm(rv, axis=1, keepdims=True), 1e-8)  # edge rows are 0
  scores = np.array([np.mean([ra[t] @ rv[(t + k) % 40] for t in range(12)]) for k in range(40)])
  lag, count = 17, 7
  null = np.array([scores[k] for k in range(40) if min(abs(k - lag), 40 - abs(k - lag)) > 2])
  z = (scores[lag] - null.mean()) / estimator.null_spread(null)
  phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
  confidence, p_value, lags = estimator.null_confidence(audio, visual, lag, count)
  assert lags == 35 and confidence == pytest.approx(phi ** count, abs=1e-9)
  assert p_value == pytest.approx(1 - phi ** count, abs=1e-9)


def test_the_offset_weights_audio_seconds_by_their_change():
  # 20 s of quiet sound that faintly resembles the pictures 3 s too early,
  # and one loud event at the right place (2 s late): the plain centered
  # cosine counts every second alike and follows the quiet ones; the weighted
  # score (what synchronize, yt8m-sync and the signature pick by) the event.
  rng = np.random.default_rng(2)
  visual = rng.normal(size=(60, 16))
  t0, late, wrong = 20, 2, -3
  audio = 0.05 * (visual[t0 - wrong:t0 - wrong + 20] + 0.5 * rng.normal(size=(20, 16)))
  audio[10] = 3.0 * visual[t0 + 10 - late]
  plain = statistics.estimate_offset(audio, visual, t0, 5, scorer="centered")
  weighted = statistics.estimate_offset(audio, visual, t0, 5, scorer="weighted")
  assert plain.offset == -wrong and weighted.offset == -late
  est = estimator.synchronize(audio, visual, t0, 5)
  assert est.late == late and np.argmax(est.scores) == late + 5
  # The weighted score is a weighted mean cosine, in [-1, 1].
  assert -1.0 <= est.scores.min() and est.scores.max() <= 1.0 + 1e-6


def test_fft_scores_equal_the_direct_ones():
  rng = np.random.default_rng(5)
  a, v = rng.normal(size=(7, 3)), rng.normal(size=(19, 3))
  direct = [np.mean(np.sum(a * v[k:k + 7], 1)) for k in range(13)]
  np.testing.assert_allclose(estimator.linear_scores(a, v), direct, atol=1e-12)
  circ = [np.mean(np.sum(a * v[(np.arange(7) + k) % 19], 1)) for k in range(19)]
  np.testing.assert_allclose(estimator.circular_scores(a, v), circ, atol=1e-12)
  x = np.array([0, 0, 5, 5, 0, 0, 0, 0, 0, 1, 1, 1, 1], np.float64)[:, None]
  # A two-second event survives; a step does not.
  np.testing.assert_allclose(estimator.nearer_side_residual(x)[:, 0],
                             [0, 0, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("kind", synthetic.UNALIGNED_KINDS)
def test_unaligned_soundtracks_option(tmp_path, kind):
  base = dict(num_videos=12, min_frames=30, max_frames=40, max_offset=3, seed=2)
  for preset in ("texture", "events"):
    plain = list(synthetic.generate_videos(synthetic.SynthConfig(preset=preset, **base)))
    mixed = list(synthetic.generate_videos(synthetic.SynthConfig(
        preset=preset, unaligned_fraction=0.5, unaligned_kind=kind, **base)))
    changed = [not np.array_equal(a.audio, b.audio) for a, b in zip(plain, mixed)]
    assert 2 <= sum(changed) <= 10
    for a, b, c in zip(plain, mixed, changed):
      # The family's videos are byte for byte the same; the others are
      # unaligned, with footage and soundtrack of the same length, offset 0.
      assert a.id == b.id and len(a.visual) == len(b.visual) == len(b.audio)
      if c:
        assert not b.related and b.offset == 0
      else:
        assert np.array_equal(a.visual, b.visual) and b.related == a.related
  summary = synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path), prefix="t", unaligned_fraction=0.5, unaligned_kind=kind,
      **base))
  truth = json.load(open(summary["offsets_file"]))
  assert len(truth["unrelated"]) == summary["unrelated_soundtracks"] >= 2
  assert all(truth["audio_late_seconds"][k] == -v for k, v in truth["offsets"].items())


def test_estimate_drift_follows_the_whole_track_or_keeps_one_offset():
  rng = np.random.default_rng(6)
  visual = _unit(rng.normal(size=(300, 16)))
  u = np.arange(300)
  for rate, start in ((0.04, 2), (-0.04, -3), (0.02, 1), (0.0, 4)):
    # Picture second t is heard at audio second start + (1 + rate) t.
    audio = visual[np.clip(np.round((u - start) / (1 + rate)), 0, 299).astype(int)]
    audio = audio + 0.5 * _unit(rng.normal(size=(300, 16)))
    est = drift.estimate_drift(audio, visual, 16)
    assert est.confidence >= estimator.MIN_CONFIDENCE, (rate, est)
    if rate:
      assert est.model == "drift" and "moves the lateness" in est.reason
      assert est.rate == pytest.approx(rate, abs=0.002)
      placed = est.late_at_start + est.rate * u
      assert np.mean(np.abs(placed - (start + rate * u)) <= 1.0) >= 0.95
    else:
      assert est.model == "constant_offset" and "one offset is enough" in est.reason
      assert est.rate == 0.0 and est.late_at_start == 4 and est.constant_late == 4
    assert len(est.anchors) == 28
  # A 60 s clip drifting 4% (2.4 s over the clip) is followed too.
  clip, t = visual[:60], np.arange(60)
  audio = clip[np.clip(np.round((t + 2) / 1.04), 0, 59).astype(int)]
  est = drift.estimate_drift(audio, clip, 5)
  assert est.model == "drift" and est.rate == pytest.approx(0.04, abs=0.006)
  assert np.mean(np.abs(est.late_at_start + est.rate * t - (-2 + 0.04 * t)) <= 1) >= 0.9
  # An unrelated soundtrack: no confident path.
  est = drift.estimate_drift(_unit(rng.normal(size=(300, 16))), visual, 16)
  assert est.confidence < estimator.MIN_CONFIDENCE


def test_rate_grid_and_the_picture_clock():
  rates = drift.rate_grid(100, 0.05)
  assert rates[len(rates) // 2] == 0.0 and rates.max() == pytest.approx(0.05)
  assert np.allclose(np.diff(rates), 0.005)  # 0.5 s over 100 s
  audio = np.arange(11, dtype=float)[:, None]
  np.testing.assert_array_equal(drift.on_picture_clock(audio, 0.0)[:, 0], np.arange(11))
  # Running 25% fast: picture second j is audio second 1.25 j (rounded).
  np.testing.assert_array_equal(drift.on_picture_clock(audio, 0.25)[:, 0], [0, 1, 2, 4, 5, 6, 8, 9, 10])


def test_drift_answer_uses_the_path_where_one_offset_does_not_fit():
  from yt8m_crossmodal.sync import answer
  rng = np.random.default_rng(8)
  visual = _unit(rng.normal(size=(240, 16)))
  u = np.arange(240)
  audio = visual[np.clip(np.round(u / 1.04), 0, 239).astype(int)]  # 4%: 0 s to 9.6 s late
  audio = audio + 0.8 * _unit(rng.normal(size=(240, 16)))
  constant = answer.estimate(audio[16:224], visual, 16, 16, 0.99)
  assert constant["status"] == "cannot_synchronize"  # no one offset fits the track
  fields = answer.drift_fields(audio, visual, 16, 0.99, constant)
  assert fields["model"] == "drift" and fields["rate"] == pytest.approx(0.04, abs=0.002)
  assert fields["status"] == "synchronized" and fields["offset_seconds"] == 0
  assert fields["p_value"] == pytest.approx(
      min(1.0, 2 * min(constant["p_value"], fields["path_p_value"])), rel=1e-3, abs=1e-9)


def test_drifting_soundtracks_option(tmp_path):
  cfg = synthetic.SynthConfig(output_dir=str(tmp_path), prefix="d", preset="events",
                              num_videos=8, min_frames=100, max_frames=100, max_offset=3,
                              seed=1, drift_rate=0.04, drift_fraction=0.5)
  videos = list(synthetic.generate_videos(cfg))
  plain = list(synthetic.generate_videos(dataclasses.replace(cfg, drift_rate=0.0)))
  drifting = [v for v in videos if v.drift]
  assert 1 <= len(drifting) <= 7 and all(abs(v.drift) == 0.04 for v in drifting)
  for v, p in zip(videos, plain):
    assert np.array_equal(v.visual, p.visual)
    assert np.array_equal(v.audio, p.audio) == (not v.drift)
    if v.drift:
      # Plain row t carries picture t + offset, heard now at (1 + r)(t + offset)
      # - offset (within the second's rounding).
      for t in (20, 50, 80):
        row = int(np.round((1 + v.drift) * (t + p.offset) - p.offset))
        assert any(np.array_equal(v.audio[row], p.audio[t + k]) for k in (-1, 0, 1))
  truth = json.load(open(synth_job.write_dataset(cfg)["offsets_file"]))
  assert {k: d["rate"] for k, d in truth["drift"].items()} == {v.id: v.drift for v in drifting}


def test_estimate_offset_picks_what_synchronize_answers():
  """One estimator: the by-scorer placement is minus yt8m-sync's lateness."""
  rng = np.random.default_rng(7)
  hits = []
  for trial in range(20):
    visual = _unit(rng.normal(size=(60, 8)) + np.cumsum(rng.normal(size=(60, 8)), 0) * 0.2)
    d = int(rng.integers(-5, 6))
    # Audio seconds [20, 40) carry pictures [20 + d, 40 + d): heard d s early (late -d).
    audio = visual[20 + d:40 + d] + rng.normal(size=(20, 8)) * 0.8
    by_scorer = statistics.estimate_offset(audio, visual, 20, 5)
    answer = estimator.synchronize(audio, visual, 20, 5)
    assert by_scorer.offset == -answer.late, trial
    hits.append(answer.late == -d)
  assert np.mean(hits) >= 0.9
