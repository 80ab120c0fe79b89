"""yt8m-evaluate: metrics through the exported signatures, files, errors."""

import csv
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import embedding
from yt8m_crossmodal.evaluation import mturk_layout
from yt8m_crossmodal.evaluation.encode import keras_encode_fn
from yt8m_crossmodal.jobs import evaluate as evaluate_job
from yt8m_crossmodal.jobs import synth as synth_job

import helpers

RETRIEVAL_KEYS = ["recall@1", "recall@5", "recall@10", "median_rank", "mean_rank", "map"]


def _config(export_dir, data, **kw):
  base = dict(export_dir=export_dir, data=data, pool_sizes=(8, 1000), max_offset=2,
              excerpt_seconds=4, rated_queries=5, rated_candidates=3)
  base.update(kw)
  return evaluate_job.EvaluateConfig(**base)


def test_evaluate_cli_end_to_end(frame_export, frame_data_dir, tmp_path):
  out = tmp_path / "eval"
  env = helpers.tool_env()
  proc = subprocess.run(
      [sys.executable, "-m", "yt8m_crossmodal.tools.evaluate",
       f"--export_dir={frame_export.export_dir}", f"--data={frame_data_dir}/*.tfrecord",
       f"--output_dir={out}", "--pool_sizes=8,1000", "--max_offset=2",
       "--excerpt_seconds=4", "--rated_queries=5", "--rated_candidates=3"],
      capture_output=True, text=True, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert helpers.library_lines(proc.stderr) == [], proc.stderr[-3000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["num_videos"] == 24
  assert result["export"] == os.path.abspath(frame_export.version_dir)
  assert result["pool8/pool_size"] == 8 and result["pool1000/pool_size"] == 24
  # First printed: the pools asked for, then all videos, ranked both ways.
  rows = [line.split() for line in proc.stdout.splitlines()
          if line.startswith(("8 ", "1000 ", "all "))]
  assert [r[0] for r in rows] == ["8", "8", "1000", "1000", "all", "all"]
  hub8 = next(r for r in rows if r[0] == "8" and "yt8m-search" in r)
  assert hub8[-8:] == [f"{result[f'hub_pool8/{d}/{k}']:.3f}" if k != "median_rank" else
                       f"{result[f'hub_pool8/{d}/{k}']:g}"
                       for d in ("a2v", "v2a")
                       for k in ("recall@1", "recall@5", "recall@10", "median_rank")]
  assert "1000 (all 24)" in proc.stdout
  for prefix, pool in (("all", 24), ("pool8", 8), ("pool1000", 24)):
    for direction in ("a2v", "v2a"):
      r = {key: result[f"{prefix}/{direction}/{key}"] for key in RETRIEVAL_KEYS}
      assert 0 <= r["recall@1"] <= r["recall@5"] <= r["recall@10"] <= 1, (prefix, r)
      assert 1 <= r["median_rank"] <= pool and 1 <= r["mean_rank"] <= pool, (prefix, r)
      assert 1 / pool <= r["map"] <= 1, (prefix, r)
  # The tool prints exactly what the library computes for the same options.
  again = evaluate_job.evaluate_export(_config(
      frame_export.export_dir, f"{frame_data_dir}/*.tfrecord", pool_sizes=(8, 1000)))
  for key, value in again.items():
    if isinstance(value, float):
      assert result[key] == pytest.approx(value, abs=1e-6), key
  for key in ("sync/exact", "sync/within_1s", "sync/mae_seconds", "sync/tasks",
              "timeline/a2v_recall@1", "rerank/a2v_recall@1_before",
              "rerank/a2v_recall@1_after", "rerank/v2a_recall@1_before",
              "rerank/v2a_recall@1_after", "rerank/a2v_recall@10"):
    assert key in result, key
  assert result["sync/tasks"] == 24  # Every video has >= 4 + 2 * 2 seconds.

  with open(out / "metrics.json") as f:
    assert json.load(f) == result
  for png in ("recall_at_k.png", "sync_offsets.png"):
    assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  events = [os.path.join(out / "tensorboard", f) for f in os.listdir(out / "tensorboard")]
  tags = {v.tag for e in tf.compat.v1.train.summary_iterator(events[0]) for v in e.summary.value}
  assert "all/a2v/recall@1" in tags and "sync/exact" in tags
  assert {"plots/sync_offsets", "plots/recall_at_k"} <= tags

  ids = {i.decode() for b in pipeline.make_dataset(f"{frame_data_dir}/*.tfrecord")
         for i in b["id"].numpy()}
  with open(out / "mturk_batch.csv", newline="") as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["query_id", "query_modality", "candidate_modality",
                     "candidate_1_id", "candidate_1_rank", "candidate_2_id",
                     "candidate_2_rank", "candidate_3_id", "candidate_3_rank",
                     "candidate_1_score", "candidate_2_score", "candidate_3_score",
                     "sync_picture_start", "sync_audio_start", "sync_seconds",
                     "sync_estimated_offset", "sync_true_offset"]
  assert len(rows) == 1 + 2 * 5  # 5 queries per direction.
  assert {r[1] for r in rows[1:]} == {"audio", "visual"}
  for row in rows[1:]:
    assert row[0] in ids and {row[3], row[5], row[7]} <= ids
    assert row[4:9:2] == ["1", "2", "3"]
    scores = [float(v) for v in row[9:12]]
    assert scores == sorted(scores, reverse=True) and all(-1.001 <= v <= 1.001 for v in scores)
    if row[1] == "audio":  # Every video has a sync task; asked on audio-query rows.
      picture, audio, seconds, est, true = map(int, row[12:])
      assert seconds == 4 and audio - picture == true - est and abs(est) <= 2 and abs(true) <= 2
    else:
      assert row[12:] == [""] * 5
  layout = (out / "mturk_layout.html").read_text()
  assert mturk_layout.placeholders(layout) == set(rows[0]) - {
      "candidate_1_rank", "candidate_2_rank", "candidate_3_rank", "candidate_1_score",
      "candidate_2_score", "candidate_3_score", "sync_estimated_offset", "sync_true_offset"}
  filled = mturk_layout.fill(layout, dict(zip(rows[0], rows[1])))
  assert "${" not in filled and f"data-id='{rows[1][3]}'" in filled
  assert all(f"name='relevance_{j}' value='{v}'" in filled for j in (1, 2, 3) for v in (0, 1, 2))
  assert "name='sync' value='audio_late'" in filled
  page = (out / "index.html").read_text()
  assert page.startswith("<!DOCTYPE html>")
  assert all(r[0] in page for r in rows[1:]) and "true match in top 3" in page
  # Relative names, rounded figures, what is shown and in which order, the plots.
  assert str(tmp_path) not in page and "<h1>Retrieval results: saved, version 1</h1>" in page
  assert page.count("5 of 24 queries, the first by id, in id order") == 2
  assert "<img src='recall_at_k.png'" in page and "<img src='sync_offsets.png'" in page
  assert page.index("<table class='headline'>") < page.index("<img")  # The asked-for first.
  assert f"<td class='num'>{result['pool8/v2a/recall@10']:.3f}</td>" in page
  a2v_ids = [r[0] for r in rows[1:] if r[1] == "audio"]
  assert a2v_ids == sorted(ids)[:5]


def test_metrics_equal_the_keras_encoders_in_process(frame_export, frame_data_dir):
  data = f"{frame_data_dir}/*.tfrecord"
  result = evaluate_job.evaluate_export(_config(frame_export.export_dir, data, pool_sizes=(8,)))
  ds = pipeline.make_dataset(data, batch_size=64, max_frames=helpers.MAX_FRAMES, seed=0)
  embedded = embedding.embed_dataset(ds, keras_encode_fn(frame_export.audio),
                                  keras_encode_fn(frame_export.visual),
                                  keep_audio_features=True)
  want = embedding.evaluate_embedded(embedded, keras_encode_fn(frame_export.audio),
                                  pool_sizes=(8, None), max_offset=2, excerpt_seconds=4)
  for key, value in want.items():
    assert result[key] == pytest.approx(value, abs=1e-6), key
  # Re-ranking "before" is exact clip search: the same R@1 as the metrics.
  assert result["rerank/a2v_recall@1_before"] == pytest.approx(result["all/a2v/recall@1"])
  assert result["rerank/top"] == 10 and result["rerank/alpha"] == 0.5


def test_video_level_export(video_export, tmp_path):
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path / "data"), feature_level="video", num_videos=12,
      num_shards=1, seed=4))
  out = tmp_path / "eval"
  result = evaluate_job.evaluate_export(_config(video_export.version_dir, str(tmp_path / "data" / "*"),
                                output_dir=str(out)))
  assert result["num_videos"] == 12 and result["feature_level"] == "video"
  assert "all/a2v/recall@1" in result and "pool8/v2a/map" in result
  assert not [k for k in result if k.startswith(("sync/", "rerank/", "timeline/"))]
  assert sorted(os.listdir(out)) == ["index.html", "metrics.json", "mturk_batch.csv",
                                     "mturk_layout.html", "recall_at_k.png", "tensorboard"]
  with open(out / "mturk_batch.csv", newline="") as f:
    header = next(csv.reader(f))
  assert header[-1] == "candidate_3_score"  # No sync columns without sync results,
  layout = (out / "mturk_layout.html").read_text()
  assert "sync" not in mturk_layout.placeholders(layout)  # nor a sync question.
  assert "name='sync'" not in layout and "${candidate_3_id}" in layout


