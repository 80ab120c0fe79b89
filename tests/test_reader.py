"""The YT-8M reader: values, layout, order, sharding, and every kind of bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import helpers
import records
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline


def read_all(pattern, **kw):
  kw.setdefault("batch_size", 4)
  out = []
  for batch in pipeline.make_dataset(pattern, **kw):
    out.append({k: v.numpy() for k, v in batch.items()})
  return out


def starter_dequantize(q):
  """The starter code's utils.Dequantize, verbatim in its arithmetic."""
  max_quantized_value, min_quantized_value = 2.0, -2.0
  quantized_range = max_quantized_value - min_quantized_value
  scalar = quantized_range / 255.0
  bias = (quantized_range / 512.0) + min_quantized_value
  return tf.cast(q, tf.float32) * scalar + bias


def test_dequantize_matches_starter_code_bit_for_bit():
  q = np.arange(256, dtype=np.uint8)
  expected = starter_dequantize(q).numpy()
  np.testing.assert_array_equal(feat.dequantize(q), expected)
  np.testing.assert_array_equal(feat.dequantize(tf.constant(q)).numpy(), expected)
  assert expected[0] == pytest.approx(4 / 512 - 2) and expected[-1] == pytest.approx(2 + 4 / 512)
  np.testing.assert_array_equal(feat.quantize(expected), q)


def test_frame_values_layout_and_dequantized_path(tmp_path):
  rec, rgb, audio = records.frame_record("abc", labels=(3, 7), frames=6, seed=1)
  rec2, rgb2, audio2 = records.frame_record("de", labels=(0,), frames=3, seed=2)
  path = records.write(tmp_path / "a.tfrecord", [rec, rec2])
  (batch,) = read_all(path, num_classes=10, batch_size=2)
  assert batch["id"].tolist() == [b"abc", b"de"]
  assert batch["audio"].dtype == np.uint8 and batch["audio"].shape == (2, 6, 128)
  assert batch["visual"].shape == (2, 6, 1024)
  np.testing.assert_array_equal(batch["visual"][0], rgb)
  np.testing.assert_array_equal(batch["audio"][1, :3], audio2)
  assert not batch["audio"][1, 3:].any() and not batch["visual"][1, 3:].any()
  assert batch["num_frames"].tolist() == [6, 3]
  expected_labels = np.zeros((2, 10), np.float32)
  expected_labels[0, [3, 7]] = 1
  expected_labels[1, 0] = 1
  np.testing.assert_array_equal(batch["labels"], expected_labels)
  (fbatch,) = read_all(path, num_classes=10, batch_size=2, dequantize=True)
  assert fbatch["visual"].dtype == np.float32
  np.testing.assert_array_equal(fbatch["visual"][0], starter_dequantize(rgb).numpy())
  np.testing.assert_array_equal(fbatch["audio"][1, :3], starter_dequantize(audio2).numpy())


def test_2017_video_id_crop_uneven_lengths_and_segments(tmp_path):
  long_rec, rgb, _ = records.frame_record("old", id_key="video_id", frames=12, seed=3)
  uneven, _, audio = records.frame_record("uneven", frames=7, audio_frames=4, seed=4)
  seg, _, _ = records.frame_record("seg", frames=5, extra_context={
      "segment_start_times": [0, 5], "segment_labels": [4, 2],
      "segment_scores": [1.0, 0.0]})
  path = records.write(tmp_path / "b.tfrecord", [long_rec, uneven, seg])
  (batch,) = read_all(path, num_classes=4716, max_frames=10, batch_size=3,
                      include_segments=True)
  assert batch["id"].tolist() == [b"old", b"uneven", b"seg"]
  assert batch["num_frames"].tolist() == [10, 4, 5]
  np.testing.assert_array_equal(batch["visual"][0], rgb[:10])
  np.testing.assert_array_equal(batch["audio"][1, :4], audio)
  assert not batch["visual"][1, 4:].any(), "rgb past the shorter audio must be zeroed"
  assert batch["segment_start_times"][2].tolist() == [0, 5]
  assert batch["segment_labels"][2].tolist() == [4, 2]
  assert batch["segment_scores"][2].tolist() == [1.0, 0.0]
  assert batch["num_segments"].tolist() == [0, 0, 2]


