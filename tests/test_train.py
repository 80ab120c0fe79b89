"""``yt8m-train`` end to end: CLI, outputs, restarts, distribution, schedule, bad data.

Tiny model and data (48 videos of 20-30 s in 4 shards). Most checks need a
training process of their own (a crash, two workers, logical devices); they
run as subprocesses, started together when the module's first test asks for
them, a few at a time (``_PARALLEL``), so that the whole file stays short on
two cores. Each test then waits for the jobs it checks.
"""

import concurrent.futures
import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import records
from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import models  # noqa: F401  (registers the classes model.keras needs)
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.jobs import synth as synth_job
from yt8m_crossmodal.training import optimizer

ROOT = Path(__file__).resolve().parents[1]
_PARALLEL = 3          # jobs at once (the multi-worker job runs two processes)
_TIMEOUT = 300         # seconds, per process

TINY = dict(lstm_units=8, projection_units=8, embedding_size=8, window_strides=(1, 5),
            lstm_layers=1, batch_size=8, shuffle_buffer=16, warmup_steps=4,
            learning_rate=2e-3)
VALIDATION = dict(validation_size=16, projector_samples=8, sync_max_offset=2,
                  sync_excerpt_seconds=10)


# ----------------------------------------------------------------------------
# Data and processes.


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """Paths of the tiny train/validation sets and of a set with one bad record."""
  root = tmp_path_factory.mktemp("train_data")
  clean = root / "clean"
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(clean), prefix="train", num_videos=48, num_shards=4,
      min_frames=20, max_frames=30, seed=1))
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(clean), prefix="val", num_videos=16, num_shards=1,
      min_frames=20, max_frames=30, seed=2))
  # The clean shards plus a file that sorts first ('-' < '0') whose record 1
  # has 1000-byte rgb frames: with shuffle_buffer=0 it is in the first batch.
  bad = root / "bad"
  bad.mkdir()
  for f in sorted(clean.glob("train*.tfrecord")):
    (bad / f.name).symlink_to(f)
  good_rec, _, _ = records.frame_record("good", frames=25, seed=1)
  bad_rec, _, _ = records.frame_record("broken", frames=25, rgb_width=1000, seed=2)
  bad_file = records.write(bad / "train-bad.tfrecord", [good_rec, bad_rec])
  return {"train": str(clean / "train*.tfrecord"), "val": str(clean / "val*.tfrecord"),
          "bad_train": str(bad / "train*.tfrecord"), "bad_file": bad_file,
          "root": root}


def flag_args(fields):
  """``--name=value`` for each config field (tuples comma-separated)."""
  out = []
  for name, value in fields.items():
    if isinstance(value, tuple):
      value = ",".join(str(v) for v in value)
    elif isinstance(value, bool):
      value = "true" if value else "false"
    out.append(f"--{name}={value}")
  return out


def _env(**extra):
  env = dict(os.environ)
  env.pop("TF_CONFIG", None)
  env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)
  return env


def _popen(argv, env=None, log_dir=None, name="proc"):
  """Starts a process whose stdout/stderr go to files (no pipe can fill up)."""
  out = open(log_dir / f"{name}.stdout", "w+")
  err = open(log_dir / f"{name}.stderr", "w+")
  proc = subprocess.Popen(argv, cwd=ROOT, env=env or _env(), stdout=out, stderr=err)
  proc.log_files = (out, err)
  return proc


def _finish(proc, timeout=_TIMEOUT):
  """Waits; returns a CompletedProcess with the captured text."""
  try:
    proc.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.wait()
  out, err = proc.log_files
  texts = []
  for f in (out, err):
    f.seek(0)
    texts.append(f.read())
    f.close()
  return subprocess.CompletedProcess(proc.args, proc.returncode, texts[0], texts[1])


def train_cli(fields, log_dir, name, env=None):
  return _popen([sys.executable, "-m", "yt8m_crossmodal.tools.train", *flag_args(fields)],
                env=env, log_dir=log_dir, name=name)


def run_train_cli(fields, log_dir, name, env=None):
  return _finish(train_cli(fields, log_dir, name, env))


def _tail(proc, n=3000):
  return f"rc={proc.returncode}\nstdout:\n{proc.stdout[-n:]}\nstderr:\n{proc.stderr[-n:]}"


