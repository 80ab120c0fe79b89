"""Tests of yt8m_crossmodal.retrieval.alignment."""

import numpy as np
import pytest

from yt8m_crossmodal.retrieval import alignment


def _unit(rng, *shape):
  x = rng.standard_normal(shape).astype(np.float32)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _brute(query, reference):
  length, ref_len = len(query), len(reference)
  if length <= ref_len:
    return np.array([np.mean([query[t] @ reference[s + t] for t in range(length)])
                     for s in range(ref_len - length + 1)])
  # Reference slides inside the query; start s <= 0.
  return np.array([np.mean([query[u - s] @ reference[u] for u in range(ref_len)])
                   for s in range(ref_len - length, 1)])


def test_hand_worked_scores():
  query = np.array([[1, 0], [0, 1]], np.float32)
  reference = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
  # s=0: (1 + 1) / 2; s=1: (<q0,r1> + <q1,r2>) / 2 = 0.
  np.testing.assert_allclose(alignment.diagonal_scores(query, reference),
                             [1.0, 0.0])
  assert alignment.best_alignment(query, reference) == (0, 1.0)
  np.testing.assert_array_equal(alignment.alignment_starts(2, 3), [0, 1])


@pytest.mark.parametrize("length,ref_len", [(1, 1), (3, 10), (10, 10),
                                            (7, 3), (5, 1)])
def test_matches_brute_force(length, ref_len):
  rng = np.random.default_rng(length * 100 + ref_len)
  query, reference = _unit(rng, length, 6), _unit(rng, ref_len, 6)
  scores = alignment.diagonal_scores(query, reference)
  np.testing.assert_allclose(scores, _brute(query, reference), atol=1e-5)
  assert scores.shape == alignment.alignment_starts(length, ref_len).shape


def test_planted_copy_is_found():
  rng = np.random.default_rng(0)
  reference = _unit(rng, 40, 16)
  start, score = alignment.best_alignment(reference[17:25], reference)
  assert start == 17
  assert score == pytest.approx(1.0, abs=1e-5)


def test_lengths_trim_padding():
  rng = np.random.default_rng(1)
  reference = np.zeros([30, 8], np.float32)
  reference[:12] = _unit(rng, 12, 8)
  query = np.zeros([10, 8], np.float32)
  query[:4] = reference[6:10]
  scores = alignment.diagonal_scores(query, reference, reference_len=12,
                                     query_len=4)
  assert scores.shape == (9,)  # 12 - 4 + 1 starts
  assert alignment.best_alignment(query, reference, 12, 4)[0] == 6


def test_query_longer_than_reference_slides_reference():
  rng = np.random.default_rng(2)
  query = _unit(rng, 6, 8)
  reference = query[2:4].copy()  # The reference sits at query second 2.
  np.testing.assert_array_equal(alignment.alignment_starts(6, 2),
                                [-4, -3, -2, -1, 0])
  start, score = alignment.best_alignment(query, reference)
  assert start == -2
  assert score == pytest.approx(1.0, abs=1e-5)


def test_empty_inputs():
  assert alignment.diagonal_scores(np.zeros([0, 4]), np.ones([5, 4])).size == 0
  assert alignment.diagonal_scores(np.ones([2, 4]), np.ones([5, 4]),
                                   reference_len=0).size == 0
  assert alignment.best_alignment(np.ones([2, 4]), np.zeros([0, 4])) == (
      0, float("-inf"))
  assert alignment.alignment_starts(0, 5).size == 0


def test_errors():
  with pytest.raises(ValueError, match="width"):
    alignment.diagonal_scores(np.ones([2, 4]), np.ones([5, 3]))
  with pytest.raises(ValueError):
    alignment.diagonal_scores(np.ones([4]), np.ones([5, 4]))


def test_best_alignments_matches_single():
  rng = np.random.default_rng(3)
  refs = _unit(rng, 7, 20, 8)
  lens = np.array([20, 15, 9, 5, 3, 0, 12])
  refs[np.arange(20)[None, :] >= lens[:, None]] = 0
  query = refs[1, 4:13].copy()  # 9 seconds from candidate 1.
  starts, scores = alignment.best_alignments(query, refs, lens, chunk_size=2)
  for i in range(7):
    s, sc = alignment.best_alignment(query, refs[i], lens[i])
    assert starts[i] == s
    if np.isfinite(sc):
      assert scores[i] == pytest.approx(sc, abs=1e-5)
    else:
      assert scores[i] == -np.inf
  assert starts[1] == 4 and scores[1] == pytest.approx(1.0, abs=1e-5)
  assert starts[3] <= 0  # Shorter than the query.
