"""yt8m-embed and yt8m-search: index folders, exact/ANN search, re-ranking, localization."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import embed as embed_job
from yt8m_crossmodal.jobs import search as search_job
from yt8m_crossmodal.serving import loading
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.retrieval import hubness

import records
import helpers

E = helpers.E


@pytest.fixture(scope="module")
def data(frame_data_dir):
  return f"{frame_data_dir}/*.tfrecord"


@pytest.fixture(scope="module")
def videos(data):
  """The reader's view of the data: ids, dequantized features, num_frames."""
  ds = pipeline.make_dataset(data, batch_size=64, max_frames=helpers.MAX_FRAMES,
                           dequantize=True, seed=0)
  batch = {k: v.numpy() for k, v in next(iter(ds)).items()}
  batch["id"] = [i.decode() for i in batch["id"]]
  return batch


@pytest.fixture(scope="module")
def index(frame_export, data, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("index") / "catalogue")
  summary = embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data,
                                        output=out, timelines=True, ann="hnsw",
                                        batch_size=10))
  return summary


@pytest.fixture(scope="module")
def export_dir(frame_export):
  return frame_export.export_dir


@pytest.fixture(scope="module")
def loaded(frame_export):
  return loading.load_export(frame_export.export_dir)


def _search(index, data, **kw):
  kw.setdefault("export_dir", index["model"]["export_dir"])  # The export that embedded it.
  return search_job.search_queries(search_job.SearchConfig(index=index["path"], query_data=data, **kw))


def _ids(lines):
  return [[r["id"] for r in line["results"]] for line in lines]


def test_embed_writes_the_catalogue(index, frame_export, videos):
  assert index["num_items"] == 24 and index["embedding_size"] == E
  assert index["has_timelines"] and index["max_frames"] == helpers.MAX_FRAMES
  assert index["model"]["export_dir"] == os.path.abspath(frame_export.version_dir)
  cat = retrieval.load_catalogue(index["path"])
  assert cat.ids == videos["id"]
  assert set(cat.indexes) == {"audio", "visual"}
  np.testing.assert_array_equal(cat.num_frames, videos["num_frames"])
  for modality in ("audio", "visual"):
    want = helpers.keras_encode(frame_export, modality, videos[modality],
                                    videos["num_frames"])
    np.testing.assert_allclose(cat.embeddings(modality), want["embedding"], atol=1e-5)
    t = want["timeline"].shape[1]
    timelines = np.asarray(cat.timelines(modality), np.float32)
    np.testing.assert_allclose(timelines[:, :t], want["timeline"], atol=2e-3)  # float16
    assert np.all(timelines[:, t:] == 0)


def test_exact_and_ann_search_agree(index, data):
  exact = _search(index, data, query_modality="audio", k=5)
  ann = _search(index, data, query_modality="audio", k=5, ann="hnsw")
  assert len(exact) == 24
  assert _ids(exact) == _ids(ann)
  for a, b in zip(exact, ann):
    assert a["target_modality"] == "visual"
    np.testing.assert_allclose([r["score"] for r in a["results"]],
                               [r["score"] for r in b["results"]], atol=1e-5)
    assert [r["rank"] for r in a["results"]] == [1, 2, 3, 4, 5]
  # Visual queries are the catalogue's own visual embeddings (same videos).
  ann = _search(index, data, query_modality="visual", k=5, ann="hnsw")
  cat = retrieval.load_catalogue(index["path"])
  # Ranked by cosine - w * hubness of each result (w: the --hub_weight default).
  scores, idx = retrieval.exact_search(cat.embeddings("visual"), cat.embeddings("audio"), 5,
                                       bias=-hubness.DEFAULT_WEIGHT * cat.hubness["audio"])
  assert _ids(ann) == [[cat.ids[i] for i in row] for row in idx]
  np.testing.assert_allclose([[r["score"] for r in line["results"]] for line in ann], scores,
                             atol=1e-5)


