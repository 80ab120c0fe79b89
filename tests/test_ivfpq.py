"""faiss IVF-PQ for clip embeddings: build, exact re-scoring of the shortlist, search."""

import numpy as np
import pytest

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import embed as embed_job
from yt8m_crossmodal.jobs import search as search_job
from yt8m_crossmodal.retrieval import exact


def _clustered(n, dim, seed=0, clusters=20):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(clusters, dim))
  x = centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, dim))
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def matrix():
  return _clustered(3000, 32)


@pytest.fixture(scope="module")
def index(matrix):
  return retrieval.build_index(matrix, "ivfpq", nlist=16, nprobe=4)


def test_index_holds_codes_not_vectors(index, matrix):
  params = retrieval.index_params(index)
  assert params["kind"] == "ivfpq" and params["pq_m"] == 8 and params["pq_bits"] == 8
  assert params["bytes_per_vector"] == 8 + 8  # E/4 one-byte codes + the id.
  assert index.ntotal == len(matrix)
  with pytest.raises(ValueError, match="divisor"):
    retrieval.build_index(matrix[:100], "ivfpq", pq_m=5)


def test_refined_search_is_exact_on_its_shortlist(index, matrix):
  queries = _clustered(50, 32, seed=1)
  want_scores, want = retrieval.exact_search(queries, matrix, 10)
  # Every list visited and a shortlist of the whole catalogue: exact search.
  scores, found = retrieval.search_refined(index, queries, 10, matrix, refine=300, nprobe=16)
  np.testing.assert_array_equal(found, want)
  np.testing.assert_allclose(scores, want_scores, atol=1e-5)
  # The default setting: scores are exact inner products, recall is high.
  scores, found = retrieval.search_refined(index, queries, 10, matrix)
  np.testing.assert_allclose(scores, np.take_along_axis(queries @ matrix.T, found, 1),
                             atol=1e-5)
  recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, want)])
  assert recall >= 0.9
  _, pq_only = retrieval.search(index, queries, 10)
  pq_recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(pq_only, want)])
  assert recall >= pq_recall


def test_rescore_skips_missing_candidates_and_breaks_ties_by_index():
  matrix = np.eye(4, dtype=np.float32)
  matrix[3] = matrix[1]  # Rows 1 and 3 tie.
  queries = np.array([[0, 1, 0, 0], [1, 0, 0, 0]], np.float32)
  scores, idx = exact.rescore(queries, np.array([[3, -1, 1], [2, -1, -1]]), matrix, 3)
  assert idx.tolist() == [[1, 3, -1], [2, -1, -1]]
  assert scores[0, :2].tolist() == [1.0, 1.0] and np.isneginf(scores[0, 2])
  assert scores[1, 0] == 0.0 and np.isneginf(scores[1, 1:]).all()


def test_catalogue_search_refines_an_ivfpq_index(tmp_path, matrix):
  ids = [f"v{i}" for i in range(len(matrix))]
  retrieval.write_catalogue(str(tmp_path / "c"), ids, matrix, matrix)
  cat = retrieval.load_catalogue(str(tmp_path / "c"))
  cat.build_index("visual", kind="ivfpq", nlist=16)
  assert cat.meta["faiss"]["visual"]["kind"] == "ivfpq"
  loaded = retrieval.load_catalogue(str(tmp_path / "c"))
  queries = _clustered(20, 32, seed=2)
  scores, found = loaded.search(queries, "visual", k=5, method="index")
  np.testing.assert_allclose(scores, np.take_along_axis(queries @ matrix.T, found, 1),
                             atol=1e-5)
  _, unrefined = loaded.search(queries, "visual", k=5, method="index", refine=0)
  assert unrefined.shape == (20, 5)


def test_embed_and_search_with_ivfpq(frame_export, frame_data_dir, tmp_path):
  data = f"{frame_data_dir}/*.tfrecord"
  summary = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=data, output=str(tmp_path / "i"), ann="ivfpq"))
  assert summary["faiss"]["audio"]["kind"] == "ivfpq"
  run = lambda **kw: search_job.search_queries(search_job.SearchConfig(
      index=summary["path"], query_data=data, query_modality="audio", k=5,
      export_dir=frame_export.export_dir, **kw))
  exact_lines = run()
  pq_lines = run(ann="ivfpq", nprobe=64, refine=5)  # Every list, shortlist = catalogue.
  for a, b in zip(exact_lines, pq_lines):
    assert [r["id"] for r in a["results"]] == [r["id"] for r in b["results"]]
    np.testing.assert_allclose([r["score"] for r in a["results"]],
                               [r["score"] for r in b["results"]], atol=1e-5)
  with pytest.raises(UsageError, match="--ann=ivfpq"):
    run(ann="hnsw")
  with pytest.raises(UsageError, match="--refine"):
    run(ann="ivfpq", refine=-1)
