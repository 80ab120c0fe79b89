"""The per-file steps of ``yt8m-extract``, shared by its in-process and Beam paths.

Listing the inputs (:func:`list_media`), their ids, shards and labels
(:func:`plan`), one file's record and manifest entry (:func:`extract_one`),
and a shard written aside and renamed into place (:class:`ShardWriter`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import glob
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from absl import logging

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs.config import ExtractConfig
from yt8m_crossmodal.media import decode as decode_lib
from yt8m_crossmodal.media import extractor as extractor_lib
from yt8m_crossmodal.media import records as records_lib
from yt8m_crossmodal.media import weights as weights_lib

MANIFEST_SUFFIX = "_manifest.jsonl"


def manifest_path(output_dir: str, prefix: str) -> str:
  return os.path.join(output_dir, f"{prefix}{MANIFEST_SUFFIX}")


@dataclasses.dataclass(frozen=True)
class FileJob:
  """One input file and where its record goes."""

  index: int
  path: str
  id: str
  shard: int
  labels: Tuple[int, ...] = ()


def list_media(patterns: str) -> List[str]:
  """Sorted absolute paths of the files ``patterns`` names.

  Comma-separated: a folder (its files, not its subfolders), a file, or a
  glob (``**`` recurses); hidden files (``.name``) are left out of folders
  and wildcards.

  Raises:
    FileNotFoundError: nothing matches (the patterns named).
  """
  found = set()
  for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
    if io_utils.is_remote(pattern):
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      found.update(f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f))
      continue
    pattern = os.path.expanduser(pattern)
    if os.path.isdir(pattern):
      found.update(os.path.join(pattern, n) for n in os.listdir(pattern)
                   if not n.startswith(".") and os.path.isfile(os.path.join(pattern, n)))
    elif os.path.isfile(pattern):
      found.add(pattern)
    else:
      found.update(f for f in glob.glob(pattern, recursive=True)
                   if os.path.isfile(f) and not os.path.basename(f).startswith("."))
  if not found:
    raise FileNotFoundError(f"--input {patterns!r} matches no file")
  return sorted(io_utils.abspath(f) for f in found)


def read_labels_csv(path: str, files: Sequence[str]) -> Dict[str, Tuple[int, ...]]:
  """``{file: labels}`` from ``<file>,<l1;l2;...>`` lines, matched by path or name.

  Raises:
    UsageError: unreadable file or a label that is not an integer >= 0 (line named).
  """
  by_path = {f: f for f in files}
  by_name: Dict[str, List[str]] = {}
  for f in files:
    by_name.setdefault(os.path.basename(f), []).append(f)
  out: Dict[str, Tuple[int, ...]] = {}
  unmatched = 0
  try:
    with open(path, newline="", encoding="utf-8") as f:
      for number, row in enumerate(csv.reader(f), 1):
        if not row or not row[0].strip() or row[0].startswith("#"):
          continue
        name = row[0].strip()
        text = row[1].strip() if len(row) > 1 else ""
        try:
          labels = tuple(sorted(int(v) for v in text.replace(" ", ";").split(";") if v))
        except ValueError:
          raise UsageError(f"--labels_csv {path!r} line {number}: labels must be integers "
                           f"joined by ';', got {text!r}") from None
        if any(v < 0 for v in labels):
          raise UsageError(f"--labels_csv {path!r} line {number}: a label below 0")
        key = os.path.abspath(os.path.expanduser(name))
        targets = [by_path[key]] if key in by_path else by_name.get(os.path.basename(name), [])
        if not targets:
          unmatched += 1
        for t in targets:
          out[t] = labels
  except OSError as e:
    raise UsageError(f"cannot read --labels_csv {path!r}: {e.strerror or e}") from None
  if unmatched:
    logging.warning("%d line(s) of --labels_csv %s name no --input file", unmatched, path)
  return out


def plan(cfg: ExtractConfig) -> List[FileJob]:
  """The files of ``cfg.input`` with their ids, shards and labels."""
  files = list_media(cfg.input)
  ids = records_lib.media_ids(files)
  per_file = read_labels_csv(cfg.labels_csv, files) if cfg.labels_csv else {}
  return [FileJob(i, f, v, i // cfg.files_per_shard,
                  tuple(cfg.labels) if cfg.labels else per_file.get(f, ()))
          for i, (f, v) in enumerate(zip(files, ids))]


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
  """``path`` itself, or for a remote file (gs://) a temporary local copy."""
  if not io_utils.is_remote(path):
    yield path
    return
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  folder = tempfile.mkdtemp(prefix="yt8m-extract-")
  local = os.path.join(folder, os.path.basename(path))
  try:
    try:
      tf.io.gfile.copy(path, local, overwrite=True)
    except tf.errors.OpError as e:
      raise decode_lib.MediaError(f"{path}: cannot read it ({io_utils.error_line(e)})") from None
    yield local
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def store_of(cfg: ExtractConfig) -> weights_lib.WeightStore:
  return weights_lib.WeightStore(weights_dir=cfg.weights_dir, cache_dir=cfg.cache_dir)


def extract_one(job: FileJob, nets: extractor_lib.Networks, cfg: ExtractConfig,
                times: Optional[extractor_lib.StageTimes] = None,
                on_seconds=None) -> Tuple[Optional[bytes], Dict[str, Any]]:
  """``(serialized record or None, manifest entry)`` of one file.

  A file that cannot be used gives ``(None, entry with "error")``; the
  error is logged as one line naming the file.
  """
  entry: Dict[str, Any] = {"id": job.id, "path": job.path, "duration_seconds": None,
                           "seconds": 0, "audio_seconds": 0, "visual_seconds": 0,
                           "audio": False, "visual": False, "streams": None,
                           "shard": None, "record_index": None, "labels": list(job.labels)}
  times = times or extractor_lib.StageTimes()
  local = job.path
  try:
    with local_copy(job.path) as local:
      got = extractor_lib.extract_file(local, nets, cfg.modality_list, cfg.max_seconds,
                                       times, on_seconds)
  except decode_lib.MediaError as e:
    message = str(e) if local == job.path else str(e).replace(local, job.path)
    entry["error"] = message
    logging.warning("skipped %s", message)
    return None, entry
  except OSError as e:
    entry["error"] = f"{job.path}: cannot read it ({e.strerror or e})"
    logging.warning("skipped %s", entry["error"])
    return None, entry
  with times.timed("write"):
    record = records_lib.sequence_example(job.id, got.rgb, got.audio, job.labels,
                                          got.mean_rgb, got.mean_audio)
  duration = got.info.duration_seconds
  entry.update({
      "duration_seconds": None if duration is None else round(duration, 3),
      "seconds": got.seconds,
      "audio_seconds": 0 if got.audio is None else int(got.audio.shape[0]),
      "visual_seconds": 0 if got.rgb is None else int(got.rgb.shape[0]),
      "audio": got.audio is not None, "visual": got.rgb is not None,
      "streams": got.info.streams()})
  if got.notes:
    entry["notes"] = got.notes
  return record, entry


class ShardWriter:
  """Writes the records of one shard aside; :meth:`close` renames it into place."""

  def __init__(self, output_dir: str, prefix: str, shard: int):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    self._tf = tf
    self.name = records_lib.shard_name(prefix, shard)
    self.path = os.path.join(output_dir, self.name)
    self.tmp = os.path.join(output_dir, f".{self.name}.tmp-{io_utils.host_pid_tag()}-"
                            f"{os.urandom(4).hex()}")
    self._writer = None
    self.count = 0

  def write(self, record: bytes) -> int:
    """Appends ``record``; returns its index in the shard."""
    if self._writer is None:
      self._writer = self._tf.io.TFRecordWriter(self.tmp)
    self._writer.write(record)
    self.count += 1
    return self.count - 1

  def close(self) -> Optional[str]:
    """Renames the shard into place; None when it holds no record (nothing written)."""
    if self._writer is None:
      return None
    self._writer.close()
    self._tf.io.gfile.rename(self.tmp, self.path, overwrite=True)
    return self.path

  def abort(self) -> None:
    if self._writer is not None:
      self._writer.close()
    io_utils.remove_quietly(self.tmp)
