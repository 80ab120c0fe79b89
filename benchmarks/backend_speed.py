"""Training throughput of the temporal model per Keras backend, in one run.

Each backend (``--backends``, default: every one installed of tensorflow,
jax, torch) trains in a process of its own (the backend is fixed when Keras is
imported) with ``model.fit`` and the training optimizer (AdamW, clipping,
warm-up and cosine schedule):

- ``memory``: the same few random uint8 batches over and over from a Python
  generator (no TensorFlow imported: this mode runs where only JAX or only
  PyTorch is installed);
- ``files``: :func:`yt8m_crossmodal.training.trainer.train_dataset`, the real
  ``tf.data`` pipeline (read, shuffle, parse, validate, batch) over
  ``yt8m-synth`` shards of the same video length (needs TensorFlow);
- ``pipeline``: that pipeline alone, iterated without training: records/s,
  and records/s per CPU core (``os.sched_getaffinity``), next to the step
  rate it has to feed.

``input_wait_share`` is the share of a ``files`` step spent waiting for input,
``1 - memory step time / files step time`` (the steps are the same but for
where the batch comes from). On a CPU the pipeline and the model share the
cores, so this share is an upper bound for an accelerator host.

Only the steps after ``--warmup`` are timed (a callback stamps the end of
every batch: compilation and start-up are excluded); each figure is the best
of ``--repeats``. Shapes: ``--shape=reference`` is the issue-11 reference
(strides 1/5/15, 2 x LSTM-256 per stride, E = 256, batch 256, 300 frames,
batch-hard mining; 1873 examples/s under Keras-JAX on one H100),
``--shape=small`` a CPU-sized one; ``--batch_size``, ``--frames``,
``--lstm_units`` override either. ``--mixed_precision`` trains under the
``mixed_bfloat16`` policy (for accelerators; slow on most CPUs).
Human-readable lines first; the last line is one JSON object.

  python benchmarks/backend_speed.py --shape=small
  python benchmarks/backend_speed.py --shape=reference --backends=jax,torch --mixed_precision
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

SHAPES = {
    "reference": dict(batch_size=256, frames=300, lstm_units=256, projection_units=256,
                      embedding_size=256, lstm_layers=2, steps=20, warmup=5),
    "small": dict(batch_size=32, frames=60, lstm_units=32, projection_units=32,
                  embedding_size=32, lstm_layers=2, steps=10, warmup=3),
}
BACKENDS = ("tensorflow", "jax", "torch")
REFERENCE_JAX_H100 = 1873.0  # examples/s, issue 11 (Keras 3.15.1, one H100).


def installed(module):
  return importlib.util.find_spec(module) is not None


def cores():
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


# ----------------------------------------------------------------------------
# The worker: one backend, in its own process.


def _config(args):
  from yt8m_crossmodal import config as config_lib
  return config_lib.Config().replace(
      batch_size=args.batch_size, max_frames=args.frames, lstm_units=args.lstm_units,
      projection_units=args.projection_units, embedding_size=args.embedding_size,
      lstm_layers=args.lstm_layers, window_strides=(1, 5, 15), mining="batch_hard",
      shuffle_buffer=4 * args.batch_size, seed=1, warmup_steps=2)


def _random_batches(config, count, seed=0):
  """``count`` in-memory batches of full-length random uint8 videos."""
  import numpy as np
  from yt8m_crossmodal.data.features import AUDIO_DIM, VISUAL_DIM
  rng = np.random.default_rng(seed)
  d = config.data
  return [{"audio": rng.integers(0, 256, (d.batch_size, d.max_frames, AUDIO_DIM), np.uint8),
           "visual": rng.integers(0, 256, (d.batch_size, d.max_frames, VISUAL_DIM), np.uint8),
           "num_frames": np.full((d.batch_size,), d.max_frames, np.int32),
           "labels": np.zeros((d.batch_size, d.num_classes), np.float32)}
          for _ in range(count)]


def _cycle(batches):
  while True:
    for batch in batches:
      yield (batch,)  # Keras takes (inputs,) tuples from a generator.


def _timed_fit(model, data, warmup, steps):
  """Seconds of the ``steps`` batches after the first ``warmup``."""
  import keras
  import numpy as np
  stamps = []
  clock = keras.callbacks.LambdaCallback(
      on_train_batch_end=lambda batch, logs: stamps.append(time.perf_counter()))
  history = model.fit(data, epochs=1, steps_per_epoch=warmup + steps, callbacks=[clock],
                      shuffle=False, verbose=0)
  if not np.isfinite(history.history["loss"][-1]):
    raise SystemExit("training diverged (non-finite loss)")
  return stamps[-1] - stamps[warmup - 1]


def _ensure_records(config, args):
  """Frame-level shards of videos exactly ``frames`` long (written once)."""
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import synth as synth_job
  folder = os.path.join(args.data_dir, f"frames{args.frames}_videos{args.num_videos}")
  stamp = os.path.join(folder, "done")
  if not os.path.exists(stamp):
    print(f"  writing {args.num_videos} videos of {args.frames} s into {folder} ...",
          file=sys.stderr, flush=True)
    synth_job.write_dataset(synthetic.SynthConfig(
        output_dir=folder, prefix="speed", num_videos=args.num_videos, num_shards=4,
        min_frames=args.frames, max_frames=args.frames, seed=11))
    open(stamp, "w").close()
  return config.replace(train_data=os.path.join(folder, "speed*.tfrecord"))


def _pipeline_rate(dataset, batches, batch_size):
  """Records/s of ``batches`` batches of ``dataset`` (after one untimed batch)."""
  iterator = iter(dataset)
  next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * batch_size / (time.perf_counter() - start)


def worker(args):
  tf_before = "tensorflow" in sys.modules
  import keras
  from yt8m_crossmodal import models
  from yt8m_crossmodal.training.optimizer import make_optimizer
  if args.mixed_precision:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
  config = _config(args)
  keras.utils.set_random_seed(1)
  model = models.build_training_model(config)
  per_run = args.warmup + args.steps
  model.compile(optimizer=make_optimizer(config.train, per_run * 2 * (args.repeats + 1)))
  out = {"backend": keras.backend.backend(), "parameters": int(model.count_params()),
         "policy": keras.mixed_precision.global_policy().name}

  memory = _cycle(_random_batches(config, 4))
  start = time.perf_counter()
  _timed_fit(model, memory, 1, 1)  # Compiles (traces) outside the timed runs.
  out["first_steps_s"] = round(time.perf_counter() - start, 2)
  # Whether the in-memory path imported TensorFlow (Keras does, when it is
  # installed; --without_tensorflow shows the path needs none).
  out["memory_path_imported_tensorflow"] = "tensorflow" in sys.modules and not tf_before
  seconds = {"memory": []}
  dataset = None
  if not args.memory_only and installed("tensorflow"):
    from yt8m_crossmodal.data import pipeline
    from yt8m_crossmodal.training import trainer
    config = _ensure_records(config, args)
    dataset = trainer.train_dataset(config, repeat=True, bad_records=pipeline.BadRecordLog())
    seconds["files"] = []
  for _ in range(args.repeats):
    for name in seconds:
      data = memory if name == "memory" else dataset
      seconds[name].append(_timed_fit(model, data, args.warmup, args.steps))
  for name, values in seconds.items():
    out[f"{name}_examples_per_s"] = round(args.steps * args.batch_size / min(values), 1)
    out[f"{name}_ms_per_step"] = round(1000 * min(values) / args.steps, 1)
  if dataset is not None:
    rate = max(_pipeline_rate(dataset, args.steps, args.batch_size)
               for _ in range(args.repeats))
    out["pipeline_records_per_s"] = round(rate, 1)
    out["pipeline_records_per_s_per_core"] = round(rate / cores(), 1)
    out["input_wait_share"] = round(
        max(0.0, 1 - out["memory_ms_per_step"] / out["files_ms_per_step"]), 3)
    out["cores_to_feed_memory_rate"] = round(
        out["memory_examples_per_s"] / (rate / cores()), 2)
  print(json.dumps(out))


# ----------------------------------------------------------------------------
# The parent: one worker per backend (imports neither Keras nor TensorFlow).


def _run_backend(backend, args, argv):
  env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", *argv],
                        env=env, capture_output=True, text=True)
  took = time.perf_counter() - start
  if proc.returncode != 0:
    tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
    return {"backend": backend, "error": tail[0], "wall_s": round(took, 1)}
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  result["wall_s"] = round(took, 1)
  return result


def _describe(r, args):
  if "error" in r:
    return f"{r['backend']:>10}: failed: {r['error']}"
  line = (f"{r['backend']:>10}: memory {r['memory_examples_per_s']:8.1f} ex/s "
          f"({r['memory_ms_per_step']:.0f} ms/step)")
  if "files_examples_per_s" in r:
    line += (f" | tf.data {r['files_examples_per_s']:8.1f} ex/s, waiting for input "
             f"{100 * r['input_wait_share']:.0f}% | pipeline alone "
             f"{r['pipeline_records_per_s']:.0f} rec/s = "
             f"{r['pipeline_records_per_s_per_core']:.0f} rec/s/core")
  return line + f" | first steps {r['first_steps_s']:.1f} s"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
  parser.add_argument("--backends", default="",
                      help="comma-separated (default: every installed one)")
  parser.add_argument("--batch_size", type=int)
  parser.add_argument("--frames", type=int)
  parser.add_argument("--lstm_units", type=int)
  parser.add_argument("--steps", type=int, help="timed steps per run")
  parser.add_argument("--warmup", type=int, help="untimed steps per run")
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--mixed_precision", action="store_true",
                      help="the mixed_bfloat16 policy (accelerators)")
  parser.add_argument("--memory_only", action="store_true",
                      help="skip the tf.data runs (also skipped without TensorFlow)")
  parser.add_argument("--without_tensorflow", action="store_true",
                      help="block the tensorflow import in the workers (as on a host "
                      "without it): in-memory batches only")
  parser.add_argument("--data_dir", default="/tmp/yt8m_bench_backends")
  parser.add_argument("--num_videos", type=int, default=0,
                      help="videos in the shards (default: 8 batches)")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  for key, value in SHAPES[args.shape].items():
    if getattr(args, key, None) is None:
      setattr(args, key, value)
  args.num_videos = args.num_videos or 8 * args.batch_size
  if args.worker:
    if args.without_tensorflow:
      sys.modules["tensorflow"] = None  # Any import of it now fails.
    worker(args)
    return

  argv = [a for a in sys.argv[1:] if not a.startswith("--backends")]
  wanted = [b for b in args.backends.split(",") if b] or [
      b for b in BACKENDS if installed(b)]
  unknown = sorted(set(wanted) - set(BACKENDS))
  if unknown:
    parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
  print(f"shape {args.shape}: batch {args.batch_size}, {args.frames} frames, strides 1/5/15, "
        f"{args.lstm_layers} x LSTM-{args.lstm_units}, E = {args.embedding_size}, "
        f"batch_hard; {args.warmup} warm-up + {args.steps} timed steps, best of "
        f"{args.repeats}; {cores()} CPU core(s)"
        f"{'; mixed_bfloat16' if args.mixed_precision else ''}", flush=True)
  results = []
  for backend in wanted:
    if not installed(backend):
      results.append({"backend": backend, "error": f"{backend} is not installed"})
    else:
      results.append(_run_backend(backend, args, argv))
    print(_describe(results[-1], args), flush=True)
  if args.shape == "reference":
    print(f"reference: {REFERENCE_JAX_H100:.0f} examples/s under Keras-JAX on one H100 "
          "(compare on the same accelerator only)")
  print(json.dumps({"shape": args.shape, "batch_size": args.batch_size,
                    "frames": args.frames, "lstm_units": args.lstm_units,
                    "mixed_precision": args.mixed_precision, "cores": cores(),
                    "reference_jax_h100_examples_per_s": REFERENCE_JAX_H100,
                    "results": results}))


if __name__ == "__main__":
  main()
