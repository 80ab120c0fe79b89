"""Media files to YouTube-8M frame-level records (``yt8m-extract``).

Example::

  yt8m-extract --input='videos/*.mp4,songs/*.mp3' --output_dir=features --prefix=mine

Each media file becomes one ``tf.train.SequenceExample`` in the published
layout (:func:`yt8m_crossmodal.media.records.sequence_example`), features
made by the published recipe (:mod:`yt8m_crossmodal.media.extractor`):
``rgb`` and ``audio`` per second where the file has pictures and sound, one
of them where it has only one (``--modalities`` picks). The files are taken
in sorted order, ``--files_per_shard`` to a shard
``<output_dir>/<prefix>0000.tfrecord``...; each shard is written aside and
renamed into place when its last file is done. Ids come from the file names
(:func:`~yt8m_crossmodal.media.records.media_ids`).

Beside the shards, ``<prefix>_manifest.jsonl`` has one JSON object per
input file, in input order: ``id``, ``path`` (absolute), ``duration_seconds``
(as the file declares it), ``seconds`` (steps the reader reads: the shorter
of the two modalities), ``audio_seconds``, ``visual_seconds``, ``audio`` and
``visual`` (bools), ``streams`` (container, codecs, sizes, rates), ``shard``
and ``record_index`` (where the record is), ``labels``, and ``error`` (one
line) for a file that gave no record, or ``notes``.

A file that cannot be used (not media, empty, no usable stream, damaged or
truncated part-way) is named with what is wrong in one line, gives no
record, and the others go on; the summary counts the failures (the tool
then exits with 1). ``--runner=DirectRunner`` (or another Beam runner) does
the same through :mod:`yt8m_crossmodal.jobs.extract_beam`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import glob
import json
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from absl import logging

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs.config import IN_PROCESS, ExtractConfig
from yt8m_crossmodal.media import decode as decode_lib
from yt8m_crossmodal.media import extractor as extractor_lib
from yt8m_crossmodal.media import records as records_lib
from yt8m_crossmodal.media import weights as weights_lib
from yt8m_crossmodal.progress import Progress

MANIFEST_SUFFIX = "_manifest.jsonl"


@dataclasses.dataclass(frozen=True)
class FileJob:
  """One input file and where its record goes."""

  index: int
  path: str
  id: str
  shard: int
  labels: Tuple[int, ...] = ()


def manifest_path(output_dir: str, prefix: str) -> str:
  return os.path.join(output_dir, f"{prefix}{MANIFEST_SUFFIX}")


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


def _existing_outputs(cfg: ExtractConfig) -> List[str]:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  shards = tf.io.gfile.glob(os.path.join(cfg.output_dir, f"{glob.escape(cfg.prefix)}[0-9][0-9]"
                                         "[0-9][0-9].tfrecord"))
  manifest = manifest_path(cfg.output_dir, cfg.prefix)
  return sorted(shards) + ([manifest] if tf.io.gfile.exists(manifest) else [])


def _remove_stale_tmp(cfg: ExtractConfig) -> None:
  """Removes the temporary shards left by killed runs of this prefix (this host)."""
  if io_utils.is_remote(cfg.output_dir):
    return
  for name in os.listdir(cfg.output_dir):
    if name.startswith(f".{cfg.prefix}") and ".tmp-" in name:
      tag = name.split(".tmp-", 1)[1].split("-")[0]
      if not io_utils.process_alive(tag):
        path = os.path.join(cfg.output_dir, name)
        logging.warning("removing %s, left by a killed yt8m-extract", path)
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)


def extract_media(cfg: ExtractConfig) -> Dict[str, Any]:
  """Extracts ``cfg.input`` into ``cfg.output_dir``; returns the summary.

  Returns:
    ``files``, ``extracted``, ``failed``, ``failures`` (``[{path, error}]``),
    ``shards``, ``manifest``, ``media_seconds`` (seconds written),
    ``seconds`` (wall clock), ``media_seconds_per_second``, ``kinds``
    (records with audio and visual, audio only, visual only),
    ``stage_seconds`` and ``weights`` (SHA-256 of each file used).
  """
  cfg.validate()
  jobs = plan(cfg)
  lock_target = os.path.join(cfg.output_dir, cfg.prefix)
  guard = (contextlib.nullcontext() if io_utils.is_remote(cfg.output_dir)
           else io_utils.exclusive_output(lock_target, "--output_dir/--prefix"))
  with guard:
    existing = _existing_outputs(cfg)
    if existing and not cfg.overwrite:
      raise UsageError(f"--output_dir {cfg.output_dir!r} already holds {len(existing)} file(s) "
                       f"of --prefix={cfg.prefix} (e.g. {os.path.basename(existing[0])}): "
                       "pass --overwrite to replace them, or another --prefix")
    _remove_stale_tmp(cfg)
    for path in existing:
      io_utils.remove_quietly(path)
    start = time.time()
    if cfg.runner == IN_PROCESS:
      entries, times, digests = _extract_in_process(cfg, jobs)
    else:
      entries, times, digests = _beam().extract_with_beam(cfg, jobs)
    manifest = manifest_path(cfg.output_dir, cfg.prefix)
    io_utils.atomic_write_text(manifest, "".join(json.dumps(e, sort_keys=True) + "\n"
                                                 for e in entries))
    return summarize(cfg, entries, time.time() - start, times, digests, manifest)


def summarize(cfg: ExtractConfig, entries: List[Dict[str, Any]], seconds: float,
              times: extractor_lib.StageTimes, digests: Dict[str, str],
              manifest: str) -> Dict[str, Any]:
  """The run's summary (see :func:`extract_media`)."""
  done = [e for e in entries if "error" not in e]
  failures = [{"path": e["path"], "error": e["error"]} for e in entries if "error" in e]
  media_seconds = sum(max(e["audio_seconds"], e["visual_seconds"]) for e in done)
  shards = sorted({os.path.join(cfg.output_dir, e["shard"]) for e in done})
  kinds = {"audio_and_visual": sum(e["audio"] and e["visual"] for e in done),
           "audio_only": sum(e["audio"] and not e["visual"] for e in done),
           "visual_only": sum(e["visual"] and not e["audio"] for e in done)}
  return {"files": len(entries), "extracted": len(done), "failed": len(failures),
          "failures": failures, "kinds": kinds, "shards": shards,
          "manifest": io_utils.abspath(manifest), "media_seconds": media_seconds,
          "seconds": round(seconds, 3),
          "media_seconds_per_second": round(media_seconds / max(seconds, 1e-9), 2),
          "stage_seconds": {k: round(v, 3) for k, v in times.seconds.items()},
          "weights": digests, "runner": cfg.runner}


