"""Hubness: how close each item lies to the other modality as a whole.

In a cross-modal space some items ("hubs") are near many queries and come
first for queries they do not match. The search ranks candidate ``c`` for
query ``q`` by ``cos(q, c) - w * hubness(c)``, where ``hubness(c)`` measures
how close ``c`` lies to the items of the query modality (a seeded bank of at
most :data:`DEFAULT_BANK` of them in the same index):

- ``softmax`` (the default): a soft maximum of ``c``'s cosines to the bank,
  ``T * log(sum_b exp(cos(c, b) / T))`` with temperature ``T`` =
  :data:`DEFAULT_TEMPERATURE` (the inverted softmax of Smith et al., 2017, in
  log form): an item that lies very close to a few queries, or fairly close
  to many, counts as a hub;
- ``knn``: the mean cosine to its ``k`` nearest bank items (CSLS; Lample et
  al., 2018), what indexes written before the soft maximum store.

The query's own term does not change the ranking against one catalogue and
is left out, except when two modalities are ranked together (a topic search:
:func:`query_hubness`). ``yt8m-embed`` stores each item's hubness (its kind
and parameters in ``meta.json``); ``yt8m-search`` subtracts it.

On the real YouTube-8M catalogue of ``benchmarks/answers_real.py`` (2,839
test videos), the soft maximum at ``T = 0.07, w = 0.75`` (chosen on other
videos: the best R@1 among 256 candidates) gives the 1 % most frequent top-1
winners 6.6 % of the queries instead of 8.5 % with the k-NN mean at ``k = 50,
w = 0.5`` (12.4 % by plain cosine), at a slightly better R@1 (docs/workflows.md).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

KINDS = ("softmax", "knn")
DEFAULT_KIND = "softmax"
DEFAULT_TEMPERATURE = 0.07  # T of the soft maximum.
DEFAULT_K = 50  # Nearest items averaged by the knn kind.
DEFAULT_BANK = 10000  # At most this many items of the other modality.
DEFAULT_WEIGHT = 0.75  # w in cos(q, c) - w * hubness(c).


def default_params() -> Dict[str, Any]:
  """The hubness ``yt8m-embed`` stores (as recorded in meta.json)."""
  return {"kind": DEFAULT_KIND, "temperature": DEFAULT_TEMPERATURE, "bank": DEFAULT_BANK}


def params_of(meta_hubness: Optional[Dict[str, Any]]) -> Dict[str, Any]:
  """``kind`` and its parameter from an index's ``meta["hubness"]`` (old ones: knn)."""
  meta_hubness = meta_hubness or {}
  if meta_hubness.get("kind", "knn") == "softmax":
    return {"kind": "softmax", "temperature": float(meta_hubness["temperature"])}
  return {"kind": "knn", "k": int(meta_hubness.get("k", DEFAULT_K))}


def bank_rows(n: int, size: int = DEFAULT_BANK, seed: int = 0) -> np.ndarray:
  """Sorted rows of a seeded sample of ``min(n, size)`` of ``n`` items."""
  if n <= size:
    return np.arange(n)
  return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def hubness(items: np.ndarray, bank: np.ndarray, k: int = DEFAULT_K,
            chunk: int = 4096, item_rows: Optional[np.ndarray] = None,
            kind: str = "knn", temperature: float = DEFAULT_TEMPERATURE,
            exclude: Optional[np.ndarray] = None) -> np.ndarray:
  """How close each item lies to the bank: ``kind`` knn or softmax.

  Args:
    items: [N, E] unit-length embeddings of one modality (a memory map is
      read in chunks).
    bank: [M, E] unit-length embeddings of the other modality (or of the
      same one, with ``item_rows``).
    k: neighbours averaged by ``knn`` (``min(k, M)``).
    chunk: items per matrix product.
    item_rows: [M] for a bank drawn from ``items`` itself: the item row of
      each bank row, so that an item is not its own neighbour.
    kind: "knn" (mean cosine to the k nearest) or "softmax" (``T *
      logsumexp(cos / T)`` over the bank).
    temperature: T of ``softmax``.
    exclude: [N] per item, a bank row to leave out (-1: none), e.g. a query
      that is itself in the bank.

  Returns:
    [N] float32.
  """
  if kind not in KINDS:
    raise ValueError(f"hubness kind must be one of {KINDS}, got {kind!r}")
  bank = np.asarray(bank, np.float32)
  if bank.ndim != 2 or bank.shape[0] == 0:
    raise ValueError(f"bank must be [M, E] with M > 0, got {bank.shape}")
  if items.ndim != 2 or items.shape[1] != bank.shape[1]:
    raise ValueError(f"items must be [N, {bank.shape[1]}], got {items.shape}")
  k = max(1, min(int(k), bank.shape[0] - (item_rows is not None or exclude is not None)))
  out = np.empty(items.shape[0], np.float32)
  for s in range(0, items.shape[0], chunk):
    sims = np.asarray(items[s:s + chunk], np.float32) @ bank.T
    if item_rows is not None:  # An item is not its own neighbour.
      own = np.nonzero((item_rows >= s) & (item_rows < s + sims.shape[0]))[0]
      sims[item_rows[own] - s, own] = -np.inf
    if exclude is not None:
      cols = np.asarray(exclude[s:s + sims.shape[0]], np.int64)
      rows = np.flatnonzero(cols >= 0)
      sims[rows, cols[rows]] = -np.inf
    if kind == "softmax":
      scaled = sims / np.float32(temperature)
      top = scaled.max(axis=1, keepdims=True)
      alone = ~np.isfinite(top[:, 0])  # No other item to measure against: 0.
      top[alone] = 0.0
      total = np.exp(scaled - top).sum(axis=1, dtype=np.float64)
      out[s:s + chunk] = np.where(alone, 0.0,
                                  temperature * (top[:, 0] + np.log(np.maximum(total, 1e-300))))
    else:
      top = np.partition(sims, sims.shape[1] - k, axis=1)[:, sims.shape[1] - k:]
      with np.errstate(invalid="ignore"):
        mean = top.mean(axis=1)
      out[s:s + chunk] = np.where(np.isfinite(mean), mean, 0.0)  # Alone: 0.
  return out


