"""yt8m-extract speed: media seconds per wall-clock second, per stage.

Usage::

  python benchmarks/extract.py                    # a 5-minute 640x360 30 fps video, 2 threads
  python benchmarks/extract.py --seconds=60 --threads=0   # shorter, every core

Writes a sample video (``yt8m_crossmodal.media.synthetic``: H.264 + AAC
stereo at 44.1 kHz, moving pictures and tones), and stand-ins of the weight
files at their published sizes (``yt8m_crossmodal.media.standins``: Keras'
InceptionV3 frozen into a GraphDef with the published tensor names, and a
VGGish checkpoint with every variable at its published shape, random
values; the real files cannot be downloaded here, and the networks' cost
does not depend on their values). Then extracts it once, in process, as
``yt8m-extract`` does, and prints one row per stage: seconds spent and media
seconds per wall-clock second of that stage alone (the stages run one after
the other, so the total rate is the harmonic combination). The last line is
JSON.

The stages: ``decode`` (PyAV: demux, decode every video frame, convert one
a second to RGB, resample the sound), ``pictures_network`` (the Inception
graph, one frame a second), ``log_mel`` (VGGish's front end), ``sound_network``
(VGGish), ``pca`` (both PCAs and quantization), ``write`` (the
SequenceExample, serialized and written to a shard). The header line gives
the load average: on a shared machine the figures are those of the share
this run got.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from yt8m_crossmodal import quiet  # noqa: E402  pylint: disable=wrong-import-position


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seconds", type=int, default=300, help="Length of the video.")
  parser.add_argument("--size", default="640x360", help="Width x height of the pictures.")
  parser.add_argument("--fps", type=float, default=30.0)
  parser.add_argument("--threads", type=int, default=2,
                      help="TensorFlow threads (intra and inter op); 0: TensorFlow's choice.")
  parser.add_argument("--work_dir", default="", help="Keep the video and weights here "
                      "(reused by the next run); default: a temporary folder.")
  args = parser.parse_args()
  quiet.load_tensorflow()
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  from yt8m_crossmodal.jobs.config import ExtractConfig  # pylint: disable=import-outside-toplevel
  from yt8m_crossmodal.jobs import extract_files  # pylint: disable=import-outside-toplevel
  from yt8m_crossmodal.media import extractor, standins, synthetic, weights  # pylint: disable=import-outside-toplevel

  work = args.work_dir or tempfile.mkdtemp(prefix="yt8m-extract-bench-")
  os.makedirs(work, exist_ok=True)
  try:
    width, height = (int(v) for v in args.size.split("x"))
    video = os.path.join(work, f"video_{args.seconds}s_{args.size}_{args.fps:g}fps.mp4")
    if not os.path.exists(video):
      t = time.time()
      synthetic.write_media(video, synthetic.SampleMedia(
          seconds=args.seconds, fps=args.fps, size=(width, height), sample_rate=44100,
          channels=2, tone_seconds=range(0, args.seconds, 3), noise_level=0.05))
      print(f"wrote {video} in {time.time() - t:.0f} s", file=sys.stderr)
    folder = os.path.join(work, "weights")
    if not os.path.exists(os.path.join(folder, weights.SUMS_FILE)):
      t = time.time()
      standins.write_weights_dir(folder, widths=None, pca="random",
                                 inception=standins.inception_v3_graph_bytes())
      print(f"wrote full-size stand-in weights in {time.time() - t:.0f} s", file=sys.stderr)
    t = time.time()
    nets = extractor.load_networks(weights.WeightStore(weights_dir=folder))
    load_seconds = time.time() - t
    cfg = ExtractConfig(input=video, output_dir=os.path.join(work, "out"), weights_dir=folder)
    job = extract_files.FileJob(0, video, "bench", 0)
    times = extractor.StageTimes()
    # One short warm-up file (traces the networks), then the timed run.
    extract_files.extract_one(job, nets, ExtractConfig(
        input=video, output_dir=cfg.output_dir, weights_dir=folder, max_seconds=2), None)
    os.makedirs(cfg.output_dir, exist_ok=True)
    start = time.time()
    record, entry = extract_files.extract_one(job, nets, cfg, times)
    with times.timed("write"):
      writer = extract_files.ShardWriter(cfg.output_dir, "bench", 0)
      writer.write(record)
      writer.close()
    total = time.time() - start
  finally:
    if not args.work_dir:
      shutil.rmtree(work, ignore_errors=True)
  media = float(args.seconds)
  rows = {stage: {"seconds": round(s, 2),
                  "media_seconds_per_second": round(media / s, 1) if s > 0 else None}
          for stage, s in times.seconds.items()}
  load = os.getloadavg()[0]
  print(f"{args.seconds} s of {args.size} {args.fps:g} fps H.264 + AAC, "
        f"{args.threads or 'all'} threads, {os.cpu_count()} cores (load average {load:.1f}); "
        f"networks loaded in {load_seconds:.1f} s")
  print(f"{'stage':18s} {'seconds':>8s} {'media s / s':>12s}")
  for stage, row in rows.items():
    rate = row["media_seconds_per_second"]
    shown = "-" if rate is None or rate > 10000 else rate
    print(f"{stage:18s} {row['seconds']:8.2f} {shown:>12}")
  print(f"{'total':18s} {total:8.2f} {media / total:12.1f}")
  print(json.dumps({"media_seconds": args.seconds, "size": args.size, "fps": args.fps,
                    "threads": args.threads, "stages": rows, "total_seconds": round(total, 2),
                    "media_seconds_per_second": round(media / total, 2),
                    "record_bytes": len(record or b""), "steps": entry["seconds"],
                    "network_load_seconds": round(load_seconds, 2),
                    "cores": os.cpu_count(), "load_average": round(load, 1)}))


if __name__ == "__main__":
  main()
