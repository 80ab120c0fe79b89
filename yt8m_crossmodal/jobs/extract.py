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
import glob
import json
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Sequence

from absl import logging

from yt8m_crossmodal import io_utils
from yt8m_crossmodal import jobs as jobs_lib
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs.config import IN_PROCESS, ExtractConfig
from yt8m_crossmodal.jobs.extract_files import (FileJob, ShardWriter, extract_one,
                                                manifest_path, plan, store_of)
from yt8m_crossmodal.media import decode as decode_lib
from yt8m_crossmodal.media import extractor as extractor_lib
from yt8m_crossmodal.media import records as records_lib
from yt8m_crossmodal.progress import Progress


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
    start = time.time()
    # The weights first: a missing one stops the run before anything is replaced.
    if cfg.runner == IN_PROCESS:
      nets = extractor_lib.load_networks(store_of(cfg), cfg.modality_list)
    else:
      beam_job = jobs_lib.beam_pipeline("extract_beam")
      digests = beam_job.prepare_weights(cfg)
    for path in existing:
      io_utils.remove_quietly(path)
    if cfg.runner == IN_PROCESS:
      entries, times = _extract_in_process(cfg, jobs, nets)
      digests = nets.digests
    else:
      entries, times = beam_job.extract_with_beam(cfg, jobs)
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


def _extract_in_process(cfg: ExtractConfig, jobs: Sequence[FileJob],
                        nets: extractor_lib.Networks):
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
  return entries, times