def last_json_line(text):
  return json.loads(text.strip().splitlines()[-1])


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  try:
    for s in socks:
      s.bind(("localhost", 0))
    return [s.getsockname()[1] for s in socks]
  finally:
    for s in socks:
      s.close()


# ----------------------------------------------------------------------------
# The jobs (each returns what its test checks).

EPOCHS_E2E = 2
BACKUP_EPOCHS = 6


def _e2e_fields(data, model_dir):
  return dict(TINY, **VALIDATION, train_data=data["train"], validation_data=data["val"],
              model_dir=str(model_dir), epochs=EPOCHS_E2E, clipnorm=0.5, seed=3)


def job_cli(data, work):
  fields = _e2e_fields(data, work / "cli_run")
  return fields, run_train_cli(fields, work, "cli")


def job_usage(data, work):
  pattern = str(work / "nothing_here" / "train*.tfrecord")
  fields = dict(TINY, train_data=pattern, model_dir=str(work / "usage_run"))
  return pattern, run_train_cli(fields, work, "usage")


def job_backup(data, work):
  """Kills a run after its first finished epoch, then runs the same command."""
  model_dir = work / "backup_run"
  fields = dict(TINY, train_data=data["train"], model_dir=str(model_dir),
                epochs=BACKUP_EPOCHS, steps_per_epoch=5, seed=5)
  log = model_dir / "training_log.csv"
  metadata_path = model_dir / "backup" / "training_metadata.json"
  proc = train_cli(fields, work, "backup_first")
  deadline = time.time() + _TIMEOUT
  killed = False
  while time.time() < deadline and proc.poll() is None:
    # The metadata is the epoch's last write (its commit); the log row comes
    # just before it, so waiting for the row alone could kill in between.
    if metadata_path.exists():
      proc.send_signal(signal.SIGKILL)
      killed = True
      break
    time.sleep(0.05)
  first = _finish(proc)
  metadata = json.loads(metadata_path.read_text()) if metadata_path.exists() else None
  rows_before = len(read_csv(log)) if log.exists() else 0
  second = run_train_cli(fields, work, "backup_second")
  return dict(killed=killed, first=first, second=second, metadata=metadata,
              rows_before=rows_before, model_dir=model_dir)


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from absl import logging
from yt8m_crossmodal import config, models
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.jobs import train as train_job
from yt8m_crossmodal.training import trainer
logging.set_verbosity(logging.INFO)
fields = json.loads(sys.argv[1])
fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
cfg = config.Config().replace(**fields)
last = train_job.train(cfg)
# One device: the same initial weights, the loss of each replica's half of
# the first global batch, averaged.
keras.utils.set_random_seed(cfg.train.seed)
model = models.build_training_model(cfg.replace(model=models.model_name(cfg)))
batch = next(iter(trainer.train_dataset(cfg, repeat=True, bad_records=pipeline.BadRecordLog())))
half = cfg.data.batch_size // 2
losses = []
for part in (slice(0, half), slice(half, None)):
  model({k: v[part] for k, v in batch.items()}, training=True)
  losses.append(float(sum(keras.ops.convert_to_numpy(l) for l in model.losses)))
print(json.dumps({"logical_cpus": len(tf.config.list_logical_devices("CPU")),
                  "last": last, "one_device_first_step_loss": float(np.mean(losses))}))
