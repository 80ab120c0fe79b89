"""Issue 33: nothing runs, leaks or breaks from a file someone sends you.

Each test is one class of failure a hostile tester found (indexes, records,
results files and ids crafted to run code, inject formulas or markup, mix
versions, or fill the disk), tried on the code path every tool shares.
"""

import builtins
import csv
import errno
import html.parser
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import helpers
import records
from yt8m_crossmodal import escaping
from yt8m_crossmodal import io_utils
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import calibration
from yt8m_crossmodal.evaluation import human
from yt8m_crossmodal.evaluation import mturk_layout
from yt8m_crossmodal.evaluation import reports
from yt8m_crossmodal.evaluation.embedded_set import EmbeddedSet
from yt8m_crossmodal.jobs import embed as embed_job
from yt8m_crossmodal.jobs import search as search_job
from yt8m_crossmodal.jobs import sync as sync_job
from yt8m_crossmodal.jobs import validate as validate_job
from yt8m_crossmodal.retrieval import integrity
from yt8m_crossmodal.serving import loading
from yt8m_crossmodal.tools import runner

E = helpers.E

# Ids a hostile sender picks: spreadsheet formulas, markup, quotes, math.
HOSTILE_IDS = ["=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(1+1)",
               "\tlead", "-2+3", "<script>alert(1)</script>", "a' onmouseover='x", "b\"c",
               "$\\nosuchcmd0$", "x&amp;y", "'quote", " =spaced", "plain"]


def _unit(x):
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _embedded(ids, seed=0):
  rng = np.random.default_rng(seed)
  n = len(ids)
  return EmbeddedSet(ids=list(ids), audio_embedding=_unit(rng.normal(size=(n, E))),
                     visual_embedding=_unit(rng.normal(size=(n, E))),
                     num_frames=np.full(n, 8), labels=np.zeros((n, 3), np.float32))


# ----------------------------------------------------------------------------
# 1. A SavedModel is a program: never load one the user did not name.


def test_search_never_loads_the_export_an_index_names(frame_export, frame_data_dir, tmp_path,
                                                      monkeypatch):
  index = tmp_path / "received"
  # The sender's index names a SavedModel shipped inside it.
  planted = str(index / "model")
  helpers.random_catalogue(index, n=12)
  meta = json.loads((index / "meta.json").read_text())
  meta["model"] = {"export_dir": planted, "created": "2020-01-01"}
  (index / "meta.json").write_text(json.dumps(meta))
  import shutil
  shutil.copytree(frame_export.version_dir, planted)
  loaded = []
  real_load = tf.saved_model.load
  monkeypatch.setattr(tf.saved_model, "load",
                      lambda path, *a, **kw: loaded.append(str(path)) or real_load(path, *a, **kw))
  cfg = search_job.SearchConfig(index=str(index), query_data=f"{frame_data_dir}/*.tfrecord",
                                k=3, max_queries=2)
  with pytest.raises(UsageError, match=f"--export_dir is required.*says it was embedded by "
                     f"'{planted}'"):
    search_job.search_queries(cfg)
  assert loaded == []
  lines = search_job.search_queries(search_job.SearchConfig(
      **dict(cfg.__dict__, export_dir=frame_export.export_dir)))
  assert loaded == [frame_export.version_dir]  # Only the export the user named.
  assert len(lines) == 2 and "was embedded by the export" in lines[0]["warning"]


# ----------------------------------------------------------------------------
# 2. Every text is escaped for the medium it reaches.


def test_escaping_helpers_round_trip_and_neutralize():
  for text in HOSTILE_IDS + ["", "0.5", "-0.25", "1e-3", "'", "''=x", "\r\n", "\uff1dcmd"]:
    cell = escaping.csv_cell(text)
    assert escaping.csv_value(cell) == text
    assert escaping.mturk_value(escaping.mturk_cell(text)) == text
    if cell and not escaping._NUMBER.fullmatch(cell):  # pylint: disable=protected-access
      assert cell.lstrip(" ")[:1] not in "=+-@\t\r\n\uff1d", cell
  assert escaping.csv_cell(-0.5) == -0.5 and escaping.csv_cell("-0.5") == "-0.5"
  assert "\t" not in escaping.tsv_field("a\tb\nc\\d") and "\n" not in escaping.tsv_field("a\nb")
  assert escaping.html_text("<a href='x'>\"") == "&lt;a href=&#x27;x&#x27;&gt;&quot;"


class _Page(html.parser.HTMLParser):
  """Tags and attributes of a page, as a browser would parse them."""

  def __init__(self):
    super().__init__()
    self.tags, self.attrs = [], []

  def handle_starttag(self, tag, attrs):
    self.tags.append(tag)
    self.attrs.append(dict(attrs))