def test_errors(frame_export, frame_data_dir, tmp_path):
  data = f"{frame_data_dir}/*.tfrecord"
  with pytest.raises(UsageError, match="no export at"):
    evaluate_job.evaluate_export(_config(str(tmp_path / "missing"), data))
  (tmp_path / "empty").mkdir()
  with pytest.raises(UsageError, match="is not a SavedModel"):
    evaluate_job.evaluate_export(_config(str(tmp_path / "empty"), data))
  with pytest.raises(UsageError, match="--pool_sizes must be >= 2"):
    evaluate_job.evaluate_export(_config(frame_export.export_dir, data, pool_sizes=(1,)))
  with pytest.raises(UsageError, match="--data is required"):
    evaluate_job.evaluate_export(_config(frame_export.export_dir, ""))
  with pytest.raises(FileNotFoundError, match="No files match"):
    evaluate_job.evaluate_export(_config(frame_export.export_dir, str(tmp_path / "none*.tfrecord")))


def _full_disk_for(monkeypatch, name):
  """Writes to files whose name contains ``name`` fail with ENOSPC (builtins and gfile)."""
  import builtins
  import errno

  class Full:
    def __init__(self, f, path):
      self.f, self.path = f, path

    def write(self, *args):
      raise OSError(errno.ENOSPC, "No space left on device", self.path)

    def __enter__(self):
      return self

    def __exit__(self, *exc):
      self.f.close()

    def __getattr__(self, attr):
      return getattr(self.f, attr)

  real_open, real_gfile = builtins.open, tf.io.gfile.GFile

  def full_open(path, mode="r", *args, **kw):
    f = real_open(path, mode, *args, **kw)
    return Full(f, path) if "w" in mode and name in str(path) else f

  def full_gfile(path, mode="r"):
    f = real_gfile(path, mode)
    return Full(f, path) if "w" in mode and name in str(path) else f

  monkeypatch.setattr(builtins, "open", full_open)
  monkeypatch.setattr(tf.io.gfile, "GFile", full_gfile)


