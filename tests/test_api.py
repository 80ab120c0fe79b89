"""The Python API: quiet import, encoders, search and sync agree with the tools."""

import doctest
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import helpers
import yt8m_crossmodal as ym
from yt8m_crossmodal import api
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline


def _python(code):
  env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "YT8M_VERBOSE")}
  return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=600, env=env)


def test_every_api_name_is_reachable_from_the_package():
  assert sorted(ym._API) == sorted(api.__all__)  # pylint: disable=protected-access
  for name in api.__all__:
    assert getattr(ym, name) is getattr(api, name)
  with pytest.raises(AttributeError):
    ym.no_such_name  # pylint: disable=pointless-statement


@pytest.mark.parametrize("module", ["retrieval.alignment", "io_utils", "data.features"])
def test_any_module_imports_first_in_a_fresh_process(module):
  """A submodule imported before anything else is not mistaken for an API name."""
  proc = _python(f"import yt8m_crossmodal.{module}")
  assert proc.returncode == 0, proc.stderr[-2000:]


def test_importing_the_package_and_synchronizing_timelines_load_no_tensorflow():
  proc = _python(
      "import sys, numpy as np, yt8m_crossmodal as ym\n"
      "rng = np.random.default_rng(0)\n"
      "visual = rng.normal(size=(60, 16))\n"
      "audio = np.roll(visual, 2, axis=0) + 0.3 * rng.normal(size=(60, 16))\n"
      "r = ym.synchronize(audio, visual)\n"
      "print(r.status, r.offset_seconds, 'tensorflow' in sys.modules)\n")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.split() == ["synchronized", "2", "False"]
  assert proc.stderr == ""


def test_loading_an_encoder_prints_none_of_tensorflows_start_up_lines(frame_export):
  proc = _python(
      "import yt8m_crossmodal as ym\n"
      f"enc = ym.load_encoder({frame_export.export_dir!r})\n"
      "print(enc.feature_level, enc.embedding_size)\n")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.split()[0] == "frame"
  assert proc.stderr == ""


def test_docstring_examples(frame_export, frame_data_dir):
  """The module's doctest runs on a real export (any outcome but the shapes is model-made)."""
  encoder = ym.load_encoder(frame_export.export_dir)
  videos = encoder.encode_records(f"{frame_data_dir}/*.tfrecord", max_videos=1)
  assert len(videos) == 1
  rng = np.random.default_rng(0)
  globs = {"export_dir": frame_export.export_dir,
           "audio_frames": rng.integers(0, 256, (40, 128), dtype=np.uint8),
           "visual_frames": rng.integers(0, 256, (40, 1024), dtype=np.uint8)}
  failures, tried = doctest.testmod(api, extraglobs=globs, optionflags=doctest.ELLIPSIS)
  assert tried >= 4 and failures == 0


def test_encode_one_video_or_a_batch(frame_export):
  encoder = ym.load_encoder(frame_export.export_dir)
  rng = np.random.default_rng(1)
  audio = rng.integers(0, 256, (2, 30, 128), dtype=np.uint8)
  batch = encoder.encode_audio(audio, num_frames=[30, 20])
  one = encoder.encode_audio(audio[1, :20])
  assert batch.clip.shape == (2, encoder.embedding_size)
  assert batch.timeline.shape == (2, 30, encoder.embedding_size)
  np.testing.assert_allclose(one.clip, batch.clip[1], atol=1e-5)
  np.testing.assert_allclose(one.timeline, batch.timeline[1, :20], atol=1e-5)
  # uint8 features are dequantized; floats are taken as they are.
  as_float = encoder.encode_audio(feat.dequantize(audio[1, :20]))
  np.testing.assert_allclose(as_float.clip, one.clip, atol=1e-5)
  with pytest.raises(ym.UsageError, match="D = 1024"):
    encoder.encode_visual(audio[0])


