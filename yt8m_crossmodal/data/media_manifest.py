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
import math
import os
import stat
from typing import Dict, Iterable, List, Optional

SUFFIX = "_manifest.jsonl"
MAX_SECONDS = 10 ** 7  # Durations beyond this (115 days) are not a media file's: left out.


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
    found += sorted(f for f in glob.glob(os.path.join(glob.escape(folder), "*" + SUFFIX))
                    if os.path.isfile(f))  # Regular files only: never a FIFO or device.
  return found


def _entry(obj, where: str) -> MediaEntry:
  if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(
      obj.get("path"), str):
    raise ValueError(f"{where}: not an object with a string 'id' and 'path'")
  if "\0" in obj["path"] or "\n" in obj["id"]:
    raise ValueError(f"{where}: a NUL in 'path' or a line break in 'id'")
  duration = obj.get("duration_seconds")
  seconds = obj.get("seconds")
  finite = lambda x: (isinstance(x, (int, float)) and not isinstance(x, bool)
                      and math.isfinite(x) and 0 <= x <= MAX_SECONDS)
  return MediaEntry(
      id=obj["id"], path=obj["path"],
      duration_seconds=float(duration) if finite(duration) else None,
      seconds=int(seconds) if finite(seconds) else None,
      audio=bool(obj.get("audio", True)), visual=bool(obj.get("visual", True)),
      error=str(obj.get("error") or ""))


def read_manifests(files: Iterable[str]) -> Dict[str, MediaEntry]:
  """id -> :class:`MediaEntry` of every line of ``files``.

  A manifest may come from someone else: it is read as text only. A line that
  is not a manifest entry is skipped with a warning naming the file and line
  (the results of that id are shown without their media); a later file's
  entry for an id replaces an earlier one. The paths it names are only read
  for pictures, as local files (:mod:`yt8m_crossmodal.answers.thumbnails`).

  Raises:
    ValueError: a file that cannot be read, is not a regular file or not
      UTF-8 (named).
  """
  out: Dict[str, MediaEntry] = {}
  for path in files:
    try:
      if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"the media manifest {path} is not a regular file")
      with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")  # Not splitlines(): U+2028 may be inside a string.
    except OSError as e:
      raise ValueError(f"cannot read the media manifest {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
      raise ValueError(f"the media manifest {path} is not UTF-8 text ({e.reason} at byte "
                       f"{e.start})") from None
    bad = 0
    for number, line in enumerate(lines, start=1):
      if not line.strip():
        continue
      where = f"{path}, line {number}"
      try:
        entry = _entry(json.loads(line), where)
      except (ValueError, RecursionError) as e:
        bad += 1
        if bad <= 3:
          logging.warning("%s: skipped (%s)", where,
                          (str(e).splitlines() or ["nested too deeply"])[0][:200])
        continue
      out[entry.id] = entry
    if bad > 3:
      logging.warning("%s: %d lines skipped in all", path, bad)
  return out
