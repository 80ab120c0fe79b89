"""Hubness correction: the stored values, biased search and pooled metrics."""

import json
import os

import numpy as np
import pytest

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import metrics
from yt8m_crossmodal.jobs.config import EvaluateConfig, SearchConfig
from yt8m_crossmodal.retrieval import hubness
from yt8m_crossmodal.retrieval.exact import rescore


def _unit(x):
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _hubby_pairs(n=200, e=16, seed=0):
  """Audio/visual pairs in which ten visual items lie near every audio item."""
  rng = np.random.default_rng(seed)
  common = _unit(rng.normal(size=e))
  audio = _unit(rng.normal(size=(n, e)) + 3.0 * common)
  visual = _unit(audio + 0.2 * rng.normal(size=(n, e)))
  hubs = rng.choice(n, 10, replace=False)
  visual[hubs] = _unit(common + 0.075 * rng.normal(size=(10, e)))
  return audio, visual


def test_hubness_is_the_mean_of_the_k_nearest_bank_cosines():
  rng = np.random.default_rng(1)
  items, bank = _unit(rng.normal(size=(37, 8))), _unit(rng.normal(size=(50, 8)))
  got = hubness.hubness(items, bank, k=5, chunk=10)
  want = np.sort(items @ bank.T, axis=1)[:, -5:].mean(axis=1)
  np.testing.assert_allclose(got, want, atol=1e-6)
  np.testing.assert_allclose(hubness.hubness(items, bank[:3], k=50),  # k capped at M
                             (items @ bank[:3].T).mean(axis=1), atol=1e-6)
  with pytest.raises(ValueError, match="items must be"):
    hubness.hubness(items[:, :4], bank)


def test_the_soft_maximum_and_self_hubness():
  rng = np.random.default_rng(3)
  items, bank = _unit(rng.normal(size=(20, 8))), _unit(rng.normal(size=(30, 8)))
  got = hubness.hubness(items, bank, kind="softmax", temperature=0.1, chunk=7)
  sims = items @ bank.T
  want = 0.1 * np.log(np.exp(sims / 0.1).sum(axis=1))
  np.testing.assert_allclose(got, want, atol=1e-5)
  assert np.all(got >= sims.max(axis=1) - 1e-6)  # A soft maximum: at least the maximum.
  own = hubness.self_hubness(items, kind="knn", k=3)  # An item is not its own neighbour.
  sims = items @ items.T
  np.fill_diagonal(sims, -np.inf)
  np.testing.assert_allclose(own, np.sort(sims, axis=1)[:, -3:].mean(axis=1), atol=1e-6)
  assert hubness.params_of({"k": 50, "bank": 10000}) == {"kind": "knn", "k": 50}
  assert hubness.params_of(hubness.default_params())["kind"] == "softmax"


def test_bank_is_a_seeded_sample_of_the_other_modality():
  assert list(hubness.bank_rows(5, 10)) == [0, 1, 2, 3, 4]
  rows = hubness.bank_rows(1000, 100, seed=3)
  assert len(set(rows)) == 100 and list(rows) == sorted(rows)
  assert list(rows) == list(hubness.bank_rows(1000, 100, seed=3))


def test_exact_search_and_rescore_add_the_bias():
  rng = np.random.default_rng(2)
  cat, queries = _unit(rng.normal(size=(300, 8))), _unit(rng.normal(size=(7, 8)))
  bias = rng.normal(size=300).astype(np.float32) * 0.3
  scores, idx = retrieval.exact_search(queries, cat, 6, catalogue_chunk=64, bias=bias)
  full = queries @ cat.T + bias
  np.testing.assert_array_equal(idx, np.argsort(-full, axis=1, kind="stable")[:, :6])
  np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :6], atol=1e-5)
  shortlist = np.argsort(-(queries @ cat.T), axis=1)[:, :40]
  r_scores, r_idx = rescore(queries, shortlist, cat, 6, bias=bias)
  want = np.take_along_axis(full, shortlist, 1)
  order = np.argsort(-want, axis=1, kind="stable")[:, :6]
  np.testing.assert_array_equal(r_idx, np.take_along_axis(shortlist, order, 1))
  np.testing.assert_allclose(r_scores, np.take_along_axis(want, order, 1), atol=1e-5)
  with pytest.raises(ValueError, match="bias must be"):
    retrieval.exact_search(queries, cat, 6, bias=bias[:5])


