"""Tests of yt8m_crossmodal.evaluation.metrics."""

import logging

import numpy as np
import pytest

from yt8m_crossmodal.evaluation import metrics

# sims[i, j] = <query i, candidate j>; true matches on the diagonal.
# Query 0: 0.9 is the best -> rank 1. Query 1: 0.3 < 0.8, 0.6 -> rank 3.
# Query 2: 0.4 < 0.7 -> rank 2.
SIMS = np.array([[0.9, 0.5, 0.1],
                 [0.8, 0.3, 0.6],
                 [0.2, 0.7, 0.4]], np.float32)


def _unit(rng, *shape):
  x = rng.standard_normal(shape).astype(np.float32)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_hand_worked_ranks_and_metrics():
  queries, candidates = np.eye(3, dtype=np.float32), SIMS.T.copy()
  ranks = metrics.true_match_ranks(queries, candidates)
  np.testing.assert_array_equal(ranks, [1, 3, 2])
  out = metrics.retrieval_metrics(queries, candidates, ks=(1, 2, 5))
  assert out["recall@1"] == pytest.approx(1 / 3)
  assert out["recall@2"] == pytest.approx(2 / 3)
  assert out["recall@5"] == 1.0
  assert out["median_rank"] == 2.0
  assert out["mean_rank"] == 2.0
  assert out["map"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
  assert out["pool_size"] == 3 and out["pool_size_requested"] == 3


def test_cross_modal_both_directions():
  audio, visual = np.eye(3, dtype=np.float32), SIMS.T.copy()
  out = metrics.cross_modal_retrieval(audio, visual, ks=(1, 5))
  # v2a scores are SIMS.T: query 1 -> true 0.3 < 0.5, 0.7 (rank 3);
  # query 2 -> true 0.4 < 0.6 (rank 2).
  for d in ("a2v", "v2a"):
    assert out[f"{d}/recall@1"] == pytest.approx(1 / 3)
    assert out[f"{d}/median_rank"] == 2.0
    assert out[f"{d}/map"] == pytest.approx(11 / 18)
  assert out["pool_size"] == 3
  assert set(out) >= {"a2v/recall@5", "v2a/recall@5", "a2v/mean_rank",
                      "num_queries", "pool_size_requested"}


def test_ties_are_pessimistic():
  same = np.ones([4, 3], np.float32) / np.sqrt(3)
  np.testing.assert_array_equal(metrics.true_match_ranks(same, same),
                                [4, 4, 4, 4])


def test_chunking_does_not_change_ranks():
  rng = np.random.default_rng(0)
  a, v = _unit(rng, 50, 8), _unit(rng, 50, 8)
  sims = a.astype(np.float64) @ v.T.astype(np.float64)
  brute = np.sum(sims >= np.diag(sims)[:, None], axis=1)  # No near-ties here.
  np.testing.assert_array_equal(metrics.true_match_ranks(a, v, chunk_size=7),
                                brute)
  np.testing.assert_array_equal(metrics.true_match_ranks(a, v), brute)


def test_pools_are_fixed_and_valid():
  pools = metrics.candidate_pools(30, 5, seed=3)
  assert pools.shape == (30, 5)
  np.testing.assert_array_equal(pools[:, 0], np.arange(30))
  for i, row in enumerate(pools):
    assert len(set(row)) == 5 and i not in row[1:]
  np.testing.assert_array_equal(pools, metrics.candidate_pools(30, 5, seed=3))
  assert not np.array_equal(pools, metrics.candidate_pools(30, 5, seed=4))


@pytest.mark.parametrize("n,pool", [(40, 6), (300, 3)])  # Both code paths.
def test_pooled_ranks_match_pools_and_are_deterministic(n, pool):
  rng = np.random.default_rng(1)
  a, v = _unit(rng, n, 8), _unit(rng, n, 8)
  ranks, actual = metrics.pooled_true_match_ranks(a, v, pool, seed=2,
                                                  chunk_size=7)
  assert actual == pool
  pools = metrics.candidate_pools(n, pool, seed=2)
  sims = np.einsum("ne,npe->np", a.astype(np.float64), v[pools])
  np.testing.assert_array_equal(ranks, np.sum(sims >= sims[:, :1], axis=1))
  again, _ = metrics.pooled_true_match_ranks(a, v, pool, seed=2)
  np.testing.assert_array_equal(ranks, again)
  out1 = metrics.cross_modal_retrieval(a, v, pool_size=pool, seed=2)
  out2 = metrics.cross_modal_retrieval(a, v, pool_size=pool, seed=2)
  assert out1 == out2 and out1["pool_size"] == pool
  assert out1["a2v/mean_rank"] == pytest.approx(ranks.mean())


def test_pool_larger_than_set_uses_whole_set(caplog):
  rng = np.random.default_rng(2)
  a, v = _unit(rng, 10, 4), _unit(rng, 10, 4)
  with caplog.at_level(logging.WARNING):
    out = metrics.cross_modal_retrieval(a, v, pool_size=100)
  assert out["pool_size"] == 10 and out["pool_size_requested"] == 100
  assert "whole set" in caplog.text
  full = metrics.cross_modal_retrieval(a, v)
  assert out["a2v/map"] == full["a2v/map"]


def test_average_precision_multi_relevant():
  scores = np.array([[0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.1, 0.0]])
  relevance = np.array([[1, 0, 1, 0], [1, 0, 0, 0]], bool)
  # Row 0: hits at ranks 1 and 3 -> (1 + 2/3) / 2. Row 1: tie, relevant
  # counted last -> rank 2 -> 1/2.
  np.testing.assert_allclose(metrics.average_precision(scores, relevance),
                             [5 / 6, 0.5])
  assert np.isnan(metrics.average_precision(scores[:1], ~relevance[:1] &
                                            False))[0]
  queries, candidates = np.eye(3, dtype=np.float32), SIMS.T.copy()
  out = metrics.retrieval_metrics(queries, candidates,
                                  relevance=np.eye(3, dtype=bool))
  assert out["map_multi"] == pytest.approx(out["map"])


def test_retrieval_errors():
  with pytest.raises(ValueError, match="aligned"):
    metrics.cross_modal_retrieval(np.ones([3, 2]), np.ones([4, 2]))
  with pytest.raises(ValueError, match="width"):
    metrics.cross_modal_retrieval(np.ones([3, 2]), np.ones([3, 4]))
  with pytest.raises(ValueError):
    metrics.cross_modal_retrieval(np.ones([3, 2]), np.ones([3, 2]), ks=(0,))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_embeddings_get_the_worst_rank(bad):
  rng = np.random.default_rng(1)
  a, v = _unit(rng, 30, 8), _unit(rng, 30, 8)
  v_bad = np.full_like(v, bad)
  np.testing.assert_array_equal(metrics.true_match_ranks(a, v_bad), [30] * 30)
  ranks, pool = metrics.pooled_true_match_ranks(a, np.full_like(v, np.nan), 5)
  assert pool == 5
  np.testing.assert_array_equal(ranks, [5] * 30)
  out = metrics.retrieval_metrics(np.full_like(a, np.nan), v, ks=(1,))
  assert out["recall@1"] == 0.0 and out["mean_rank"] == 30.0
  assert out["map"] == pytest.approx(1 / 30)
  # A NaN distractor ranks ahead of a finite true match.
  v_one = v.copy()
  v_one[3] = np.nan
  ranks = metrics.true_match_ranks(a, v_one)
  assert ranks[3] == 30
  assert np.all(ranks[np.arange(30) != 3] >= 2)