"""


def job_mirrored(data, work):
  script = work / "mirrored_train.py"
  script.write_text(MIRRORED_SCRIPT)
  # One step without dropout: the reported loss is the first step's, which a
  # single device reproduces from the same initial weights. No shuffling: the
  # distributed input pipeline does not reproduce a seeded shuffle's order
  # (seen: the same bytes under another path gave another first batch).
  fields = dict(TINY, train_data=data["train"], model_dir=str(work / "mirrored_run"),
                epochs=1, steps_per_epoch=1, dropout=0.0, shuffle_buffer=0,
                distribution_strategy="mirrored")
  proc = _popen([sys.executable, str(script), json.dumps(fields)], log_dir=work,
                name="mirrored")
  return fields, _finish(proc)


def job_multi_worker(data, work):
  model_dir = work / "multi_worker_run"
  ports = free_ports(2)
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  fields = dict(TINY, train_data=data["train"], model_dir=str(model_dir), epochs=2,
                steps_per_epoch=3, distribution_strategy="multi_worker")
  procs = [train_cli(fields, work, f"worker{i}", env=_env(TF_CONFIG=json.dumps(
      {"cluster": cluster, "task": {"type": "worker", "index": i}}))) for i in range(2)]
  deadline = time.time() + _TIMEOUT
  while time.time() < deadline and any(p.poll() is None for p in procs):
    if any(p.poll() not in (None, 0) for p in procs):
      break  # A failed worker: the other would wait for it until the timeout.
    time.sleep(0.2)
  for p in procs:
    if p.poll() is None:
      p.kill()
  return model_dir, [_finish(p) for p in procs]


def _seed_job(seed, name):
  def job(data, work):
    fields = dict(TINY, train_data=data["train"], model_dir=str(work / name),
                  epochs=1, steps_per_epoch=3, seed=seed)
    proc = run_train_cli(fields, work, name)
    log = work / name / "training_log.csv"
    return proc, (read_csv(log) if log.exists() else [])
  return job


def _bad_job(skip):
  def job(data, work):
    name = "skip_bad" if skip else "fail_bad"
    fields = dict(TINY, train_data=data["bad_train"], model_dir=str(work / name),
                  epochs=1, steps_per_epoch=2, shuffle_buffer=0, skip_bad_records=skip)
    return fields, run_train_cli(fields, work, name)
  return job


JOBS = {  # Longest first.
    "backup": job_backup,
    "multi_worker": job_multi_worker,
    "cli": job_cli,
    "mirrored": job_mirrored,
    "seed_a": _seed_job(7, "seed_a"),
    "seed_b": _seed_job(7, "seed_b"),
    "seed_c": _seed_job(8, "seed_c"),
    "skip_bad": _bad_job(True),
    "fail_bad": _bad_job(False),
    "usage": job_usage,
}

# The jobs each test waits for.
TEST_JOBS = {
    "test_cli_end_to_end_outputs": ["cli"],
    "test_cli_tensorboard_scalars_and_projector": ["cli"],
    "test_cli_missing_train_data_is_a_usage_error": ["usage"],
    "test_backup_and_restore_continues_after_sigkill": ["backup"],
    "test_mirrored_strategy_on_two_logical_cpus": ["mirrored"],
    "test_multi_worker_two_local_workers": ["multi_worker"],
    "test_same_seed_same_first_epoch_loss": ["seed_a", "seed_b", "seed_c"],
    "test_skip_bad_records_counts_the_skipped_record": ["skip_bad"],
    "test_bad_record_without_skip_fails_with_its_location": ["fail_bad"],
}


class Jobs:
  """Runs the selected tests' jobs in a thread pool; ``get`` waits for one."""

  def __init__(self, data, work, names):
    self.data, self.work = data, work
    self.pool = concurrent.futures.ThreadPoolExecutor(_PARALLEL)
    self.futures = {}
    for name in JOBS:
      if name in names:
        self._submit(name)

  def _submit(self, name):
    self.futures[name] = self.pool.submit(JOBS[name], self.data, self.work)

  def get(self, name):
    if name not in self.futures:
      self._submit(name)
    return self.futures[name].result()


@pytest.fixture(scope="module")
def jobs(request, data, tmp_path_factory):
  here = request.module.__name__
  selected = {getattr(item, "originalname", item.name) for item in request.session.items
              if item.module.__name__ == here}
  names = {job for test in selected for job in TEST_JOBS.get(test, [])}
  runner = Jobs(data, tmp_path_factory.mktemp("train_runs"), names)
  yield runner
  runner.pool.shutdown(wait=True)


# ----------------------------------------------------------------------------
# CLI end to end.

LOSS_COLUMNS = ("loss", "clip_loss", "timeline_nce_loss", "clip_a2v_loss", "clip_v2a_loss",
                "timeline_nce_accuracy")