def test_rerank_scores_are_consistent(index, data, loaded, videos):
  alpha = 0.3
  exact = _search(index, data, query_modality="audio", k=24)
  reranked = _search(index, data, query_modality="audio", k=5, rerank=10, rerank_alpha=alpha)
  cat = retrieval.load_catalogue(index["path"])
  _, timelines = loaded.encode_fn("audio")(videos["audio"], videos["num_frames"])
  changed = 0
  for q, (ex, rr) in enumerate(zip(exact, reranked)):
    clip = {r["id"]: r["score"] for r in ex["results"]}
    top10 = [r["id"] for r in ex["results"][:10]]
    results = rr["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    idx = np.array([cat.ids.index(r["id"]) for r in results])
    starts, tl_scores = retrieval.localize(timelines[q], cat.timelines("visual")[idx],
                                           cat.num_frames[idx], int(videos["num_frames"][q]))
    for r, start, tl in zip(results, starts, tl_scores):
      assert r["id"] in top10
      assert r["clip_score"] == pytest.approx(clip[r["id"]], abs=1e-6)
      assert r["timeline_score"] == pytest.approx(float(tl), abs=1e-5)
      # Never negative: a result shorter than the query fits inside it.
      assert r["best_start_second"] == max(int(start), 0)
      assert r.get("query_start_second", 0) == max(-int(start), 0)
      assert r["score"] == pytest.approx(alpha * r["clip_score"] + (1 - alpha) * r["timeline_score"],
                                         abs=1e-5)
    changed += [r["id"] for r in results] != top10[:5]
  assert changed > 0  # Re-ranking reorders some queries.


def test_clip_localization_matches_retrieval_localize(index, data, loaded, videos):
  start, seconds = 3, 4
  lines = _search(index, data, query_modality="audio", k=4, query_seconds=seconds,
                  query_start=start)
  cat = retrieval.load_catalogue(index["path"])
  n = videos["num_frames"]
  lengths = np.clip(n - start, 0, seconds).astype(np.int32)
  emb, timelines = loaded.encode_fn("audio")(videos["audio"][:, start:start + seconds], lengths)
  want_scores, want_idx = retrieval.exact_search(emb, cat.embeddings("visual"), 4,
                                                 bias=-hubness.DEFAULT_WEIGHT * cat.hubness["visual"])
  for q, line in enumerate(lines):
    assert line["query_id"] == videos["id"][q]
    assert line["query_seconds"] == [start, start + int(lengths[q])]
    assert [r["id"] for r in line["results"]] == [cat.ids[i] for i in want_idx[q]]
    idx = want_idx[q]
    starts, scores = retrieval.localize(timelines[q], cat.timelines("visual")[idx],
                                        cat.num_frames[idx], int(lengths[q]))
    assert [r["best_start_second"] for r in line["results"]] == np.maximum(starts, 0).tolist()
    assert [r.get("query_start_second", start) for r in line["results"]] == (
        start + np.maximum(-starts, 0)).tolist()
    np.testing.assert_allclose([r["timeline_score"] for r in line["results"]], scores,
                               atol=1e-5)


def test_localization_finds_the_second_a_clip_was_cut_at(frame_export, loaded, videos,
                                                         tmp_path):
  """A catalogue video whose visual timeline holds the clip's audio timeline.

  With an untrained model audio and visual timelines are unrelated, so the
  catalogue is made "identity-like": the target video's visual timeline at
  seconds [cut, cut + L) is the clip's own audio timeline (computed through
  the SavedModel), elsewhere and in the other videos random unit vectors.
  The search must crop the query to [cut, cut + L), find the target first
  and report ``best_start_second == cut``.
  """
  q = int(np.argmax(videos["num_frames"]))
  cut, seconds, t = 5, 4, helpers.MAX_FRAMES
  assert videos["num_frames"][q] >= cut + seconds
  excerpt = videos["audio"][q:q + 1, cut:cut + seconds]
  emb, clip_timeline = loaded.encode_fn("audio")(excerpt, np.array([seconds], np.int32))
  rng = np.random.default_rng(0)
  unit = lambda x: (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
  n = 6
  visual_tl = unit(rng.normal(size=(n, t, E)))
  visual_tl[2, cut:cut + seconds] = clip_timeline[0]
  visual_emb = unit(rng.normal(size=(n, E)))
  visual_emb[2] = emb[0]
  retrieval.write_catalogue(
      str(tmp_path / "cat"), [f"c{i}" for i in range(n)], unit(rng.normal(size=(n, E))),
      visual_emb, unit(rng.normal(size=(n, t, E))), visual_tl, np.full([n], t),
      model_info={"export_dir": frame_export.version_dir})
  query_file = records.write(tmp_path / "query.tfrecord", [_record_of(videos, q)])
  for rerank in (0, 6):
    lines = search_job.search_queries(search_job.SearchConfig(
        index=str(tmp_path / "cat"), query_data=query_file, query_modality="audio", k=3,
        export_dir=frame_export.export_dir,
        query_seconds=seconds, query_start=cut, rerank=rerank))
    (line,) = lines
    top = line["results"][0]
    assert top["id"] == "c2" and top["best_start_second"] == cut
    assert top["timeline_score"] == pytest.approx(1.0, abs=2e-3)  # float16 storage.
    hub = retrieval.load_catalogue(str(tmp_path / "cat")).hubness["visual"][2]
    clip_score = top["clip_score"] if rerank else top["score"]
    # cosine 1 - w * hubness
    assert clip_score == pytest.approx(1.0 - hubness.DEFAULT_WEIGHT * hub, abs=2e-3)


def _record_of(videos, q):
  """Re-serializes video ``q`` (quantized exactly: the features came from bytes)."""
  from yt8m_crossmodal.data import features as feat
  import tensorflow as tf
  n = int(videos["num_frames"][q])
  se = tf.train.SequenceExample()
  se.context.feature["id"].bytes_list.value.append(videos["id"][q].encode())
  se.context.feature["labels"].int64_list.value.append(1)
  for name, key in (("visual", "rgb"), ("audio", "audio")):
    for row in feat.quantize(videos[name][q, :n]):
      se.feature_lists.feature_list[key].feature.add().bytes_list.value.append(row.tobytes())
  return se.SerializeToString()


def test_queries_shorter_than_the_start_are_reported(index, data, videos):
  start = 12
  lines = _search(index, data, query_modality="visual", k=2, query_seconds=3,
                  query_start=start)
  assert len(lines) == 24
  for line, n in zip(lines, videos["num_frames"]):
    if n <= start:
      assert line["results"] == [] and "nothing at or after --query_start=12" in line["error"]
    else:
      assert len(line["results"]) == 2 and "best_start_second" in line["results"][0]


def test_cli_runs(index, data, tmp_path):
  env = helpers.tool_env()
  good = subprocess.Popen(
      [sys.executable, "-m", "yt8m_crossmodal.tools.search", f"--index={index['path']}",
       f"--export_dir={index['model']['export_dir']}",
       f"--query_data={data}", "--query_modality=visual", "--k=3", "--localize",
       "--max_queries=5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  bad = subprocess.Popen(
      [sys.executable, "-m", "yt8m_crossmodal.tools.search", f"--index={index['path']}",
       f"--query_data={data}", "--query_modality=text"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  out, err = good.communicate(timeout=300)
  bad_out, bad_err = bad.communicate(timeout=300)
  assert good.returncode == 0, err[-3000:]
  assert helpers.library_lines(err) == [], err[-3000:]
  lines = [json.loads(line) for line in out.strip().splitlines()]
  assert len(lines) == 5
  for line in lines:
    # Sample data: 2018 labels (named from the package's vocabulary), ids with no video.
    assert set(line) == {"query_id", "query_modality", "target_modality", "query_labels",
                         "results"}
    assert line["query_labels"] and all(isinstance(n, str) for n in line["query_labels"])
    assert [r["rank"] for r in line["results"]] == [1, 2, 3]
    for r in line["results"]:
      assert set(r) - {"query_start_second"} == {"id", "kind", "score", "rank",
                                                 "best_start_second", "timeline_score",
                                                 "labels"}
      assert r["kind"] == "sound" and r["best_start_second"] >= 0
      assert r["score"] == round(r["score"], 4)  # Rounded, not 17 digits.
  assert bad.returncode == 2 and bad_out == ""
  assert bad_err.strip().splitlines()[-1] == (
      "error: --query_modality must be audio or visual, got 'text'")


def test_search_errors(index, data, frame_export, video_export, tmp_path):
  path = index["path"]
  cfg = lambda **kw: search_job.SearchConfig(**dict(dict(
      index=path, query_data=data, export_dir=frame_export.export_dir), **kw))
  with pytest.raises(UsageError, match="--query_modality must be audio or visual"):
    search_job.search_queries(cfg(query_modality="text"))
  with pytest.raises(UsageError, match=r"--rerank must be 0 or >= --k \(10\)"):
    search_job.search_queries(cfg(rerank=3))
  # Empty index.
  empty = helpers.empty_catalogue(tmp_path / "empty")
  with pytest.raises(UsageError, match="(?i)empty catalogue"):
    search_job.search_queries(cfg(index=str(empty)))
  with pytest.raises(UsageError, match="does not exist"):
    search_job.search_queries(cfg(index=str(tmp_path / "missing")))
  # Query width != catalogue width.
  helpers.random_catalogue(tmp_path / "wide", width=E + 2)
  with pytest.raises(UsageError, match=f"query width {E} != catalogue width {E + 2}"):
    search_job.search_queries(cfg(index=str(tmp_path / "wide"), export_dir=frame_export.export_dir))
  # Without --export_dir (whatever the index names: see test_a_received_index_never_loads...).
  with pytest.raises(UsageError, match="--export_dir is required"):
    search_job.search_queries(cfg(index=str(tmp_path / "wide"), export_dir=""))
  # Missing export / not a SavedModel.
  with pytest.raises(UsageError, match="no export at"):
    search_job.search_queries(cfg(export_dir=str(tmp_path / "nothing")))
  with pytest.raises(UsageError, match="is not a SavedModel"):
    search_job.search_queries(cfg(export_dir=str(tmp_path / "wide")))
  # No faiss index, no timelines.
  plain = str(frame_export.root / "catalogue")  # Random, E-wide, no timelines/faiss.
  with pytest.raises(UsageError, match="no faiss index for 'visual'"):
    search_job.search_queries(cfg(index=plain, export_dir=frame_export.export_dir, ann="hnsw"))
  with pytest.raises(UsageError, match="--ann=ivf but the index .* holds a hnsw index"):
    search_job.search_queries(cfg(ann="ivf"))
  with pytest.raises(UsageError, match="stores no timelines.*yt8m-embed --timelines"):
    search_job.search_queries(cfg(index=plain, export_dir=frame_export.export_dir, rerank=10))
  # A video-level export has no timelines.
  with pytest.raises(UsageError, match="video-level model.*no 'timeline' output"):
    search_job.search_queries(cfg(index=plain, export_dir=video_export.export_dir, localize=True))


def test_embed_errors(index, data, video_export, frame_export, tmp_path):
  with pytest.raises(UsageError, match="video-level model.*needed for --timelines"):
    embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=video_export.export_dir, data=data,
                                output=str(tmp_path / "x"), timelines=True))
  with pytest.raises(UsageError, match="--ann must be one of none, hnsw, ivf"):
    embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data,
                                output=str(tmp_path / "x"), ann="lsh"))
  with pytest.raises(UsageError, match="already holds a catalogue"):
    embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data,
                                output=index["path"]))
  with pytest.raises(UsageError, match="is not a SavedModel"):
    embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=str(tmp_path), data=data,
                                output=str(tmp_path / "x")))


