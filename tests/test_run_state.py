"""Issue 9 for ``yt8m-train``: kills at each end-of-epoch write, reruns, bad values.

The kills use the fault-injection hook of
:mod:`yt8m_crossmodal.training.run_state` (``YT8M_CROSSMODAL_FAULT``), so
that each one lands exactly before a given write.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import records
from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import models
from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import synth as synth_job
from yt8m_crossmodal.jobs import train as train_job
from yt8m_crossmodal.training import run_state, trainer

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
KILL_EPOCH = 2
TINY = dict(lstm_units=8, projection_units=8, embedding_size=8, window_strides="1,5",
            lstm_layers=1, batch_size=8, shuffle_buffer=16, warmup_steps=2,
            steps_per_epoch=3, seed=4)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  out = tmp_path_factory.mktemp("run_state_data")
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(out), prefix="train", num_videos=48, num_shards=2,
      min_frames=10, max_frames=20, seed=1))
  return str(out / "train*.tfrecord")


def _train(model_dir, data, env=None, **extra):
  fields = dict(TINY, train_data=data, model_dir=str(model_dir), epochs=EPOCHS)
  fields.update(extra)
  argv = [sys.executable, "-m", "yt8m_crossmodal.tools.train"]
  argv += [f"--{k}={v}" for k, v in fields.items()]
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
  full_env.pop("TF_CONFIG", None)
  return subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True,
                        timeout=600)


def _tail(proc):
  return f"rc={proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def _model():
  cfg = config_lib.Config().replace(
      lstm_units=8, projection_units=8, embedding_size=8, window_strides=(1, 5),
      lstm_layers=1)
  return models.build_training_model(cfg.replace(model=models.model_name(cfg)))


def _load(path):
  model = _model()
  model.load_weights(str(path))
  return model.get_weights()


def _temporaries(folder):
  return [str(p) for p in Path(folder).rglob("*") if ".tmp-" in p.name]


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
  """An uninterrupted run, and one killed before each write then rerun."""
  work = tmp_path_factory.mktemp("runs")

  def killed(point):
    folder = work / f"killed_{point}"
    first = _train(folder, data, env={run_state.FAULT_ENV: f"{KILL_EPOCH}:{point}"})
    leftovers = sorted(os.listdir(folder / "backup"))
    second = _train(folder, data)
    return first, leftovers, second

  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    reference = pool.submit(_train, work / "reference", data)
    kills = {p: pool.submit(killed, p) for p in run_state.WRITE_POINTS}
    return work, reference.result(), {p: f.result() for p, f in kills.items()}


@pytest.mark.parametrize("point", run_state.WRITE_POINTS)
def test_kill_before_each_end_of_epoch_write_resumes_to_the_same_run(runs, point):
  work, reference, kills = runs
  assert reference.returncode == 0, _tail(reference)
  first, leftovers, second = kills[point]
  assert first.returncode == -9, _tail(first)
  assert f"killing the process at epoch {KILL_EPOCH} before {point}" in first.stderr
  # The commit point is last: before it the backup still names epoch 1.
  assert "training_metadata.json" in leftovers
  assert second.returncode == 0, _tail(second)
  assert f"Epoch {KILL_EPOCH}/{EPOCHS}" in second.stdout
  assert "Epoch 1/" not in second.stdout
  ref, run = work / "reference", work / f"killed_{point}"
  # The same log, row for row (no gap, no duplicate), and the same weights.
  assert (run / "training_log.csv").read_text() == (ref / "training_log.csv").read_text()
  for epoch in range(1, EPOCHS + 1):
    name = Path("checkpoints") / f"epoch_{epoch:03d}.weights.h5"
    for a, b in zip(_load(ref / name), _load(run / name)):
      np.testing.assert_array_equal(a, b)
  resumed = keras.models.load_model(run / "model.keras", compile=False).get_weights()
  for a, b in zip(_load(ref / "checkpoints" / f"epoch_{EPOCHS:03d}.weights.h5"), resumed):
    np.testing.assert_array_equal(a, b)
  assert json.loads((run / "final_metrics.json").read_text()) == json.loads(
      (ref / "final_metrics.json").read_text())
  assert sorted(os.listdir(run / "backup")) == [f"epoch_{EPOCHS:03d}.weights.h5",
                                                "training_metadata.json"]
  assert _temporaries(run) == []


def test_rerun_of_a_finished_run_does_nothing_then_more_epochs_then_restart(runs, data):
  work, reference, _ = runs
  assert reference.returncode == 0, _tail(reference)
  run = work / "finished"
  shutil.copytree(work / "reference", run)
  log = (run / "training_log.csv").read_text()
  stamp = (run / "model.keras").stat().st_mtime_ns
  again = _train(run, data)
  assert again.returncode == 0, _tail(again)
  assert "training already finished" in again.stderr and "--restart" in again.stderr
  assert "Epoch " not in again.stdout
  assert json.loads(again.stdout.strip().splitlines()[-1])["already_finished"] is True
  assert (run / "training_log.csv").read_text() == log
  assert (run / "model.keras").stat().st_mtime_ns == stamp
  # A higher --epochs trains more, from where the run stopped.
  more = _train(run, data, epochs=EPOCHS + 1)
  assert more.returncode == 0, _tail(more)
  assert f"Epoch {EPOCHS + 1}/{EPOCHS + 1}" in more.stdout and "Epoch 1/" not in more.stdout
  rows = (run / "training_log.csv").read_text().splitlines()
  assert rows[:EPOCHS + 1] == log.splitlines()
  assert [r.split(",")[0] for r in rows[1:]] == [str(e) for e in range(1, EPOCHS + 2)]
  # --restart starts over: the same rows as a fresh run.
  restart = _train(run, data, restart="true")
  assert restart.returncode == 0, _tail(restart)
  assert "Epoch 1/" in restart.stdout
  assert (run / "training_log.csv").read_text() == log
  assert not (run / "checkpoints" / f"epoch_{EPOCHS + 1:03d}.weights.h5").exists()


def _corrupt(path, how):
  if how == "truncate":
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
  elif how == "empty":
    path.write_bytes(b"")
  elif how == "delete":
    path.unlink()
  else:
    path.write_text(how)


@pytest.mark.parametrize("target,how", [
    ("weights", "truncate"), ("weights", "empty"), ("weights", "delete"),
    ("weights", "not an h5 file"), ("metadata", "truncate"), ("metadata", "empty"),
    ("metadata", '{"epoch": "two"}'), ("metadata", '{"epoch": 2}')])
def test_each_damaged_backup_file_gives_a_clear_message(runs, tmp_path, target, how):
  work, reference, _ = runs
  assert reference.returncode == 0, _tail(reference)
  run = tmp_path / "run"
  shutil.copytree(work / "reference", run)
  folder = run_state.RunFolder(str(run))
  path = Path(folder.backup_file(EPOCHS) if target == "weights" else folder.backup_metadata)
  _corrupt(path, how)
  with pytest.raises(UsageError, match=r"the training backup .*backup/.* is damaged "
                     r"\(.*\): rerun with --restart"):
    folder.finished_epochs()
    model = _model()
    model.compile(optimizer="adam")
    folder.restore(model)


def test_damaged_backup_from_the_command_line_is_one_line(runs, data, tmp_path):
  work, reference, _ = runs
  assert reference.returncode == 0, _tail(reference)
  run = tmp_path / "run"
  shutil.copytree(work / "reference", run)
  _corrupt(run / "backup" / f"epoch_{EPOCHS:03d}.weights.h5", "truncate")
  proc = _train(run, data, epochs=EPOCHS + 1)
  assert proc.returncode == 2, _tail(proc)
  assert "Traceback" not in proc.stderr
  (line,) = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert f"epoch_{EPOCHS:03d}.weights.h5" in line and "--restart" in line


def test_resume_with_other_model_or_loss_settings_is_refused(runs, data, tmp_path):
  work, reference, _ = runs
  assert reference.returncode == 0, _tail(reference)
  run = tmp_path / "run"
  shutil.copytree(work / "reference", run)
  saved = (run / "config.json").read_text()
  proc = _train(run, data, epochs=EPOCHS + 1, margin=0.3)
  assert proc.returncode == 2, _tail(proc)
  assert "Traceback" not in proc.stderr
  (line,) = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert "--margin: 0.2 in the saved run, 0.3 now" in line and "--restart" in line
  assert (run / "config.json").read_text() == saved
  # A config.json written before clip_timeline_weight existed reads as a run
  # trained without it (0), so today's default (1) is refused by name. (The
  # check comes before any weight is restored.)
  doc = json.loads(saved)
  del doc["model"]["clip_timeline_weight"]
  (run / "config.json").write_text(json.dumps(doc))
  proc = _train(run, data, epochs=EPOCHS + 1)
  assert proc.returncode == 2, _tail(proc)
  assert "--clip_timeline_weight: 0.0 in the saved run, 1.0 now" in proc.stderr


def test_resume_check_names_an_unreadable_saved_config(tmp_path):
  config = config_lib.Config()
  trainer.check_resumable(config, str(tmp_path / "absent.json"))  # Nothing saved: fine.
  for text in ("{not json", json.dumps({"model": {"a_field_from_the_future": 1}})):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(UsageError, match=r"cannot resume: .*config.json cannot be read as a "
                       r"config .*--restart"):
      trainer.check_resumable(config, str(tmp_path / "config.json"))
  (tmp_path / "config.json").write_text(config.to_json())
  trainer.check_resumable(config, str(tmp_path / "config.json"))


# ----------------------------------------------------------------------------
# Values, config.json, unwritable and unreadable paths.


@pytest.mark.parametrize("field,value,message", [
    ("margin", -1.0, "--margin must be a number >= 0"),
    ("learning_rate", -1.0, "--learning_rate must be a positive number"),
    ("learning_rate", float("nan"), "--learning_rate must be a positive number"),
    ("temporal_weight", -1.0, "--temporal_weight must be a number >= 0"),
    ("clip_timeline_weight", -0.5, "--clip_timeline_weight must be a number >= 0"),
    ("timeline_nce_weight", float("inf"), "--timeline_nce_weight must be a number >= 0"),
    ("steps_per_epoch", -5, "--steps_per_epoch must be >= 0"),
    ("max_frames", 0, "--max_frames must be positive"),
    ("dropout", 1.0, r"--dropout must be in \[0, 1\)"),
    ("lstm_units", 0, "--lstm_units must be positive"),
])
def test_bad_values_are_usage_errors(field, value, message):
  config = config_lib.Config().replace(train_data="x", model_dir="y", **{field: value})
  with pytest.raises(UsageError, match=message):
    trainer.validate_config(config)


def test_bad_values_from_the_command_line_exit_2_at_once(data, tmp_path):
  cases = {"--steps_per_epoch=-5": "--steps_per_epoch must be >= 0, got -5",
           "--window_strides=a,b": "--window_strides: cannot read 'a,b' as a list of int",
           "--margin=-1": "--margin must be a number >= 0, got -1.0"}
  (tmp_path / "file").write_text("x")
  cases[f"--model_dir={tmp_path / 'file'}"] = "is a file, not a folder"
  for flag, message in cases.items():
    argv = [sys.executable, "-m", "yt8m_crossmodal.tools.train", f"--train_data={data}",
            f"--model_dir={tmp_path / 'run'}", "--epochs=1", flag]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 2, _tail(proc)
    assert "Traceback" not in proc.stderr
    (line,) = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
    assert message in line, line
  assert not (tmp_path / "run" / "config.json").exists()


def test_a_failed_run_leaves_config_json_alone(tmp_path, data):
  model_dir = tmp_path / "run"
  model_dir.mkdir()
  good = config_lib.Config().replace(train_data=data, model_dir=str(model_dir), max_frames=20)
  config_lib.save_config(good, str(model_dir / "config.json"))
  before = (model_dir / "config.json").read_text()
  failing = good.replace(train_data=str(tmp_path / "none*.tfrecord"), max_frames=7)
  with pytest.raises(FileNotFoundError, match="No files match"):
    train_job.train(failing)
  assert (model_dir / "config.json").read_text() == before
  assert sorted(os.listdir(model_dir)) == ["config.json"]


def test_unwritable_model_dir_is_a_usage_error(tmp_path, data):
  import helpers
  locked = tmp_path / "locked"
  locked.mkdir()
  with helpers.read_only(locked):
    for model_dir in (locked, locked / "sub"):
      config = config_lib.Config().replace(train_data=data, model_dir=str(model_dir))
      with pytest.raises(UsageError, match="not writable|cannot create"):
        train_job.train(config)


@pytest.mark.parametrize("content", [b"\xff\xd8\xff\xe0JFIF" + bytes(200), b"some text\n"])
def test_unreadable_file_in_the_record_count_is_named(tmp_path, data, content, caplog):
  folder = tmp_path / "data"
  folder.mkdir()
  good, _, _ = records.frame_record("ok", frames=4)
  records.write(str(folder / "a.tfrecord"), [good, good, good])
  (folder / "b.tfrecord").write_bytes(content)
  pattern = str(folder / "*.tfrecord")
  with pytest.raises(UsageError, match=r"cannot read '.*b\.tfrecord' as TFRecords"):
    trainer.count_records(pattern)
  assert trainer.count_records(pattern, skip_bad_records=True) == 3
  assert "b.tfrecord is damaged" in caplog.text
  # A truncated file: the records before the damage count.
  data = (folder / "a.tfrecord").read_bytes()
  (folder / "b.tfrecord").write_bytes(data[:len(data) * 2 // 3 + 5])
  with pytest.raises(UsageError, match="b.tfrecord"):
    trainer.count_records(pattern)
  assert trainer.count_records(pattern, skip_bad_records=True) == 5


def test_backup_of_earlier_versions_is_still_found(tmp_path):
  # Keras' BackupAndRestore wrote latest.weights.h5 and {"epoch": N}.
  (tmp_path / "backup").mkdir()
  (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
  folder = run_state.RunFolder(str(tmp_path))
  with pytest.raises(UsageError, match=r"latest\.weights\.h5' is damaged \(missing\)"):
    folder.finished_epochs()
  (tmp_path / "backup" / "latest.weights.h5").write_bytes(b"h5")
  assert folder.finished_epochs() == 2
  assert folder.backup_weights == str(tmp_path / "backup" / "latest.weights.h5")
  folder.remove_temporaries()
  assert (tmp_path / "backup" / "latest.weights.h5").exists()
