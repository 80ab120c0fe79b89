"""Embedding a corpus through an export into an index folder (``yt8m-embed``).

Example::

  yt8m-embed --export_dir=saved_models/temporal \\
      --data='/data/yt8m/frame/train*.tfrecord' --output=indexes/train \\
      --timelines --ann=hnsw

Reads the records with the project's reader (one file after the other, in
record order), encodes each
batch with the SavedModel's ``encode_audio`` / ``encode_visual`` signatures
(no training code runs) and writes a catalogue folder of
:mod:`yt8m_crossmodal.retrieval` (``ids.txt``, ``audio_embeddings.npy``,
``visual_embeddings.npy``, with ``--timelines`` also
``audio_timelines.npy`` / ``visual_timelines.npy`` ``[N, max_frames, E]``
(``--timeline_dtype``, float16 by default), or with ``--timeline_dtype=int8``
the compact int8 rows with a per-row scale, ``--timeline_pool`` seconds per
row (:mod:`yt8m_crossmodal.retrieval.compact_timelines`), and
``num_frames.npy``; with
``--ann=hnsw|ivf|ivfpq`` a faiss index per modality). ``meta.json`` names the
export (``model.export_dir``): ``yt8m-search`` warns when its ``--export_dir``
is another one (it never loads the one named: a SavedModel is a program).
Progress is logged every ``--log_every_seconds``.

With ``--runner=DirectRunner`` (or any other Apache Beam runner, with
``--pipeline_options``) the same folder is built by the Beam pipeline of
:mod:`yt8m_crossmodal.jobs.embed_beam`.

The catalogue is built in a temporary sibling folder and swapped into
``--output`` only when complete, so a failed or killed run (a bad shard, a
NaN embedding) leaves an existing catalogue as it was. One run at a time
writes an ``--output``: a second one is refused while the lock file
``.<name>.lock`` next to it names a live process (a killed run's lock and
temporary folders are removed by the next run). Embeddings that hold
NaN or Inf (a diverged model) are refused, naming the video. An index needs
unique ids: a second record with an id already embedded is an error naming
both records, or with ``--skip_bad_records`` left out (logged, and counted
in ``duplicate_ids_skipped``).

``--modalities=audio`` (or ``visual``) embeds one modality into a
one-modality index (only that modality's files, no hubness): records with
only that modality are read too (a catalogue of songs or podcasts, searched
by video queries; a catalogue of silent clips, searched by sound).

``--timelines`` needs a frame-level export. The last stdout line is one JSON
object (the catalogue's meta.json plus ``path``, ``seconds``,
``videos_per_second``).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Any, Dict

from absl import logging
import numpy as np

from yt8m_crossmodal.serving.loading import load_export
from yt8m_crossmodal.retrieval.catalogue import load_catalogue
from yt8m_crossmodal.retrieval.catalogue_writer import CatalogueWriter
from yt8m_crossmodal.retrieval.folder import META_FILE, catalogue_files
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.jobs.config import IN_PROCESS, EmbedConfig
from yt8m_crossmodal import jobs as jobs_lib
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.progress import Progress
from yt8m_crossmodal.jobs.embed_writer import UniqueIds, open_writer


def _check_target(cfg: EmbedConfig) -> None:
  """Checks what ``--output`` holds (under its lock, so no other run changes it)."""
  if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
    raise UsageError(f"--output {cfg.output!r} is a file, not a folder")
  if (os.path.exists(os.path.join(cfg.output, META_FILE))
      and not cfg.overwrite):
    raise UsageError(f"--output {cfg.output!r} already holds a catalogue "
                     "(pass --overwrite to replace it)")
  if os.path.isdir(cfg.output):
    others = sorted(set(os.listdir(cfg.output)) - catalogue_files())
    if others:
      raise UsageError(f"--output {cfg.output!r} holds files that are not part of a "
                       f"catalogue ({', '.join(others[:3])}): give an empty or new folder")


def _tmp_prefix(output: str) -> str:
  return f".{os.path.basename(output)}.tmp-"


def remove_stale_tmp(output: str) -> None:
  """Removes the temporary folders of killed runs into ``output``; reports others.

  A folder ``.<name>.tmp-<host>_<pid>-<hex>[-shards|-unordered]`` is stale when
  its process is gone (same host); ``<name>.old-*`` folders are left by a run killed while
  swapping in, and stale when ``output`` itself exists. Called under the
  output's lock, so no live run of this host is swapping.
  """
  parent = os.path.dirname(os.path.abspath(output))
  name = os.path.basename(output)
  for entry in sorted(os.listdir(parent)):
    path = os.path.join(parent, entry)
    if entry.startswith(_tmp_prefix(output)):
      # The tag has no dash; Beam's "-shards" / "-unordered" siblings follow the hex.
      stale = not io_utils.process_alive(entry[len(_tmp_prefix(output)):].split("-")[0])
    elif entry.startswith(f"{name}.old-"):
      stale = os.path.isdir(output)
    else:
      continue
    if stale:
      logging.warning("removing %s, left by a killed yt8m-embed", path)
      shutil.rmtree(path, ignore_errors=True)
    else:
      logging.warning("%s is left by a yt8m-embed of another host (or still running) or "
                      "holds the only copy of an earlier catalogue: not removed", path)


def _swap_in(tmp: str, output: str) -> None:
  """Moves the finished catalogue ``tmp`` to ``output`` (replacing one there).

  Where the system can (Linux), the two folders are exchanged in one atomic
  step, so ``output`` is always a whole index, the old or the new. Elsewhere
  the old folder is renamed aside first and removed last: a kill between the
  two renames leaves it as ``<output>.old-*``, which readers then read
  (:func:`yt8m_crossmodal.retrieval.load_catalogue`) and the next
  ``yt8m-embed`` into ``output`` puts back (:func:`restore_interrupted_swap`).
  Readers pin the folder they open, so none mixes the two.
  """
  if os.path.exists(output) and io_utils.exchange_paths(tmp, output):
    shutil.rmtree(tmp, ignore_errors=True)  # Now the old index.
    return
  old = None
  if os.path.exists(output):
    old = f"{output}.old-{uuid.uuid4().hex[:8]}"
    os.rename(output, old)
  os.rename(tmp, output)
  if old:
    shutil.rmtree(old, ignore_errors=True)


def restore_interrupted_swap(output: str) -> None:
  """Puts back the index a run killed between the two renames of a swap left.

  ``output`` is missing and ``<output>.old-*`` holds the earlier index
  (called under the output's lock, so no live run is swapping).
  """
  if os.path.exists(output):
    return
  parent = os.path.dirname(os.path.abspath(output))
  name = os.path.basename(output)
  left = [os.path.join(parent, e) for e in os.listdir(parent) if e.startswith(f"{name}.old-")
          and os.path.isfile(os.path.join(parent, e, META_FILE))]
  if left:
    old = max(left, key=os.path.getmtime)
    logging.warning("putting back %s as %s: a yt8m-embed was stopped while swapping it out",
                    old, output)
    os.rename(old, output)


def embed_corpus(cfg: EmbedConfig) -> Dict[str, Any]:
  """Embeds ``cfg.data`` into ``cfg.output``; returns the summary dict.

  ``cfg.runner`` "in_process" reads and encodes here; any other runner name
  runs the Beam pipeline of :mod:`yt8m_crossmodal.jobs.embed_beam`
  (same folder, same row order). Either way the folder is built aside and
  swapped in when complete.
  """
  cfg.validate()
  output = os.path.normpath(cfg.output)
  with io_utils.exclusive_output(output, "--output"):
    restore_interrupted_swap(output)
    _check_target(cfg)
    remove_stale_tmp(output)
    return _embed_locked(cfg, output)


def _embed_locked(cfg: EmbedConfig, output: str) -> Dict[str, Any]:
  """:func:`embed_corpus` once the output's lock is held."""
  exp = load_export(cfg.export_dir)
  if cfg.timelines:
    exp.require_timelines("for --timelines")
  tmp = os.path.join(os.path.dirname(os.path.abspath(output)),
                     f"{_tmp_prefix(output)}{io_utils.host_pid_tag()}-{uuid.uuid4().hex[:8]}")
  start = time.time()
  extra: Dict[str, Any] = {}
  try:
    if cfg.runner == IN_PROCESS:
      meta = _embed_in_process(cfg, exp, tmp, start, extra)
    else:
      meta, extra = jobs_lib.beam_pipeline("embed_beam").embed_with_beam(cfg, exp, tmp)
    seconds = time.time() - start
    if cfg.ann != "none":
      catalogue = load_catalogue(tmp, load_indexes=False, verify="none")
      for target in catalogue.modalities:
        catalogue.build_index(target, kind=cfg.ann, save=True)
      meta = catalogue.meta
      logging.info("built %s indexes in %.1fs", cfg.ann, time.time() - start - seconds)
    _swap_in(tmp, output)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  logging.info("embedded %d videos in %.1fs into %s", meta["num_items"], seconds, cfg.output)
  return dict(meta, **extra, path=os.path.abspath(cfg.output), seconds=round(seconds, 3),
              runner=cfg.runner,
              videos_per_second=round(meta["num_items"] / max(seconds, 1e-9), 2))


def _embed_in_process(cfg: EmbedConfig, exp, tmp: str, start: float,
                      extra: Dict[str, Any]) -> Dict[str, Any]:
  """Reads and encodes ``cfg.data`` in this process into the folder ``tmp``."""
  modalities = cfg.modality_list
  encode_audio = exp.encode_fn("audio") if "audio" in modalities else None
  encode_visual = exp.encode_fn("visual") if "visual" in modalities else None
  ds = exp.read_records(cfg.data, cfg.batch_size, cfg.skip_bad_records, file_order=True,
                        modalities=modalities, with_provenance=True)
  writer = open_writer(cfg, exp, tmp)
  bar = Progress("embedded videos", cfg.max_videos or None)
  unique = UniqueIds(cfg.skip_bad_records)
  try:
    return _embed_into(cfg, ds, writer, encode_audio, encode_visual, start, start, bar,
                       unique)
  finally:
    bar.close()
    extra["duplicate_ids_skipped"] = unique.skipped


def _embed_into(cfg: EmbedConfig, ds, writer: CatalogueWriter, encode_audio,
                encode_visual, start: float, last_log: float, bar: Progress,
                unique: UniqueIds) -> Dict[str, Any]:
  """Encodes the batches of ``ds`` into ``writer``; returns its meta."""
  try:
    for batch in ds:
      ids = batch["id"].numpy()
      places = zip(batch["file"].numpy(), batch["record_index"].numpy())
      keep = np.array([unique.keep(i.decode(), f"{f.decode()} at record index {r}")
                       for i, (f, r) in zip(ids, places)], bool)
      ids = ids[keep]
      n = len(ids)
      if cfg.max_videos:
        n = min(n, cfg.max_videos - writer.count)
      if n <= 0:
        if cfg.max_videos and writer.count >= cfg.max_videos:
          break
        continue
      num_frames = batch["num_frames"].numpy()[keep][:n].astype(np.int32)
      labels = batch["labels"].numpy()[keep][:n]
      a_emb = a_tl = v_emb = v_tl = None
      if encode_audio is not None:
        a_emb, a_tl = encode_audio(feat.to_float(batch["audio"].numpy()[keep][:n]), num_frames)
      if encode_visual is not None:
        v_emb, v_tl = encode_visual(feat.to_float(batch["visual"].numpy()[keep][:n]),
                                    num_frames)
      if cfg.timelines:
        writer.add(ids[:n], a_emb, v_emb, a_tl, v_tl, num_frames, labels=labels)
      else:
        writer.add(ids[:n], a_emb, v_emb, labels=labels)
      bar.update(writer.count)
      now = time.time()
      if now - last_log >= cfg.log_every_seconds:
        last_log = now
        logging.info("embedded %d videos (%.1f videos/s)", writer.count,
                     writer.count / max(1e-9, now - start))
      if cfg.max_videos and writer.count >= cfg.max_videos:
        break
  except BaseException:
    writer.abort()
    raise
  return writer.close()
