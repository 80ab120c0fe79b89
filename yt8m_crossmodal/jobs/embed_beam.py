"""Embedding a corpus on Apache Beam (``yt8m-embed --runner=DirectRunner|...``).

The pipeline, for any Beam runner (DirectRunner here; the same options run
it on Dataflow, Flink or Spark)::

  Create(files) | Reshuffle           one element per TFRecord file, spread out
  | ParDo(ReadRecords)                (file, record index, bytes, reason) per record
  | RunInference(EncodeRecords)       batches of --batch_size: parse, validate,
                                      encode through the export's signatures
  | Map(to_example)
  | WriteToTFRecord(<temp>/part)      sharded outputs, one tf.train.Example
                                      per video (id, file, record index,
                                      embeddings, timelines already in the
                                      index's storage format)

then, in the launching process, :func:`assemble` writes the shards into the
index folder with :class:`~yt8m_crossmodal.retrieval.CatalogueWriter` in
(file, record index) order, the order of the in-process path, so both build
the same folder. The folder is built aside and swapped in by
:func:`yt8m_crossmodal.jobs.embed.embed_corpus`; the shards are
written under ``--beam_temp_dir`` (by default a temporary folder next to
``--output``) and removed at the end.

Records are read by :func:`yt8m_crossmodal.data.pipeline.records_of_file`,
the in-process reader's own file reader, one file per element, rather than
Beam's ``ReadFromTFRecord``: that one forgets each record's file and index,
which a bad record's message must name, and cannot see a truncated file.
``--max_videos`` keeps the first videos in that order (all are embedded).
Bad records follow the reader's rules: without ``--skip_bad_records`` the
first one fails the pipeline with ``Bad YT-8M record in <file> at record
index <i> (video id '<id>'): <reason>``; with it, each is logged and counted
(Beam counter ``yt8m_embed/bad_records_skipped``, and
``bad_records_skipped`` in the summary).

The model handler is our own small :class:`EncodeRecords` (Beam's
``TFModelHandlerTensor`` needs ``tensorflow_hub``): each worker loads the
export once with :func:`~yt8m_crossmodal.serving.loading.load_export`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import uuid
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from absl import logging
import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions
import numpy as np
import tensorflow as tf

from yt8m_crossmodal.data import decode as decode_lib
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.retrieval import compact_timelines as compact
from yt8m_crossmodal.jobs.embed_writer import UniqueIds, open_writer
from yt8m_crossmodal.retrieval.catalogue import gather_rows, load_catalogue
from yt8m_crossmodal.serving.loading import LoadedExport, load_export

METRICS_NAMESPACE = "yt8m_embed"
BAD_RECORDS_COUNTER = "bad_records_skipped"
SHARD_PREFIX = "part"

# One record on its way: (file, record index in the file, serialized record,
# reason it is bad: "" when the reader found nothing wrong).
Record = Tuple[str, int, bytes, str]


class ReadRecords(beam.DoFn):
  """(file, size) -> every record of the file, with its provenance."""

  def process(self, element: Tuple[str, int]) -> Iterable[Record]:
    filename, size = element
    for block in pipeline.records_of_file(filename, tf.constant(size, tf.int64), 64):
      for f, i, r, why in zip(block["file"].numpy(), block["index"].numpy(),
                              block["record"].numpy(), block["reason"].numpy()):
        yield f.decode(), int(i), r, why.decode()


class EncodeRecords(ModelHandler):
  """RunInference model handler: a batch of records -> one dict per good video.

  Each output dict holds ``id``, ``file``, ``index``, ``num_frames`` (int),
  ``audio_embedding`` / ``visual_embedding`` float32 ``[E]`` and, with
  timelines, ``audio_timeline`` / ``visual_timeline`` in the index's storage
  format: ``[num_frames, E]`` float16 or float32, or for int8 the compact
  rows ``[ceil(num_frames / pool), E]`` with ``audio_scales`` /
  ``visual_scales`` (:func:`~yt8m_crossmodal.retrieval.compact_timelines.encode`,
  as the in-process writer computes them, and copied as they are), so the
  shards carry 2 (E + 4) / pool bytes per second instead of 8 E.
  """

  def __init__(self, export_dir: str, batch_size: int, timelines: bool,
               skip_bad_records: bool, timeline_dtype: str = "float32",
               timeline_pool: int = 1, modalities: Sequence[str] = ("audio", "visual")):
    super().__init__()
    self._modalities = tuple(modalities)
    self._export_dir = export_dir
    self._batch_size = int(batch_size)
    self._timelines = bool(timelines)
    self._skip = bool(skip_bad_records)
    self._dtype = timeline_dtype
    self._pool = int(timeline_pool)
    self._skipped = beam.metrics.Metrics.counter(METRICS_NAMESPACE, BAD_RECORDS_COUNTER)

  def load_model(self) -> LoadedExport:
    return load_export(self._export_dir)

  def batch_elements_kwargs(self) -> Dict[str, Any]:
    return {"min_batch_size": 1, "max_batch_size": self._batch_size}

  def run_inference(self, batch: Sequence[Record], model: LoadedExport,
                    inference_args: Optional[Dict[str, Any]] = None
                    ) -> Iterable[Dict[str, Any]]:
    files, indices, records, reasons = zip(*batch)
    out, reason = model.decode_records(tf.constant(list(records)), typed=self._skip,
                                       modalities=self._modalities)
    reason = decode_lib.pick_reason([tf.constant(list(reasons)), reason]).numpy()
    ids = [v.decode(errors="replace") for v in out["id"].numpy()]
    good = reason == b""
    for j in np.flatnonzero(~good):
      message = pipeline.BadRecord(files[j], int(indices[j]), ids[j],
                                   reason[j].decode(errors="replace")).message()
      if not self._skip:
        raise ValueError(message)
      self._skipped.inc()
      logging.warning("Skipped %s", message)
    if not good.any():
      return []
    num_frames = out["num_frames"].numpy()[good].astype(np.int32)
    encoded = {}
    for m in self._modalities:
      encoded[m] = model.encode_fn(m)(feat.to_float(out[m].numpy()[good]), num_frames)
    multi_hot = out["labels"].numpy()
    results = []
    for row, j in enumerate(np.flatnonzero(good)):
      item = {"id": ids[j], "file": files[j], "index": int(indices[j]),
              "num_frames": int(num_frames[row]),
              "labels": np.flatnonzero(multi_hot[j] > 0).tolist()}
      for m, (embedding, timeline) in encoded.items():
        item[f"{m}_embedding"] = np.asarray(embedding[row], np.float32)
        if self._timelines:
          own = np.asarray(timeline[row, :num_frames[row]], np.float32)
          if self._dtype == compact.COMPACT_DTYPE:
            item[f"{m}_timeline"], item[f"{m}_scales"] = compact.encode(
                own[None], num_frames[row:row + 1], self._pool)
          else:
            item[f"{m}_timeline"] = own.astype(self._dtype)
      results.append(item)
    return results


def to_example(item: Dict[str, Any]) -> bytes:
  """One output dict of :class:`EncodeRecords` as a serialized tf.train.Example."""
  example = tf.train.Example()
  f = example.features.feature
  f["id"].bytes_list.value.append(item["id"].encode())
  f["file"].bytes_list.value.append(item["file"].encode())
  f["index"].int64_list.value.append(item["index"])
  f["num_frames"].int64_list.value.append(item["num_frames"])
  f["labels"].int64_list.value.extend(item.get("labels", []))
  for m in ("audio", "visual"):
    if f"{m}_embedding" not in item:
      continue
    f[f"{m}_embedding"].float_list.value.extend(item[f"{m}_embedding"].tolist())
    for part in ("timeline", "scales"):
      if f"{m}_{part}" in item:
        f[f"{m}_{part}"].bytes_list.value.append(item[f"{m}_{part}"].tobytes())
  return example.SerializeToString()


def _timelines_of(raw: Sequence[bytes], scales: Sequence[bytes], num_frames: np.ndarray,
                  embedding_size: int, dtype: str):
  """The shards' timelines: float ``[B, max(num_frames), E]``, or the compact
  rows (:class:`~yt8m_crossmodal.retrieval.compact_timelines.Encoded`)."""
  if dtype == compact.COMPACT_DTYPE:
    return compact.Encoded(
        np.concatenate([np.frombuffer(r, np.int8) for r in raw]).reshape(-1, embedding_size),
        np.concatenate([np.frombuffer(x, np.float32) for x in scales]))
  out = np.zeros((len(raw), max(1, int(num_frames.max())), embedding_size), dtype)
  for j, r in enumerate(raw):
    out[j, :num_frames[j]] = np.frombuffer(r, dtype).reshape(-1, embedding_size)
  return out


def _read_shards(pattern: str, embedding_size: int, dtype: str, batch_size: int = 256,
                 modalities: Sequence[str] = ("audio", "visual")
                 ) -> Iterable[Dict[str, np.ndarray]]:
  """Batches of the shards' videos: ids, file, index, num_frames, embeddings, timelines."""
  spec = {"id": tf.io.FixedLenFeature([], tf.string),
          "file": tf.io.FixedLenFeature([], tf.string),
          "index": tf.io.FixedLenFeature([], tf.int64),
          "num_frames": tf.io.FixedLenFeature([], tf.int64),
          "labels": tf.io.RaggedFeature(tf.int64)}
  for m in modalities:
    spec[f"{m}_embedding"] = tf.io.FixedLenFeature([embedding_size], tf.float32)
    spec[f"{m}_timeline"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    spec[f"{m}_scales"] = tf.io.FixedLenFeature([], tf.string, default_value="")
  files = tf.io.gfile.glob(pattern)
  if not files:
    return
  ds = tf.data.TFRecordDataset(sorted(files)).batch(batch_size).map(
      lambda r: tf.io.parse_example(r, spec))
  for batch in ds:
    labels = batch.pop("labels")
    batch = {k: v.numpy() for k, v in batch.items()}
    batch["labels"] = labels.to_list()  # A RaggedTensor: one list of classes a video.
    nf = batch["num_frames"].astype(np.int32)
    for m in modalities:
      raw, scales = batch.pop(f"{m}_timeline"), batch.pop(f"{m}_scales")
      if all(len(r) for r in raw):
        batch[f"{m}_timeline"] = _timelines_of(raw, scales, nf, embedding_size, dtype)
    batch["num_frames"] = nf
    yield batch


def assemble(cfg, exp: LoadedExport, shards: str, files: List[str], out: str,
             duplicates: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
  """Writes the shards' videos into the index folder ``out``, in file order.

  The shards are written first, as they come, into a sibling folder; then
  its rows are copied into ``out`` in (file, record index) order (a video
  met twice, e.g. from a retried bundle, once), up to ``cfg.max_videos``.
  Two records with one id follow :class:`~.embed_writer.UniqueIds`
  (``duplicates["skipped"]`` counts the copies left out).

  Returns:
    The folder's meta.json contents.
  """
  duplicates = {} if duplicates is None else duplicates
  position = {f: i for i, f in enumerate(files)}
  unordered = f"{out}-unordered"
  keys: List[Tuple[int, int]] = []
  ids_seen: List[str] = []
  writer = open_writer(cfg, exp, unordered)
  try:
    try:
      for batch in _read_shards(shards, exp.embedding_size, cfg.timeline_dtype,
                                modalities=cfg.modality_list):
        ids = [i.decode() for i in batch["id"]]
        ids_seen += ids
        keys += [(position.get(f.decode(), len(files)), int(i))
                 for f, i in zip(batch["file"], batch["index"])]
        if cfg.timelines:
          writer.add(ids, batch.get("audio_embedding"), batch.get("visual_embedding"),
                     batch.get("audio_timeline"), batch.get("visual_timeline"),
                     batch["num_frames"], labels=batch["labels"])
        else:
          writer.add(ids, batch.get("audio_embedding"), batch.get("visual_embedding"),
                     labels=batch["labels"])
    except BaseException:
      writer.abort()
      raise
    writer.close()  # An empty corpus fails here (ValueError, named).
    key = np.array(keys, np.int64).reshape(-1, 2)
    order = np.lexsort((key[:, 1], key[:, 0]))
    first = np.ones(order.size, bool)
    first[1:] = np.any(np.diff(key[order], axis=0) != 0, axis=1)
    order = order[first]
    unique = UniqueIds(cfg.skip_bad_records)
    name = lambda k: files[k] if k < len(files) else "?"
    order = order[np.array([unique.keep(ids_seen[j], f"{name(key[j, 0])} at record index "
                                        f"{key[j, 1]}") for j in order], bool)]
    duplicates["skipped"] = unique.skipped
    if cfg.max_videos:
      order = order[:cfg.max_videos]
    if order.size == len(keys) and np.all(order == np.arange(order.size)):
      os.rename(unordered, out)
      return load_catalogue(out, load_indexes=False, verify="none").meta
    return _copy_rows(cfg, exp, unordered, out, order)
  finally:
    shutil.rmtree(unordered, ignore_errors=True)


def _copy_rows(cfg, exp: LoadedExport, source: str, out: str, order: np.ndarray,
               chunk: int = 256) -> Dict[str, Any]:
  """Rows ``order`` of the catalogue ``source`` into a new catalogue ``out``."""
  cat = load_catalogue(source, load_indexes=False, verify="none")
  writer = open_writer(cfg, exp, out)
  try:
    for s in range(0, order.size, chunk):
      rows = order[s:s + chunk]
      ids = [cat.ids[i] for i in rows]
      labels = [cat.labels_of(i) for i in rows] if cat.has_labels else None
      held = cat.modalities
      emb = [gather_rows(cat.embeddings(m), rows) if m in held else None
             for m in ("audio", "visual")]
      timelines = ([cat.timelines(m) if m in held else None for m in ("audio", "visual")]
                   if cat.has_timelines else [])
      some = [t for t in timelines if t is not None]
      if some and isinstance(some[0], compact.CompactTimelines):
        writer.add(ids, *emb, *(None if t is None else t.encoded(rows) for t in timelines),
                   cat.num_frames[rows], labels=labels)
      elif some:
        writer.add(ids, *emb, *(None if t is None else gather_rows(t, rows)
                                for t in timelines), cat.num_frames[rows], labels=labels)
      else:
        writer.add(ids, *emb, labels=labels)
  except BaseException:
    writer.abort()
    raise
  return writer.close()


def build_pipeline(p: beam.Pipeline, cfg, files: List[Tuple[str, int]], shards: str):
  """Adds the embedding steps to pipeline ``p`` (see the module docstring)."""
  handler = EncodeRecords(cfg.export_dir, cfg.batch_size, cfg.timelines,
                          cfg.skip_bad_records, cfg.timeline_dtype, cfg.timeline_pool,
                          cfg.modality_list)
  return (p
          | "Files" >> beam.Create(files)
          | "Spread" >> beam.Reshuffle()
          | "ReadRecords" >> beam.ParDo(ReadRecords())
          | "Encode" >> RunInference(handler)
          | "ToExample" >> beam.Map(to_example)
          | "WriteShards" >> beam.io.WriteToTFRecord(
              os.path.join(shards, SHARD_PREFIX), file_name_suffix=".tfrecord"))


def _skipped(result) -> int:
  query = result.metrics().query(beam.metrics.MetricsFilter()
                                 .with_namespace(METRICS_NAMESPACE)
                                 .with_name(BAD_RECORDS_COUNTER))
  return int(sum((c.committed if c.committed is not None else c.attempted) or 0
                 for c in query["counters"]))


def embed_with_beam(cfg, exp: LoadedExport, out: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """Runs the pipeline on ``cfg.runner`` and writes the index folder ``out``.

  Args:
    cfg: the :class:`~yt8m_crossmodal.jobs.embed.EmbedConfig`.
    exp: the export, loaded here too (its description goes into meta.json).
    out: the (temporary) index folder to create.

  Returns:
    ``(meta, extra)``: the folder's meta.json contents and
    ``{"bad_records_skipped": n}``.

  Raises:
    UsageError: a bad record (without ``--skip_bad_records``) or bad
      pipeline options.
  """
  files = pipeline.list_files(cfg.data)
  sizes = [int(tf.io.gfile.stat(f).length) for f in files]
  shards = cfg.beam_temp_dir or f"{out}-shards"
  shards = os.path.join(shards, f"yt8m-embed-{uuid.uuid4().hex[:8]}")
  try:
    options = PipelineOptions(shlex.split(cfg.pipeline_options), runner=cfg.runner)
  except SystemExit as e:  # argparse's answer to an option it cannot read.
    raise UsageError(f"--pipeline_options: cannot read {cfg.pipeline_options!r}") from e
  tf.io.gfile.makedirs(shards)
  try:
    try:
      p = beam.Pipeline(options=options)
      build_pipeline(p, cfg, list(zip(files, sizes)), shards)
      result = p.run()
      result.wait_until_finish()
    except Exception as e:  # pylint: disable=broad-except
      message = pipeline.bad_record_message(e)
      if message:  # Without the runner's " [while running '<step>']".
        raise UsageError(message.split(" [while running")[0]) from None
      raise
    skipped = _skipped(result)
    logging.info("Beam pipeline done on %s (%d bad records skipped); assembling %s",
                 cfg.runner, skipped, out)
    duplicates: Dict[str, int] = {}
    meta = assemble(cfg, exp, os.path.join(shards, f"{SHARD_PREFIX}-*"), files, out,
                    duplicates)
  finally:
    if tf.io.gfile.exists(shards):
      tf.io.gfile.rmtree(shards)
    parent = os.path.dirname(shards)
    if not cfg.beam_temp_dir and tf.io.gfile.exists(parent):
      tf.io.gfile.rmtree(parent)
  return meta, {"bad_records_skipped": skipped,
                "duplicate_ids_skipped": duplicates.get("skipped", 0)}