@pytest.mark.parametrize("victim", ["metrics.json", "mturk_batch.csv", "index.html",
                                    "recall_at_k.png"])
def test_a_full_disk_keeps_the_earlier_reports(video_export, tmp_path, monkeypatch, victim):
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path / "data"), feature_level="video", num_videos=8,
      num_shards=1, seed=4))
  out = tmp_path / "eval"
  cfg = _config(video_export.version_dir, str(tmp_path / "data" / "*"), output_dir=str(out),
                pool_sizes=(4,))
  evaluate_job.evaluate_export(cfg)
  before = {name: (out / name).read_bytes() for name in os.listdir(out) if name != "tensorboard"}
  _full_disk_for(monkeypatch, victim)
  with pytest.raises(UsageError, match=f"cannot write '.*{victim}': .*No space left on device"):
    evaluate_job.evaluate_export(cfg)
  monkeypatch.undo()
  assert (out / victim).read_bytes() == before[victim]  # Not truncated, not half written.
  assert sorted(os.listdir(out)) == sorted(list(before) + ["tensorboard"])  # No temp files.


def test_a_remote_output_dir_goes_through_gfile(video_export, tmp_path, monkeypatch):
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path / "data"), feature_level="video", num_videos=8,
      num_shards=1, seed=4))
  monkeypatch.chdir(tmp_path)
  out = "ram://bucket/eval"  # TF's in-memory file system: a URL only gfile reaches.
  result = evaluate_job.evaluate_export(_config(
      video_export.version_dir, str(tmp_path / "data" / "*"), output_dir=out,
      pool_sizes=(4,)))
  assert result["files"]["metrics"] == f"{out}/metrics.json"
  assert json.loads(tf.io.gfile.GFile(f"{out}/metrics.json").read())["num_videos"] == 8
  assert {"index.html", "mturk_batch.csv", "recall_at_k.png"} <= set(tf.io.gfile.listdir(out))
  assert sorted(os.listdir(tmp_path)) == ["data"]  # Nothing written to ./ram:/...
  with pytest.raises(UsageError, match="--output_dir 'nosuch://x/eval'"):
    evaluate_job.evaluate_export(_config(
        video_export.version_dir, str(tmp_path / "data" / "*"), output_dir="nosuch://x/eval"))