def test_cli_end_to_end_outputs(jobs):
  fields, proc = jobs.get("cli")
  assert proc.returncode == 0, _tail(proc)
  model_dir = Path(fields["model_dir"])

  # config.json holds exactly the flags given, the rest at their defaults,
  # with --model=auto and --backend=auto resolved.
  saved = config_lib.load_config(str(model_dir / "config.json"))
  assert saved == config_lib.Config().replace(**fields, model="temporal",
                                              backend="tensorflow")

  # One CSV row per epoch, with the loss parts, validation metrics and the
  # learning rate of the schedule after that epoch's steps.
  rows = read_csv(model_dir / "training_log.csv")
  assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS_E2E + 1))  # As the checkpoints.
  for column in LOSS_COLUMNS + ("val_a2v_recall@1", "val_sync_exact", "learning_rate"):
    assert column in rows[0], column
    assert all(math.isfinite(float(r[column])) for r in rows), column
  assert 0.0 <= float(rows[-1]["val_a2v_recall@1"]) <= 1.0
  steps = 48 // TINY["batch_size"]  # One pass over the data per epoch.
  schedule = optimizer.learning_rate_schedule(saved.train, steps * EPOCHS_E2E)
  for epoch, row in enumerate(rows):
    expected = float(schedule((epoch + 1) * steps))
    assert float(row["learning_rate"]) == pytest.approx(expected, rel=1e-5)

  # The last stdout line is the final metrics as JSON.
  final = last_json_line(proc.stdout)
  assert final == json.loads((model_dir / "final_metrics.json").read_text())
  assert final["loss"] == pytest.approx(float(rows[-1]["loss"]), rel=1e-5)
  assert final["bad_records_skipped"] == 0
  assert "val_sync_exact" in final
  assert "Traceback" not in proc.stderr

  # model.keras loads (with its optimizer: clipping as configured) and holds
  # the last epoch's weights.
  model = keras.models.load_model(model_dir / "model.keras")
  assert model.optimizer.global_clipnorm == pytest.approx(0.5)
  weights = [w.copy() for w in model.get_weights()]
  for epoch in range(1, EPOCHS_E2E + 1):
    assert (model_dir / "checkpoints" / f"epoch_{epoch:03d}.weights.h5").exists()
  model.load_weights(model_dir / "checkpoints" / "epoch_001.weights.h5")
  assert any(not np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
  model.load_weights(model_dir / "checkpoints" / f"epoch_{EPOCHS_E2E:03d}.weights.h5")
  for a, b in zip(weights, model.get_weights()):
    np.testing.assert_array_equal(a, b)
  # The backup stays, holding the last epoch: a rerun finds the run finished.
  metadata = json.loads((model_dir / "backup" / "training_metadata.json").read_text())
  assert metadata["epoch"] == EPOCHS_E2E
  assert sorted(os.listdir(model_dir / "backup")) == [
      f"epoch_{EPOCHS_E2E:03d}.weights.h5", "training_metadata.json"]


def _scalars(event_dir):
  """{tag: {step: value}} of the scalar summaries in ``event_dir``."""
  out = {}
  files = sorted(Path(event_dir).glob("events.out.tfevents.*"))
  assert files, f"no event files in {event_dir}"
  for path in files:
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          out.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
  return out


def _tensorboard_json(logdir, paths):
  """Starts TensorBoard on ``logdir`` and GETs each of ``paths`` (JSON)."""
  import urllib.request
  port = free_ports(1)[0]
  proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}",
                           f"--port={port}", "--host=127.0.0.1",
                           "--load_fast=false"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
  try:
    out, deadline = {}, time.time() + 120
    for path in paths:
      while True:
        try:
          with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            out[path] = json.loads(r.read())
          if out[path] or time.time() > deadline:
            break
        except OSError:
          if time.time() > deadline:
            raise
        time.sleep(1)
    return out
  finally:
    proc.kill()
    proc.wait()


