"""Input-pipeline speed: raw TFRecord reads vs starter-code style vs ours.

Writes (or reuses) frame-level shards made by ``yt8m-synth`` and measures, in
one run and on the same files, records per second of

- ``raw``: ``tf.data.TFRecordDataset`` over the files, batched, bytes only;
- ``starter``: the YT-8M starter code's way: parse each example on its own,
  dequantize to float32 in the pipeline, pad every video to ``max_frames``,
  batch;
- ``ours``: :func:`yt8m_crossmodal.data.pipeline.make_dataset` as training uses
  it (shuffle, interleave, provenance and validation of every record, uint8
  features padded to the longest video of the batch);
- ``ours_float``: ours with ``dequantize=True`` (float32 in the pipeline),
  the measurement behind travelling quantized.

Each rate is the best of ``--repeats`` full passes, the pipelines taking turns
so that machine noise hits all of them alike. The last line is one JSON object.

  python benchmarks/input_pipeline.py --data_dir=/tmp/yt8m_bench
"""

import argparse
import json
import os
import time

import tensorflow as tf

from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.jobs import synth as synth_job


def starter_dataset(files, batch_size, max_frames, num_classes):
  """Per-example parsing in the style of the YT-8M starter code (readers.py)."""

  def parse(serialized):
    context, seq = tf.io.parse_single_sequence_example(
        serialized,
        context_features={"id": tf.io.FixedLenFeature([], tf.string),
                          "labels": tf.io.VarLenFeature(tf.int64)},
        sequence_features={
            "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
            "audio": tf.io.FixedLenSequenceFeature([], tf.string)})
    def get(name, dim):
      x = tf.reshape(tf.io.decode_raw(seq[name], tf.uint8), [-1, dim])
      x = x[:max_frames]
      n = tf.shape(x)[0]
      x = feat.dequantize(x)
      return tf.pad(x, [[0, max_frames - n], [0, 0]]), n
    rgb, n = get("rgb", feat.VISUAL_DIM)
    audio, _ = get("audio", feat.AUDIO_DIM)
    labels = tf.sparse.to_indicator(context["labels"], num_classes)
    return {"id": context["id"], "visual": rgb, "audio": audio, "num_frames": n,
            "labels": tf.cast(labels, tf.float32)}

  ds = tf.data.TFRecordDataset(files)
  ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def count(ds):
  n = 0
  for batch in ds:
    n += int((batch["id"] if isinstance(batch, dict) else batch).shape[0])
  return n


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default="/tmp/yt8m_bench_input")
  parser.add_argument("--num_videos", type=int, default=1000)
  parser.add_argument("--num_shards", type=int, default=4)
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()

  pattern = os.path.join(args.data_dir, "bench*.tfrecord")
  try:
    files = pipeline.list_files(pattern)
  except FileNotFoundError:
    files = []
  if len(files) != args.num_shards:
    print(f"writing {args.num_videos} videos into {args.num_shards} shards ...", flush=True)
    synth_job.write_dataset(synthetic.SynthConfig(
        output_dir=args.data_dir, prefix="bench", num_videos=args.num_videos,
        num_shards=args.num_shards, seed=7))
    files = pipeline.list_files(pattern)
  size_mb = sum(tf.io.gfile.stat(f).length for f in files) / 1e6

  pipelines = {
      "raw": lambda: tf.data.TFRecordDataset(files).batch(args.batch_size),
      "starter": lambda: starter_dataset(files, args.batch_size, 300, 3862),
      "ours": lambda: pipeline.make_dataset(
          pattern, batch_size=args.batch_size, shuffle_buffer=1024, seed=1),
      "ours_float": lambda: pipeline.make_dataset(
          pattern, batch_size=args.batch_size, shuffle_buffer=1024, seed=1,
          dequantize=True),
  }
  best = {name: 0.0 for name in pipelines}
  records = {}
  count(pipelines["raw"]())  # Warm the page cache.
  for _ in range(args.repeats):
    for name, make in pipelines.items():
      ds = make()
      start = time.perf_counter()
      records[name] = count(ds)
      best[name] = max(best[name], records[name] / (time.perf_counter() - start))
  if len(set(records.values())) != 1:
    raise SystemExit(f"pipelines disagree on the record count: {records}")

  raw = best["raw"]
  print(f"files: {len(files)} shards, {records['raw']} videos, {size_mb:.0f} MB")
  for name, rate in best.items():
    print(f"{name:>10}: {rate:8.0f} records/s  ({rate / raw:.2f} x raw)")
  result = {
      "raw_rps": round(raw, 1),
      "starter_rps": round(best["starter"], 1),
      "ours_rps": round(best["ours"], 1),
      "ours_float_rps": round(best["ours_float"], 1),
      "starter_over_raw": round(best["starter"] / raw, 3),
      "ours_over_raw": round(best["ours"] / raw, 3),
      "ours_float_over_raw": round(best["ours_float"] / raw, 3),
      "target_ours_over_raw": 0.6,
      "videos": records["raw"],
      "shards": len(files),
      "batch_size": args.batch_size,
      "cpus": os.cpu_count(),
  }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
