"""Settings picked by the model and the number of training videos (no TensorFlow)."""

import pytest

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal.training import size_settings


def _config(**fields):
  return config_lib.Config().replace(train_data="x", model_dir="y", **fields)


@pytest.mark.parametrize("videos", [None, 0, 100, 5_999, 6_000, 15_999, 16_000, 3_900_000])
def test_video_level_rows_by_size(videos):
  cfg, note = size_settings.resolve(_config(feature_level="video"), videos)
  row = size_settings.pick_row(cfg, videos)
  assert (cfg.data.batch_size, cfg.train.epochs, cfg.train.learning_rate) == (
      row.batch_size, row.epochs, row.learning_rate)
  cfg.validate()
  # The rows grow with the data; not counted means the largest row.
  if videos is None or videos >= size_settings.VIDEO_LEVEL[0].min_videos:
    assert row == size_settings.VIDEO_LEVEL[0]
    assert "the row for the largest data sets" in note or "at least" in note
  if videos is not None and videos < size_settings.VIDEO_LEVEL[-2].min_videos:
    assert row == size_settings.VIDEO_LEVEL[-1]
  assert note.startswith(f"settings picked: --batch_size={row.batch_size} "
                         f"--epochs={row.epochs} --learning_rate={row.learning_rate:g} ")
  if videos is not None:
    assert f"{videos:,} training videos" in note


def test_video_level_note_names_the_row_and_what_was_given():
  cfg, note = size_settings.resolve(_config(feature_level="video", batch_size=128), 10_000)
  assert cfg.data.batch_size == 128 and cfg.train.epochs == 20
  assert note == ("settings picked: --epochs=20 --learning_rate=0.002 (video-level model, "
                  "10,000 training videos: the row for 6,000 to 15,999 videos); "
                  "given: --batch_size=128")
  # Everything given: nothing picked, nothing said.
  given = _config(feature_level="video", batch_size=8, epochs=3, learning_rate=0.01)
  assert size_settings.resolve(given, 50_000) == (given, "")


def test_frame_level_keeps_its_defaults_whatever_the_size():
  for videos in (None, 10, 1_000_000):
    cfg, note = size_settings.resolve(_config(), videos)
    assert (cfg.data.batch_size, cfg.train.epochs, cfg.train.learning_rate) == (64, 10, 1e-3)
    assert "the defaults of the frame-level model" in note