def test_mturk_batch_runs_nothing_in_a_spreadsheet_or_the_workers_page(tmp_path):
  ids = HOSTILE_IDS[:10]
  embedded = _embedded(ids)
  tops = reports.top_results(embedded, 0, 3)
  reports.write_mturk_csv(embedded, tops, 3, str(tmp_path / "batch.csv"))
  with open(tmp_path / "batch.csv", newline="") as f:
    rows = list(csv.reader(f))
  for row in rows[1:]:
    for cell in row:
      assert cell.lstrip(" ")[:1] not in "=+-@\t\r" or escaping._NUMBER.fullmatch(cell), cell
  layout = mturk_layout.layout_html(3)
  own = _Page()
  own.feed(layout)
  for row in rows[1:]:  # Filled as MTurk fills it: the values pasted in as they are.
    page = _Page()
    page.feed(mturk_layout.fill(layout, dict(zip(rows[0], row))))
    assert page.tags == own.tags  # No element added (no <script>), none broken.
    assert [sorted(a) for a in page.attrs] == [sorted(a) for a in own.attrs]
    query = next(a for a in page.attrs if a.get("data-role") == "query")
    assert escaping.csv_value(query["data-id"]) == escaping.mturk_value(row[0])
    assert escaping.mturk_value(row[0]) in ids
  # MTurk's results file hands the batch values back: yt8m-human-eval reads the ids.
  results = tmp_path / "results.csv"
  with open(results, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["HITId", "WorkerId", "AssignmentStatus"] + [f"Input.{c}" for c in rows[0]]
               + ["Answer.relevance_1"])
    for i, row in enumerate(rows[1:]):
      w.writerow([f"h{i}", "w1", "Approved"] + row + ["2"])
  hits = human.read_results([str(results)]).hits
  assert sorted(h.query_id for h in hits.values()) == sorted(ids + ids)
  assert {c for h in hits.values() for c in h.candidates} <= set(ids)


def test_projector_metadata_keeps_one_row_per_point(tmp_path):
  from yt8m_crossmodal.training import callbacks
  ids = ["a\tb", "c\nd", "e\r\nf", "plain"]
  callbacks.write_projector(str(tmp_path), _embedded(ids), samples=4)
  rows = (tmp_path / "metadata.tsv").read_text().split("\n")
  assert rows[-1] == "" and len(rows) == 1 + 2 * len(ids) + 1
  assert all(len(r.split("\t")) == 2 for r in rows[:-1])
  assert rows[1] == "a\\tb\taudio" and rows[2] == "c\\nd\taudio"


def test_ids_with_math_draw_as_text(tmp_path):
  tasks = np.array([[0, 3, 1], [1, 2, 0]])
  details = (tasks, np.array([1, 1]), np.zeros((2, 5)))
  ids = ["$\\nosuchcmd0$", "cost $5 and \\$x"]
  assert reports.plot_sync(details, ids, 2, 2, str(tmp_path / "sync.png"))
  assert (tmp_path / "sync.png").read_bytes()[:4] == b"\x89PNG"


def test_a_plot_that_fails_never_loses_the_metrics(video_export, tmp_path, monkeypatch):
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import evaluate as evaluate_job
  from yt8m_crossmodal.jobs import synth as synth_job
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path / "data"), feature_level="video", num_videos=8, num_shards=1,
      seed=4))
  out = tmp_path / "eval"
  cfg = evaluate_job.EvaluateConfig(export_dir=video_export.version_dir,
                                    data=str(tmp_path / "data" / "*"), output_dir=str(out),
                                    pool_sizes=(4,), rated_queries=3, rated_candidates=2)
  evaluate_job.evaluate_export(cfg)
  assert (out / "recall_at_k.png").exists()

  def broken(*args):
    raise ValueError("\\nosuchcmd0")  # What matplotlib's math parser raised.

  monkeypatch.setattr(reports, "plot_recall_curves", broken)
  result = evaluate_job.evaluate_export(cfg)
  metrics = json.loads((out / "metrics.json").read_text())
  assert metrics == result and "recall_at_k.png" in metrics["plot_errors"]
  assert not (out / "recall_at_k.png").exists()  # The old plot went with the old metrics.
  assert "recall_at_k.png" not in (out / "index.html").read_text()
  assert sorted(os.listdir(out)) == ["index.html", "metrics.json", "mturk_batch.csv",
                                     "mturk_layout.html", "tensorboard"]


# ----------------------------------------------------------------------------
# 3. No silent wrong answer, no lost work.


def _write_index(path, ids, seed, t=6):
  rng = np.random.default_rng(seed)
  n = len(ids)
  nf = rng.integers(1, t + 1, size=n).astype(np.int32)
  tl = [_unit(rng.normal(size=(n, t, E))) for _ in range(2)]
  for x in tl:
    x[np.arange(t)[None, :] >= nf[:, None]] = 0
  retrieval.write_catalogue(str(path), ids, _unit(rng.normal(size=(n, E))),
                            _unit(rng.normal(size=(n, E))), tl[0], tl[1], nf,
                            timeline_dtype="float32")
  return retrieval.load_catalogue(str(path), verify="full")


