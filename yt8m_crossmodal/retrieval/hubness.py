"""Hubness: how close each item lies to the other modality as a whole.

In a cross-modal space some items ("hubs") are near many queries and come
first for queries they do not match. Cross-domain similarity local scaling
(CSLS; Lample et al., 2018) ranks candidate ``c`` for query ``q`` by
``cos(q, c) - w * hubness(c)``, where ``hubness(c)`` is the mean cosine of
``c`` to its ``k`` nearest items of the query modality (the query's own term
does not change its ranking and is left out). ``yt8m-embed`` stores each
item's hubness beside its embedding; ``yt8m-search`` subtracts it.

On real YouTube-8M video-level records it lifts R@1 at 256 candidates by
about 0.02 (docs/real_data.md).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

DEFAULT_K = 50  # Nearest items of the other modality averaged.
DEFAULT_BANK = 10000  # At most this many items of the other modality.
DEFAULT_WEIGHT = 0.5  # w in cos(q, c) - w * hubness(c).


def bank_rows(n: int, size: int = DEFAULT_BANK, seed: int = 0) -> np.ndarray:
  """Sorted rows of a seeded sample of ``min(n, size)`` of ``n`` items."""
  if n <= size:
    return np.arange(n)
  return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def hubness(items: np.ndarray, bank: np.ndarray, k: int = DEFAULT_K,
            chunk: int = 4096, item_rows: Optional[np.ndarray] = None) -> np.ndarray:
  """Mean inner product of each item with its ``k`` nearest bank rows.

  Args:
    items: [N, E] unit-length embeddings of one modality (a memory map is
      read in chunks).
    bank: [M, E] unit-length embeddings of the other modality (or of the
      same one, with ``item_rows``).
    k: neighbours averaged (``min(k, M)``).
    chunk: items per matrix product.
    item_rows: [M] for a bank drawn from ``items`` itself: the item row of
      each bank row, so that an item is not its own neighbour.

  Returns:
    [N] float32.
  """
  bank = np.asarray(bank, np.float32)
  if bank.ndim != 2 or bank.shape[0] == 0:
    raise ValueError(f"bank must be [M, E] with M > 0, got {bank.shape}")
  if items.ndim != 2 or items.shape[1] != bank.shape[1]:
    raise ValueError(f"items must be [N, {bank.shape[1]}], got {items.shape}")
  k = max(1, min(int(k), bank.shape[0] - (item_rows is not None)))
  out = np.empty(items.shape[0], np.float32)
  for s in range(0, items.shape[0], chunk):
    sims = np.asarray(items[s:s + chunk], np.float32) @ bank.T
    if item_rows is not None:  # An item is not its own neighbour.
      own = np.nonzero((item_rows >= s) & (item_rows < s + sims.shape[0]))[0]
      sims[item_rows[own] - s, own] = -np.inf
    top = np.partition(sims, sims.shape[1] - k, axis=1)[:, sims.shape[1] - k:]
    out[s:s + chunk] = top.mean(axis=1)
  return out


def hubness_pair(audio: np.ndarray, visual: np.ndarray, k: int = DEFAULT_K,
                 bank: int = DEFAULT_BANK, seed: int = 0):
  """(audio hubness [N], visual hubness [N]) of one corpus against itself.

  Each modality's items are measured against a seeded sample of at most
  ``bank`` items of the other modality of the same corpus.
  """
  rows = bank_rows(audio.shape[0], bank, seed)
  visual_bank = np.asarray(visual[rows], np.float32)
  audio_bank = np.asarray(audio[rows], np.float32)
  return hubness(audio, visual_bank, k), hubness(visual, audio_bank, k)


def self_hubness(items: np.ndarray, k: int = DEFAULT_K, bank: int = DEFAULT_BANK,
                 seed: int = 0) -> np.ndarray:
  """[N] each item's mean cosine to its ``k`` nearest *other* items of the same set.

  What :func:`hubness` is for a query of the *same* modality (a topic search
  that returns sound and pictures): measured against a seeded sample of at
  most ``bank`` items of ``items`` itself, leaving the item out.
  """
  rows = bank_rows(items.shape[0], bank, seed)
  return hubness(items, np.asarray(items[rows], np.float32), k, item_rows=rows)


def query_hubness(queries: np.ndarray, bank: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
  """[Q] each query's mean cosine to its ``k`` nearest rows of ``bank``.

  The query's own term of CSLS: subtracted when results of two modalities
  are ranked together, it puts the scores against each target modality on
  one scale (a query lies closer to everything of its own modality).
  """
  return hubness(np.asarray(queries, np.float32), bank, k)


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