def test_video_level(tmp_path):
  rec, rgb, audio = records.video_record("v1", labels=(2,), seed=5)
  rec2, _, _ = records.video_record("v2", labels=(1, 3), id_key="video_id", seed=6)
  path = records.write(tmp_path / "v.tfrecord", [rec, rec2])
  (batch,) = read_all(path, feature_level="video", num_classes=5, batch_size=2)
  assert batch["id"].tolist() == [b"v1", b"v2"]
  np.testing.assert_array_equal(batch["visual"][0], rgb)
  np.testing.assert_array_equal(batch["audio"][0], audio)
  assert batch["num_frames"].tolist() == [1, 1]
  assert batch["labels"][1].tolist() == [0, 1, 0, 1, 0]


def test_synthetic_data_reads_back_and_order_is_seeded(frame_data_dir):
  pattern = os.path.join(frame_data_dir, "*.tfrecord")
  kw = dict(batch_size=5, shuffle_buffer=16, seed=11, block_size=2)
  first = np.concatenate([b["id"] for b in read_all(pattern, **kw)])
  again = np.concatenate([b["id"] for b in read_all(pattern, **kw)])
  other = np.concatenate([b["id"] for b in read_all(pattern, **{**kw, "seed": 12})])
  assert len(first) == 24 and len(set(first.tolist())) == 24
  assert first.tolist() == again.tolist()
  assert sorted(first.tolist()) == sorted(other.tolist())
  assert first.tolist() != other.tolist()


def test_provenance_and_sharding_by_file(frame_data_dir):
  pattern = os.path.join(frame_data_dir, "*.tfrecord")
  files = pipeline.list_files(pattern)
  batches = read_all(pattern, with_provenance=True, batch_size=24, seed=0)
  seen = {(f.decode(), i) for b in batches for f, i in zip(b["file"], b["record_index"])}
  assert seen == {(f, i) for f in files for i in range(8)}

  ids = []
  for pipe in range(3):
    ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=pipe)
    got = read_all(pattern, input_context=ctx, with_provenance=True, batch_size=24)
    assert {f for b in got for f in b["file"]} == {files[pipe].encode()}
    ids += [i for b in got for i in b["id"].tolist()]
  assert len(ids) == 24 and len(set(ids)) == 24

  # What tf.distribute does to a dataset for a worker: shard by file.
  from tensorflow.python.data.experimental.ops import distribute as dist_ops
  per_worker = []
  for worker in range(3):
    ds = dist_ops._AutoShardDataset(
        pipeline.make_dataset(pattern, batch_size=24, with_provenance=True),
        num_workers=3, index=worker)
    got = [b["file"].numpy() for b in ds]
    per_worker.append({f for fs in got for f in fs})
    assert sum(len(fs) for fs in got) == 8
  assert all(len(p) == 1 for p in per_worker) and len(set.union(*per_worker)) == 3


# ---------------------------------------------------------------------------
# Bad input: each kind fails with a message naming file, index and id, or is
# skipped, logged and counted with skip_bad_records.

def _good(i):
  return records.frame_record(f"good{i}", frames=4, seed=10 + i)[0]


BAD_FRAME_CASES = {
    "rgb_width": (lambda: records.frame_record("badrgb", rgb_width=1000)[0],
                  "rgb bytes per frame not 1024"),
    "audio_width": (lambda: records.frame_record("badaudio", audio_width=100)[0],
                    "audio bytes per frame not 128"),
    "zero_frames": (lambda: records.frame_record("empty", frames=0)[0], "zero frames"),
    "no_audio": (lambda: records.frame_record("mute", audio_frames=0)[0],
                 "missing modality: no audio"),
    "no_rgb": (lambda: records.frame_record("blind", frames=0, audio_frames=3)[0],
               "missing modality: no rgb"),
    "labels": (lambda: records.frame_record("lab", labels=(1, 3862))[0],
               "labels out of [0, 3862)"),
    "negative_label": (lambda: records.frame_record("neg", labels=(-1,))[0],
                       "labels out of [0, 3862)"),
    "video_level_as_frame": (lambda: records.video_record("vl")[0],
                             "video-level record"),
}


# A valid TFRecord frame whose payload is not a protobuf (a JPEG, text).
NOT_PROTOBUF = b"\xff\xd8\xff\xe0 not a protobuf" * 8
BAD_FRAME_CASES["not_a_protobuf"] = (lambda: NOT_PROTOBUF,
                                     "not a valid SequenceExample protobuf")