@pytest.mark.parametrize("verify", ["fast", "full"])
def test_an_index_swapped_while_it_opens_is_read_whole(tmp_path, monkeypatch, verify):
  out = tmp_path / "index"
  old = _write_index(out, [f"old{i}" for i in range(10)], seed=1)
  new = _write_index(tmp_path / ".index.tmp-new", [f"new{i}" for i in range(10)], seed=2)
  real_check = integrity.check_finite_rows
  swapped = []

  def swap_midway(*args, **kw):  # yt8m-embed --overwrite swaps it in meanwhile.
    if not swapped:
      swapped.append(1)
      embed_job._swap_in(str(tmp_path / ".index.tmp-new"), str(out))
    return real_check(*args, **kw)

  monkeypatch.setattr(integrity, "check_finite_rows", swap_midway)
  got = retrieval.load_catalogue(str(out), verify=verify)
  assert swapped
  want = old if got.ids == old.ids else new
  assert got.ids == want.ids
  for m in ("audio", "visual"):
    np.testing.assert_array_equal(got.embeddings(m), want.embeddings(m))
    np.testing.assert_array_equal(got.timelines(m), want.timelines(m))
  np.testing.assert_array_equal(got.num_frames, want.num_frames)
  assert sorted(os.listdir(tmp_path)) == ["index"]


def test_a_kill_between_the_two_renames_of_a_swap_keeps_the_old_index(tmp_path, monkeypatch,
                                                                      caplog):
  out = tmp_path / "index"
  old = _write_index(out, [f"v{i}" for i in range(6)], seed=1)
  _write_index(tmp_path / ".index.tmp-x", [f"w{i}" for i in range(6)], seed=2)
  monkeypatch.setattr(io_utils, "exchange_paths", lambda a, b: False)  # Not Linux.
  real_rename = os.rename

  def killed_after_first(src, dst):
    real_rename(src, dst)
    if ".old-" in str(dst):
      raise KeyboardInterrupt  # The kill, between the two renames.

  monkeypatch.setattr(os, "rename", killed_after_first)
  with pytest.raises(KeyboardInterrupt):
    embed_job._swap_in(str(tmp_path / ".index.tmp-x"), str(out))
  monkeypatch.undo()
  assert not out.exists()
  got = retrieval.load_catalogue(str(out))  # Search reads the earlier index,
  assert got.ids == old.ids and "was stopped while swapping" in caplog.text
  embed_job.restore_interrupted_swap(str(out))  # and the next embed puts it back.
  assert retrieval.load_catalogue(str(out)).ids == old.ids
  assert not [n for n in os.listdir(tmp_path) if ".old-" in n]


def test_a_same_size_change_to_num_frames_is_caught(tmp_path):
  out = tmp_path / "index"
  _write_index(out, [f"v{i}" for i in range(8)], seed=3)
  nf = np.load(out / "num_frames.npy")
  nf[2] = 6 if nf[2] != 6 else 5
  np.save(out / "num_frames.npy", nf)  # Same size, other values.
  with pytest.raises(ValueError, match="num_frames.npy: SHA-256"):
    retrieval.load_catalogue(str(out))  # The default check.
  meta = json.loads((out / "meta.json").read_text())
  del meta["files"]  # A folder without checksums: the values are still bounded.
  (out / "meta.json").write_text(json.dumps(meta))
  nf[3] = 600
  np.save(out / "num_frames.npy", nf)
  with pytest.raises(ValueError, match=r"num_frames.npy must hold 8 whole numbers in 0..6"):
    retrieval.load_catalogue(str(out))


def test_a_second_training_into_one_model_dir_is_refused_while_the_first_runs(tmp_path):
  from yt8m_crossmodal.jobs import synth as synth_job
  from yt8m_crossmodal.jobs import train as train_job
  from test_train_guards import TINY
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal.data import synthetic
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path / "data"), num_videos=4, num_shards=1, min_frames=8,
      max_frames=12, seed=1))
  (tmp_path / ".run.lock").write_text(io_utils.host_pid_tag())  # The first run, alive.
  config = config_lib.Config().replace(**dict(
      TINY, train_data=str(tmp_path / "data" / "*.tfrecord"), model_dir=str(tmp_path / "run"),
      epochs=1))
  with pytest.raises(UsageError, match=r"--model_dir '.*run' is being written by another "
                     r"process .*\.run\.lock"):
    train_job.train(config)
  assert os.listdir(tmp_path / "run") == []  # Nothing of the first run touched.


# ----------------------------------------------------------------------------
# 4. Real full disks: a small tmpfs where root may mount one.


@pytest.fixture
def small_tmpfs(tmp_path):
  """A 15 MB tmpfs (skipped where mounting is not allowed, e.g. in CI)."""
  mount = tmp_path / "tmpfs"
  mount.mkdir()
  if os.geteuid() != 0 or subprocess.run(
      ["mount", "-t", "tmpfs", "-o", "size=15m", "tmpfs", str(mount)],
      capture_output=True).returncode != 0:
    pytest.skip("cannot mount a tmpfs here (needs root)")
  try:
    yield str(mount)
  finally:
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, free):
  """Leaves about ``free`` bytes free in ``folder``'s file system (a preallocated filler)."""
  for name in os.listdir(folder):
    subprocess.run(["rm", "-rf", os.path.join(folder, name)], check=True)
  st = os.statvfs(folder)
  size = st.f_bavail * st.f_frsize - free
  if size > 0:
    fd = os.open(os.path.join(folder, "filler"), os.O_CREAT | os.O_WRONLY, 0o600)
    try:
      os.posix_fallocate(fd, 0, size)
    finally:
      os.close(fd)


