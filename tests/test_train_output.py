"""Issue 20 for ``yt8m-train``: what a run logs, warns and writes per epoch."""

import csv
import logging as std_logging
import warnings

from absl import logging
import pytest

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import losses
from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.jobs import synth as synth_job
from yt8m_crossmodal.jobs import train as train_job
from yt8m_crossmodal.training import callbacks as callbacks_lib
from yt8m_crossmodal.training import run_state

TINY = dict(lstm_units=4, projection_units=4, embedding_size=4, window_strides=(1,),
            lstm_layers=1, batch_size=4, shuffle_buffer=0, warmup_steps=0,
            max_frames=12, timeline_nce_seconds=4, sync_loss_window=4, sync_loss_offsets=1,
            validation_size=8, sync_max_offset=1, sync_excerpt_seconds=4,
            projector_samples=4)
EPOCHS = 2
STEPS = 3  # 12 training videos, 4 a batch: one pass.


class _Lines(std_logging.Handler):
  def __init__(self):
    super().__init__(std_logging.INFO)
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A tiny run of two epochs with validation data, progress lines at every step."""
  work = tmp_path_factory.mktemp("train_output")
  for prefix, n, seed in (("train", 12, 1), ("validate", 8, 2)):
    synth_job.write_dataset(synthetic.SynthConfig(
        output_dir=str(work / prefix), prefix=prefix, num_videos=n, num_shards=1,
        min_frames=8, max_frames=12, seed=seed))
  config = config_lib.Config().replace(
      **TINY, train_data=str(work / "train" / "*.tfrecord"),
      validation_data=str(work / "validate" / "*.tfrecord"),
      model_dir=str(work / "run"), epochs=EPOCHS)
  handler, absl_logger = _Lines(), logging.get_absl_logger()
  verbosity, interval = logging.get_verbosity(), callbacks_lib.PROGRESS_SECONDS
  absl_logger.addHandler(handler)
  logging.set_verbosity(logging.INFO)
  callbacks_lib.PROGRESS_SECONDS = 0.0
  try:
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      last = train_job.train(config)
  finally:
    callbacks_lib.PROGRESS_SECONDS = interval
    logging.set_verbosity(verbosity)
    absl_logger.removeHandler(handler)
  return dict(config=config, last=last, lines=handler.lines,
              warnings=[str(w.message) for w in caught], folder=work / "run")


def _epochs(folder):
  with open(folder / "training_log.csv") as f:
    return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_no_ran_out_of_data_warning_when_every_step_ran(run):
  assert "loss" in run["last"] and "val_loss" in run["last"]
  assert not [w for w in run["warnings"] if "ran out of data" in w], run["warnings"]
  assert not [w for w in run["warnings"] if "`shuffle=True` was passed" in w]


def test_csv_log_counts_epochs_from_1_as_the_checkpoints(run):
  folder = run["folder"]
  assert _epochs(folder) == [1, 2]
  assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [
      "epoch_001.weights.h5", "epoch_002.weights.h5"]
  # A resumed run goes on counting from where the log stopped.
  train_job.train(run["config"].replace(epochs=EPOCHS + 1))
  assert _epochs(folder) == [1, 2, 3]
  assert (folder / "checkpoints" / "epoch_003.weights.h5").exists()


def test_a_log_counted_from_0_by_an_older_version_is_renumbered(tmp_path):
  (tmp_path / run_state.LOG_FILE).write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.5\n")
  folder = run_state.RunFolder(str(tmp_path))
  folder.truncate_log(2)  # What a resume after epoch 2 keeps.
  assert (tmp_path / run_state.LOG_FILE).read_text() == "epoch,loss\n1,3.0\n2,2.0\n"


def test_progress_lines_inside_an_epoch(run):
  lines = [l for l in run["lines"] if ": step " in l]
  assert f"epoch 1/{EPOCHS}: step 1/{STEPS}" in lines[0], lines
  last = [l for l in lines if l.startswith(f"epoch {EPOCHS}/{EPOCHS}: step {STEPS}/{STEPS}")]
  assert last and ", loss " in last[0], lines
  assert any("steps/s, ETA " in l for l in lines), lines


def test_progress_is_silent_while_steps_are_quick():
  progress = callbacks_lib.StepProgress(epochs=1, steps=100, interval=60.0)
  handler, absl_logger = _Lines(), logging.get_absl_logger()
  verbosity = logging.get_verbosity()
  absl_logger.addHandler(handler)
  logging.set_verbosity(logging.INFO)
  try:
    progress.on_epoch_begin(0)
    for step in range(99):
      progress.on_train_batch_end(step, {"loss": 1.0})
    progress.interval = 0.0
    progress.on_train_batch_end(99, {"loss": 1.0})
  finally:
    logging.set_verbosity(verbosity)
    absl_logger.removeHandler(handler)
  assert len(handler.lines) == 1 and handler.lines[0].startswith("epoch 1/1: step 100/100, loss 1.0000")


def test_tensorboard_sections_are_named_after_the_loss_that_runs():
  video = losses.terms_from(config_lib.LossConfig(), has_timelines=False)  # auto: contrastive
  frame = losses.terms_from(config_lib.LossConfig(temporal_weight=0.2, sync_weight=1.0,
                                                  classification_weight=0.1), has_timelines=True)
  tag = callbacks_lib.scalar_tag
  assert tag("clip_accuracy", video) == ("train", "clip_contrastive/accuracy")
  assert tag("val_clip_positive_similarity", video) == (
      "validation", "clip_contrastive/positive_similarity")
  assert tag("clip_active_fraction", frame) == ("train", "clip_triplets/active_fraction")
  assert tag("temporal_negative_similarity", frame) == (
      "train", "temporal_triplets/negative_similarity")
  assert tag("sync_accuracy", frame) == ("train", "sync_loss/accuracy")
  assert tag("val_sync_exact", frame) == ("validation", "sync/exact")
  assert tag("timeline_nce_accuracy", frame) == ("train", "timeline_nce/accuracy")
  assert tag("classification_weight", frame) == ("train", "classification/weight")
  assert tag("clip_a2v_loss", frame) == ("train", "loss/clip_a2v")
  # Retrieval charts say among how many videos each query is ranked.
  assert tag("val_a2v_recall@1", video, pool_size=1000.0) == (
      "validation", "retrieval (pool of 1000 videos)/a2v_recall@1")


def test_the_runs_tensorboard_holds_the_sections_of_its_losses(run):
  import tensorflow as tf
  tags = set()
  for path in (run["folder"] / "tensorboard").rglob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      tags.update(v.tag.split("/")[0] for v in event.summary.value)
  assert {"loss", "clip_triplets", "timeline_nce", "sync", "optimizer",
          "retrieval (pool of 8 videos)"} <= tags, tags
  assert "triplets" not in tags