def _beam():
  try:
    from yt8m_crossmodal.jobs import extract_beam  # pylint: disable=import-outside-toplevel
  except ModuleNotFoundError as e:
    if not (e.name or "").startswith("apache_beam"):
      raise
    raise UsageError("--runner other than in_process needs apache-beam: pip install "
                     "'yt8m-crossmodal[beam]'") from e
  return extract_beam


def _durations(jobs: Sequence[FileJob]) -> Dict[int, Optional[float]]:
  """Declared durations (for the progress line's total); None where unknown."""
  out = {}
  for job in jobs:
    try:
      out[job.index] = (None if io_utils.is_remote(job.path)
                        else decode_lib.probe(job.path).duration_seconds)
    except decode_lib.MediaError:
      out[job.index] = None
  return out


def _extract_in_process(cfg: ExtractConfig, jobs: Sequence[FileJob]):
  nets = extractor_lib.load_networks(store_of(cfg), cfg.modality_list)
  times = extractor_lib.StageTimes()
  durations = _durations(jobs)
  total = sum(d for d in durations.values() if d)
  if cfg.max_seconds:
    total = sum(min(d, cfg.max_seconds) for d in durations.values() if d)
  bar = Progress("media seconds", int(total) or None)
  entries: List[Dict[str, Any]] = []
  writer: Optional[ShardWriter] = None
  done_before = 0
  try:
    for job in jobs:
      if writer is None or writer.name != records_lib.shard_name(cfg.prefix, job.shard):
        if writer is not None:
          writer.close()
        writer = ShardWriter(cfg.output_dir, cfg.prefix, job.shard)
      record, entry = extract_one(job, nets, cfg, times,
                                  lambda s, base=done_before: bar.update(base + int(s)))
      if record is not None:
        with times.timed("write"):
          entry["record_index"] = writer.write(record)
        entry["shard"] = writer.name
      entries.append(entry)
      declared = durations.get(job.index) or 0
      if cfg.max_seconds:
        declared = min(declared, cfg.max_seconds)
      done_before += int(max(declared, entry["audio_seconds"], entry["visual_seconds"]))
      bar.update(done_before)
    if writer is not None:
      writer.close()
      writer = None
  except BaseException:
    if writer is not None:
      writer.abort()
    raise
  finally:
    bar.close()
  return entries, times, nets.digests
