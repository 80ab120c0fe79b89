"""Tests of yt8m_crossmodal.retrieval."""

import json
import os

import numpy as np
import pytest

from yt8m_crossmodal import retrieval


def _unit(rng, *shape):
  x = rng.standard_normal(shape).astype(np.float32)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _reference_topk(queries, matrix, k):
  sims = queries @ matrix.T
  order = np.lexsort((np.broadcast_to(np.arange(len(matrix)), sims.shape),
                      -sims), axis=1)[:, :k]
  return np.take_along_axis(sims, order, axis=1), order


def _toy_catalogue(rng, n=20, t=30, e=8):
  num_frames = rng.integers(5, t + 1, size=n)
  num_frames[0] = t
  audio_tl = _unit(rng, n, t, e)
  visual_tl = _unit(rng, n, t, e)
  pad = np.arange(t)[None, :] >= num_frames[:, None]
  audio_tl[pad] = 0
  visual_tl[pad] = 0
  return dict(ids=[f"vid{i:03d}" for i in range(n)],
              audio_embeddings=_unit(rng, n, e),
              visual_embeddings=_unit(rng, n, e),
              audio_timelines=audio_tl, visual_timelines=visual_tl,
              num_frames=num_frames)


# ---------------------------------------------------------------------------
# Exact search.


@pytest.mark.parametrize("k,query_chunk,catalogue_chunk",
                         [(1, 1024, 4096), (10, 7, 50), (25, 13, 9),
                          (300, 64, 100)])
def test_exact_search_matches_brute_force(k, query_chunk, catalogue_chunk):
  rng = np.random.default_rng(k)
  matrix, queries = _unit(rng, 300, 16), _unit(rng, 40, 16)
  scores, indices = retrieval.exact_search(queries, matrix, k, query_chunk,
                                           catalogue_chunk)
  ref_scores, ref_indices = _reference_topk(queries, matrix, k)
  assert indices.shape == (40, k) and scores.dtype == np.float32
  np.testing.assert_array_equal(indices, ref_indices)
  np.testing.assert_allclose(scores, ref_scores, atol=1e-6)


def test_exact_search_ties_clamping_and_dtypes():
  # Exactly representable products, so duplicates tie exactly in float32.
  base = np.eye(5, 8, dtype=np.float32) * 0.5 + np.eye(5, 8, 1,
                                                        dtype=np.float32) * 0.25
  matrix = base[[0, 1, 0, 2, 0, 3, 4, 1]]
  scores, indices = retrieval.exact_search(base[0], matrix, 3,
                                           catalogue_chunk=3)
  np.testing.assert_array_equal(indices, [[0, 2, 4]])  # Lower index first.
  scores, indices = retrieval.exact_search(base, matrix, 100)  # k > N
  assert indices.shape == (5, 8)
  half = retrieval.exact_search(base, matrix.astype(np.float16), 2)[1]
  assert half.shape == (5, 2) and np.all(half[:, 0] == [0, 1, 3, 5, 6])


def test_exact_search_errors():
  with pytest.raises(ValueError, match="Empty catalogue"):
    retrieval.exact_search(np.ones([2, 4]), np.zeros([0, 4]), 1)
  with pytest.raises(ValueError, match="width 3 != catalogue width 4"):
    retrieval.exact_search(np.ones([2, 3]), np.ones([5, 4]), 1)
  for k in (0, -2):
    with pytest.raises(ValueError, match="k must be a positive"):
      retrieval.exact_search(np.ones([2, 4]), np.ones([5, 4]), k)


# ---------------------------------------------------------------------------
# faiss.