def test_embed_ivf_without_timelines(frame_export, data, tmp_path, index):
  summary = embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data,
                                        output=str(tmp_path / "ivf"), ann="ivf",
                                        max_videos=20))
  assert summary["num_items"] == 20 and not summary["has_timelines"]
  assert summary["faiss"]["visual"]["kind"] == "ivf"
  cat = retrieval.load_catalogue(str(tmp_path / "ivf"))
  full = retrieval.load_catalogue(index["path"])
  np.testing.assert_allclose(cat.embeddings("audio"), full.embeddings("audio")[:20], atol=1e-6)


# ----------------------------------------------------------------------------
# Issue 9: nothing lost, nothing silently wrong.


def test_embed_overwrite_keeps_the_old_catalogue_when_the_new_one_fails(
    frame_export, data, frame_data_dir, tmp_path):
  out = str(tmp_path / "cat")
  first = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=data, output=out, max_videos=10))
  before = retrieval.load_catalogue(out)
  bad_shard = tmp_path / "bad.tfrecord"
  bad, _, _ = records.frame_record("broken", frames=4, rgb_width=1000)
  records.write(str(bad_shard), [bad])
  with pytest.raises(Exception, match="Bad YT-8M record in .*bad.tfrecord"):
    embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=f"{data},{bad_shard}", output=out,
        overwrite=True))
  after = retrieval.load_catalogue(out)
  assert after.ids == before.ids and after.meta == before.meta
  np.testing.assert_array_equal(after.embeddings("audio"), before.embeddings("audio"))
  assert sorted(os.listdir(tmp_path)) == ["bad.tfrecord", "cat"]  # Nothing left aside.
  # A successful --overwrite replaces it whole.
  again = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=data, output=out, overwrite=True,
      max_videos=4))
  assert again["num_items"] == 4 and first["num_items"] == 10
  assert retrieval.load_catalogue(out).size == 4
  assert sorted(os.listdir(tmp_path)) == ["bad.tfrecord", "cat"]


