"""What earlier code wrote still loads, rebuilds, resumes and computes the same.

The files under ``tests/data/saved_5be019b`` were written by the code of
commit 5be019b (its README says how): a frame-level and a video-level run
folder, the outputs of their ``model.keras`` on fixed batches, and the loss
terms' values on a fixed batch for several loss configurations.
"""

import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from yt8m_crossmodal import config as config_lib  # noqa: E402
from yt8m_crossmodal import losses  # noqa: E402
from yt8m_crossmodal import models  # noqa: E402,F401  (registers the classes model.keras needs)
from yt8m_crossmodal.config import LossConfig  # noqa: E402
from yt8m_crossmodal.data import synthetic  # noqa: E402
from yt8m_crossmodal.jobs import synth as synth_job  # noqa: E402
from yt8m_crossmodal.jobs import train as train_job  # noqa: E402
from yt8m_crossmodal.layers import CrossModalTripletLoss, frame_mask  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data", "saved_5be019b")


def _json(name):
  with open(os.path.join(DATA, name)) as f:
    return json.load(f)


def _npz(name):
  with np.load(os.path.join(DATA, name)) as f:
    return {k: f[k] for k in f.files}


def _same(got, want):
  """Equal up to float32 rounding (the fixtures were computed on another CPU)."""
  assert got == pytest.approx(want, rel=2e-6, abs=2e-6)


@pytest.mark.parametrize("case", sorted(_json("loss_values.json")))
def test_loss_terms_compute_what_they_did(case):
  want = _json("loss_values.json")[case]
  batch = _npz("loss_batch.npz")
  config = LossConfig(**want["fields"])
  config.validate()
  terms = losses.terms_from(config, want["has_timelines"])
  assert [t.name for t in terms] == want["terms"]
  assert losses.part_names(terms) == want["part_names"]
  x = losses.TermInputs(audio=batch["audio"], visual=batch["visual"], labels=batch["labels"],
                        audio_logits=batch["audio_logits"], visual_logits=batch["visual_logits"])
  if want["has_timelines"]:
    x.audio_timeline, x.visual_timeline = batch["audio_timeline"], batch["visual_timeline"]
    x.mask = frame_mask(batch["num_frames"], batch["audio_timeline"].shape[1])
    x.window_uniform = batch["window_uniform"]
  if want["fields"].get("clip_memory_size"):
    x.audio_memory, x.visual_memory = batch["audio_memory"], batch["visual_memory"]
    x.memory_valid = batch["memory_valid"]
  total, parts = losses.objective(x, terms)
  assert list(parts) == want["part_names"]
  _same(float(total), want["total"])
  _same({k: float(v) for k, v in parts.items()}, want["parts"])


@pytest.mark.parametrize("case", sorted(_json("loss_layer_values.json")))
def test_loss_layer_computes_what_it_did(case):
  want = _json("loss_layer_values.json")[case]
  batch = _npz("loss_batch.npz")
  layer = CrossModalTripletLoss(LossConfig(**want["fields"]))
  feed = {"audio_embedding": batch["audio"], "visual_embedding": batch["visual"],
          "labels": batch["labels"]}
  if "triplet" in case:
    feed.update(audio_timeline=batch["audio_timeline"],
                visual_timeline=batch["visual_timeline"], num_frames=batch["num_frames"])
  layer(feed)
  classes = batch["labels"].shape[1]
  dim = batch["audio"].shape[1]
  layer.classifier.set_weights([np.linspace(-1, 1, dim * classes, dtype="float32").reshape(
      dim, classes), np.linspace(0, 0.5, classes, dtype="float32")])
  assert layer.metric_names == want["metric_names"]
  for call in want["calls"]:  # Training calls: the memory bank fills, the ramp steps.
    out = layer(feed, training=True)
    _same(float(layer.losses[0]), call["loss"])
    _same({k: float(v) for k, v in out["loss_parts"].items()}, call["parts"])


@pytest.mark.parametrize("run", ["frame_run", "video_run"])
def test_saved_config_loads_and_writes_as_it_was(run):
  path = os.path.join(DATA, run, "config.json")
  config = config_lib.load_config(path)
  config.validate()
  assert json.loads(config.to_json()) == _json(os.path.join(run, "config.json"))


@pytest.mark.parametrize("run", ["frame_run", "video_run"])
def test_saved_model_loads_and_computes_what_it_did(run):
  want = _json("model_outputs.json")[run]
  model = keras.saving.load_model(os.path.join(DATA, run, "model.keras"), compile=False)
  out = model(_npz(f"{run}_batch.npz"), training=False)
  _same(float(sum(keras.ops.convert_to_numpy(l) for l in model.losses)), want["loss"])
  _same({k: float(v) for k, v in out["loss_parts"].items()}, want["parts"])
  for key in ("audio_embedding", "visual_embedding"):
    np.testing.assert_allclose(np.asarray(out[key]), want[key], atol=2e-6)


def test_saved_run_resumes(tmp_path, monkeypatch):
  # The run's own data (runs.sh: the same sample records, at the same relative
  # paths), so that a rerun with --epochs=2 is the same command but --epochs.
  monkeypatch.chdir(tmp_path)
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir="data", prefix="train", num_videos=16, num_shards=1, min_frames=10,
      max_frames=14, seed=3))
  shutil.copytree(os.path.join(DATA, "frame_run"), "frame_run")
  config = config_lib.load_config("frame_run/config.json")
  finished = train_job.resume_run(train_job.check_run(config))  # The same command again.
  assert finished == dict(_json("frame_run/final_metrics.json"), already_finished=True)
  run = train_job.check_run(config.replace(epochs=2))
  assert train_job.resume_run(run) is None  # To train: after epoch 1, 2 steps an epoch.
  assert (run.done, run.steps) == (1, 2)
  model = train_job.build(run)  # Restored from the backup.
  saved = keras.saving.load_model("frame_run/model.keras", compile=False)
  assert [w.path for w in model.weights] == [w.path for w in saved.weights]
  for mine, theirs in zip(model.weights, saved.weights):
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                  keras.ops.convert_to_numpy(theirs))
  assert int(model.optimizer.iterations.numpy()) == 2  # One epoch of two steps.
  assert config_lib.load_config("frame_run/config.json") == run.config
