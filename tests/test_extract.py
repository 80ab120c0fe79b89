"""``yt8m-extract`` end to end: media files written here -> records in the
published layout, read back by the starter code's layout and by the reader;
which second each feature comes from, which modality, which channel order;
long files; bad files in a batch; the manifest; the Beam pipeline."""

import dataclasses
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.jobs import extract as extract_job
from yt8m_crossmodal.jobs.config import ExtractConfig
from yt8m_crossmodal.media import extractor
from yt8m_crossmodal.media import synthetic as syn
from yt8m_crossmodal.errors import UsageError


def starter_parse(serialized, feature_names=("rgb", "audio")):
  """The starter code's frame-level parse (readers.YT8MFrameFeatureReader:
  its --feature_names, each a required feature list)."""
  context, sequence = tf.io.parse_single_sequence_example(
      serialized,
      context_features={"id": tf.io.FixedLenFeature([], tf.string),
                        "labels": tf.io.VarLenFeature(tf.int64)},
      sequence_features={name: tf.io.FixedLenSequenceFeature([], dtype=tf.string)
                         for name in feature_names})
  out = {"id": context["id"].numpy().decode(),
         "labels": tf.sparse.to_dense(context["labels"]).numpy().tolist()}
  for name, dim in ((n, {"rgb": 1024, "audio": 128}[n]) for n in feature_names):
    raw = tf.reshape(tf.cast(tf.io.decode_raw(sequence[name], tf.uint8), tf.float32), [-1, dim])
    out[name] = raw.numpy().astype(np.uint8)
  return out


def _records(path):
  return [r.numpy() for r in tf.data.TFRecordDataset(path)]


# A lossless file: pictures at 10 fps with seconds 1 and 4 white, sound at
# 16 kHz (no resampling) with a tone in seconds 2 and 5, silence elsewhere.
FLASHES, TONES = (1, 4), (2, 5)


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
  folder = tmp_path_factory.mktemp("marked")
  return syn.write_media(str(folder / "marked.mkv"), syn.SampleMedia(
      seconds=7, fps=10, sample_rate=16000, flash_seconds=FLASHES, tone_seconds=TONES))


def test_each_modality_and_second_lands_where_it_belongs(marked, media_networks):
  got = extractor.extract_file(marked, media_networks)
  assert got.rgb.shape == (7, 1024) and got.audio.shape == (7, 128)
  assert got.rgb.dtype == np.uint8 and got.seconds == 7
  # Pictures: the white seconds, and only they, give the white picture's features.
  white = extractor.extract_file(
      syn.write_media(os.path.join(os.path.dirname(marked), "white.mkv"),
                      syn.SampleMedia(seconds=1, fps=10, sample_rate=0, color=(255, 255, 255))),
      media_networks)
  is_white = [bool(np.array_equal(row, white.rgb[0])) for row in got.rgb]
  assert [k for k, w in enumerate(is_white) if w] == list(FLASHES)
  # Sound: silent seconds give one and the same vector; the tone seconds differ.
  silent = got.audio[0]
  loud = [k for k, row in enumerate(got.audio) if not np.array_equal(row, silent)]
  assert loud == list(TONES)
  # The record's means are those of the features before quantization.
  dequantized = feat.dequantize(got.rgb).mean(axis=0)
  assert np.abs(got.mean_rgb - dequantized).max() < 4 / 255


@pytest.mark.parametrize("color,high,low", [((255, 0, 0), 0, 2), ((0, 0, 255), 2, 0)])
def test_pictures_reach_the_graph_in_rgb_order(tmp_path, media_networks, color, high, low):
  # The stand-in graph's first three outputs are the mean R, G, B; with the
  # identity PCA they are quantized as they are: 255 -> 127/128 -> 191, 0 -> -1 -> 64.
  path = syn.write_media(str(tmp_path / "solid.mkv"), syn.SampleMedia(
      seconds=2, fps=5, sample_rate=0, color=color))
  got = extractor.extract_file(path, media_networks)
  assert got.audio is None
  assert got.rgb[:, high].tolist() == [191, 191] and got.rgb[:, low].tolist() == [64, 64]


def _config(tmp_path, media_dir, weights_dir, **kw):
  kw.setdefault("output_dir", str(tmp_path / "out"))
  return ExtractConfig(input=str(media_dir), weights_dir=weights_dir, **kw)