def test_catalogue_stores_hubness_and_search_demotes_hubs(tmp_path):
  audio, visual = _hubby_pairs()
  ids = [f"v{i}" for i in range(len(audio))]
  meta = retrieval.write_catalogue(str(tmp_path / "cat"), ids, audio, visual)
  assert meta["hubness"] == dict(hubness.default_params(), self=True)
  cat = retrieval.load_catalogue(str(tmp_path / "cat"))
  want_a, want_v = hubness.hubness_pair(audio, visual)
  np.testing.assert_allclose(cat.hubness["audio"], want_a, atol=1e-6)
  np.testing.assert_allclose(cat.hubness["visual"], want_v, atol=1e-6)
  hits = {}
  for w in (0.0, 0.5):
    _, idx = cat.search(audio, target="visual", k=1, hub_weight=w)
    hits[w] = float(np.mean(idx[:, 0] == np.arange(len(audio))))
  assert hits[0.5] > hits[0.0] + 0.05, hits  # the hubs stop taking the first place
  cat.build_index("visual", "hnsw", save=False)
  _, exact = cat.search(audio, target="visual", k=3, method="exact", hub_weight=0.5)
  _, ann = cat.search(audio, target="visual", k=3, method="index", hub_weight=0.5)
  assert np.mean(exact[:, 0] == ann[:, 0]) > 0.95  # a shortlist chosen by cosine
  with pytest.raises(ValueError, match="hub_weight"):
    cat.search(audio, hub_weight=2.0)


def test_a_damaged_or_missing_hubness_file_is_named(tmp_path):
  audio, visual = _hubby_pairs(n=30)
  folder = str(tmp_path / "cat")
  retrieval.write_catalogue(folder, [f"v{i}" for i in range(30)], audio, visual)
  path = os.path.join(folder, "visual_hubness.npy")
  values = np.load(path)
  values[3] = 7.0
  np.save(path, values)
  with pytest.raises(ValueError, match="visual_hubness.npy"):
    retrieval.load_catalogue(folder)
  os.remove(path)
  with pytest.raises(ValueError, match="visual_hubness.npy"):
    retrieval.load_catalogue(folder)


def test_an_index_without_hubness_searches_by_cosine(tmp_path):
  audio, visual = _hubby_pairs(n=40)
  folder = str(tmp_path / "cat")
  retrieval.write_catalogue(folder, [f"v{i}" for i in range(40)], audio, visual)
  with open(os.path.join(folder, "meta.json")) as f:  # as written before hubness existed
    meta = json.load(f)
  del meta["hubness"]
  for m in ("audio", "visual"):
    del meta["files"][f"{m}_hubness.npy"]
    os.remove(os.path.join(folder, f"{m}_hubness.npy"))
  with open(os.path.join(folder, "meta.json"), "w") as f:
    json.dump(meta, f)
  cat = retrieval.load_catalogue(folder)
  assert cat.hubness == {}
  scores, idx = cat.search(audio, k=4, hub_weight=0.5)
  want_scores, want_idx = retrieval.exact_search(audio, visual, 4)
  np.testing.assert_array_equal(idx, want_idx)
  np.testing.assert_allclose(scores, want_scores, atol=1e-6)


def test_pooled_metrics_rank_as_the_search_does():
  audio, visual = _hubby_pairs()
  plain = metrics.cross_modal_retrieval(audio, visual, pool_size=None)
  hub = metrics.cross_modal_retrieval(audio, visual, pool_size=None, hub_weight=0.5)
  _, want_v = hubness.hubness_pair(audio, visual)
  scores = audio @ visual.T - 0.5 * want_v
  ranks = np.sum(scores >= np.diag(scores)[:, None], axis=1)
  assert hub["a2v/recall@1"] == pytest.approx(np.mean(ranks == 1))
  assert hub["a2v/recall@1"] > plain["a2v/recall@1"]
  pooled = metrics.cross_modal_retrieval(audio, visual, pool_size=50, seed=1, hub_weight=0.5)
  assert pooled["pool_size"] == 50 and 0 < pooled["v2a/recall@1"] <= 1
  given = metrics.cross_modal_retrieval(audio, visual, pool_size=50, seed=1, hub_weight=0.5,
                                        hubness_values=hubness.hubness_pair(audio, visual))
  assert given == pooled  # precomputed hubness (several pools or seeds) ranks the same


def test_hub_weight_flags_are_checked():
  with pytest.raises(UsageError, match="--hub_weight"):
    SearchConfig(index="i", query_data="q", hub_weight=1.5).validate()
  with pytest.raises(UsageError, match="--hub_weight"):
    EvaluateConfig(data="d", hub_weight=-0.1).validate()
