"""Genuine records of the public releases (tests/data/real, see its README):
the reader, yt8m-validate, the statistics and a video-level train/export/evaluate run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal.data import audioset
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.data import statistics

REAL = os.path.join(os.path.dirname(__file__), "data", "real")
Y2018 = os.path.join(REAL, "yt8m_2018_validate0000_first8.tfrecord")
Y2017_VALIDATE = os.path.join(REAL, "yt8m_2017_validatea0_six.tfrecord")
Y2017_TEST = os.path.join(REAL, "yt8m_2017_testa0_first2.tfrecord")
AUDIOSET = os.path.join(REAL, "audioset_bal_train00_first12.tfrecord")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _raw_examples(path):
  return [tf.train.Example.FromString(r) for r in
          tf.data.TFRecordDataset(path).as_numpy_iterator()]


def _read(path, **kw):
  batches = list(pipeline.make_dataset(path, feature_level="video", batch_size=16, **kw))
  assert len(batches) == 1
  return {k: v.numpy() for k, v in batches[0].items()}


@pytest.mark.parametrize("path,id_key,num_classes", [
    (Y2018, "id", config_lib.NUM_CLASSES_2018),
    (Y2017_VALIDATE, "video_id", config_lib.NUM_CLASSES_2017),
    (Y2017_TEST, "video_id", config_lib.NUM_CLASSES_2017)])
def test_reader_returns_the_records_values(path, id_key, num_classes):
  raw = _raw_examples(path)
  batch = _read(path, num_classes=num_classes)
  assert len(batch["id"]) == len(raw)
  by_id = {b.decode(): i for i, b in enumerate(batch["id"])}
  for example in raw:
    f = example.features.feature
    i = by_id[f[id_key].bytes_list.value[0].decode()]
    np.testing.assert_array_equal(batch["audio"][i], np.array(f["mean_audio"].float_list.value,
                                                              np.float32))
    np.testing.assert_array_equal(batch["visual"][i], np.array(f["mean_rgb"].float_list.value,
                                                               np.float32))
    labels = sorted(f["labels"].int64_list.value)
    assert np.flatnonzero(batch["labels"][i]).tolist() == labels
  # Real means are averages of dequantized features: inside [-2, 2], spread out.
  assert np.abs(batch["visual"]).max() <= 2.01 and batch["visual"].std() > 0.1
  if path != Y2017_TEST:
    assert batch["labels"].sum(1).min() >= 1


def test_2017_labels_with_the_2018_vocabulary_name_file_and_record():
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    _read(Y2017_VALIDATE)
  message = str(info.value)
  assert os.path.basename(Y2017_VALIDATE) in message and "record index" in message
  assert "labels out of [0, 3862)" in message


def _validate(*flags):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run([sys.executable, "-m", "yt8m_crossmodal.tools.validate", *flags],
                        capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
  return proc, json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None


def test_validate_tool_on_real_records():
  proc, summary = _validate(f"--data={Y2018}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert summary["records"] == summary["good_records"] == 8
  assert summary["feature_level"] == "video"
  proc, forced = _validate(f"--data={Y2018}", "--feature_level=frame")  # Said once.
  assert proc.returncode == 2 and forced is None
  assert proc.stderr.count("\n") == 1 and "holds video-level records, not frame-level ones" in (
      proc.stderr) and "pass --feature_level=video, or auto" in proc.stderr
  proc, summary = _validate(f"--data={Y2017_VALIDATE},{Y2017_TEST}", "--feature_level=video",
                            "--num_classes=4716")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert summary["records"] == summary["good_records"] == 8
  # With the 2018 vocabulary every labelled 2017 record is named as bad.
  proc, summary = _validate(f"--data={Y2017_VALIDATE}")  # The level is read from the records.
  assert proc.returncode == 1 and summary["bad_record_count"] >= 1
  assert summary["feature_level"] == "video"
  assert "labels out of [0, 3862)" in summary["bad_records"][0]["reason"]
  assert "Traceback" not in proc.stderr


def test_audioset_clips_and_their_statistics():
  clips = audioset.read_audio_clips(AUDIOSET)
  assert len(clips) == 12 and all(c.dtype == np.uint8 and c.shape[1] == 128 for c in clips)
  stats = statistics.window_statistics(clips)
  assert stats["windows"] == sum(len(c) // 10 for c in clips)
  # What real per-second audio is like (the full split: +0.04, -0.17, 0.52,
  # 0.19, 1.2, 0.18): loose bounds that 12 clips already meet.
  assert -0.1 < stats["cosine_1"] < 0.2 and stats["cosine_5"] < -0.05
  assert 0.3 < stats["within_share"] < 0.75
  assert 1.0 < stats["dim_std"] < 1.4 and stats["saturated"] > 0.08
  # A YouTube-8M record is not an AudioSet one: named, not a traceback.
  with pytest.raises(ValueError, match="record 0: no 'audio_embedding' feature list"):
    audioset.read_audio_clips(Y2018)


def test_realistic_family_is_close_to_real_audio():
  from yt8m_crossmodal.data import synthetic
  videos = list(synthetic.generate_videos(synthetic.SynthConfig(
      preset="realistic", num_videos=60, min_frames=30, max_frames=30, seed=1)))
  synth = statistics.window_statistics([v.audio for v in videos])
  real = statistics.window_statistics(audioset.read_audio_clips(AUDIOSET))
  for key, tolerance in (("dim_std", 0.15), ("saturated", 0.08), ("within_share", 0.15)):
    assert abs(synth[key] - real[key]) < tolerance, (key, synth[key], real[key])
  # The earlier families are far from it (half the range, little saturation).
  texture = statistics.window_statistics([v.audio for v in synthetic.generate_videos(
      synthetic.SynthConfig(num_videos=20, min_frames=30, max_frames=30, seed=1))])
  assert texture["dim_std"] < 0.7 < synth["dim_std"]


def test_held_out_canonical_correlations():
  rng = np.random.default_rng(0)
  shared = rng.normal(size=(600, 2))
  a = np.hstack([shared, rng.normal(size=(600, 6))]) @ rng.normal(size=(8, 8))
  v = np.hstack([shared + 0.5 * rng.normal(size=(600, 2)), rng.normal(size=(600, 30))])
  cc = statistics.held_out_canonical_correlations(a, v, dims=4)
  assert cc.shape == (4,)
  assert cc[0] > 0.8 and cc[1] > 0.8 and abs(cc[2]) < 0.3


def test_video_level_train_export_evaluate_on_real_records(tmp_path):
  """yt8m-train (default video-level model) -> yt8m-export -> yt8m-evaluate."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  run = lambda *argv: subprocess.run([sys.executable, "-m", *argv], capture_output=True,
                                     text=True, env=env, timeout=600, cwd=ROOT)
  model_dir, export_dir, out = tmp_path / "model", tmp_path / "export", tmp_path / "eval"
  train = run("yt8m_crossmodal.tools.train", f"--train_data={Y2018}", "--feature_level=video",
              f"--model_dir={model_dir}", "--batch_size=4", "--epochs=2", "--warmup_steps=1",
              "--video_hidden_units=32", "--embedding_size=16", "--video_linear_dims=8")
  assert train.returncode == 0, train.stderr[-3000:]
  saved = json.loads((model_dir / "config.json").read_text())
  assert saved["model"]["video_encoder"] == "residual" and saved["loss"]["clip_loss"] == "auto"
  # The learning rate left at 0 is picked for 8 videos, said and recorded.
  assert ("settings picked: --learning_rate=0.001 (video-level model, 8 training videos: the "
          "row for 0 to 5,999 videos); given: --batch_size=4 --epochs=2") in train.stderr
  assert saved["train"]["learning_rate"] == 0.001 and saved["data"]["batch_size"] == 4
  export = run("yt8m_crossmodal.tools.export", f"--model_dir={model_dir}",
               f"--export_dir={export_dir}")
  assert export.returncode == 0, export.stderr[-3000:]
  evaluate = run("yt8m_crossmodal.tools.evaluate", f"--export_dir={export_dir}",
                 f"--data={Y2018}", f"--output_dir={out}", "--pool_sizes=4")
  assert evaluate.returncode == 0, evaluate.stderr[-3000:]
  result = json.loads(evaluate.stdout.strip().splitlines()[-1])
  assert result["num_videos"] == 8 and result["feature_level"] == "video"
  assert 0 <= result["all/a2v/recall@1"] <= result["all/a2v/recall@10"] == 1.0
  # The export standardizes with the training statistics of the real means.
  loaded = tf.saved_model.load(str(next(p for p in export_dir.iterdir() if p.is_dir())))
  batch = _read(Y2018)
  emb = loaded.signatures["encode_audio"](audio=tf.constant(batch["audio"]))
  values = next(iter(emb.values())).numpy()
  assert values.shape[0] == 8 and np.isfinite(values).all()
  np.testing.assert_allclose(np.linalg.norm(values, axis=-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("kind", ["same_scenes", "same_topic", "other"])
def test_realistic_unaligned_soundtracks_do_not_follow_the_pictures(kind):
  """Second-to-second changes of an unaligned soundtrack are unrelated to the pictures'."""
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal import cca as cca_lib
  cfg = synthetic.SynthConfig(preset="realistic", num_videos=60, min_frames=60, max_frames=60,
                              seed=2, unrelated_fraction=0.0, unaligned_fraction=0.5,
                              unaligned_kind=kind)
  videos = list(synthetic.generate_videos(cfg))
  diff = lambda q: np.diff(feat.dequantize(q), axis=0)
  aligned = [v for v in videos if v.related]
  unaligned = [v for v in videos if not v.related]
  assert len(aligned) > 15 and len(unaligned) > 15
  fit = cca_lib.fit_cca(np.concatenate([diff(v.audio) for v in aligned[:15]]),
                        np.concatenate([diff(v.visual) for v in aligned[:15]]), 4, reg=0.1)

  def correlation(v):
    a, b = fit.audio(diff(v.audio))[:, 0], fit.visual(diff(v.visual))[:, 0]
    return np.corrcoef(a, b)[0, 1]

  assert np.mean([correlation(v) for v in aligned[15:]]) > 0.4
  assert abs(np.mean([correlation(v) for v in unaligned])) < 0.1