# The catalogue writer alone (no TensorFlow: a fresh process in a second), at
# many fill levels; a memory map would end it with SIGBUS at some of them.
_WRITER_AT_LEVELS = textwrap.dedent("""
    import json, os, subprocess, sys
    import numpy as np
    from yt8m_crossmodal import retrieval
    exec(sys.argv[2])  # _fill
    folder = sys.argv[1]
    rng = np.random.default_rng(0)
    n, t, e = 96, 32, 48
    x = rng.normal(size=(n, e)).astype(np.float32)
    tl = rng.normal(size=(n, t, e)).astype(np.float32)
    out = []
    # Every stage (parts, the final files, hubness, meta.json), finely where the
    # final files are filled (a memory map there ended the process with SIGBUS).
    for free in [*range(0, 1_600_000, 100_000), *range(705_000, 800_000, 10_000)]:
      _fill(folder, free)
      try:
        w = retrieval.CatalogueWriter(os.path.join(folder, "idx"), e)
        for s in range(0, n, 24):
          w.add([f"v{i}" for i in range(s, s + 24)], x[s:s + 24], x[s:s + 24],
                tl[s:s + 24], tl[s:s + 24])
        w.close()
        out.append([free, "ok"])
      except Exception as ex:
        out.append([free, type(ex).__name__, str(ex)])
    print(json.dumps(out))
""")


def test_the_index_writer_on_a_real_full_disk_fails_with_one_line(small_tmpfs):
  import inspect
  proc = subprocess.run([sys.executable, "-c", _WRITER_AT_LEVELS, small_tmpfs,
                         inspect.getsource(_fill)], capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # -7: SIGBUS.
  outcomes = json.loads(proc.stdout)
  failed = [o for o in outcomes if o[1] != "ok"]
  assert failed and len(failed) < len(outcomes)  # Both ends of the range were tried.
  for free, kind, message in failed:
    assert kind == "UsageError", (free, kind, message)
    assert message.startswith(f"cannot write '{small_tmpfs}/"), message
    assert message.endswith("No space left on device"), message


def test_embed_and_train_on_a_real_full_disk(small_tmpfs, frame_export, frame_data_dir):
  # Nothing free: even the lock file is named.
  _fill(small_tmpfs, 0)
  with pytest.raises(UsageError, match=r"cannot write the lock file .*\.idx\.lock.*No space"):
    embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=f"{frame_data_dir}/*.tfrecord",
        output=os.path.join(small_tmpfs, "idx"), timelines=True))
  # Room for the first epoch's files only: one line, epoch 1 kept, no HDF5 crash.
  from yt8m_crossmodal.jobs import train as train_job
  from test_train_guards import TINY
  from yt8m_crossmodal import config as config_lib
  run = os.path.join(small_tmpfs, "run")
  _fill(small_tmpfs, 600_000)
  config = config_lib.Config().replace(**dict(
      TINY, train_data=f"{frame_data_dir}/*.tfrecord", model_dir=run, epochs=2,
      max_frames=16))
  with pytest.raises(UsageError, match=r"cannot write '.*\.weights\.h5': \[Errno 28\] No "
                     r"space left on device .*keeps epoch"):
    train_job.train(config)
  assert not [n for _, _, files in os.walk(run) for n in files if ".tmp-" in n]


def test_hdf5_on_a_full_disk_is_checked_first_and_named(tmp_path, monkeypatch):
  from yt8m_crossmodal.training import run_state
  monkeypatch.setattr(io_utils, "free_bytes", lambda folder: 1000)
  with pytest.raises(UsageError, match=r"cannot write '.*w\.weights\.h5': \[Errno 28\] No space "
                     r"left on device \(1000 bytes free, about 5000 needed\)"):
    run_state._save_atomically(str(tmp_path / "w.weights.h5"), lambda p: None, 5000)

  def hdf5_failure(path):
    open(path, "wb").close()
    raise RuntimeError("Can't close file (file write failed: time = ..., errno = 28, error "
                       "message = 'No space left on device', ...)")

  monkeypatch.setattr(io_utils, "free_bytes", lambda folder: None)
  with pytest.raises(UsageError, match=r"cannot write '.*w\.weights\.h5': .*No space left"):
    run_state._save_atomically(str(tmp_path / "w.weights.h5"), hdf5_failure, 5000)
  assert os.listdir(tmp_path) == []


def test_tensorflows_node_names_stay_out_of_error_lines():
  error = tf.errors.UnknownError(None, None, (
      "{{function_node __wrapped__SaveV2_dtypes_59_device_/job:localhost/replica:0/task:0/"
      "device:CPU:0}} /out/.tmp-export-1/variables/variables_temp/part-00000-of-00001.data; "
      "No space left on device [Op:SaveV2]"))
  line = runner.error_message(error)
  assert "{{" not in line and "[Op:" not in line and line.endswith("No space left on device")
  assert str(io_utils.write_error("/out/1", error)) == (
      "cannot write '/out/1': No space left on device")