@pytest.fixture(scope="module")
def media_folder(tmp_path_factory, marked):
  """A video, a song, a silent clip, two files of the same name, and two bad files."""
  folder = tmp_path_factory.mktemp("media")
  syn.write_media(str(folder / "holiday 2019.mp4"), syn.SampleMedia(
      seconds=4, fps=25, sample_rate=44100, tone_seconds=[1]))
  os.makedirs(folder / "more")
  syn.write_media(str(folder / "song.mp3"), syn.SampleMedia(seconds=5, sample_rate=44100,
                                                            channels=2, tone_seconds=[0, 3]))
  syn.write_media(str(folder / "more" / "song.ogg"), syn.SampleMedia(seconds=3,
                                                                     sample_rate=48000))
  syn.write_media(str(folder / "silent.webm"), syn.SampleMedia(seconds=3, fps=8,
                                                               sample_rate=0))
  (folder / "notes.txt").write_text("not media\n")
  (folder / "empty.wav").write_bytes(b"")
  return folder


def test_a_folder_of_media_to_records_and_manifest(tmp_path, media_folder, media_weights_dir):
  csv = tmp_path / "labels.csv"
  csv.write_text("holiday 2019.mp4,7;3\nsong.mp3,11\nnot_there.mp4,1\n")
  cfg = _config(tmp_path, f"{media_folder},{media_folder}/more/*.ogg", media_weights_dir,
                prefix="mine", files_per_shard=3, labels_csv=str(csv))
  summary = extract_job.extract_media(cfg)
  assert (summary["files"], summary["extracted"], summary["failed"]) == (6, 4, 2)
  assert summary["kinds"] == {"audio_and_visual": 1, "audio_only": 2, "visual_only": 1}
  assert sorted(f["path"] for f in summary["failures"]) == [
      str(media_folder / "empty.wav"), str(media_folder / "notes.txt")]
  assert all("\n" not in f["error"] for f in summary["failures"])
  out = tmp_path / "out"
  # Shards hold only finished records; no temporary file is left.
  assert sorted(os.listdir(out)) == ["mine0000.tfrecord", "mine0001.tfrecord",
                                     "mine_manifest.jsonl"]
  manifest = [json.loads(line) for line in open(out / "mine_manifest.jsonl")]
  by_id = {e["id"]: e for e in manifest}
  assert [e["path"] for e in manifest] == sorted(e["path"] for e in manifest)
  assert set(by_id) == {"empty", "holiday_2019", "notes", "silent", "song", "song-2"}
  holiday = by_id["holiday_2019"]
  assert holiday["audio"] and holiday["visual"] and holiday["seconds"] == 4
  assert holiday["labels"] == [3, 7] and holiday["streams"]["video"]["codec"] == "h264"
  assert holiday["streams"]["audio"]["sample_rate"] == 44100
  assert holiday["shard"] == "mine0000.tfrecord" and holiday["record_index"] == 0
  assert by_id["song"]["path"].endswith(os.path.join("more", "song.ogg"))
  assert by_id["song-2"]["audio"] and not by_id["song-2"]["visual"]
  assert by_id["song-2"]["labels"] == [11]
  assert by_id["silent"]["visual"] and not by_id["silent"]["audio"]
  assert by_id["notes"]["shard"] is None and "not a media file" in by_id["notes"]["error"]
  # Every record as the starter code reads it, at the place the manifest says.
  for e in manifest:
    if "error" in e:
      continue
    record = _records(str(out / e["shard"]))[e["record_index"]]
    names = [n for n, there in (("rgb", e["visual"]), ("audio", e["audio"])) if there]
    parsed = starter_parse(record, names)
    assert parsed["id"] == e["id"] and parsed["labels"] == e["labels"]
    assert len(parsed.get("rgb", ())) == e["visual_seconds"]
    assert len(parsed.get("audio", ())) == e["audio_seconds"]
  # The reader reads the record with both, and each one-modality record where
  # one modality is enough; needing both, it names the one-modality record.
  audio = list(pipeline.make_dataset(str(out / "mine0000.tfrecord"), batch_size=8,
                                     modalities=("audio",)))
  assert [i.decode() for b in audio for i in b["id"].numpy()] == ["holiday_2019", "song"]
  assert audio[0]["num_frames"].numpy().tolist() == [4, 3] and "visual" not in audio[0]
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    list(pipeline.make_dataset(str(out / "mine0001.tfrecord"), batch_size=8))
  message = pipeline.bad_record_message(info.value)
  assert "mine0001.tfrecord at record index 0 (video id 'silent')" in message
  assert "a pictures-only record" in message
  # The same run again is refused; --overwrite replaces it.
  with pytest.raises(UsageError, match="already holds 3 file"):
    extract_job.extract_media(cfg)
  # --overwrite without the weights at hand stops before replacing anything.
  with pytest.raises(UsageError, match="is not in --weights_dir"):
    extract_job.extract_media(dataclasses.replace(cfg, overwrite=True,
                                                  weights_dir=str(tmp_path)))
  assert len(os.listdir(out)) == 3