@pytest.mark.parametrize("kind,params", [
    ("flat", {}),
    ("hnsw", {"hnsw_m": 16, "ef_search": 200}),
    ("ivf", {"nlist": 8, "nprobe": 8}),
])
def test_faiss_agrees_with_exact(kind, params):
  rng = np.random.default_rng(1)
  matrix, queries = _unit(rng, 1000, 16), _unit(rng, 30, 16)
  index = retrieval.build_index(matrix, kind, **params)
  assert retrieval.index_params(index)["kind"] == kind
  scores, indices = retrieval.search(index, queries, 10)
  ref_scores, ref_indices = retrieval.exact_search(queries, matrix, 10)
  recall = np.mean([len(set(a) & set(b)) / 10
                    for a, b in zip(indices, ref_indices)])
  assert recall >= 0.98
  np.testing.assert_allclose(scores[:, 0], ref_scores[:, 0], atol=1e-5)


def test_faiss_search_params_missing_results_and_errors(tmp_path):
  rng = np.random.default_rng(2)
  matrix = _unit(rng, 500, 8)
  index = retrieval.build_index(matrix, "ivf", nlist=10, nprobe=1)
  scores, indices = retrieval.search(index, matrix[:3], 400, nprobe=1)
  assert indices.shape == (3, 400)
  assert np.all(np.isneginf(scores[indices < 0]))  # Unfilled slots.
  assert retrieval.index_params(index)["nprobe"] == 1
  retrieval.set_search_params(index, nprobe=10)
  assert retrieval.index_params(index)["nprobe"] == 10
  path = str(tmp_path / "i.faiss")
  retrieval.save_index(index, path)
  loaded = retrieval.load_index(path)
  np.testing.assert_array_equal(retrieval.search(loaded, matrix[:3], 5)[1],
                                retrieval.search(index, matrix[:3], 5)[1])
  with pytest.raises(ValueError, match="k must be a positive"):
    retrieval.search(index, matrix[:3], 0)
  with pytest.raises(ValueError, match="width 4 != catalogue width 8"):
    retrieval.search(index, np.ones([1, 4]), 3)
  with pytest.raises(ValueError, match="Empty catalogue"):
    retrieval.build_index(np.zeros([0, 8], np.float32), "hnsw")
  with pytest.raises(ValueError, match="Unknown index kind"):
    retrieval.build_index(matrix, "lsh")
  with pytest.raises(ValueError, match="nothere.faiss"):
    retrieval.load_index(str(tmp_path / "nothere.faiss"))


# ---------------------------------------------------------------------------
# Catalogue folders.


def test_catalogue_round_trip(tmp_path):
  rng = np.random.default_rng(3)
  data = _toy_catalogue(rng)
  folder = str(tmp_path / "cat")
  meta = retrieval.write_catalogue(folder, model_info={"name": "toy"}, **data)
  assert meta["num_items"] == 20 and meta["embedding_size"] == 8
  assert meta["has_timelines"] and meta["max_frames"] == 30
  assert sorted(os.listdir(folder)) == sorted([
      "ids.txt", "meta.json", "audio_embeddings.npy",
      "visual_embeddings.npy", "audio_timelines.npy",
      "visual_timelines.npy", "num_frames.npy", "audio_hubness.npy",
      "visual_hubness.npy", "audio_self_hubness.npy", "visual_self_hubness.npy"])
  cat = retrieval.load_catalogue(folder)
  assert cat.ids == data["ids"] and len(cat) == 20
  assert isinstance(cat.audio_embeddings, np.memmap)
  np.testing.assert_array_equal(cat.visual_embeddings,
                                data["visual_embeddings"])
  assert cat.audio_timelines.dtype == np.float16
  np.testing.assert_allclose(cat.audio_timelines, data["audio_timelines"],
                             atol=1e-3)
  np.testing.assert_array_equal(cat.num_frames, data["num_frames"])
  assert cat.meta["model"] == {"name": "toy"}
  # Search through the catalogue, then with a saved index.
  exact = cat.search(data["audio_embeddings"][:4], target="visual", k=3)
  cat.build_index("visual", "flat")
  assert os.path.exists(os.path.join(folder, "visual.faiss"))
  again = retrieval.load_catalogue(folder)
  assert set(again.indexes) == {"visual"}
  assert again.meta["faiss"]["visual"]["kind"] == "flat"
  via_index = again.search(data["audio_embeddings"][:4], "visual", 3,
                           method="index")
  np.testing.assert_array_equal(via_index[1], exact[1])
  with pytest.raises(ValueError, match="No faiss index"):
    again.search(data["visual_embeddings"][:1], "audio", 3, method="index")
  with pytest.raises(ValueError, match="width 5 != catalogue width 8"):
    again.search(np.ones([1, 5]), "visual", 3)