def test_offsets_file_scores_unaligned_soundtracks_as_such(frame_export, tmp_path):
  # A set with stored lateness and unaligned soundtracks: the unaligned ones
  # are not sync tasks of the exact rate, and get no Mechanical Turk sync row.
  data = tmp_path / "data"
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(data), prefix="t", num_videos=16, num_shards=1, min_frames=12,
      max_frames=16, seed=4, max_offset=2, unaligned_fraction=0.4, unaligned_kind="other"))
  truth = json.load(open(data / "t_offsets.json"))
  unaligned = set(truth["unrelated"])
  out = tmp_path / "eval"
  result = evaluate_job.evaluate_export(_config(
      frame_export.export_dir, str(data / "*.tfrecord"), pool_sizes=(8,),
      offsets_file=str(data / "t_offsets.json"), output_dir=str(out), rated_queries=0))
  assert 2 <= len(unaligned) <= 12
  assert result["sync/unaligned_tasks"] == len(unaligned)
  assert result["sync/tasks"] == 16 - len(unaligned)
  for key in ("sync/aligned_answered", "sync/unaligned_refused", "sync/confidence_auc"):
    assert 0.0 <= result[key] <= 1.0
  with open(out / "mturk_batch.csv") as f:
    rows = [r for r in csv.DictReader(f) if r["query_modality"] == "audio"]
  assert len(rows) == 16
  with_sync = {r["query_id"] for r in rows if r["sync_true_offset"] != ""}
  assert with_sync == {r["query_id"] for r in rows} - unaligned
  (tmp_path / "bad.json").write_text("{")
  with pytest.raises(UsageError, match="cannot read the offsets file .*bad.json"):
    evaluate_job.evaluate_export(_config(frame_export.export_dir, str(data / "*.tfrecord"),
                                              offsets_file=str(tmp_path / "bad.json")))
