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


def test_loading_an_encoder_and_the_first_encode_print_no_library_line(frame_export):
  """TF's start-up lines, and ``E0000 ... oneDNN supports DT_BOOL only on
  platforms with AVX-512`` on the first encode, stay off."""
  proc = _python(
      "import numpy as np, yt8m_crossmodal as ym\n"
      f"enc = ym.load_encoder({frame_export.export_dir!r})\n"
      "out = enc.encode_audio(np.zeros((12, 128), np.uint8))\n"
      "print(enc.feature_level, out.timeline.shape[0])\n")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.split() == ["frame", "12"]
  assert proc.stderr == ""


@pytest.fixture(scope="module")
def doctest_globals(frame_export, frame_data_dir, media_weights_dir, tmp_path_factory):
  """The names the API's examples use: an export, its training folder, records,
  an index folder of them (embedded once here), an empty folder, a sound file
  and the weight files of yt8m-extract."""
  from yt8m_crossmodal.media import synthetic as media_synthetic
  root = tmp_path_factory.mktemp("doctests")
  recording = media_synthetic.write_media(str(root / "recording.wav"), media_synthetic.SampleMedia(
      seconds=3, fps=0, sample_rate=16000, tone_seconds=[1]))
  records = f"{frame_data_dir}/*.tfrecord"
  ym.embed(ym.EmbedConfig(export_dir=frame_export.export_dir, data=records,
                          output=str(root / "index"), timelines=True))
  (root / "tmp").mkdir()
  return {"export_dir": frame_export.export_dir, "model_dir": frame_export.model_dir,
          "encoder": ym.load_encoder(frame_export.export_dir),
          "records": records, "index_dir": str(root / "index"), "tmp": str(root / "tmp"),
          "recording": recording, "weights_dir": media_weights_dir}


def _examples(obj, name, globs):
  """The doctests of ``obj`` (and of its methods), run in the API's namespace."""
  finder = doctest.DocTestFinder(recurse=isinstance(obj, type))
  return [t for t in finder.find(obj, name, globs=dict(globs)) if t.examples]


@pytest.mark.parametrize("name", [n for n in api.__all__ if n != "EXPERIMENTS"])
def test_every_api_name_has_a_docstring_whose_example_runs(name, doctest_globals):
  obj = getattr(api, name)
  globs = {**vars(api), **doctest_globals}
  tests = _examples(obj, f"ym.{name}", globs)
  assert any(t.name == f"ym.{name}" for t in tests), f"{name}: no example in its docstring"
  runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
  for test in tests:
    runner.run(test)
  assert runner.failures == 0, f"{name}: {runner.failures} failed example(s) (see stdout)"


def test_the_modules_example_runs_and_experiments_are_shown(doctest_globals):
  globs = {**vars(api), **doctest_globals}
  (test,) = doctest.DocTestFinder(recurse=False).find(api, "api", globs=globs)
  assert len(test.examples) >= 6
  runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
  runner.run(test)
  assert runner.failures == 0
  assert "EXPERIMENTS" in api.named_config.__doc__  # The one name without a docstring.


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


def test_configs_read_and_write_by_the_same_names():
  config = ym.named_config("default").replace(feature_level="video", lstm_units=8)
  assert (config.feature_level, config["feature_level"], config.data.feature_level) == (
      "video", "video", "video")
  assert config.lstm_units == 8 and config["model"] == "auto"
  assert config.flat_dict()["lstm_units"] == 8 and len(config.flat_dict()) > 60
  assert ym.Config().replace(**config.flat_dict()) == config
  for name, message in (("progress", "--progress is a switch of the console tools"),
                        ("verbose", "YT8M_VERBOSE=1"), ("config", "named_config"),
                        ("lstm_unit", "did you mean lstm_units?")):
    with pytest.raises(ym.UsageError, match=message):
      config.replace(**{name: 1})
  with pytest.raises(AttributeError, match="did you mean lstm_units"):
    config.lstm_unit  # pylint: disable=pointless-statement
  with pytest.raises(ym.UsageError, match="did you mean lstm_units"):
    ym.named_config("default", lstm_unit=8)
  with pytest.raises(ym.UsageError, match="--config must be one of"):
    ym.named_config("no_such_experiment")