def _retyped(make, message_type, change):
  """A record of ``make()`` after ``change(message)``: a field of the wrong type."""
  message = message_type.FromString(make())
  change(message)
  return message.SerializeToString()


def _int_id(message):
  features = getattr(message, "context", getattr(message, "features", None))
  features.feature["id"].Clear()
  features.feature["id"].int64_list.value.append(7)


def _float_frame(se):
  frame = se.feature_lists.feature_list["rgb"].feature[1]
  frame.Clear()
  frame.float_list.value.extend([0.5] * 1024)


def _two_values_in_a_frame(se):
  se.feature_lists.feature_list["audio"].feature[0].bytes_list.value.append(b"\0" * 128)


def _float_mean(example):
  example.features.feature["mean_audio"].Clear()
  example.features.feature["mean_audio"].bytes_list.value.append(b"\0" * 512)


WRONG_TYPE = "a field of the wrong type or shape"


def _assert_one_line_wrong_type(error):
  from yt8m_crossmodal.tools import runner
  assert runner._is_user_error(error)
  assert runner.error_message(error).startswith(
      "a record in the input has a field of the wrong type or shape (")


def _latin1_id(message):
  features = getattr(message, "context", getattr(message, "features", None))
  features.feature["id"].bytes_list.value[0] = b"caf\xe9"  # Latin-1, not UTF-8.


BAD_FRAME_CASES["non_utf8_id"] = (
    lambda: _retyped(lambda: _good(8), tf.train.SequenceExample, _latin1_id),
    "the video id is not UTF-8 text")
for _name, _change in (("id_as_int64", _int_id), ("rgb_as_floats", _float_frame),
                       ("two_values_in_a_frame", _two_values_in_a_frame)):
  BAD_FRAME_CASES[_name] = (
      lambda c=_change: _retyped(lambda: _good(9), tf.train.SequenceExample, c), WRONG_TYPE)


@pytest.mark.parametrize("case", sorted(BAD_FRAME_CASES))
def test_bad_frame_record_fails_with_file_index_and_id(tmp_path, case):
  make, reason = BAD_FRAME_CASES[case]
  path = records.write(tmp_path / "bad.tfrecord", [_good(0), _good(1), make(), _good(2)])
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    read_all(path)
  if reason == WRONG_TYPE:  # Named only when skipped (below): one line without.
    _assert_one_line_wrong_type(info.value)
  else:
    message = pipeline.bad_record_message(info.value)
    assert message is not None
    assert f"Bad YT-8M record in {path} at record index 2" in message
    assert reason in message
    if case not in ("video_level_as_frame", "not_a_protobuf"):
      assert "(video id '" in message and "'')" not in message

  log = pipeline.BadRecordLog()
  kept = read_all(path, skip_bad_records=True, bad_record_log=log)
  assert sum(len(b["id"]) for b in kept) == 3
  assert log.count == 1
  assert log.records[0].file == path and log.records[0].index == 2
  assert reason in log.records[0].reason


BAD_VIDEO_CASES = {
    "nan": (lambda: records.video_record("nan", rgb=[np.nan] + [0.0] * 1023)[0],
            "mean_rgb holds NaN or Inf"),
    "inf": (lambda: records.video_record("inf", audio=[np.inf] + [0.0] * 127)[0],
            "mean_audio holds NaN or Inf"),
    "short": (lambda: records.video_record("short", rgb=[0.0] * 1000)[0],
              "mean_rgb has 1000 values, expected 1024"),
    "missing_audio": (lambda: records.video_record("m", audio=[])[0],
                      "missing modality: no mean_audio"),
    "labels": (lambda: records.video_record("l", labels=(5000,))[0], "labels out of"),
    "frame_level_as_video": (lambda: records.frame_record("fl")[0],
                             "a frame-level record (no mean_rgb/mean_audio) where "
                             "video-level records are read"),
    "not_a_protobuf": (lambda: NOT_PROTOBUF, "not a valid Example protobuf"),
    "non_utf8_id": (lambda: _retyped(lambda: records.video_record("l")[0], tf.train.Example,
                                     _latin1_id), "the video id is not UTF-8 text"),
    "id_as_int64": (lambda: _retyped(lambda: records.video_record("i")[0], tf.train.Example,
                                     _int_id), WRONG_TYPE),
    "mean_audio_as_bytes": (lambda: _retyped(lambda: records.video_record("b")[0],
                                             tf.train.Example, _float_mean), WRONG_TYPE),
}