def test_no_timelines_and_a_missing_ids_file(tmp_path):
  rng = np.random.default_rng(4)
  folder = str(tmp_path / "c")
  retrieval.write_catalogue(folder, ["a", "b", "c"], _unit(rng, 3, 4),
                            _unit(rng, 3, 4))
  cat = retrieval.load_catalogue(folder, mmap=False)
  assert cat.ids == ["a", "b", "c"] and not cat.has_timelines
  with pytest.raises(ValueError, match="stores no timelines"):
    cat.timelines("visual")
  os.remove(os.path.join(folder, "ids.txt"))
  with pytest.raises(ValueError, match="missing 'ids.txt'"):
    retrieval.load_catalogue(folder)


@pytest.mark.parametrize("expected", [None, 20])
def test_incremental_writer(tmp_path, expected):
  rng = np.random.default_rng(5)
  data = _toy_catalogue(rng)
  folder = str(tmp_path / "inc")
  with retrieval.CatalogueWriter(folder, 8, max_frames=30,
                                 expected_count=expected) as writer:
    for s in range(0, 20, 6):
      sl = slice(s, s + 6)
      width = int(data["num_frames"][sl].max())  # Shorter batches get padded.
      writer.add([i.encode() for i in data["ids"][sl]],
                 data["audio_embeddings"][sl], data["visual_embeddings"][sl],
                 data["audio_timelines"][sl, :width],
                 data["visual_timelines"][sl, :width])
  assert not os.path.exists(os.path.join(folder, "_parts"))
  cat = retrieval.load_catalogue(folder)
  assert cat.ids == data["ids"]
  np.testing.assert_array_equal(cat.audio_embeddings,
                                data["audio_embeddings"])
  np.testing.assert_allclose(cat.visual_timelines, data["visual_timelines"],
                             atol=1e-3)
  np.testing.assert_array_equal(cat.num_frames, data["num_frames"])


def test_writer_errors(tmp_path):
  rng = np.random.default_rng(6)
  folder = str(tmp_path / "w")
  writer = retrieval.CatalogueWriter(folder, 4)
  with pytest.raises(ValueError, match="Empty catalogue"):
    writer.close()
  writer = retrieval.CatalogueWriter(folder, 4, expected_count=3)
  writer.add(["a"], _unit(rng, 1, 4), _unit(rng, 1, 4))
  with pytest.raises(ValueError, match="expected_count"):
    writer.close()
  retrieval.write_catalogue(folder, ["a"], _unit(rng, 1, 4), _unit(rng, 1, 4))
  with pytest.raises(ValueError, match="already holds"):
    retrieval.CatalogueWriter(folder, 4)
  writer = retrieval.CatalogueWriter(folder, 4, overwrite=True)
  with pytest.raises(ValueError, match=r"\[1, 4\]"):
    writer.add(["a"], np.ones([1, 5]), np.ones([1, 4]))
  with pytest.raises(ValueError, match="Empty catalogue"):
    retrieval.write_catalogue(str(tmp_path / "e"), [], np.zeros([0, 4]),
                              np.zeros([0, 4]))


@pytest.mark.parametrize("missing", ["meta.json", "visual_embeddings.npy",
                                     "audio_timelines.npy", "num_frames.npy",
                                     "ids.txt", "visual.faiss"])