def test_train_with_a_pattern_that_matches_nothing_is_a_usage_error(tmp_path):
  config = ym.named_config(train_data=str(tmp_path / "none*.tfrecord"),
                           model_dir=str(tmp_path / "run"))
  with pytest.raises(ym.UsageError, match="No files match the pattern .* of --train_data"):
    ym.train(config)
  with pytest.raises(FileNotFoundError):  # What callers caught before.
    ym.train(config)
  assert not (tmp_path / "run").exists()


def test_read_records_yields_each_video_as_the_reader_reads_it(frame_data_dir, tmp_path):
  from yt8m_crossmodal.data import pipeline
  pattern = f"{frame_data_dir}/*.tfrecord"
  videos = list(ym.read_records(pattern))
  assert len(videos) == 24 and len({v.id for v in videos}) == 24
  batch = next(iter(pipeline.make_dataset(pattern, batch_size=24, file_order=True)))
  for i, video in enumerate(videos):
    n = int(batch["num_frames"][i])
    assert video.id == batch["id"][i].numpy().decode() and video.num_frames == n
    np.testing.assert_array_equal(video.audio, batch["audio"][i, :n].numpy())
    np.testing.assert_array_equal(video.visual, batch["visual"][i, :n].numpy())
    np.testing.assert_array_equal(video.labels, np.flatnonzero(batch["labels"][i].numpy()))
  assert videos[0].file.endswith("train0000.tfrecord") and videos[0].index == 0
  floats = next(ym.read_records(pattern, dequantize=True))
  np.testing.assert_allclose(floats.audio, feat.dequantize(videos[0].audio), atol=1e-6)
  assert [v.id for v in ym.read_records(pattern, max_videos=3)] == [v.id for v in videos[:3]]
  ym.make_sample_data(ym.SynthConfig(output_dir=str(tmp_path), num_videos=3, num_shards=1,
                                     feature_level="video"))
  means = list(ym.read_records(f"{tmp_path}/*.tfrecord"))
  assert [v.audio.shape for v in means] == [(128,)] * 3 and means[0].feature_level == "video"
  with pytest.raises(ym.UsageError, match="No files match"):
    next(ym.read_records(f"{tmp_path}/none*"))


def test_the_readmes_python_snippet_runs_as_written(frame_export, doctest_globals, tmp_path,
                                                    monkeypatch):
  """The README's Python API block, run as written in a folder with its paths.

  ``ym.train`` and ``ym.export`` stand in for themselves here: they check the
  config as training does, then copy the tests' tiny trained model and its
  export instead of training the default-sized model (their own doctests
  train and export for real).
  """
  import re
  import shutil
  from yt8m_crossmodal.training import checks
  with open(os.path.join(os.path.dirname(__file__), "..", "README.md")) as f:
    readme = f.read()
  section = readme[readme.index("## Python API"):]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  for prefix, seed in (("train", 1), ("test", 2)):  # Long enough for max_offset=5.
    ym.make_sample_data(ym.SynthConfig(output_dir=str(tmp_path / "mydata"), prefix=prefix,
                                       num_videos=4, num_shards=1, min_frames=24,
                                       max_frames=30, seed=seed))
  os.makedirs(tmp_path / "index")
  shutil.copytree(doctest_globals["index_dir"], tmp_path / "index" / "frame")
  calls = []

  def train(config):
    checks.check_config(config)
    calls.append(("train", config.train_data))
    shutil.copytree(frame_export.model_dir, config.model_dir, dirs_exist_ok=True)
    return {}

  def export(model_dir, export_dir):
    calls.append(("export", model_dir))
    shutil.copytree(frame_export.export_dir, export_dir)
    return {}

  monkeypatch.setattr(ym, "train", train, raising=False)
  monkeypatch.setattr(ym, "export", export, raising=False)
  monkeypatch.chdir(tmp_path)
  scope = {}
  exec(compile(code, "README.md", "exec"), scope)  # pylint: disable=exec-used
  assert calls == [("train", "mydata/train*.tfrecord"), ("export", "runs/a")]
  assert scope["result"].status in ("synchronized", "cannot_synchronize")
  assert len(scope["hits"]) == 10 and "best_start_second" in scope["hits"][0]