# ----------------------------------------------------------------------------
# 5. Received indexes, records and results files: named, never a traceback.


@pytest.mark.parametrize("change,message", [
    (dict(has_timelines="yes"), "'has_timelines' must be true or false"),
    (dict(faiss=[1]), "'faiss' must be an object"),
    (dict(faiss={"visual": {"file": "../outside.faiss", "kind": "hnsw"}}),
     "must be the file 'visual.faiss' of the folder"),
    (dict(files="x"), "'files' must be an object"),
    (dict(files={"../ids.txt": {"bytes": 1, "sha256": "x"}}), "not a file name"),
    (dict(num_items=3.5), "'num_items' must be a whole number"),
    (dict(timeline_pool=0), "'timeline_pool' must be a whole number >= 1"),
    (dict(format_version=99), "'format_version' must be 1"),
    (dict(labels="yes"), "'labels' must be true or false"),
    (dict(source=["/etc/*"]), "'source' must be an object"),
])
def test_a_crafted_meta_json_is_named_not_a_traceback(tmp_path, change, message):
  out = tmp_path / "index"
  helpers.random_catalogue(out, n=5)
  meta = json.loads((out / "meta.json").read_text())
  meta.update(change)
  (out / "meta.json").write_text(json.dumps(meta))
  with pytest.raises(ValueError, match=message):
    retrieval.load_catalogue(str(out))


def test_an_index_reads_only_plain_npy_files_inside_it(tmp_path):
  out = tmp_path / "index"
  helpers.random_catalogue(out, n=5)
  meta = json.loads((out / "meta.json").read_text())
  del meta["files"]  # Without checksums, as an older folder.
  (out / "meta.json").write_text(json.dumps(meta))
  secret = tmp_path / "secret.txt"
  secret.write_text("line one\nline two\nthree\nfour\nfive\n")
  (out / "ids.txt").rename(tmp_path / "ids.bak")
  (out / "ids.txt").symlink_to(secret)
  with pytest.raises(ValueError, match="ids.txt cannot be opened as a plain file"):
    retrieval.load_catalogue(str(out))
  (out / "ids.txt").unlink()
  (tmp_path / "ids.bak").rename(out / "ids.txt")
  np.savez(out / "x.npz", np.zeros((5, E), np.float32))
  (out / "x.npz").rename(out / "audio_embeddings.npy")  # An .npz where an .npy belongs.
  with pytest.raises(ValueError, match="audio_embeddings.npy is not a readable .npy array"):
    retrieval.load_catalogue(str(out))


def test_ids_with_line_breaks_and_duplicate_ids_are_named(frame_export, tmp_path):
  a = records.write(tmp_path / "a.tfrecord", [records.frame_record(i, frames=6, seed=j)[0]
                                              for j, i in enumerate(["v1", "v\n2", "v3"])])
  b = records.write(tmp_path / "b.tfrecord", [records.frame_record("v1", frames=6, seed=9)[0]])
  summary = validate_job.validate(validate_job.ValidateConfig(data=f"{a},{b}"))
  assert [r["reason"] for r in summary["bad_records"]] == ["the video id holds a line break"]
  assert summary["duplicate_ids"] == 1 and summary["duplicate_id_examples"] == [["v1", 2]]
  assert validate_job.exit_status(dict(summary, bad_record_count=0)) == 1  # Duplicates alone.
  summary = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=f"{a},{b}", output=str(tmp_path / "idx"),
      skip_bad_records=True))  # The record with a line break and the second 'v1' left out.
  assert summary["duplicate_ids_skipped"] == 1 and summary["num_items"] == 2
  assert retrieval.load_catalogue(summary["path"]).ids == ["v1", "v3"]
  from yt8m_crossmodal.jobs.embed_writer import UniqueIds  # The rule both runners apply.
  unique = UniqueIds(skip=False)
  assert unique.keep("w", "c.tfrecord at record index 0")
  with pytest.raises(UsageError, match=r"id 'w' of d.tfrecord at record index 1 was "
                     r"already embedded from c.tfrecord at record index 0"):
    unique.keep("w", "d.tfrecord at record index 1")


def test_sync_uses_every_second_of_a_long_record(frame_export, tmp_path):
  long = records.write(tmp_path / "long.tfrecord", [records.frame_record("long", frames=40)[0]])
  assert loading.load_export(frame_export.export_dir).max_frames < 30
  (line,) = sync_job.Synchronizer(sync_job.SyncConfig(
      export_dir=frame_export.export_dir, data=long, excerpt_start=24, excerpt_seconds=8,
      max_offset=2))()
  assert line["audio_seconds"] == [24, 32] and line["status"] != "error", line


