"""Media extraction on Apache Beam (``yt8m-extract --runner=DirectRunner|...``).

The pipeline, for any Beam runner (DirectRunner here; the same options run
it on Dataflow, Flink or Spark)::

  Create(files) | Reshuffle            one element per media file, spread out
  | ParDo(ExtractFiles)                decode + features (networks loaded once
                                       per worker), (shard, record, entry)
  | GroupByKey(shard)
  | ParDo(WriteShard)                  each shard written aside and renamed into
                                       place, records in input order
  | Map(json) | WriteToText(<temp>)    the manifest entries

then the launching process writes ``<prefix>_manifest.jsonl`` in input
order, as the in-process path does: both give the same shards (same records,
same order) and the same manifest. The weight files are fetched and checked
in the launching process first (an absent or unreachable one stops the run
before the pipeline starts); each worker then reads them from its cache
(or ``--weights_dir``). A file that cannot be used is logged, counted (Beam
counter ``yt8m_extract/failed_files``) and listed in the manifest, as in
process.
"""

from __future__ import annotations

import json
import os
import shlex
import uuid
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import extract_files as extract_job
from yt8m_crossmodal.jobs.config import ExtractConfig
from yt8m_crossmodal.media import extractor as extractor_lib
from yt8m_crossmodal.media import weights as weights_lib

METRICS_NAMESPACE = "yt8m_extract"
FAILED_COUNTER = "failed_files"
_TIMES = "_stage_seconds"


class ExtractFiles(beam.DoFn):
  """FileJob -> (shard, (index, record or None, manifest entry))."""

  def __init__(self, cfg: ExtractConfig):
    super().__init__()
    self._cfg = cfg
    self._nets = None
    self._failed = beam.metrics.Metrics.counter(METRICS_NAMESPACE, FAILED_COUNTER)

  def setup(self):
    self._nets = extractor_lib.load_networks(extract_job.store_of(self._cfg),
                                             self._cfg.modality_list)

  def process(self, job: extract_job.FileJob) -> Iterable[Tuple[int, Tuple[int, Any, Dict]]]:
    times = extractor_lib.StageTimes()
    record, entry = extract_job.extract_one(job, self._nets, self._cfg, times)
    if record is None:
      self._failed.inc()
    entry[_TIMES] = times.seconds
    yield job.shard, (job.index, record, entry)


class WriteShard(beam.DoFn):
  """(shard, items) -> the shard written into --output_dir; yields the entries."""

  def __init__(self, output_dir: str, prefix: str):
    super().__init__()
    self._output_dir, self._prefix = output_dir, prefix

  def process(self, element) -> Iterable[Dict[str, Any]]:
    shard, items = element
    items = sorted(items, key=lambda item: item[0])
    writer = extract_job.ShardWriter(self._output_dir, self._prefix, shard)
    try:
      for _, record, entry in items:
        if record is not None:
          entry["record_index"] = writer.write(record)
          entry["shard"] = writer.name
      writer.close()
    except BaseException:
      writer.abort()
      raise
    for _, _, entry in items:
      yield entry


def build_pipeline(p: beam.Pipeline, cfg: ExtractConfig, jobs: Sequence[extract_job.FileJob],
                   entries_prefix: str):
  """Adds the extraction steps to ``p`` (see the module docstring)."""
  return (p
          | "Files" >> beam.Create(list(jobs))
          | "Spread" >> beam.Reshuffle()
          | "Extract" >> beam.ParDo(ExtractFiles(cfg))
          | "ByShard" >> beam.GroupByKey()
          | "WriteShards" >> beam.ParDo(WriteShard(cfg.output_dir, cfg.prefix))
          | "ToJson" >> beam.Map(lambda e: json.dumps(e, sort_keys=True))
          | "WriteEntries" >> beam.io.WriteToText(entries_prefix, file_name_suffix=".jsonl"))


def prepare_weights(cfg: ExtractConfig) -> Dict[str, str]:
  """Fetches and checks the weight files here; their digests."""
  store = extract_job.store_of(cfg)
  for modality in cfg.modality_list:
    for d in weights_lib.FOR_MODALITY[modality]:
      if d.members:
        for member in d.members:
          store.member(d, member)
      else:
        store.file(d)
  return dict(store.digests)


def extract_with_beam(cfg: ExtractConfig, jobs: Sequence[extract_job.FileJob]):
  """Runs the pipeline on ``cfg.runner``.

  Call :func:`prepare_weights` first (the launching process fetches and
  checks the weight files).

  Returns:
    ``(entries in input order, StageTimes summed over the files)``.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  try:
    options = PipelineOptions(shlex.split(cfg.pipeline_options), runner=cfg.runner)
  except SystemExit as e:
    raise UsageError(f"--pipeline_options: cannot read {cfg.pipeline_options!r}") from e
  temp = cfg.beam_temp_dir or os.path.join(cfg.output_dir, f".{cfg.prefix}.beam-tmp-"
                                           f"{uuid.uuid4().hex[:8]}")
  temp = os.path.join(temp, f"yt8m-extract-{uuid.uuid4().hex[:8]}")
  tf.io.gfile.makedirs(temp)
  try:
    p = beam.Pipeline(options=options)
    build_pipeline(p, cfg, jobs, os.path.join(temp, "entries"))
    p.run().wait_until_finish()
    entries: List[Dict[str, Any]] = []
    for name in sorted(tf.io.gfile.glob(os.path.join(temp, "entries*"))):
      with tf.io.gfile.GFile(name) as f:
        entries += [json.loads(line) for line in f if line.strip()]
  finally:
    tf.io.gfile.rmtree(temp)
    parent = os.path.dirname(temp)
    if not cfg.beam_temp_dir and tf.io.gfile.exists(parent):
      tf.io.gfile.rmtree(parent)
  order = {job.path: job.index for job in jobs}
  entries.sort(key=lambda e: order.get(e["path"], len(order)))
  times = extractor_lib.StageTimes()
  for e in entries:
    for stage, seconds in (e.pop(_TIMES, None) or {}).items():
      times.seconds[stage] = times.seconds.get(stage, 0.0) + seconds
  return entries, times
