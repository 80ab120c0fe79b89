"""Issue 22 for ``yt8m-train``: empty data, resumes with other flags, a full disk."""

import errno
import json
import os
from pathlib import Path

import keras
import pytest

import records
from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import synth as synth_job
from yt8m_crossmodal.jobs import train as train_job
from yt8m_crossmodal.training import trainer

TINY = dict(lstm_units=4, projection_units=4, embedding_size=4, window_strides=(1,),
            lstm_layers=1, batch_size=4, shuffle_buffer=0, warmup_steps=0,
            steps_per_epoch=1, max_frames=12, timeline_nce_seconds=4,
            sync_loss_window=4, sync_loss_offsets=1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  out = tmp_path_factory.mktemp("guard_data")
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(out), prefix="train", num_videos=8, num_shards=1,
      min_frames=8, max_frames=12, seed=1))
  return str(out / "train*.tfrecord")


def _config(data, model_dir, **kw):
  fields = dict(TINY, train_data=data, model_dir=str(model_dir), epochs=1)
  fields.update(kw)
  return config_lib.Config().replace(**fields)


@pytest.mark.parametrize("kind", ["empty file", "zero records"])
def test_training_on_no_records_is_refused(tmp_path, kind):
  path = tmp_path / "train.tfrecord"
  if kind == "empty file":
    path.write_bytes(b"")
  else:
    records.write(str(path), [])
  with pytest.raises(UsageError, match=r"--train_data .*train.tfrecord' holds no records"):
    train_job.train(_config(str(path), tmp_path / "run"))
  assert not (tmp_path / "run" / "model.keras").exists()


def test_training_where_every_record_is_skipped_is_refused(tmp_path):
  bad = [records.frame_record(f"bad{i}", frames=8, rgb_width=1000, seed=i)[0] for i in range(3)]
  path = records.write(str(tmp_path / "bad.tfrecord"), bad)
  with pytest.raises(UsageError, match=r"bad.tfrecord' holds no good record: all 3 were "
                     "skipped as bad"):
    train_job.train(_config(str(path), tmp_path / "run", skip_bad_records=True))
  assert not (tmp_path / "run" / "model.keras").exists()


def test_resume_with_other_training_or_data_flags(data, tmp_path):
  run = tmp_path / "run"
  train_job.train(_config(data, run))
  saved = (run / "config.json").read_text()
  for change, message in ((dict(learning_rate=2e-3), "--learning_rate: 0.001 in the saved "
                           "run, 0.002 now"),
                          (dict(batch_size=2), "--batch_size: 4 in the saved run, 2 now"),
                          (dict(train_data=data + ","), "--train_data: ")):
    with pytest.raises(UsageError, match=f"other training or data settings .*{message}.*"
                       "--allow_config_change"):
      train_job.train(_config(data, run, epochs=2, **change))
    assert (run / "config.json").read_text() == saved
  # Intended: the change is recorded with the first epoch it applies to.
  train_job.train(_config(data, run, epochs=2, learning_rate=2e-3, allow_config_change=True))
  changes = json.loads((run / "config_changes.json").read_text())
  assert changes == [{"from_epoch": 2, "changes": {
      "learning_rate": {"before": 1e-3, "after": 2e-3}}}]
  assert config_lib.load_config(str(run / "config.json")).train.learning_rate == 2e-3
  # More epochs alone is not a change.
  train_job.train(_config(data, run, epochs=3, learning_rate=2e-3))
  assert len(json.loads((run / "config_changes.json").read_text())) == 1