def hubness_pair(audio: np.ndarray, visual: np.ndarray, k: int = DEFAULT_K,
                 bank: int = DEFAULT_BANK, seed: int = 0, kind: str = DEFAULT_KIND,
                 temperature: float = DEFAULT_TEMPERATURE):
  """(audio hubness [N], visual hubness [N]) of one corpus against itself.

  Each modality's items are measured against a seeded sample of at most
  ``bank`` items of the other modality of the same corpus.
  """
  rows = bank_rows(audio.shape[0], bank, seed)
  visual_bank = np.asarray(visual[rows], np.float32)
  audio_bank = np.asarray(audio[rows], np.float32)
  return (hubness(audio, visual_bank, k, kind=kind, temperature=temperature),
          hubness(visual, audio_bank, k, kind=kind, temperature=temperature))


def self_hubness(items: np.ndarray, k: int = DEFAULT_K, bank: int = DEFAULT_BANK,
                 seed: int = 0, kind: str = DEFAULT_KIND,
                 temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
  """[N] each item's hubness against the *other* items of its own set.

  What :func:`hubness` is for a query of the *same* modality (a topic search
  that returns sound and pictures): measured against a seeded sample of at
  most ``bank`` items of ``items`` itself, leaving the item out.
  """
  rows = bank_rows(items.shape[0], bank, seed)
  return hubness(items, np.asarray(items[rows], np.float32), k, item_rows=rows, kind=kind,
                 temperature=temperature)


def query_hubness(queries: np.ndarray, bank: np.ndarray,
                  exclude: Optional[np.ndarray] = None, **params) -> np.ndarray:
  """[Q] each query's hubness against ``bank`` (the items of one target modality).

  The query's own term (``params``: ``kind`` and ``k`` or ``temperature``,
  as the index's items were measured; ``exclude``: per query a bank row
  that is the query itself, -1: none): subtracted when results of two
  modalities are ranked together, it puts the scores against each target
  modality on one scale (a query lies closer to everything of its own
  modality).
  """
  return hubness(np.asarray(queries, np.float32), bank, exclude=exclude, **params)


def corrected(queries: np.ndarray, candidates: np.ndarray,
              candidate_hubness: np.ndarray, weight: float = DEFAULT_WEIGHT):
  """Embeddings whose inner products are ``cos(q, c) - weight * hubness(c)``.

  Appends a column of ones to ``queries`` and ``-weight * hubness`` to
  ``candidates``, so any inner-product ranking (exact, pooled metrics) ranks
  by the corrected score.

  Returns:
    ``(queries [Q, E + 1], candidates [N, E + 1])`` float32.
  """
  q = np.asarray(queries, np.float32)
  c = np.asarray(candidates, np.float32)
  h = np.asarray(candidate_hubness, np.float32).reshape(-1, 1)
  if h.shape[0] != c.shape[0]:
    raise ValueError(f"{h.shape[0]} hubness values for {c.shape[0]} candidates")
  return (np.concatenate([q, np.ones((q.shape[0], 1), np.float32)], axis=1),
          np.concatenate([c, -float(weight) * h], axis=1))


def check_weight(weight: Optional[float]) -> float:
  """``weight`` as a float in [0, 1]; ValueError otherwise."""
  w = 0.0 if weight is None else float(weight)
  if not 0.0 <= w <= 1.0 or np.isnan(w):
    raise ValueError(f"hub_weight must be in [0, 1], got {weight}")
  return w