def test_catalogue_writer_refuses_non_finite_vectors(tmp_path):
  writer = retrieval.CatalogueWriter(str(tmp_path / "c"), embedding_size=3)
  good = np.eye(3, dtype=np.float32)
  bad = good.copy()
  bad[1, 2] = np.nan
  with pytest.raises(ValueError, match=r"visual embedding of video 'b' holds NaN or Inf"):
    writer.add(["a", "b", "c"], good, bad)
  tl = np.ones((3, 4, 3), np.float32)
  tl_bad = tl.copy()
  tl_bad[2, 1, 0] = np.inf
  with pytest.raises(ValueError, match=r"audio timeline of video 'c' holds NaN or Inf"):
    writer.add(["a", "b", "c"], good, good, tl_bad, tl)


def test_embed_output_errors(frame_export, data, tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(UsageError, match="is a file, not a folder"):
    embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data,
                                               output=str(tmp_path / "file")))
  (tmp_path / "notes").mkdir()
  (tmp_path / "notes" / "todo.txt").write_text("x")
  with pytest.raises(UsageError, match="not part of a catalogue \\(todo.txt\\)"):
    embed_job.embed_corpus(embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data,
                                               output=str(tmp_path / "notes")))
  locked = tmp_path / "locked"
  locked.mkdir()
  with helpers.read_only(locked):
    with pytest.raises(UsageError, match="not writable"):
      embed_job.embed_corpus(embed_job.EmbedConfig(
          export_dir=frame_export.export_dir, data=data, output=str(locked / "cat")))


