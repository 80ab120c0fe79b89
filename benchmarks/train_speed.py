"""Training speed: ``model.fit`` fed from files vs from memory; cost of the strides.

Writes (or reuses) frame-level ``yt8m-synth`` shards and trains a small but
real temporal model (``--lstm_units`` 64, strides 1,5,15) with ``model.fit``:

(a) **files vs memory**: the real training pipeline
    (:func:`yt8m_crossmodal.training.trainer.train_dataset`: read, shuffle, parse,
    validate, batch) against the very same batches held in memory (the first
    ``warmup + steps`` batches of that pipeline, decoded once into a
    ``Dataset.cache()`` that is filled before timing, so the in-memory run
    does no reading or parsing). Same model, same batches, same number of
    steps; only the steps after ``--warmup`` are timed (a callback stamps the
    end of every batch, so pipeline start-up is excluded). The ratio
    ``files_over_memory`` (examples/s from files / from memory) says how much
    the input pipeline slows training down (target >= 0.95).
(b) **multi-stride cost**: step time of the model with strides 1,5,15 over the
    same model with stride 1 only, both on the in-memory batches.

The runs take turns ``--repeats`` times (the order rotates) and each figure
is the best of them; the ratios are also given as the median of the ratios
within each repeat, whose runs saw similar machine load. Human-readable lines first; the last
line is one JSON object.

  python benchmarks/train_speed.py --data_dir=/tmp/yt8m_bench_train
"""

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import config as config_lib  # noqa: E402
from yt8m_crossmodal import models  # noqa: E402
from yt8m_crossmodal.data import pipeline  # noqa: E402
from yt8m_crossmodal.data import synthetic  # noqa: E402
from yt8m_crossmodal.jobs import synth as synth_job  # noqa: E402
from yt8m_crossmodal.training import trainer  # noqa: E402
from yt8m_crossmodal.training.optimizer import make_optimizer  # noqa: E402


class BatchClock(keras.callbacks.Callback):
  """Wall-clock time at the end of every training batch."""

  def __init__(self):
    super().__init__()
    self.stamps = []

  def on_train_begin(self, logs=None):
    self.stamps = []

  def on_train_batch_end(self, batch, logs=None):
    self.stamps.append(time.perf_counter())


def timed_fit(model, dataset, warmup, steps):
  """Seconds for the ``steps`` batches after the first ``warmup``."""
  clock = BatchClock()
  history = model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps,
                      callbacks=[clock], verbose=0)
  if not np.isfinite(history.history["loss"][-1]):
    raise SystemExit("training diverged (non-finite loss)")
  if len(clock.stamps) != warmup + steps:
    raise SystemExit(f"expected {warmup + steps} batches, got {len(clock.stamps)}")
  return clock.stamps[-1] - clock.stamps[warmup - 1]


def build_model(config, total_steps):
  model = models.build_training_model(config)
  model.compile(optimizer=make_optimizer(config.train, total_steps))
  return model