def test_quantized_bytes_in_any_integer_form_are_dequantized(frame_export):
  encoder = ym.load_encoder(frame_export.export_dir)
  frames = np.random.default_rng(4).integers(0, 256, (12, 128), dtype=np.uint8)
  want = encoder.encode_audio(frames).clip
  for given in (frames.astype(np.int64), frames.tolist(), [row.tobytes() for row in frames]):
    np.testing.assert_allclose(encoder.encode_audio(given).clip, want, atol=1e-6)
  with pytest.raises(ym.UsageError, match="integers are taken as quantized bytes"):
    encoder.encode_audio(frames.astype(np.int64) + 200)


def test_bad_input_to_the_api_is_a_usage_error_naming_the_argument(frame_export, tmp_path):
  encoder = ym.load_encoder(frame_export.export_dir)
  helpers.random_catalogue(tmp_path / "index", n=6)
  catalogue = ym.open_catalogue(str(tmp_path / "index"))
  frames = np.random.default_rng(5).integers(0, 256, (10, 128), dtype=np.uint8)
  query = encoder.encode_audio(frames)
  nan_timeline = query.timeline.copy()
  nan_timeline[3] = np.nan
  timeline = np.random.default_rng(6).normal(size=(30, helpers.E))
  cases = [
      (lambda: encoder.encode_audio(np.full((5, 128), np.nan, np.float32)), "NaN or Inf"),
      (lambda: encoder.encode_audio(np.zeros((0, 128), np.uint8)), "empty"),
      (lambda: encoder.encode_audio(frames, num_frames=0), "num_frames must be in 1..10"),
      (lambda: encoder.encode_audio(frames[0]), r"must be \[T, D\]"),
      (lambda: encoder.encode_audio(frames > 3), "must be numbers"),
      (lambda: ym.synchronize(timeline, timeline, max_offset=2.5), "max_offset must be a whole"),
      (lambda: ym.synchronize(timeline, timeline, max_offset=10 ** 9), "max_offset must be <="),
      (lambda: ym.synchronize(timeline[:0], timeline), "audio_timeline must be"),
      (lambda: ym.search_catalogue(catalogue, query.clip), "query must be an ym.Embedding"),
      (lambda: ym.search_catalogue(catalogue, ym.Embedding(query.clip * np.nan)),
       "query.clip holds NaN"),
      (lambda: ym.search_catalogue(catalogue, ym.Embedding(query.clip), k=0), "k must be >= 1"),
      (lambda: ym.search_catalogue(catalogue, ym.Embedding(query.clip, nan_timeline),
                                   localize=True), "query.timeline holds NaN"),
  ]
  for call, message in cases:
    with pytest.raises(ym.UsageError, match=message):
      call()


def test_synchronize_answers_as_yt8m_sync_does(frame_export, frame_data_dir):
  data = f"{frame_data_dir}/*.tfrecord"
  lines = list(ym.sync_records(ym.SyncConfig(export_dir=frame_export.export_dir, data=data,
                                             max_videos=3, drift=True)))
  encoder = ym.load_encoder(frame_export.export_dir)
  # yt8m-sync reads every second of a record (encode_records: max_frames).
  batch = next(iter(pipeline.make_dataset(data, batch_size=64, max_frames=1 << 20, seed=0)))
  ids = [i.decode() for i in batch["id"].numpy()]
  assert [line["id"] for line in lines] == ids[:3]
  assert max(batch["num_frames"].numpy()) > encoder.config.data.max_frames
  for line, i in zip(lines, range(3)):
    n = int(batch["num_frames"][i])
    a = encoder.encode_audio(batch["audio"].numpy()[i, :n]).timeline
    v = encoder.encode_visual(batch["visual"].numpy()[i, :n]).timeline
    result = ym.synchronize(a, v, drift=True).to_dict()
    assert result["status"] == line["status"]
    assert result["best_offset_seconds"] == line["best_offset_seconds"]
    assert result["confidence"] == pytest.approx(line["confidence"], abs=1e-3)
    assert result["audio_seconds"] == line["audio_seconds"]
    assert result["model"] == line["model"]


def test_synchronize_refuses_bad_input():
  with pytest.raises(ym.UsageError, match="same E"):
    ym.synchronize(np.zeros((30, 8)), np.zeros((30, 4)))
  with pytest.raises(ym.UsageError, match="too short"):
    ym.synchronize(np.ones((8, 4)), np.ones((8, 4)), max_offset=5)
  with pytest.raises(ym.UsageError, match="min_confidence"):
    ym.synchronize(np.ones((30, 4)), np.ones((30, 4)), min_confidence=2.0)