@pytest.mark.parametrize("case", sorted(BAD_VIDEO_CASES))
def test_bad_video_record(tmp_path, case):
  make, reason = BAD_VIDEO_CASES[case]
  good = [records.video_record(f"g{i}", seed=i)[0] for i in range(2)]
  path = records.write(tmp_path / "bad.tfrecord", [good[0], make(), good[1]])
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    read_all(path, feature_level="video")
  if reason == WRONG_TYPE:
    _assert_one_line_wrong_type(info.value)
  else:
    message = pipeline.bad_record_message(info.value)
    assert f"{path} at record index 1" in message and reason in message
  log = pipeline.BadRecordLog()
  kept = read_all(path, feature_level="video", skip_bad_records=True, bad_record_log=log)
  assert sum(len(b["id"]) for b in kept) == 2 and log.count == 1


def _write_then_damage(tmp_path, damage):
  path = records.write(tmp_path / "damaged.tfrecord", [_good(i) for i in range(5)])
  data = bytearray(open(path, "rb").read())
  open(path, "wb").write(bytes(damage(data)))
  return path


@pytest.mark.parametrize("damage,records_kept", [
    (lambda d: d[:-100], 4),                                 # truncated shard
    (lambda d: d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 0xFF]) + d[len(d) // 2 + 1:], 2),
])
def test_truncated_or_corrupted_file_is_named(tmp_path, damage, records_kept):
  path = _write_then_damage(tmp_path, damage)
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    read_all(path)
  message = pipeline.bad_record_message(info.value)
  assert path in message and "file truncated or corrupted at byte" in message
  log = pipeline.BadRecordLog()
  kept = read_all(path, skip_bad_records=True, bad_record_log=log)
  assert sum(len(b["id"]) for b in kept) == records_kept
  assert log.count == 1 and log.records[0].file == path
  assert log.records[0].index == records_kept


def test_pattern_matching_nothing_shows_the_pattern(tmp_path):
  pattern = str(tmp_path / "nothing*.tfrecord")
  with pytest.raises(FileNotFoundError, match="nothing\\*.tfrecord"):
    pipeline.make_dataset(pattern)


def test_a_wildcard_skips_the_offsets_file_synth_writes_beside_the_shards(tmp_path):
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import synth as synth_job
  from yt8m_crossmodal.training import trainer
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path), prefix="train", num_videos=6, num_shards=2,
      min_frames=8, max_frames=10, max_offset=2, seed=1))
  (tmp_path / "NOTES.txt").write_text("where these came from\n")
  assert (tmp_path / "train_offsets.json").exists()
  shards = [str(tmp_path / f"train{i:04d}.tfrecord") for i in range(2)]
  for pattern in (f"{tmp_path}/*", f"{tmp_path}/train*"):
    assert pipeline.list_files(pattern) == shards
    assert sum(len(b["id"]) for b in read_all(pattern)) == 6
    assert trainer.count_records(pattern) == 6
  # Named without a wildcard, a file is read whatever its name.
  named = str(tmp_path / "train_offsets.json")
  assert pipeline.list_files(named) == [named]
  with pytest.raises(FileNotFoundError, match="only 1 non-TFRecord file"):
    pipeline.list_files(f"{tmp_path}/*.json")