def test_cli_tensorboard_scalars_and_projector(jobs):
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal.training import callbacks
  fields, proc = jobs.get("cli")
  assert proc.returncode == 0, _tail(proc)
  board = Path(fields["model_dir"]) / "tensorboard"
  rows = read_csv(Path(fields["model_dir"]) / "training_log.csv")
  from yt8m_crossmodal import losses
  terms = losses.terms_from(
      config_lib.load_config(str(Path(fields["model_dir"]) / "config.json")).loss, True)
  pool = float(rows[0]["val_pool_size"])
  scalar_tag = lambda key: callbacks.scalar_tag(key, terms, pool)
  runs = {"train": _scalars(board / "train"), "validation": _scalars(board / "validation")}
  assert not [t for r in runs.values() for t in r if t.startswith("epoch_")]
  keys = [name for name in LOSS_COLUMNS + ("learning_rate",)]
  keys += [f"val_{name}" for name in LOSS_COLUMNS]  # The same loss parts on validation.
  keys += [f"val_{name}" for name in ("a2v_recall@1", "v2a_median_rank", "sync_exact")]
  for key in keys:
    run, tag = scalar_tag(key)
    assert set(runs[run].get(tag, {})) == set(range(EPOCHS_E2E)), (run, tag)
    for epoch, row in enumerate(rows):
      assert runs[run][tag][epoch] == pytest.approx(float(row[key]), rel=1e-5), (run, tag)
  # Train and validation share the loss tags (overlaid curves), in groups.
  assert scalar_tag("clip_a2v_loss") == ("train", "loss/clip_a2v")
  assert scalar_tag("timeline_nce_accuracy") == ("train", "timeline_nce/accuracy")
  assert scalar_tag("clip_active_fraction") == ("train", "clip_triplets/active_fraction")
  assert scalar_tag("val_loss") == ("validation", "loss/total")
  assert scalar_tag("val_sync_exact") == ("validation", "sync/exact")
  assert scalar_tag("val_a2v_recall@1") == (
      "validation", f"retrieval (pool of {int(pool)} videos)/a2v_recall@1")
  assert {t for t in runs["train"] if t.startswith("loss/")} <= set(runs["validation"])

  projector = board / "validation"
  assert (projector / "projector_config.pbtxt").exists()
  assert "metadata.tsv" in (projector / "projector_config.pbtxt").read_text()
  lines = (projector / "metadata.tsv").read_text().splitlines()
  n = VALIDATION["projector_samples"]
  assert lines[0] == "id\tmodality" and len(lines) == 1 + 2 * n
  assert list(projector.glob("embedding.ckpt-*.index"))
  reader_ = tf.train.load_checkpoint(str(projector))
  shapes = reader_.get_variable_to_shape_map()
  assert shapes["embedding/.ATTRIBUTES/VARIABLE_VALUE"] == [2 * n, TINY["embedding_size"]]

  # TensorBoard itself, pointed at the folder the README names, serves both.
  got = _tensorboard_json(board, ["/data/plugin/projector/runs",
                                  "/data/plugin/scalars/tags"])
  assert got["/data/plugin/projector/runs"] == ["validation"]
  tags = got["/data/plugin/scalars/tags"]
  assert "loss/total" in tags["train"] and "loss/total" in tags["validation"]
  assert "sync/exact" in tags["validation"]
  assert f"retrieval (pool of {int(pool)} videos)/a2v_recall@1" in tags["validation"]


def test_cli_missing_train_data_is_a_usage_error(jobs):
  pattern, proc = jobs.get("usage")
  assert proc.returncode == 2, _tail(proc)
  assert pattern in proc.stderr
  assert "Traceback" not in proc.stderr
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1 and pattern in errors[0]


# ----------------------------------------------------------------------------
# Restart after a crash.