def test_signatures_refuse_an_empty_request_and_a_huge_max_offset(frame_export):
  sigs = loading.load_export(frame_export.export_dir).signatures
  with pytest.raises(tf.errors.InvalidArgumentError, match="no video: examples holds an empty"):
    sigs["encode_examples"](examples=tf.constant([], tf.string))
  audio, visual = tf.zeros([1, 4, 128]), tf.zeros([1, 10, 1024])
  with pytest.raises(tf.errors.InvalidArgumentError, match="max_offset must be <= the seconds"):
    sigs["estimate_offset"](audio=audio, audio_num_frames=tf.constant([4]), visual=visual,
                            visual_num_frames=tf.constant([10]), start=tf.constant([2]),
                            max_offset=tf.constant(10 ** 9))


def test_results_files_with_huge_cells_or_another_encoding_are_named(tmp_path):
  header = "HITId,WorkerId,AssignmentStatus,Input.query_id,Input.query_modality," \
           "Input.candidate_1_id,Answer.relevance_1,Answer.comment\n"
  big = tmp_path / "big.csv"
  big.write_text(header + f"h1,w1,Approved,q,audio,c,2,\"{'x' * 200_000}\"\n")
  assert human.read_results([str(big)]).assignments == 1
  odd = tmp_path / "odd.csv"  # taskAnswers that is JSON, but not of MTurk's shape.
  odd.write_text(header.replace("Answer.comment", "Answer.taskAnswers")
                 + "h1,w1,Approved,q,audio,c,2,[1]\n"
                 + f"h2,w1,Approved,q,audio,c,2,\"{'[' * 100_000}\"\n")
  assert [m["reason"] for m in human.read_results([str(odd)]).malformed] == [
      "Answer.taskAnswers is not a list of objects (name: answer)",
      "Answer.taskAnswers is nested too deeply"]
  latin = tmp_path / "latin.csv"
  latin.write_bytes((header + "h1,w1,Approved,q\xe9,audio,c,2,ok\n").encode("latin-1"))
  with pytest.raises(UsageError, match=r"latin.csv: not UTF-8 text"):
    human.read_results([str(latin)])


# ----------------------------------------------------------------------------
# 6. The smaller ones.


@pytest.mark.parametrize("data,message", [
    ({"audio_late_seconds": {"a": 1e9}}, r"audio_late_seconds\['a'\] is 1000000000.0 s"),
    ({"audio_late_seconds": {"a": 2.7}}, "must be a whole number of seconds, got 2.7"),
    ({"audio_late_seconds": {"a": "3"}}, "must be a whole number of seconds"),
    ({"audio_late_seconds": {"a": True}}, "must be a whole number of seconds"),
    ({"audio_late_seconds": {}, "unrelated": "unrelated"}, "'unrelated' must be a list"),
    ({"audio_late_seconds": []}, "audio_late_seconds must be a JSON object"),
    ({"offsets": {"a": 1}, "drift": {"a": {"late_at_start": 1, "rate": "x"}}}, "rate"),
])
def test_offsets_files_are_checked(tmp_path, data, message):
  path = tmp_path / "offsets.json"
  path.write_text(json.dumps(data))
  with pytest.raises(UsageError, match=message):
    calibration.read_truth(str(path))
  good = calibration.parse_truth({"audio_late_seconds": {"a": 3, "b": -2.0}, "unrelated": ["c"]})
  assert good["late"] == {"a": 3, "b": -2} and good["unaligned"] == {"c"}


def test_report_files_are_replaced_as_one_unit(tmp_path, monkeypatch):
  out = tmp_path / "eval"
  out.mkdir()
  for name in ("metrics.json", "plot.png", "page.html"):
    (out / name).write_text(f"old {name}")

  def new_set():
    files = io_utils.FileSet(str(out))
    for name in ("plot.png", "page.html", "metrics.json"):
      io_utils.atomic_write(files.path(name), f"new {name}")
    return files

  files = new_set()  # Killed before the commit record: the old set stays.
  assert {n: (out / n).read_text() for n in ("metrics.json", "plot.png")} == {
      "metrics.json": "old metrics.json", "plot.png": "old plot.png"}
  monkeypatch.setattr(io_utils, "process_alive", lambda tag: False)
  io_utils.recover_file_sets(str(out))
  assert sorted(os.listdir(out)) == ["metrics.json", "page.html", "plot.png"]
  files = new_set()  # Killed after the first rename of the commit:
  real_rename = tf.io.gfile.rename
  calls = []

  def killed(src, dst, overwrite=False):
    if calls:
      raise KeyboardInterrupt
    calls.append(dst)
    real_rename(src, dst, overwrite=overwrite)

  monkeypatch.setattr(tf.io.gfile, "rename", killed)
  with pytest.raises(KeyboardInterrupt):
    files.remove("page.html")
    files.commit(last="metrics.json")
  monkeypatch.undo()
  assert (out / "metrics.json").read_text() == "old metrics.json"  # Mixed, for an instant:
  io_utils.recover_file_sets(str(out))  # the next writer completes it.
  assert sorted(os.listdir(out)) == ["metrics.json", "plot.png"]
  assert (out / "metrics.json").read_text() == "new metrics.json"
  assert (out / "plot.png").read_text() == "new plot.png"


# ----------------------------------------------------------------------------
# 7. The answers of yt8m-search, yt8m-pictures and yt8m-soundtracks: the same
# classes (no export an index names, every text escaped, received files named).