def test_a_full_disk_at_the_end_of_an_epoch_keeps_the_earlier_epoch(data, tmp_path,
                                                                    monkeypatch):
  run = tmp_path / "run"
  train_job.train(_config(data, run))
  before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()
            and "tensorboard" not in p.parts}

  def full_disk(self, path, *args, **kw):
    Path(path).write_bytes(b"\x89HDF partial")
    raise OSError(errno.ENOSPC, "No space left on device", path)

  monkeypatch.setattr(keras.Model, "save", full_disk)
  with pytest.raises(UsageError, match=r"cannot write '.*model.keras': \[Errno 28\] No space "
                     r"left on device.*keeps epoch 1"):
    train_job.train(_config(data, run, epochs=2))
  monkeypatch.undo()
  assert (run / "model.keras").read_bytes() == before[run / "model.keras"]
  assert not [p for p in run.rglob("*") if ".tmp-" in p.name]
  assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 1
  train_job.train(_config(data, run, epochs=2))  # The rerun resumes after epoch 1.
  assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 2


@pytest.mark.parametrize("field,value,message", [
    ("timeline_nce_temperature", -1.0, "--timeline_nce_temperature must be a positive number"),
    ("timeline_nce_temperature", 0.0, "--timeline_nce_temperature must be a positive number"),
    ("sync_loss_temperature", float("nan"), "--sync_loss_temperature must be a positive"),
    ("timeline_hidden_units", -5, "--timeline_hidden_units must be >= 0, got -5"),
    ("timeline_kernel", 0, "--timeline_kernel must be positive"),
    ("timeline_nce_seconds", 0, "--timeline_nce_seconds must be positive"),
    ("temporal_max_distance", -1, "--temporal_max_distance must be >= 0"),
    ("batch_size", 1, r"--batch_size must be >= 2 \(negatives come from the batch\), or 0"),
    ("window_strides", (), "--window_strides must be positive"),
    ("audio_tower", (8, 0), "--audio_tower must be positive sizes"),
    ("mining", "hard", "--mining must be one of"),
    ("train_data", "", "--train_data is required"),
    ("model_dir", "", "--model_dir is required"),
    ("epochs", -1, "--epochs must be >= 0"),
    ("learning_rate", -1e-3, "--learning_rate must be a positive number, or 0 to pick it"),
    ("distribution_strategy", "multi_worker", "multi_worker needs --steps_per_epoch"),
])
def test_config_values_are_checked(field, value, message):
  config = config_lib.Config().replace(**{"train_data": "x", "model_dir": "y", field: value})
  with pytest.raises(UsageError, match=message):
    trainer.validate_config(config)
  trainer.validate_config(config_lib.Config().replace(train_data="x", model_dir="y"))


def test_checks_that_span_fields():
  base = config_lib.Config().replace(train_data="x", model_dir="y")
  with pytest.raises(UsageError, match="--audio_to_visual_weight must be positive when "
                     "--visual_to_audio_weight is 0"):
    base.replace(audio_to_visual_weight=0.0, visual_to_audio_weight=0.0).validate()
  video = base.replace(feature_level="video", embedding_size=8, video_linear_dims=8)
  with pytest.raises(UsageError, match=r"--video_linear_dims must be in \[0, "
                     r"--embedding_size=8\)"):
    video.validate()
  video.replace(video_encoder="mlp").validate()  # Only the residual towers have it.


def test_every_checked_field_has_help_and_a_valid_default():
  for _, field in config_lib.all_fields():
    assert field.metadata["help"]
  defaults = config_lib.Config().replace(train_data="x", model_dir="y")
  defaults.validate()


@pytest.mark.parametrize("level", ["video", "frame"])
def test_records_of_the_other_feature_level_are_refused_before_anything_is_written(
    data, tmp_path, level):
  if level == "frame":  # Video-level records read as frame level.
    out = tmp_path / "video_data"
    synth_job.write_dataset(synthetic.SynthConfig(
        output_dir=str(out), prefix="train", num_videos=8, num_shards=1,
        feature_level="video", seed=1))
    data = str(out / "train*.tfrecord")
  run = tmp_path / "run"
  with pytest.raises(UsageError, match=f"--train_data .* does not hold {level}-level "
                     f"records .*--feature_level={level}"):
    train_job.train(_config(data, run, feature_level=level, video_linear_dims=2))
  assert not run.exists() or not any(run.iterdir())
