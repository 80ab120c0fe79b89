"""Which media file a record came from: the manifests ``yt8m-extract`` writes.

Beside its shards ``yt8m-extract`` writes ``<prefix>_manifest.jsonl``, one JSON
object per media file::

  {"id": "holiday_2019", "path": "/abs/holiday 2019.mp4", "duration_seconds": 183.4,
   "seconds": 183, "audio": true, "visual": true, "streams": {...},
   "shard": "...", "error": "..."}   # "error" only when the file failed

Second ``t`` of a record is second ``t`` of its media file (features are one
step per second from the start). The answers of the search tools use this
to show the file and second of a result, and the picture at that second
(:mod:`yt8m_crossmodal.answers.thumbnails`).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
from typing import Dict, Iterable, List, Optional

SUFFIX = "_manifest.jsonl"


@dataclasses.dataclass(frozen=True)
class MediaEntry:
  """One media file of a manifest.

  Attributes:
    id: the record id ``yt8m-extract`` gave it.
    path: the media file (absolute).
    duration_seconds: its duration (None if unknown).
    seconds: per-second steps written (None if unknown).
    audio, visual: whether the record has that modality.
    error: why the file could not be read ("" when it could).
  """

  id: str
  path: str
  duration_seconds: Optional[float] = None
  seconds: Optional[int] = None
  audio: bool = True
  visual: bool = True
  error: str = ""


def manifests_beside(patterns: str) -> List[str]:
  """The ``*_manifest.jsonl`` files in the folders of comma-separated file patterns.

  Remote (``gs://``) folders are not looked in.
  """
  folders = []
  for pattern in (p.strip() for p in patterns.split(",")):
    if not pattern or "://" in pattern:
      continue
    folder = os.path.dirname(os.path.abspath(pattern))
    if folder not in folders:
      folders.append(folder)
  found = []
  for folder in folders:
    found += sorted(glob.glob(os.path.join(glob.escape(folder), "*" + SUFFIX)))
  return found


def _entry(obj, where: str) -> MediaEntry:
  if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(
      obj.get("path"), str):
    raise ValueError(f"{where}: not an object with a string 'id' and 'path'")
  duration = obj.get("duration_seconds")
  seconds = obj.get("seconds")
  return MediaEntry(
      id=obj["id"], path=obj["path"],
      duration_seconds=float(duration) if isinstance(duration, (int, float)) else None,
      seconds=int(seconds) if isinstance(seconds, (int, float)) else None,
      audio=bool(obj.get("audio", True)), visual=bool(obj.get("visual", True)),
      error=str(obj.get("error") or ""))


def read_manifests(files: Iterable[str]) -> Dict[str, MediaEntry]:
  """id -> :class:`MediaEntry` of every line of ``files``.

  A line that is not a manifest entry is skipped with a warning naming the
  file and line (the results of that id are shown without their media); a
  later file's entry for an id replaces an earlier one.

  Raises:
    ValueError: a file that cannot be read.
  """
  out: Dict[str, MediaEntry] = {}
  for path in files:
    try:
      with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
      raise ValueError(f"cannot read the media manifest {path}: {e}") from e
    bad = 0
    for number, line in enumerate(lines, start=1):
      if not line.strip():
        continue
      where = f"{path}, line {number}"
      try:
        entry = _entry(json.loads(line), where)
      except ValueError as e:
        bad += 1
        if bad <= 3:
          logging.warning("%s: skipped (%s)", where, str(e).splitlines()[0])
        continue
      out[entry.id] = entry
    if bad > 3:
      logging.warning("%s: %d lines skipped in all", path, bad)
  return out
