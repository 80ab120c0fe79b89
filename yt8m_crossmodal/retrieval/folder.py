"""The index folder ("catalogue") format: file names and small I/O helpers.

One folder per embedded corpus::

    meta.json                 format_version, embedding_size, num_items,
                              has_timelines, max_frames, timeline_dtype,
                              ids_file, model (free-form model info), faiss
                              ({modality: {"file": ..., "kind": ..., params}}),
                              files ({name: {"bytes": ..., "sha256": ...}} of
                              every other file, checked on open; see
                              :mod:`.integrity`)
    ids.txt                   one video id per line
    audio_embeddings.npy      [N, E] float32 audio clip embeddings
    visual_embeddings.npy     [N, E] float32 visual clip embeddings
    audio_timelines.npy       [N, T, E] (float16 by default), optional
    visual_timelines.npy      [N, T, E], optional (both or neither)
    <m>_timeline_rows.npy,    the compact form of the timelines instead
    <m>_timeline_scales.npy   (timeline_dtype "int8", timeline_pool P; see
                              :mod:`.compact_timelines`)
    num_frames.npy            [N] int32 valid seconds, with the timelines
    audio_hubness.npy,        [N] float32 mean cosine of each item to its
    visual_hubness.npy        nearest items of the other modality (present
                              when meta["hubness"] gives k and the bank
                              size; see :mod:`.hubness`)
    audio.faiss, visual.faiss optional faiss index over that modality's clip
                              embeddings (named in meta["faiss"])

``meta.json`` is written last, so a folder without it is incomplete.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import numpy as np

from yt8m_crossmodal import io_utils

MODALITIES = ("audio", "visual")
FORMAT_VERSION = 1
META_FILE = "meta.json"
IDS_TXT = "ids.txt"
NUM_FRAMES_FILE = "num_frames.npy"
PARTS_DIR = "_parts"


def embeddings_file(modality: str) -> str:
  return f"{modality}_embeddings.npy"


def timelines_file(modality: str) -> str:
  return f"{modality}_timelines.npy"


def timeline_rows_file(modality: str) -> str:
  """Compact timelines: int8 rows ``[S, E]``."""
  return f"{modality}_timeline_rows.npy"


def timeline_scales_file(modality: str) -> str:
  """Compact timelines: float32 per-row scales ``[S]``."""
  return f"{modality}_timeline_scales.npy"


def hubness_file(modality: str) -> str:
  """[N] float32 hubness of each item (see :mod:`.hubness`)."""
  return f"{modality}_hubness.npy"


def index_file(modality: str) -> str:
  return f"{modality}.faiss"


def catalogue_files() -> set:
  """Names of every file (and the parts folder) an index folder may hold."""
  names = {META_FILE, IDS_TXT, NUM_FRAMES_FILE, PARTS_DIR}
  for m in MODALITIES:
    names |= {embeddings_file(m), timelines_file(m), index_file(m), hubness_file(m),
              timeline_rows_file(m), timeline_scales_file(m)}
  return names


def check_modality(modality: str) -> str:
  if modality not in MODALITIES:
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
  return modality


def infer_num_frames(*timelines: np.ndarray) -> np.ndarray:
  """Valid seconds = 1 + last non-zero second over the given timelines."""
  nonzero = np.zeros(timelines[0].shape[:2], bool)
  for t in timelines:
    nonzero |= np.any(np.asarray(t) != 0, axis=2)
  last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
  return np.where(nonzero.any(axis=1), last, 0).astype(np.int32)


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` to ``path`` aside and renames it into place."""
  io_utils.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True))


def require(folder: str, name: str) -> str:
  path = os.path.join(folder, name)
  if not os.path.exists(path):
    raise ValueError(f"Index folder {folder!r} is missing {name!r}")
  return path



def named_export(folder: str) -> Optional[str]:
  """The export an index folder's meta.json says embedded it (for messages only).

  Never used to load anything: a SavedModel is a program, and a folder
  someone sent may name any. None when the folder, its meta.json or the
  entry is missing or not as written by yt8m-embed.
  """
  try:
    with open(os.path.join(str(folder), META_FILE), encoding="utf-8") as f:
      meta = json.load(f)
    named = meta["model"]["export_dir"]
  except (OSError, ValueError, KeyError, TypeError):
    return None
  return named if isinstance(named, str) and named else None