def test_backup_and_restore_continues_after_sigkill(jobs):
  r = jobs.get("backup")
  first, second = r["first"], r["second"]
  assert r["killed"], "the first run ended before it could be killed:\n" + _tail(first)
  assert first.returncode == -signal.SIGKILL
  assert r["metadata"] is not None, "no backup/training_metadata.json after the kill"
  resumed = r["metadata"]["epoch"]  # Epochs finished and backed up.
  assert 1 <= resumed < BACKUP_EPOCHS
  assert r["rows_before"] >= 1

  assert second.returncode == 0, _tail(second)
  epochs_shown = [line.split()[1] for line in second.stdout.splitlines()
                  if line.startswith("Epoch ")]
  assert epochs_shown == [f"{e}/{BACKUP_EPOCHS}" for e in range(resumed + 1, BACKUP_EPOCHS + 1)]
  rows = read_csv(r["model_dir"] / "training_log.csv")
  assert [int(x["epoch"]) for x in rows[r["rows_before"]:]] == list(
      range(resumed + 1, BACKUP_EPOCHS + 1))
  assert int(rows[-1]["epoch"]) == BACKUP_EPOCHS
  assert (r["model_dir"] / "model.keras").exists()
  assert (r["model_dir"] / "checkpoints" / f"epoch_{BACKUP_EPOCHS:03d}.weights.h5").exists()
  assert json.loads((r["model_dir"] / "backup" / "training_metadata.json").read_text())[
      "epoch"] == BACKUP_EPOCHS
  # The resumed run carried on from the backed-up optimizer step: the
  # learning rate logged at the end is the schedule's last value.
  cfg = config_lib.load_config(str(r["model_dir"] / "config.json"))
  schedule = optimizer.learning_rate_schedule(cfg.train, 5 * BACKUP_EPOCHS)
  assert float(rows[-1]["learning_rate"]) == pytest.approx(
      float(schedule(5 * BACKUP_EPOCHS)), rel=1e-5)


# ----------------------------------------------------------------------------
# Distribution.


def test_mirrored_strategy_on_two_logical_cpus(jobs):
  fields, proc = jobs.get("mirrored")
  assert proc.returncode == 0, _tail(proc)
  assert "distribution strategy mirrored: 2 replica(s) in sync" in proc.stderr
  out = last_json_line(proc.stdout)
  assert out["logical_cpus"] == 2
  # The loss over 2 replicas (4 videos each, in-batch negatives per replica)
  # equals one device's mean loss over the two halves of the same batch.
  assert out["last"]["loss"] > 0
  assert out["last"]["loss"] == pytest.approx(out["one_device_first_step_loss"], abs=1e-5)
  assert (Path(fields["model_dir"]) / "model.keras").exists()


def test_multi_worker_two_local_workers(jobs):
  model_dir, (chief, other) = jobs.get("multi_worker")
  assert chief.returncode == 0, _tail(chief)
  assert other.returncode == 0, _tail(other)
  for proc in (chief, other):
    assert "distribution strategy multi_worker: 2 replica(s) in sync" in proc.stderr
  # The chief writes model_dir, the other worker model_dir/workers/1.
  assert (model_dir / "model.keras").exists()
  assert (model_dir / "workers" / "1" / "model.keras").exists()
  assert (model_dir / "workers" / "1" / "config.json").exists()
  assert not (model_dir / "workers" / "0").exists()
  keras.models.load_model(model_dir / "model.keras")
  chief_final, other_final = last_json_line(chief.stdout), last_json_line(other.stdout)
  # Logs are averaged over the workers: both report the same loss.
  assert math.isfinite(chief_final["loss"])
  assert chief_final["loss"] == pytest.approx(other_final["loss"], rel=1e-6)
  assert len(read_csv(model_dir / "training_log.csv")) == 2


def test_multi_worker_keras_bug_still_present(tmp_path):
  """Canary of the workaround in ``training.distribution``.

  Two local workers run a plain ``model.fit`` with dict batches (no fixes):
  it fails in Keras' symbolic build (keras-team/keras#20329), and TF's scalar
  reduction with ``axis=0`` fails (tensorflow/tensorflow#72388). When this
  test fails, upstream is fixed: drop ``multi_worker_fit_fixes`` (or narrow
  ``MULTI_WORKER_FIXES_FOR``).
  """
  from yt8m_crossmodal.training import distribution
  assert distribution.keras_needs_multi_worker_fixes(keras.__version__)
  assert not distribution.keras_needs_multi_worker_fixes("3.16.0")
  script = os.path.join(os.path.dirname(__file__), "keras_multi_worker_canary.py")
  cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
  procs = [_popen([sys.executable, script], log_dir=tmp_path, name=f"canary{i}",
                  env=_env(TF_CONFIG=json.dumps({"cluster": cluster,
                                                 "task": {"type": "worker", "index": i}})))
           for i in range(2)]
  for proc in [_finish(p) for p in procs]:
    lines = [l for l in proc.stdout.splitlines() if l.startswith("CANARY ")]
    assert lines, _tail(proc)
    result = json.loads(lines[-1][len("CANARY "):])
    assert "Attempt to convert a value" in result["fit"], result
    assert "Invalid reduction dimension" in result["scalar_reduce_axis0"], result