def test_search_warns_when_another_export_embedded_the_index(index, data, frame_export,
                                                             tmp_path, caplog):
  other = tmp_path / "other"
  import shutil
  shutil.copytree(frame_export.version_dir, other / "1")
  info_path = other / "1" / "assets.extra" / "export.json"
  info = json.loads(info_path.read_text())
  info["created"] = "2000-01-01T00:00:00+00:00"
  info_path.write_text(json.dumps(info))
  lines = _search(index, data, query_modality="audio", k=2, max_queries=2,
                  export_dir=str(other))
  assert all("was embedded by the export" in line["warning"] for line in lines)
  assert "not by" in caplog.text
  same = _search(index, data, query_modality="audio", k=2, max_queries=2)
  assert all("warning" not in line for line in same)


# ----------------------------------------------------------------------------
# Issue 22: damaged indexes, racing writers, remote paths.


def _dead_pid():
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()
  return child.pid


def test_search_refuses_a_nan_row_of_the_index(index, data, tmp_path, export_dir):
  import shutil
  copy = tmp_path / "cat"
  shutil.copytree(index["path"], copy)
  rows = np.load(copy / "visual_embeddings.npy", mmap_mode="r+")
  rows[5] = np.nan
  rows.flush()
  del rows
  with pytest.raises(UsageError, match="--index: .*visual_embeddings.npy: SHA-256"):
    search_job.search_queries(search_job.SearchConfig(index=str(copy), query_data=data,
                                                      export_dir=export_dir))
  meta = json.loads((copy / "meta.json").read_text())
  del meta["files"]  # As an index written before the checksums.
  (copy / "meta.json").write_text(json.dumps(meta))
  with pytest.raises(UsageError, match=r"visual_embeddings.npy: row 5 \(video '.*'\) holds NaN"):
    search_job.search_queries(search_job.SearchConfig(index=str(copy), query_data=data,
                                                      export_dir=export_dir))