# Ids a received index or manifest may hold (no line break: ids.txt refuses one).
ANSWER_IDS = ['"><script>alert(1)</script>', "=HYPERLINK(\"http://evil\",\"x\")",
              "a' onmouseover='x", "\tlead", "\x1b[31mred", "line\u2028sep", "Xfbq"]


def _received_timeline_index(path, planted_export):
  """An index of ANSWER_IDS with timelines whose meta.json names ``planted_export`` and
  a source of the wrong types."""
  rng = np.random.default_rng(3)
  n, t = len(ANSWER_IDS), 24
  retrieval.write_catalogue(
      str(path), ANSWER_IDS, _unit(rng.normal(size=(n, E))), _unit(rng.normal(size=(n, E))),
      _unit(rng.normal(size=(n, t, E))), _unit(rng.normal(size=(n, t, E))), np.full([n], t),
      labels=[[0]] * n, source={"data": ["/etc/*"], "num_classes": "3862"},
      model_info={"export_dir": planted_export})
  return str(path)


def _hostile_manifest(folder):
  """A manifest naming every id's media: markup, a URL, an FFmpeg protocol, a FIFO."""
  fifo = str(folder / "pipe.mp4")
  os.mkfifo(fifo)
  paths = [f"/m/{ANSWER_IDS[0]}.mp4", "http://127.0.0.1:9/x.mp4", "concat:/etc/passwd",
           fifo, "relative/clip.mp4", "/m/\u2028.mp4", "/m/ok.mp4"]
  lines = [json.dumps({"id": i, "path": p, "seconds": 1e400}, ensure_ascii=False)
           for i, p in zip(ANSWER_IDS, paths)]
  (folder / "clips_manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
  return str(folder / "clips_manifest.jsonl")


def _rendered(view, answers, tmp_path, name):
  from yt8m_crossmodal.answers import formats
  texts = {}
  for fmt in ("html", "table", "jsonl"):
    out = formats.Output(str(tmp_path / f"{name}.{fmt}"))
    view.write(answers, fmt, out)
    out.close()
    texts[fmt] = (tmp_path / f"{name}.{fmt}").read_text(encoding="utf-8")
  return texts


def _check_rendered(texts, ids_in_answers):
  page = texts["html"]
  assert "<script>alert" not in page and "onmouseover='x" not in page
  assert page.count("<script") == 1  # The page's own pseudo-id lookup, nothing else.
  table = texts["table"]
  assert not any(c in table for c in "\t\x1b\u2028"), "raw control characters in the table"
  lines = texts["jsonl"].splitlines()  # Splits at U+2028 too, as many readers do.
  assert lines == texts["jsonl"].rstrip("\n").split("\n")
  strings = set()
  walk = lambda v: (strings.add(v) if isinstance(v, str) else [walk(x) for x in (
      v.values() if isinstance(v, dict) else v if isinstance(v, list) else [])])
  for line in lines:
    walk(json.loads(line))  # One object a line: no id breaks a line.
  assert strings & set(ANSWER_IDS) == set(ids_in_answers)
  for i in ids_in_answers:
    assert escaping.html_text(i) in page and escaping.terminal_text(i) in table, i


def test_search_answers_escape_every_id(tmp_path):
  from yt8m_crossmodal.answers import describe, search_view
  from yt8m_crossmodal.data import media_manifest, vocabulary
  folder = tmp_path / "m"
  folder.mkdir()
  media = media_manifest.read_manifests([_hostile_manifest(folder)])
  d = describe.Describer(vocabulary.Vocabulary("x", {0: ANSWER_IDS[0]}), media, "yt8m-2018")
  line = {"query_id": ANSWER_IDS[1], "query_modality": "audio", "target_modality": "both",
          "warning": ANSWER_IDS[0], "results": [
              d.result({"id": i, "kind": "pictures", "score": 0.5, "rank": r,
                        "best_start_second": 3}, [0], 3) for r, i in enumerate(ANSWER_IDS, 1)]}
  _check_rendered(_rendered(search_view, [line], tmp_path, "search"), ANSWER_IDS)


def test_pictures_and_soundtracks_never_load_a_named_export_and_escape_answers(
    frame_export, tmp_path, monkeypatch):
  import av
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.answers import soundtracks_view, storyboard_view, thumbnails
  planted = str(tmp_path / "received" / "model")
  index = _received_timeline_index(tmp_path / "received", planted)
  import shutil
  shutil.copytree(frame_export.version_dir, planted)
  loaded = []
  real_load = tf.saved_model.load
  monkeypatch.setattr(tf.saved_model, "load",
                      lambda path, *a, **kw: loaded.append(str(path)) or real_load(path, *a, **kw))
  opened = []
  real_open = av.open
  monkeypatch.setattr(av, "open", lambda f, *a, **kw: opened.append(f) or real_open(f, *a, **kw))
  thumbnails.picture_at.cache_clear()
  media = tmp_path / "media"
  media.mkdir()
  record, _, _ = records.frame_record("=cmd|' /C calc'!A0", labels=(0,), frames=20, seed=4)
  data = records.write(media / "clips-0.tfrecord", [record])
  _hostile_manifest(media)
  pictures = ym.PicturesConfig(index=index, audio_data=data, segment_seconds=10,
                               hop_seconds=10, k=2, window_seconds=5, candidates=4)
  sounds = ym.SoundtracksConfig(index=index, visual_data=data, k=3, candidates=3)
  for cfg in (pictures, sounds):
    with pytest.raises(UsageError, match=f"--export_dir is required.*says it was embedded "
                       f"by '{planted}'"):
      cfg.validate()
  assert loaded == []
  named = dict(export_dir=frame_export.export_dir)
  boards = list(ym.find_pictures(dataclasses_replace(pictures, **named)))
  answers = list(ym.find_soundtracks(dataclasses_replace(sounds, **named)))
  assert set(loaded) == {frame_export.version_dir}  # Only the export the user named.
  picked = {p["id"] for s in boards[0]["segments"] for p in s["pictures"]}
  assert picked and picked <= set(ANSWER_IDS)
  _check_rendered(_rendered(storyboard_view, boards, tmp_path, "board"), picked)
  _check_rendered(_rendered(soundtracks_view, answers, tmp_path, "sounds"),
                  {r["id"] for r in answers[0]["soundtracks"]})
  # Media paths of a manifest are opened only as local regular files, by this process:
  # never a URL, an FFmpeg protocol, a FIFO or a relative path, never by name in PyAV.
  clip = str(media / "clip.mp4")
  with real_open(clip, "w") as container:
    stream = container.add_stream("mpeg4", rate=2)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    for _ in range(2):
      frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), "rgb24")
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  assert thumbnails.picture_at(clip, 0.5)[:2] == b"\xff\xd8"  # A JPEG.
  assert opened and all(not isinstance(f, (str, bytes, os.PathLike)) for f in opened), opened
  for path in ("http://127.0.0.1:9/x.mp4", "concat:/etc/passwd", str(media / "pipe.mp4"),
               "relative/clip.mp4"):
    assert thumbnails.open_media(path) is None