def test_search_catalogue_ranks_as_yt8m_search_does(frame_export, frame_data_dir, tmp_path):
  data = f"{frame_data_dir}/*.tfrecord"
  index = str(tmp_path / "index")
  ym.embed(ym.EmbedConfig(export_dir=frame_export.export_dir, data=data, output=index,
                          timelines=True))
  lines = list(ym.search(ym.SearchConfig(index=index, query_data=data, k=3, rerank=5,
                                         export_dir=frame_export.export_dir,
                                         max_queries=2)))
  encoder = ym.load_encoder(frame_export.export_dir)
  catalogue = ym.open_catalogue(index)
  videos = encoder.encode_records(data, max_videos=2)
  for line, clip, timeline in zip(lines, videos.audio_embedding, videos.audio_timelines):
    got = ym.search_catalogue(catalogue, ym.Embedding(clip, timeline), k=3, rerank=5)
    assert [r["id"] for r in got] == [r["id"] for r in line["results"]]
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in line["results"]],
                                                      abs=1e-4)
  with pytest.raises(ym.UsageError, match="one query"):
    ym.search_catalogue(catalogue, ym.Embedding(videos.audio_embedding))


def test_evaluate_refuses_an_output_dir_that_is_a_file_before_any_work(tmp_path):
  path = tmp_path / "metrics"
  path.write_text("not a folder")
  cfg = ym.EvaluateConfig(export_dir="unused", data="unused/*", output_dir=str(path))
  with pytest.raises(ym.UsageError, match="is a file, not a folder"):
    ym.evaluate(cfg)
  assert path.read_text() == "not a folder"


def test_help_is_quick_and_imports_no_tensorflow():
  for tool in ("sync", "search", "embed", "evaluate", "export", "validate", "synth"):
    proc = _python(f"import sys; sys.argv = ['yt8m-{tool}', '--help']\n"
                   f"import runpy\n"
                   f"try:\n"
                   f"  runpy.run_module('yt8m_crossmodal.tools.{tool}', run_name='__main__')\n"
                   f"except SystemExit:\n"
                   f"  pass\n"
                   f"print(json_loaded := 'tensorflow' in sys.modules)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False", tool
    assert f"yt8m-{tool}" in proc.stdout


def test_sync_result_fields_are_the_tools_json_fields():
  rng = np.random.default_rng(3)
  visual = rng.normal(size=(50, 8))
  result = ym.synchronize(np.roll(visual, -1, axis=0), visual, max_offset=3)
  fields = json.loads(json.dumps(result.to_dict()))
  assert set(fields) == {"status", "offset_seconds", "best_offset_seconds", "confidence",
                         "p_value", "audio_seconds", "scores"}
  assert fields["offset_seconds"] == -1


def test_train_export_and_encode_from_python(frame_data_dir, tmp_path):
  """The notebook path: a named config, train, export, encode the records."""
  data = f"{frame_data_dir}/*.tfrecord"
  base = helpers.tiny_config("frame")
  config = ym.named_config("default", base=base, train_data=data,
                           model_dir=str(tmp_path / "run"), epochs=1, batch_size=8,
                           timeline_nce_seconds=8, warmup_steps=0, shuffle_buffer=0)
  logs = ym.train(config)
  assert np.isfinite(logs["loss"])
  info = ym.export(str(tmp_path / "run"), str(tmp_path / "saved"))
  assert info["version"] == 1 and os.path.isdir(info["path"])
  encoder = ym.load_encoder(str(tmp_path / "saved"))
  videos = encoder.encode_records(data, max_videos=4)
  assert videos.audio_embedding.shape == (4, encoder.embedding_size)
  np.testing.assert_allclose(np.linalg.norm(videos.audio_embedding, axis=1), 1.0, atol=1e-4)
  with pytest.raises(ym.UsageError, match="--config must be one of"):
    ym.named_config("no_such_experiment")