def test_multi_worker_dataset_auto_shards_by_file(data):
  """The rewrite tf.distribute applies per worker gives each worker 2 of 4 files."""
  from tensorflow.python.distribute import input_ops  # pylint: disable=g-direct-tensorflow-import
  ds = pipeline.make_dataset(data["train"], batch_size=4, seed=0, with_provenance=True)
  seen = []
  for index in range(2):
    sharded = input_ops.auto_shard_dataset(ds, 2, index, 2)
    files, n = set(), 0
    for batch in sharded:
      files.update(f.decode() for f in batch["file"].numpy())
      n += len(batch["id"])
    seen.append((files, n))
  all_files = set(pipeline.list_files(data["train"]))
  assert len(all_files) == 4
  assert seen[0][0].isdisjoint(seen[1][0])
  assert seen[0][0] | seen[1][0] == all_files
  assert [len(files) for files, _ in seen] == [2, 2]
  assert seen[0][1] + seen[1][1] == 48


# ----------------------------------------------------------------------------
# Optimizer: schedule, clipping; seeds.


def test_learning_rate_warmup_then_cosine():
  cfg = config_lib.TrainConfig(learning_rate=1e-3, warmup_steps=10, lr_schedule="cosine")
  total = 110
  schedule = optimizer.learning_rate_schedule(cfg, total)
  lr = lambda step: float(schedule(step))  # noqa: E731

  def cosine(step, alpha=0.01):
    progress = (step - 10) / (total - 10)
    return 1e-3 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + alpha)

  assert lr(0) == pytest.approx(0.0, abs=1e-12)
  assert lr(5) == pytest.approx(0.5e-3, rel=1e-5)
  assert lr(10) == pytest.approx(1e-3, rel=1e-5)
  for step in (35, 60, 85):
    assert lr(step) == pytest.approx(cosine(step), rel=1e-5)
  assert lr(60) == pytest.approx(0.505e-3, rel=1e-5)
  assert lr(total) == pytest.approx(1e-5, rel=1e-4)
  assert [lr(s) for s in range(0, 11)] == sorted(lr(s) for s in range(0, 11))
  assert [lr(s) for s in range(10, total + 1)] == sorted(
      (lr(s) for s in range(10, total + 1)), reverse=True)

  # Warm-up never takes all the steps; no warm-up starts at the peak.
  short = optimizer.learning_rate_schedule(cfg, 5)
  assert float(short(4)) == pytest.approx(1e-3, rel=1e-5)
  no_warmup = optimizer.learning_rate_schedule(
      config_lib.TrainConfig(learning_rate=1e-3, warmup_steps=0), 100)
  assert float(no_warmup(0)) == pytest.approx(1e-3, rel=1e-5)
  assert optimizer.learning_rate_schedule(
      config_lib.TrainConfig(learning_rate=3e-4, lr_schedule="constant"), 100) == 3e-4


def test_optimizer_clipping_and_weight_decay():
  opt = optimizer.make_optimizer(config_lib.TrainConfig(clipnorm=1.5, weight_decay=1e-3), 100)
  assert isinstance(opt, keras.optimizers.AdamW)
  assert opt.global_clipnorm == pytest.approx(1.5)
  assert opt.clipnorm is None and opt.clipvalue is None
  assert opt.weight_decay == pytest.approx(1e-3)
  off = optimizer.make_optimizer(config_lib.TrainConfig(clipnorm=0.0), 100)
  assert off.global_clipnorm is None
  # Clipping acts on the gradients before the Adam moments: two steps with
  # clipping equal two unclipped steps on gradients scaled to norm 1.5, and
  # differ from two unclipped steps on the raw gradients.
  grads = [np.array([300.0, -400.0, 0.0, 1200.0], np.float32),
           np.array([0.1, 0.2, -0.3, 0.0], np.float32)]

  def two_steps(clipnorm, scale):
    var = keras.Variable(np.zeros(4, np.float32))
    opt = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.0,
                                 global_clipnorm=clipnorm)
    for g in grads:
      factor = min(1.0, 1.5 / np.linalg.norm(g)) if scale else 1.0
      opt.apply_gradients([(tf.constant(g * factor), var)])
    return var.numpy()

  clipped = two_steps(1.5, scale=False)
  np.testing.assert_allclose(clipped, two_steps(None, scale=True), rtol=1e-5, atol=1e-7)
  assert not np.allclose(clipped, two_steps(None, scale=False), rtol=1e-3)


