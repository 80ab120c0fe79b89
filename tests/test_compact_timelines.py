"""Compact (int8, per-row scale, optionally pooled) timelines: format, reading, search."""

import json
import os

import numpy as np
import pytest

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.retrieval import compact_timelines as compact
from yt8m_crossmodal.jobs import embed as embed_job
from yt8m_crossmodal.jobs import search as search_job

import helpers

N, T, E = 30, 16, 8


def _unit(x):
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus():
  rng = np.random.default_rng(0)
  num_frames = rng.integers(1, T + 1, N)
  pad = np.arange(T)[None, :] >= num_frames[:, None]
  timelines = {}
  for m in ("audio", "visual"):
    t = _unit(rng.normal(size=(N, T, E)))
    t[pad] = 0
    timelines[m] = t
  return dict(ids=[f"v{i}" for i in range(N)], num_frames=num_frames,
              audio=_unit(rng.normal(size=(N, E))), visual=_unit(rng.normal(size=(N, E))),
              timelines=timelines)


def _write(path, corpus, **kw):
  return retrieval.write_catalogue(
      str(path), corpus["ids"], corpus["audio"], corpus["visual"],
      corpus["timelines"]["audio"], corpus["timelines"]["visual"], corpus["num_frames"],
      batch_size=7, **kw)


def test_int8_rows_are_within_half_a_step_and_store_only_valid_seconds(corpus, tmp_path):
  meta = _write(tmp_path / "c", corpus, timeline_dtype="int8")
  assert meta["timeline_dtype"] == "int8" and meta["timeline_pool"] == 1
  files = set(os.listdir(tmp_path / "c"))
  assert "audio_timelines.npy" not in files and "audio_timeline_rows.npy" in files
  rows = np.load(tmp_path / "c" / "audio_timeline_rows.npy")
  assert rows.dtype == np.int8 and rows.shape == (corpus["num_frames"].sum(), E)
  cat = retrieval.load_catalogue(str(tmp_path / "c"))
  view = cat.timelines("audio")
  assert isinstance(view, compact.CompactTimelines)
  assert view.shape == (N, T, E) and isinstance(view.rows, np.memmap)
  dense = np.asarray(view)
  want = corpus["timelines"]["audio"]
  step = np.abs(want).max(axis=2, keepdims=True) / 127
  assert np.all(np.abs(dense - want) <= step / 2 + 1e-7)
  assert np.all(dense[want == 0] == 0)  # Padding stays zero.
  idx = np.array([7, 3, 3, 29])
  np.testing.assert_array_equal(retrieval.gather_rows(view, idx), dense[idx])
  np.testing.assert_array_equal(view[5], dense[5])
  np.testing.assert_array_equal(view[idx, :4], dense[idx, :4])
  assert view.nbytes == rows.nbytes + 4 * rows.shape[0]


def test_pooled_rows_average_and_repeat(corpus, tmp_path):
  pool = 3
  _write(tmp_path / "p", corpus, timeline_dtype="int8", timeline_pool=pool)
  cat = retrieval.load_catalogue(str(tmp_path / "p"))
  view = cat.timelines("visual")
  assert view.rows.shape[0] == compact.stored_rows(corpus["num_frames"], pool).sum()
  dense = np.asarray(view)
  src = corpus["timelines"]["visual"]
  for i in (0, 11):
    n = corpus["num_frames"][i]
    for t in range(n):
      g = t // pool
      mean = _unit(src[i, g * pool:min(n, (g + 1) * pool)].mean(axis=0))
      np.testing.assert_allclose(dense[i, t], mean, atol=np.abs(mean).max() / 127)
    assert np.all(dense[i, n:] == 0)


def test_rerank_and_localization_agree_with_float32(corpus, tmp_path):
  _write(tmp_path / "f", corpus, timeline_dtype="float32")
  _write(tmp_path / "q", corpus, timeline_dtype="int8")
  exact, small = (retrieval.load_catalogue(str(tmp_path / n)) for n in ("f", "q"))
  same_top = same_start = 0
  for q in range(N):
    length = int(corpus["num_frames"][q])
    query = corpus["timelines"]["audio"][q, :length]
    cand = np.arange(N)
    a = retrieval.rerank_by_timeline(query, length, cand, exact, np.zeros(N), 0.0, "audio")
    b = retrieval.rerank_by_timeline(query, length, cand, small, np.zeros(N), 0.0, "audio")
    np.testing.assert_allclose(b.timeline_scores, a.timeline_scores, atol=0.02)
    same_top += int(a.indices[0] == b.indices[0] == q)
    same_start += int(a.starts[0] == b.starts[0])
  assert same_top == N and same_start == N


def test_bad_settings_are_refused(corpus, tmp_path):
  with pytest.raises(ValueError, match="timeline_pool"):
    _write(tmp_path / "x", corpus, timeline_dtype="float16", timeline_pool=2)
  with pytest.raises(ValueError, match="timeline_dtype"):
    _write(tmp_path / "y", corpus, timeline_dtype="int16")
  cfg = embed_job.EmbedConfig(export_dir="x", data="y", output=str(tmp_path / "z"),
                             timeline_dtype="float32", timeline_pool=2)
  with pytest.raises(UsageError, match="--timeline_pool=2 needs --timeline_dtype=int8"):
    embed_job.embed_corpus(cfg)


def test_embed_and_search_with_int8_timelines(frame_export, frame_data_dir, tmp_path):
  data = f"{frame_data_dir}/*.tfrecord"
  out = {}
  for dtype, pool in (("float32", 1), ("int8", 1), ("int8", 2)):
    path = str(tmp_path / f"{dtype}_{pool}")
    summary = embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=data, output=path, timelines=True,
        timeline_dtype=dtype, timeline_pool=pool, batch_size=10))
    assert summary["timeline_dtype"] == dtype and summary["timeline_pool"] == pool
    with open(os.path.join(path, "meta.json")) as f:
      assert json.load(f)["timeline_pool"] == pool
    out[(dtype, pool)] = search_job.search_queries(search_job.SearchConfig(
        index=path, query_data=data, query_modality="audio", k=3, rerank=8,
        export_dir=frame_export.export_dir,
        query_seconds=4, query_start=2))
  base, int8 = out[("float32", 1)], out[("int8", 1)]
  assert len(base) == 24
  agree = sum([r["id"] for r in a["results"]] == [r["id"] for r in b["results"]]
              for a, b in zip(base, int8))
  assert agree >= 22  # Near-ties may swap.
  for a, b in zip(base, int8):
    for ra, rb in zip(a["results"], b["results"]):
      if ra["id"] == rb["id"]:
        assert rb["timeline_score"] == pytest.approx(ra["timeline_score"], abs=0.01)
  pooled = out[("int8", 2)]
  assert all(len(line["results"]) == 3 for line in pooled)