def dataclasses_replace(cfg, **kw):
  import dataclasses
  return dataclasses.replace(cfg, **kw)


def test_received_manifests_and_window_indexes_are_named_not_a_traceback(tmp_path):
  from yt8m_crossmodal.answers import context
  from yt8m_crossmodal.data import media_manifest
  from yt8m_crossmodal.retrieval import window_index
  folder = tmp_path / "m"
  folder.mkdir()
  manifest = _hostile_manifest(folder)
  media = media_manifest.read_manifests([manifest])
  assert media[ANSWER_IDS[5]].path == "/m/\u2028.mp4"  # U+2028 is not a line break of JSONL.
  assert media[ANSWER_IDS[0]].seconds is None  # 1e400 seconds: left out, not an OverflowError.
  (folder / "latin1_manifest.jsonl").write_bytes(b'{"id": "caf\xe9", "path": "/x"}\n')
  with pytest.raises(UsageError, match="latin1_manifest.jsonl is not UTF-8 text"):
    context.make_describer("none", str(folder / "latin1_manifest.jsonl"), None, [])
  os.mkfifo(folder / "fifo_manifest.jsonl")  # Opening it would wait for ever.
  assert media_manifest.manifests_beside(str(folder / "*.tfrecord")) == [
      str(folder / "clips_manifest.jsonl"), str(folder / "latin1_manifest.jsonl")]
  assert context.source_patterns({"source": {"data": ["/etc/*"]}}) == []
  assert context.num_classes_of({"source": {"num_classes": True}}, 7) == 7
  # A window index someone sent: each damaged part is named.
  rng = np.random.default_rng(0)
  n, t = 6, 12
  retrieval.write_catalogue(str(tmp_path / "c"), [f"v{i}" for i in range(n)],
                            _unit(rng.normal(size=(n, E))), _unit(rng.normal(size=(n, E))),
                            _unit(rng.normal(size=(n, t, E))), _unit(rng.normal(size=(n, t, E))),
                            np.full([n], t))
  cat = retrieval.load_catalogue(str(tmp_path / "c"))
  windows = str(tmp_path / "w")
  window_index.build(cat, windows, "visual", width=4)
  items = np.load(os.path.join(windows, "items.npy"))
  for change, message in [
      (lambda: np.save(os.path.join(windows, "items.npy"), items + n), "is damaged"),
      (lambda: np.save(os.path.join(windows, "items.npy"), items.astype(object),
                       allow_pickle=True), "not plain numbers"),
      (lambda: (tmp_path / "w" / "window.json").write_text("[1]"), "no 'catalogue' object"),
      (lambda: (tmp_path / "w" / "window.json").write_text("{" * 100000), "not a window index"),
  ]:
    shutil_copy = str(tmp_path / "w.bak")
    import shutil
    shutil.copytree(windows, shutil_copy)
    change()
    with pytest.raises(ValueError, match=message):
      window_index.load(windows, cat, "visual", width=4)
    shutil.rmtree(windows)
    shutil.move(shutil_copy, windows)
  assert window_index.load(windows, cat, "visual", width=4).index.ntotal == len(items)