def test_validate_cli_reports_every_bad_record(tmp_path, frame_data_dir):
  bad = records.write(tmp_path / "mixed.tfrecord", [
      _good(0), records.frame_record("x", rgb_width=999)[0], _good(1),
      records.frame_record("y", labels=(99999,))[0]])
  truncated = _write_then_damage(tmp_path, lambda d: d[:-10])
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run(
      [sys.executable, "-m", "yt8m_crossmodal.tools.validate", f"--data={tmp_path}/*.tfrecord"],
      capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 1, proc.stderr
  summary = json.loads(proc.stdout.strip().splitlines()[-1])
  assert summary["files"] == 2
  assert summary["good_records"] == 2 + 4
  assert summary["records"] == 6 + 3
  got = {(b["file"], b["index"]) for b in summary["bad_records"]}
  assert got == {(bad, 1), (bad, 3), (truncated, 4)}
  assert truncated in proc.stdout

  ok = subprocess.run(
      [sys.executable, "-m", "yt8m_crossmodal.tools.validate", f"--data={frame_data_dir}/*"],
      capture_output=True, text=True, env=helpers.tool_env(), timeout=300)
  assert ok.returncode == 0, ok.stderr
  assert helpers.library_lines(ok.stderr) == [], ok.stderr
  summary = json.loads(ok.stdout.strip().splitlines()[-1])
  assert summary["records"] == 24 and isinstance(summary["records"], int)
  assert 8 <= summary["frames"]["min"] <= summary["frames"]["median"] <= summary["frames"]["max"] <= 20

  missing = subprocess.run(
      [sys.executable, "-m", "yt8m_crossmodal.tools.validate", f"--data={tmp_path}/none*"],
      capture_output=True, text=True, env=env, timeout=300)
  assert missing.returncode == 2 and "none*" in missing.stderr
  assert "Traceback" not in missing.stderr


def test_validate_says_once_that_the_level_is_wrong(tmp_path):
  from yt8m_crossmodal.errors import UsageError
  from yt8m_crossmodal.jobs import validate as validate_job
  from yt8m_crossmodal.jobs.config import ValidateConfig
  videos = records.write(tmp_path / "video.tfrecord",
                         [records.video_record(f"v{i}", seed=i)[0] for i in range(5)])
  frames = records.write(tmp_path / "frame.tfrecord",
                         [records.frame_record(f"f{i}")[0] for i in range(3)])
  with pytest.raises(UsageError, match=r"holds video-level records, not frame-level ones as "
                     r"--feature_level=frame says .* pass --feature_level=video, or auto"):
    validate_job.validate(ValidateConfig(data=videos, feature_level="frame"))
  with pytest.raises(UsageError, match="pass --feature_level=frame"):
    validate_job.validate(ValidateConfig(data=frames, feature_level="video"))
  # Data of both levels: the records of the other level are listed, as bad.
  mixed = validate_job.validate(ValidateConfig(data=f"{frames},{videos}", feature_level="frame"))
  assert (mixed["good_records"], mixed["bad_record_count"]) == (3, 5)
  assert mixed["bad_records"][0]["reason"] == (
      "a video-level record (mean_rgb, no rgb frames) where frame-level records are read")


def test_wire_format_check_tells_protobufs_from_foreign_payloads():
  from yt8m_crossmodal.data import decode
  long_video, _, _ = records.frame_record("long", frames=300)  # Multi-byte varints.
  short, _, _ = records.frame_record("short", frames=1)
  video, _ = records.video_record("v")[:2]
  payloads = {long_video: True, short: True, video: True, b"": True,
              NOT_PROTOBUF: False, b"some text\n": False, long_video[:-3]: False,
              long_video + b"\x00": False, b"\x0a\xff\xff\xff\xff\xff\xff": False}
  ok = decode.wire_format_ok(tf.constant(list(payloads)), "frame").numpy()
  assert ok.tolist() == list(payloads.values())


def test_damage_inside_a_field_is_a_one_line_error(tmp_path):
  # The top level is well formed, so the wire-format walk lets it through;
  # the parse fails for the batch, and the tools say so in one line. With
  # skip_bad_records the batch is parsed again record by record: it is named.
  from yt8m_crossmodal.tools import runner
  inner = b"\x0a\x06" + b"\xff" * 6
  path = records.write(tmp_path / "inner.tfrecord", [_good(0), inner])
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    read_all(path)
  assert runner._is_user_error(info.value)
  assert runner.error_message(info.value).startswith(
      "a record in the input is not a valid protobuf (damaged inside a field")
  log = pipeline.BadRecordLog()
  kept = read_all(path, skip_bad_records=True, bad_record_log=log)
  assert sum(len(b["id"]) for b in kept) == 1
  assert [(r.index, r.reason[:len(WRONG_TYPE)]) for r in log.records] == [(1, WRONG_TYPE)]


def test_a_pattern_that_cannot_be_listed_is_one_line():
  from yt8m_crossmodal.errors import UsageError
  with pytest.raises(UsageError, match="cannot list 'nosuch://bucket/x/\\*.tfrecord': "):
    pipeline.list_files("nosuch://bucket/x/*.tfrecord")