def test_long_media_is_not_cut_unless_asked(tmp_path, media_weights_dir):
  media = tmp_path / "media"
  media.mkdir()
  syn.write_media(str(media / "broadcast.wav"), syn.SampleMedia(
      seconds=320, sample_rate=8000, tone_seconds=range(0, 320, 7)))
  summary = extract_job.extract_media(_config(tmp_path, media, media_weights_dir))
  assert summary["media_seconds"] == 320
  shard = str(tmp_path / "out" / "media0000.tfrecord")
  assert len(starter_parse(_records(shard)[0], ["audio"])["audio"]) == 320
  lengths = lambda max_frames: [int(n) for b in pipeline.make_dataset(
      shard, max_frames=max_frames, modalities=("audio",)) for n in b["num_frames"].numpy()]
  assert lengths(300) == [300] and lengths(400) == [320]
  summary = extract_job.extract_media(_config(tmp_path, media, media_weights_dir,
                                              max_seconds=100, overwrite=True))
  assert summary["media_seconds"] == 100


def test_the_tool_names_bad_files_goes_on_and_exits_1(tmp_path, media_folder,
                                                      media_weights_dir):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  out = tmp_path / "cli"
  proc = subprocess.run(
      [sys.executable, "-m", "yt8m_crossmodal.tools.extract", f"--input={media_folder}",
       f"--output_dir={out}", f"--weights_dir={media_weights_dir}", "--modalities=audio",
       "--labels=5"], capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 1, proc.stderr
  summary = json.loads(proc.stdout.strip().splitlines()[-1])
  assert summary["failed"] == 3 and summary["extracted"] == 2  # The silent clip has no sound.
  failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
  assert len(failed) == 3 and any("silent.webm: no stream for --modalities=audio" in line
                                  for line in failed)
  assert "Traceback" not in proc.stderr
  # Offline without the files: one line (the tools print it as "error: ...",
  # exit 2) saying what to get from where; nothing is written.
  with pytest.raises(UsageError) as info:
    extract_job.extract_media(ExtractConfig(input=str(media_folder),
                                            output_dir=str(tmp_path / "none"),
                                            weights_dir=str(tmp_path / "cli")))
  assert str(info.value).startswith("inception-2015-12-05.tgz is not in --weights_dir")
  assert "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz" in \
      str(info.value)
  assert os.listdir(tmp_path / "none") == []


def test_beam_gives_the_same_shards_and_manifest(tmp_path, media_folder, media_weights_dir):
  pytest.importorskip("apache_beam")
  runs = {}
  for runner in ("in_process", "DirectRunner"):
    cfg = _config(tmp_path, media_folder, media_weights_dir, runner=runner,
                  output_dir=str(tmp_path / runner), files_per_shard=2)
    summary = extract_job.extract_media(cfg)
    folder = tmp_path / runner
    runs[runner] = ({n: _records(str(folder / n)) for n in os.listdir(folder)
                     if n.endswith(".tfrecord")},
                    open(folder / "media_manifest.jsonl").read(), summary)
  assert runs["in_process"][0] == runs["DirectRunner"][0]
  assert runs["in_process"][1] == runs["DirectRunner"][1]
  assert runs["DirectRunner"][2]["failed"] == 2 and runs["DirectRunner"][2]["extracted"] == 3
  assert sorted(os.listdir(tmp_path / "DirectRunner")) == sorted(
      os.listdir(tmp_path / "in_process"))


def test_progress_line_counts_media_seconds_with_an_eta(tmp_path, media_weights_dir,
                                                        monkeypatch, marked):
  lines = io.StringIO()
  real = extract_job.Progress

  def forced(label, total=None, **kw):
    return real(label, total, stream=lines, interval=0.0, force=True)

  monkeypatch.setattr(extract_job, "Progress", forced)
  media = os.path.dirname(marked)
  extract_job.extract_media(_config(tmp_path, f"{media}/marked.mkv", media_weights_dir))
  text = lines.getvalue()
  assert "media seconds: " in text and "/7 (" in text and "ETA" in text