def test_a_second_embed_into_the_same_output_is_refused_while_the_first_runs(
    frame_export, data, tmp_path, monkeypatch):
  out = str(tmp_path / "cat")
  cfg = embed_job.EmbedConfig(export_dir=frame_export.export_dir, data=data, output=out,
                             max_videos=6)
  first_pass = embed_job._embed_in_process
  racer = {}

  def embed_while_another_runs(*args):
    try:  # A second run starting while the first one writes.
      racer["summary"] = embed_job.embed_corpus(dataclasses.replace(cfg, max_videos=3))
    except UsageError as e:
      racer["error"] = str(e)
    return first_pass(*args)

  monkeypatch.setattr(embed_job, "_embed_in_process", embed_while_another_runs)
  summary = embed_job.embed_corpus(cfg)
  assert "summary" not in racer
  assert "is being written by another process" in racer["error"] and ".cat.lock" in racer["error"]
  assert summary["num_items"] == 6 and retrieval.load_catalogue(out).size == 6
  assert sorted(os.listdir(tmp_path)) == ["cat"]  # Lock released, nothing aside.


def test_a_killed_embeds_lock_and_temp_folder_are_cleaned(frame_export, data, tmp_path):
  from yt8m_crossmodal import io_utils
  host = io_utils.host_pid_tag().rpartition("_")[0]
  dead = f"{host}_{_dead_pid()}"
  (tmp_path / ".cat.lock").write_text(dead)
  stale = tmp_path / f".cat.tmp-{dead}-0123abcd"
  stale.mkdir()
  (stale / "ids.txt").write_text("x\n")
  (tmp_path / f".cat.tmp-{dead}-0123abcd-shards").mkdir()  # The Beam runner's.
  remote = tmp_path / ".cat.tmp-otherhost_1-0123abcd"  # Another host's: only reported.
  remote.mkdir()
  summary = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=data, output=str(tmp_path / "cat"),
      max_videos=2))
  assert summary["num_items"] == 2
  assert sorted(os.listdir(tmp_path)) == [".cat.tmp-otherhost_1-0123abcd", "cat"]


def test_a_live_lock_refuses_embed(frame_export, data, tmp_path):
  from yt8m_crossmodal import io_utils
  (tmp_path / ".cat.lock").write_text(io_utils.host_pid_tag())
  with pytest.raises(UsageError, match="being written by another process"):
    embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=data, output=str(tmp_path / "cat")))
  assert not (tmp_path / "cat").exists()


def test_a_remote_embed_output_is_refused_not_written_locally(frame_export, data, tmp_path,
                                                              monkeypatch):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(UsageError, match="'gs://bucket/idx' is a remote path"):
    embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=data, output="gs://bucket/idx"))
  assert os.listdir(tmp_path) == []


def test_a_remote_index_is_named_as_such(index, data):
  with pytest.raises(UsageError, match="'gs://bucket/idx' is a remote path"):
    search_job.search_queries(search_job.SearchConfig(index="gs://bucket/idx", query_data=data,
                                                      export_dir="unused"))


def test_a_full_disk_during_embed_keeps_the_old_catalogue(frame_export, data, tmp_path,
                                                          monkeypatch):
  import builtins
  import errno
  from yt8m_crossmodal.retrieval import folder
  from yt8m_crossmodal.tools import runner
  out = str(tmp_path / "cat")
  embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=data, output=out, max_videos=4))
  before = retrieval.load_catalogue(out)

  class FullDisk:  # Python's own error for a full disk names no file.
    def __init__(self, f):
      self.f = f

    def write(self, data):
      raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
      self.f.close()

  def full_disk_open(path, mode="r", *args, **kw):
    f = builtins.open(path, mode, *args, **kw)
    return FullDisk(f) if "w" in mode and str(path).endswith(".npy") else f

  monkeypatch.setattr(folder, "open", full_disk_open, raising=False)
  with pytest.raises(UsageError) as info:
    embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=data, output=out, overwrite=True))
  monkeypatch.undo()
  assert runner._is_user_error(info.value)
  assert re.fullmatch(r"cannot write '.*\.npy': \[Errno 28\] No space left on device",
                      runner.error_message(info.value)), str(info.value)
  after = retrieval.load_catalogue(out)
  assert after.ids == before.ids and after.meta == before.meta
  assert sorted(os.listdir(tmp_path)) == ["cat"]  # No temp folder, no lock left.
