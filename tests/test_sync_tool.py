"""yt8m-sync: the sign convention on hand-built timelines, and the tool end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import helpers
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import sync as sync_job


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _late(visual, d):
  """The audio of a video whose soundtrack is late by d seconds (edges repeated)."""
  idx = np.clip(np.arange(len(visual)) - d, 0, len(visual) - 1)
  return visual[idx]


@pytest.mark.parametrize("d", [-3, 0, 2, 5])
def test_estimate_sign_convention_full_length(d):
  rng = np.random.default_rng(d + 10)
  visual = _unit(rng.normal(size=(60, 16)))
  audio = _late(visual, d)
  s = 5
  out = sync_job.estimate(audio[s:60 - s], visual, s, s, min_confidence=0.99)
  assert out["status"] == "synchronized" and out["offset_seconds"] == d
  assert out["best_offset_seconds"] == d and out["confidence"] >= 0.99
  assert out["p_value"] == pytest.approx(1 - out["confidence"], abs=1e-5)
  assert set(out["scores"]) == {str(o) for o in range(-5, 6)}
  assert max(out["scores"], key=lambda k: out["scores"][k]) == str(d)


def test_estimate_excerpt_and_cannot_synchronize():
  rng = np.random.default_rng(0)
  visual = _unit(rng.normal(size=(80, 16)))
  audio = _late(visual, -2)
  out = sync_job.estimate(audio[30:50], visual, 30, 5, min_confidence=0.99)
  assert out["offset_seconds"] == -2
  # A soundtrack of its own (nothing follows the pictures): no confident answer.
  other = _unit(rng.normal(size=(80, 16)))
  out = sync_job.estimate(other[30:50], visual, 30, 5, min_confidence=0.99)
  assert out["status"] == "cannot_synchronize" and out["offset_seconds"] is None
  assert out["confidence"] < 0.99 and out["best_offset_seconds"] in range(-5, 6)
  # Offsets that would leave the pictures are not scored.
  out = sync_job.estimate(audio[2:22], visual, 2, 5, min_confidence=0.0)
  assert out["scores"]["5"] is None and out["scores"]["-5"] is not None


def _tool(*args):
  return subprocess.run([sys.executable, "-m", "yt8m_crossmodal.tools.sync", *args],
                        capture_output=True, text=True, timeout=600,
                        env=helpers.tool_env())


def test_tool_full_length_pairs_and_errors(frame_export, frame_data_dir):
  files = sorted(os.listdir(frame_data_dir))
  files = [os.path.join(frame_data_dir, f) for f in files if f.endswith(".tfrecord")]
  proc = _tool(f"--export_dir={frame_export.export_dir}",
               f"--data={frame_data_dir}/*.tfrecord", "--max_offset=2",
               "--min_confidence=0")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert helpers.library_lines(proc.stderr) == [], proc.stderr[-2000:]
  lines = [json.loads(l) for l in proc.stdout.splitlines()]
  assert len(lines) == 24 and len({l["id"] for l in lines}) == 24
  long_enough = [l for l in lines if l["status"] != "error"]
  assert long_enough and all(l["status"] == "synchronized" for l in long_enough)
  for l in long_enough:
    assert l["offset_seconds"] in range(-2, 3) and set(l["scores"]) == {"-2", "-1", "0", "1", "2"}
    assert l["audio_seconds"][0] == 2
  for l in lines:
    if l["status"] == "error":
      assert "too short for offsets up to 2 s" in l["error"]
  # Audio of one shard against the pictures of all three: the others have no
  # audio, named one line each, and the exit status says so.
  proc = _tool(f"--export_dir={frame_export.export_dir}", f"--audio_data={files[0]}",
               f"--visual_data={frame_data_dir}/*.tfrecord", "--max_offset=1",
               "--excerpt_start=1", "--excerpt_seconds=4", "--min_confidence=0")
  assert proc.returncode == 1, proc.stderr[-2000:]
  lines = [json.loads(l) for l in proc.stdout.splitlines()]
  missing = [l for l in lines if "no record with id" in l.get("error", "")]
  assert len(lines) == 24 and len(missing) == 16
  assert all("--audio_data" in l["error"] for l in missing)
  assert all(l["audio_seconds"] == [1, 5] for l in lines if l["status"] != "error")


def test_tool_usage_errors(frame_export, video_export, frame_data_dir, tmp_path):
  for args, message in (
      ([f"--data={frame_data_dir}/*"], "--export_dir is required"),
      ([f"--export_dir={frame_export.export_dir}"], "give --data, or --audio_data"),
      ([f"--export_dir={frame_export.export_dir}", f"--audio_data={frame_data_dir}/*"],
       "--audio_data and --visual_data go together"),
      ([f"--export_dir={video_export.export_dir}", f"--data={frame_data_dir}/*"],
       "video-level model"),
      ([f"--export_dir={frame_export.export_dir}", f"--data={tmp_path}/none*"],
       "No files match"),
      ([f"--export_dir={frame_export.export_dir}", f"--data={frame_data_dir}/*", "--drift",
        "--excerpt_seconds=4"], "--drift works on the full length"),
      ([f"--export_dir={frame_export.export_dir}", f"--data={frame_data_dir}/*",
        "--min_confidence=2.5"], "--min_confidence is a probability"),
  ):
    proc = _tool(*args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
    assert message in proc.stderr, (message, proc.stderr)


def test_estimate_offset_signature_edges(frame_export):
  # The exported estimate_offset against the numpy estimator on the export's
  # own timelines: edges (start 0), a padded excerpt and nothing feasible.
  import tensorflow as tf
  from yt8m_crossmodal.sync import estimator
  loaded = tf.saved_model.load(frame_export.version_dir)
  rng = np.random.default_rng(7)
  audio = rng.uniform(-2, 2, (4, 10, 128)).astype(np.float32)
  visual = rng.uniform(-2, 2, (4, 30, 1024)).astype(np.float32)
  audio_n = np.array([10, 6, 10, 10], np.int32)
  visual_n = np.array([30, 30, 20, 9], np.int32)
  start = np.array([8, 0, 12, 0], np.int32)
  out = loaded.signatures["estimate_offset"](
      audio=tf.constant(audio), audio_num_frames=tf.constant(audio_n),
      visual=tf.constant(visual), visual_num_frames=tf.constant(visual_n),
      start=tf.constant(start), max_offset=tf.constant(4))
  a_tl = loaded.signatures["encode_audio"](audio=tf.constant(audio),
                                           num_frames=tf.constant(audio_n))["timeline"].numpy()
  v_tl = loaded.signatures["encode_visual"](visual=tf.constant(visual),
                                            num_frames=tf.constant(visual_n))["timeline"].numpy()
  assert out["scores"].shape == (4, 9)
  for b in range(4):
    want = estimator.synchronize(a_tl[b, :audio_n[b]], v_tl[b], int(start[b]), 4,
                                 visual_len=int(visual_n[b]))
    feasible = np.isfinite(want.scores)
    np.testing.assert_array_equal(out["feasible"][b].numpy(), feasible)
    np.testing.assert_allclose(out["scores"][b].numpy(), np.where(feasible, want.scores, 0),
                               atol=1e-5)
    assert int(out["offset_seconds"][b]) == want.late
    assert float(out["confidence"][b]) == pytest.approx(want.confidence, abs=1e-4)
    assert float(out["p_value"][b]) == pytest.approx(want.p_value, rel=1e-3, abs=1e-6)
  assert not out["feasible"][3].numpy().any() and float(out["confidence"][3]) == 0.0
  # start 0: no audio-early placement fits, i.e. no positive lateness.
  assert not out["feasible"][1].numpy()[5:].any() and out["feasible"][1].numpy()[:5].all()
  with pytest.raises(tf.errors.InvalidArgumentError, match="start must be >= 0"):
    loaded.signatures["estimate_offset"](
        audio=tf.constant(audio), audio_num_frames=tf.constant(audio_n),
        visual=tf.constant(visual), visual_num_frames=tf.constant(visual_n),
        start=tf.constant([-1, 0, 0, 0]), max_offset=tf.constant(4))


def test_duplicate_ids_are_not_paired_with_the_first_copy(frame_export, frame_data_dir,
                                                         tmp_path):
  import shutil
  first = sorted(f for f in os.listdir(frame_data_dir) if f.endswith(".tfrecord"))[0]
  first = os.path.join(frame_data_dir, first)
  copy = shutil.copy(first, tmp_path / "copy.tfrecord")
  base = dict(export_dir=frame_export.export_dir, max_offset=1, min_confidence=0.0)
  for audio, visual, side in ((first, f"{first},{copy}", "--visual_data"),
                              (f"{first},{copy}", first, "--audio_data")):
    lines = list(sync_job.Synchronizer(sync_job.SyncConfig(
        audio_data=audio, visual_data=visual, **base))())
    assert len(lines) in (8, 16) and all(l["status"] == "error" for l in lines), lines
    assert all(f"occurs 2 times in {side}" in l["error"] for l in lines)


def test_min_confidence_must_be_a_number(frame_export, frame_data_dir):
  with pytest.raises(UsageError, match="--min_confidence must be a number, got nan"):
    sync_job.Synchronizer(sync_job.SyncConfig(
        export_dir=frame_export.export_dir, data=f"{frame_data_dir}/*.tfrecord",
        min_confidence=float("nan")))

@pytest.fixture(scope="module")
def synced_export(tmp_path_factory):
  """An export trained to synchronize (texture family, per-second timeline) and a
  held-out set with known lateness and unaligned soundtracks (its truth file)."""
  import keras
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import export as export_job
  from yt8m_crossmodal.jobs import synth as synth_job
  from yt8m_crossmodal.models import build_training_model
  root = tmp_path_factory.mktemp("synced")
  keras.utils.set_random_seed(0)
  config = config_lib.Config().replace(
      projection_units=16, lstm_units=8, lstm_layers=1, embedding_size=16,
      window_strides=(1,), timeline_source="local", timeline_nce_weight=1.0,
      temporal_weight=0.0, timeline_nce_seconds=20, num_classes=3862, max_frames=40)
  config = config.replace(model=__import__("yt8m_crossmodal.models", fromlist=["x"])
                          .model_name(config))
  model = build_training_model(config)
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  train = list(synthetic.generate_videos(synthetic.SynthConfig(
      num_videos=200, min_frames=40, max_frames=40, seed=1, unrelated_fraction=0.0)))
  x = {"audio": np.stack([v.audio for v in train]),
       "visual": np.stack([v.visual for v in train]),
       "num_frames": np.full(len(train), 40, np.int32),
       "labels": np.zeros((len(train), 3862), np.float32)}
  model.fit(x, batch_size=32, epochs=6, verbose=0)
  model_dir = root / "model"
  model_dir.mkdir()
  model.save(str(model_dir / "model.keras"))
  config_lib.save_config(config, str(model_dir / "config.json"))
  info = export_job.export_model_dir(export_job.ExportConfig(
      model_dir=str(model_dir), export_dir=str(root / "saved")))
  data = root / "data"
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(data), prefix="test", num_videos=16, num_shards=1, min_frames=36,
      max_frames=40, seed=5, max_offset=3, unrelated_fraction=0.0,
      unaligned_fraction=0.3, unaligned_kind="other"))
  return info["path"], str(data)


def test_signature_and_tool_agree_with_the_truth_file(synced_export):
  # Item 5 of issue 19: one sign (+ = audio late) and one confidence in
  # yt8m-sync and the estimate_offset signature, checked against the truth
  # file that yt8m-synth wrote (not against a function of the same code).
  import tensorflow as tf
  from yt8m_crossmodal.data import features as feat
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import synth as synth_job
  version_dir, data = synced_export
  proc = _tool(f"--export_dir={version_dir}", f"--data={data}/*.tfrecord", "--max_offset=3",
               "--drift")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = {l["id"]: l for l in map(json.loads, proc.stdout.splitlines())}
  truth = json.load(open(os.path.join(data, "test_offsets.json")))
  late, unaligned = truth["audio_late_seconds"], set(truth["unrelated"])
  # No soundtrack drifts: one offset is enough, and the tool says so.
  assert all(l["model"] == "constant_offset" and "one offset is enough" in l["model_reason"]
             and l["rate"] == 0.0 and l["late_at_start"] == late[k]
             and 1 <= len(l["anchors"]) <= 2 for k, l in lines.items() if k not in unaligned)
  assert len(lines) == 16 and 2 <= len(unaligned) <= 10
  assert {v for k, v in late.items() if k not in unaligned} - {0}  # Some are late/early.
  aligned = [k for k in lines if k not in unaligned]
  assert all(lines[k]["offset_seconds"] == late[k] for k in aligned)
  assert all(lines[k]["status"] == "cannot_synchronize" for k in unaligned)
  videos = list(synthetic.generate_videos(synthetic.SynthConfig(
      prefix="test", num_videos=16, min_frames=36, max_frames=40, seed=5, max_offset=3,
      unrelated_fraction=0.0, unaligned_fraction=0.3, unaligned_kind="other")))
  loaded = tf.saved_model.load(version_dir)
  for v in videos:
    n = len(v.visual)
    out = loaded.signatures["estimate_offset"](
        audio=tf.constant(feat.dequantize(v.audio[3:n - 3])[None]),
        audio_num_frames=tf.constant([n - 6]),
        visual=tf.constant(feat.dequantize(v.visual)[None]),
        visual_num_frames=tf.constant([n]), start=tf.constant([3]),
        max_offset=tf.constant(3))
    line = lines[v.id]
    assert int(out["offset_seconds"][0]) == line["best_offset_seconds"]
    # With --drift the line's confidence is the model's; the offset's own is kept.
    assert float(out["confidence"][0]) == pytest.approx(line["constant_confidence"], abs=1e-3)
    if v.id not in unaligned:
      assert int(out["offset_seconds"][0]) == late[v.id]


@pytest.mark.parametrize("d", [-40, -3, 25, 55])
def test_estimate_any_offset_with_partial_overlap(d):
  # Lateness up to the video's length: the whole track slides along the
  # pictures where both share at least min_overlap seconds; the seconds the
  # soundtrack has beyond the pictures are its own (noise).
  rng = np.random.default_rng(abs(d))
  visual = _unit(rng.normal(size=(120, 16)))
  source = np.arange(120) - d
  audio = np.where(((source >= 0) & (source < 120))[:, None],
                   visual[np.clip(source, 0, 119)], _unit(rng.normal(size=(120, 16))))
  out = sync_job.estimate(audio, visual, 0, 110, min_confidence=0.99, min_overlap=20)
  assert out["offset_seconds"] == d and out["confidence"] >= 0.99
  # 120 - |late| seconds shared: from 101 s on, under 20.
  assert out["scores"]["101"] is None and out["scores"]["-101"] is None
  assert out["scores"]["100"] is not None and out["scores"]["-100"] is not None
  # An excerpt (pictures 40-59) hanging off the end of the pictures (52 s).
  start = d + 40
  out = sync_job.estimate(audio[start:start + 20], visual[:52], start, 60,
                              min_confidence=0.99, min_overlap=8)
  assert out["offset_seconds"] == d and out["status"] == "synchronized"
  other = _unit(rng.normal(size=(120, 16)))
  out = sync_job.estimate(other, visual, 0, 100, min_confidence=0.99, min_overlap=20)
  assert out["status"] == "cannot_synchronize"