def test_same_seed_same_first_epoch_loss(jobs):
  results = {name: jobs.get(name) for name in ("seed_a", "seed_b", "seed_c")}
  losses = {}
  for name, (proc, rows) in results.items():
    assert proc.returncode == 0, _tail(proc)
    assert len(rows) == 1
    losses[name] = float(rows[0]["loss"])
  assert losses["seed_a"] == pytest.approx(losses["seed_b"], rel=1e-6, abs=1e-7)
  assert losses["seed_a"] != pytest.approx(losses["seed_c"], rel=1e-4)


# ----------------------------------------------------------------------------
# Bad records.


def test_skip_bad_records_counts_the_skipped_record(jobs, data):
  fields, proc = jobs.get("skip_bad")
  assert proc.returncode == 0, _tail(proc)
  final = json.loads((Path(fields["model_dir"]) / "final_metrics.json").read_text())
  assert final["bad_records_skipped"] == 1
  assert last_json_line(proc.stdout)["bad_records_skipped"] == 1
  assert math.isfinite(final["loss"])
  assert f"Skipped bad record {data['bad_file']}[1] (id 'broken')" in proc.stderr
  assert "1 bad record(s) skipped during training" in proc.stderr


def test_bad_record_without_skip_fails_with_its_location(jobs, data):
  _, proc = jobs.get("fail_bad")
  assert proc.returncode == 2, _tail(proc)
  assert "Traceback" not in proc.stderr
  (last,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert last.startswith(
      f"error: Bad YT-8M record in {data['bad_file']} at record index 1 (video id 'broken')")
  assert "rgb bytes per frame not 1024" in last


def test_mixed_bfloat16_trains_then_exports_float32(data, tmp_path):
  # --precision=mixed_bfloat16: bfloat16 layers in training, float32 outputs
  # and loss; the policy is float32 again afterwards, so the export in the
  # same process builds float32 encoders that match the trained model.
  from yt8m_crossmodal.jobs import export as export_job
  from yt8m_crossmodal.jobs.train import train
  from yt8m_crossmodal.serving import loading
  cfg = config_lib.Config().replace(
      **TINY, train_data=data["train"], model_dir=str(tmp_path / "bf16"), epochs=1,
      steps_per_epoch=3, precision="mixed_bfloat16", num_classes=3862)
  logs = train(cfg)
  assert np.isfinite(logs["loss"]) and np.isfinite(logs["timeline_nce_loss"])
  assert keras.mixed_precision.global_policy().name == "float32"
  assert json.load(open(tmp_path / "bf16" / "config.json"))["train"]["precision"] == (
      "mixed_bfloat16")
  # The same run in float32: close, but not the same numbers (bfloat16 was used).
  f32 = train(cfg.replace(model_dir=str(tmp_path / "f32"), precision="float32"))
  assert f32["loss"] != logs["loss"] and abs(f32["loss"] - logs["loss"]) < 0.1 * f32["loss"]
  # model.keras is rebuilt from its arguments under the loading process's
  # policy: float32 layers holding the (float32) trained weights.
  model = keras.models.load_model(tmp_path / "bf16" / "model.keras")
  encoder = model.get_layer("audio_encoder")
  x = np.random.default_rng(0).normal(size=(2, 12, 128)).astype("float32")
  n = np.array([12, 7], np.int32)
  trained = encoder([x, n])
  assert trained["timeline"].dtype == "float32"
  export_job.export_model_dir(export_job.ExportConfig(
      model_dir=str(tmp_path / "bf16"), export_dir=str(tmp_path / "export")))
  _, timeline = loading.load_export(str(tmp_path / "export")).encode_fn("audio")(x, n)
  # bfloat16 keeps ~3 significant digits: the float32 export agrees to that.
  np.testing.assert_allclose(timeline, keras.ops.convert_to_numpy(trained["timeline"]),
                             atol=3e-2)