def test_missing_files_are_named(tmp_path, missing):
  rng = np.random.default_rng(7)
  folder = str(tmp_path / "m")
  retrieval.write_catalogue(folder, **_toy_catalogue(rng, n=6))
  retrieval.load_catalogue(folder).build_index("visual", "flat")
  os.remove(os.path.join(folder, missing))
  name = "ids.txt" if missing == "ids.txt" else missing
  with pytest.raises(ValueError) as err:
    retrieval.load_catalogue(folder)
  assert folder in str(err.value) and name in str(err.value)


def test_missing_folder_and_empty_catalogue():
  with pytest.raises(ValueError, match="does not exist"):
    retrieval.load_catalogue("/nonexistent/catalogue")
  with pytest.raises(ValueError, match="Empty catalogue"):
    retrieval.Catalogue([], np.zeros([0, 4]), np.zeros([0, 4]))


# ---------------------------------------------------------------------------
# Localization and re-ranking.


def test_localize_planted_clips():
  rng = np.random.default_rng(8)
  query = _unit(rng, 6, 8)
  refs = _unit(rng, 4, 25, 8)
  lens = np.array([25, 20, 10, 4])
  refs[0, 3:9] = query
  refs[1, 14:20] = query
  refs[2, 0:6] = query
  refs[3, :4] = query[1:5]  # Shorter than the query.
  refs[np.arange(25)[None, :] >= lens[:, None]] = 0
  starts, scores = retrieval.localize(query, refs, lens)
  np.testing.assert_array_equal(starts, [3, 14, 0, -1])
  np.testing.assert_allclose(scores, 1.0, atol=1e-5)


def test_rerank_by_timeline(tmp_path):
  rng = np.random.default_rng(9)
  data = _toy_catalogue(rng, n=10, t=30)
  data["num_frames"][:] = 30
  retrieval.write_catalogue(str(tmp_path / "r"), **data)
  cat = retrieval.load_catalogue(str(tmp_path / "r"))
  query = data["visual_timelines"][6, 11:19].copy()  # 8 s of item 6
  candidates = np.array([2, 6, -1, 4, 9])
  clip = np.array([0.5, 0.4, 0.0, 0.45, 0.3])
  out = retrieval.rerank_by_timeline(query, None, candidates, cat, clip,
                                     alpha=0.5, modality="visual")
  assert out.indices[0] == 6 and out.starts[0] == 11
  assert out.timeline_scores[0] == pytest.approx(1.0, abs=2e-3)
  assert out.scores[0] == pytest.approx(0.5 * 0.4 + 0.5 * 1.0, abs=2e-3)
  assert len(out.indices) == 4  # -1 dropped
  assert np.all(np.diff(out.scores) <= 0)
  clip_only = retrieval.rerank_by_timeline(query, 8, candidates, cat, clip,
                                           alpha=1.0)
  np.testing.assert_array_equal(clip_only.indices, [2, 4, 6, 9])
  with pytest.raises(ValueError, match="alpha"):
    retrieval.rerank_by_timeline(query, 8, candidates, cat, clip, alpha=2)
  no_tl = retrieval.Catalogue(cat.ids, cat.audio_embeddings,
                              cat.visual_embeddings)
  with pytest.raises(ValueError, match="no timelines"):
    retrieval.rerank_by_timeline(query, 8, candidates, no_tl, clip)


def test_gather_rows_keeps_the_order_of_indices(tmp_path):
  x = np.arange(5 * 3 * 2, dtype=np.float16).reshape(5, 3, 2)
  np.save(tmp_path / "x.npy", x)
  mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
  idx = np.array([4, 0, 4, 2])
  got = retrieval.gather_rows(mapped, idx)
  assert got.dtype == np.float32 and got.shape == (4, 3, 2)
  np.testing.assert_array_equal(got, x[idx].astype(np.float32))
  assert retrieval.gather_rows(mapped, np.array([], np.int64)).shape == (0, 3, 2)