def ensure_data(args):
  cfg = synthetic.SynthConfig(
      output_dir=args.data_dir, prefix="trainspeed", num_videos=args.num_videos,
      num_shards=args.num_shards, min_frames=args.min_frames,
      max_frames=args.max_frames, seed=11)
  stamp = os.path.join(args.data_dir, "trainspeed_config.json")
  wanted = json.dumps({k: v for k, v in vars(cfg).items() if k != "output_dir"},
                      sort_keys=True)
  if not (os.path.exists(stamp) and open(stamp).read() == wanted):
    print(f"writing {cfg.num_videos} videos of {cfg.min_frames}-{cfg.max_frames} s "
          f"into {cfg.num_shards} shards in {cfg.output_dir} ...", flush=True)
    synth_job.write_dataset(cfg)
    with open(stamp, "w") as f:
      f.write(wanted)
  return os.path.join(args.data_dir, "trainspeed*.tfrecord")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default="/tmp/yt8m_bench_train")
  parser.add_argument("--num_videos", type=int, default=512)
  parser.add_argument("--num_shards", type=int, default=4)
  parser.add_argument("--min_frames", type=int, default=60)
  parser.add_argument("--max_frames", type=int, default=120)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--shuffle_buffer", type=int, default=256)
  parser.add_argument("--lstm_units", type=int, default=64)
  parser.add_argument("--lstm_layers", type=int, default=config_lib.ModelConfig().lstm_layers,
                      help="default: the training default")
  parser.add_argument("--warmup", type=int, default=5, help="untimed steps per run")
  parser.add_argument("--steps", type=int, default=40, help="timed steps per run")
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  pattern = ensure_data(args)
  files = pipeline.list_files(pattern)
  size_mb = sum(tf.io.gfile.stat(f).length for f in files) / 1e6
  config = config_lib.Config().replace(
      train_data=pattern, batch_size=args.batch_size, shuffle_buffer=args.shuffle_buffer,
      lstm_units=args.lstm_units, projection_units=64, embedding_size=64,
      lstm_layers=args.lstm_layers, window_strides=(1, 5, 15), max_frames=args.max_frames,
      seed=1)
  single = config.replace(window_strides=(1,))
  per_run = args.warmup + args.steps
  total_steps = per_run * 3 * args.repeats + per_run

  keras.utils.set_random_seed(1)
  model = build_model(config, total_steps)
  model_single = build_model(single, total_steps)

  # The first warmup + steps batches of the real pipeline, decoded once.
  in_memory = trainer.train_dataset(config, repeat=True, bad_records=pipeline.BadRecordLog()).take(per_run).cache()
  held = 0
  nbytes = 0
  for batch in in_memory:
    held += 1
    nbytes += sum(int(np.prod(v.shape)) * v.dtype.size for v in batch.values())
  assert held == per_run, held
  in_memory = in_memory.prefetch(tf.data.AUTOTUNE)

  def from_files():
    # A fresh, identically seeded pipeline: the same batches in the same order.
    return trainer.train_dataset(config, repeat=True, bad_records=pipeline.BadRecordLog())

  print(f"data: {len(files)} shards, {args.num_videos} videos of {args.min_frames}-"
        f"{args.max_frames} s, {size_mb:.0f} MB; {held} batches of {args.batch_size} "
        f"held in memory ({nbytes / 1e6:.0f} MB, uint8 frames)", flush=True)
  print(f"model: lstm_units={args.lstm_units} x {args.lstm_layers} layer(s), projection 64, "
        f"embedding 64, strides 1,5,15; {model.count_params()} parameters; "
        f"{args.warmup} warm-up + {args.steps} timed steps per run, best of "
        f"{args.repeats}; shuffle buffer {args.shuffle_buffer}", flush=True)

  # Traces the train functions (first call) outside the timed runs.
  timed_fit(model, in_memory, 1, 1)
  timed_fit(model_single, in_memory, 1, 1)

  names = ["files", "memory", "single_stride"]
  runs = {"files": model, "memory": model, "single_stride": model_single}
  seconds = {name: [] for name in names}
  for r in range(args.repeats):
    order = names[r % 3:] + names[:r % 3]  # Rotate: no run always goes first.
    for name in order:
      ds = from_files() if name == "files" else in_memory
      took = timed_fit(runs[name], ds, args.warmup, args.steps)
      seconds[name].append(took)
      print(f"  repeat {r + 1}: {name:>13}: {args.steps} steps in {took:6.2f} s "
            f"({args.steps * args.batch_size / took:6.1f} examples/s)", flush=True)

  best = {k: min(v) for k, v in seconds.items()}
  eps = {k: args.steps * args.batch_size / v for k, v in best.items()}
  step_ms = {k: 1000 * v / args.steps for k, v in best.items()}
  files_over_memory = eps["files"] / eps["memory"]
  stride_cost = step_ms["memory"] / step_ms["single_stride"]
  # Ratios within each repeat (the runs of a repeat see similar machine load).
  paired_fm = float(np.median([m / f for f, m in zip(seconds["files"], seconds["memory"])]))
  paired_stride = float(np.median(
      [m / s for m, s in zip(seconds["memory"], seconds["single_stride"])]))
  print(f"(a) from files : {eps['files']:7.1f} examples/s ({step_ms['files']:.0f} ms/step, best)")
  print(f"    from memory: {eps['memory']:7.1f} examples/s ({step_ms['memory']:.0f} ms/step, best)")
  print(f"    files / memory = {files_over_memory:.3f} (best of each), "
        f"{paired_fm:.3f} (median per repeat); target >= 0.95")
  print(f"(b) strides 1,5,15: {step_ms['memory']:.0f} ms/step; stride 1 only: "
        f"{step_ms['single_stride']:.0f} ms/step; ratio {stride_cost:.2f} (best of each), "
        f"{paired_stride:.2f} (median per repeat)")
  result = {
      "files_examples_per_s": round(eps["files"], 1),
      "memory_examples_per_s": round(eps["memory"], 1),
      "files_over_memory": round(files_over_memory, 3),
      "files_over_memory_median_per_repeat": round(paired_fm, 3),
      "target_files_over_memory": 0.95,
      "multi_stride_ms_per_step": round(step_ms["memory"], 1),
      "single_stride_ms_per_step": round(step_ms["single_stride"], 1),
      "multi_over_single_stride_step_time": round(stride_cost, 3),
      "multi_over_single_stride_median_per_repeat": round(paired_stride, 3),
      "batch_size": args.batch_size,
      "shuffle_buffer": args.shuffle_buffer,
      "timed_steps": args.steps,
      "warmup_steps": args.warmup,
      "repeats": args.repeats,
      "videos": args.num_videos,
      "frames": [args.min_frames, args.max_frames],
      "lstm_units": args.lstm_units,
      "lstm_layers": args.lstm_layers,
      "cpus": os.cpu_count(),
      "load_average_1min": round(os.getloadavg()[0], 2),
  }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
