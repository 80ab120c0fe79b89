"""Encode latency: the exported SavedModel vs the in-process Keras encoders.

Builds the default model (``Config()`` defaults: 3 window strides x 2 LSTM
layers of 256 units, E = 256; random weights, which do not change the cost),
saves it and exports it with ``yt8m-export``'s code into a temporary folder
and times, on 300-second videos (dequantized features):

- ``batch1``: latency of one video, ``encode_audio`` + ``encode_visual``
  (median over ``--repeats`` calls after a warm-up);
- ``batch32``: throughput (videos/s) of batches of 32 videos (best of
  ``--repeats``, each run timing one batch through both encoders);

for the SavedModel (``tf.saved_model.load(...).signatures[...]``, as a
serving client inside Python calls it) and for the Keras encoders in the
process (wrapped in a ``tf.function``, the way training's validation
callback runs them: :func:`yt8m_crossmodal.evaluation.encode.keras_encode_fn`). The two
take turns so that machine noise hits both alike. The last stdout line is one
JSON object; ``*_ratio`` = SavedModel / Keras (latency: > 1 is slower;
throughput: < 1 is slower).

  python benchmarks/encode_latency.py [--frames=300] [--repeats=5]
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import config as config_lib  # noqa: E402
from yt8m_crossmodal import models  # noqa: E402
from yt8m_crossmodal.data.features import DIMS  # noqa: E402
from yt8m_crossmodal.jobs import export as export_job  # noqa: E402
from yt8m_crossmodal.evaluation.encode import keras_encode_fn  # noqa: E402
from yt8m_crossmodal.serving.signatures import ENCODE_SIGNATURES  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--frames", type=int, default=300)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  config = config_lib.Config()
  model = models.build_training_model(config)
  audio_encoder = model.get_layer(models.AUDIO_ENCODER_NAME)
  visual_encoder = model.get_layer(models.VISUAL_ENCODER_NAME)
  with tempfile.TemporaryDirectory() as tmp:
    # Export from a saved copy, as yt8m-export does: the in-process encoders
    # keep Keras' own kernel choice (cuDNN on a GPU).
    model_dir = os.path.join(tmp, "model")
    os.makedirs(model_dir)
    model.save(os.path.join(model_dir, "model.keras"))
    config_lib.save_config(config, os.path.join(model_dir, "config.json"))
    start = time.perf_counter()
    info = export_job.export_model_dir(export_job.ExportConfig(
        model_dir=model_dir, export_dir=os.path.join(tmp, "saved")))
    export_seconds = time.perf_counter() - start
    loaded = tf.saved_model.load(info["path"])
    sm = {m: loaded.signatures[ENCODE_SIGNATURES[m]] for m in ("audio", "visual")}
    keras_fns = {"audio": keras_encode_fn(audio_encoder),
                 "visual": keras_encode_fn(visual_encoder)}
    rng = np.random.default_rng(0)

    def inputs(batch):
      n = np.full([batch], args.frames, np.int32)
      return {m: (rng.uniform(-2, 2, (batch, args.frames, DIMS[m])).astype(np.float32), n)
              for m in ("audio", "visual")}

    def run_saved_model(x):
      for m in ("audio", "visual"):
        features, n = x[m]
        out = sm[m](**{m: tf.constant(features), "num_frames": tf.constant(n)})
        out["embedding"].numpy(), out["timeline"].numpy()

    def run_keras(x):
      for m in ("audio", "visual"):
        keras_fns[m](*x[m])

    runners = {"saved_model": run_saved_model, "keras": run_keras}
    x1, xb = inputs(1), inputs(args.batch)
    for run in runners.values():  # Warm-up: tracing, first allocations.
      run(x1)
      run(xb)
    latency = {name: [] for name in runners}
    throughput = {name: 0.0 for name in runners}
    for _ in range(args.repeats):
      for name, run in runners.items():
        t = time.perf_counter()
        run(x1)
        latency[name].append(time.perf_counter() - t)
      for name, run in runners.items():
        t = time.perf_counter()
        run(xb)
        throughput[name] = max(throughput[name], args.batch / (time.perf_counter() - t))

  lat = {name: statistics.median(v) * 1000 for name, v in latency.items()}
  print(f"default model (E={config.model.embedding_size}, strides "
        f"{config.model.window_strides}, {config.model.lstm_layers}x{config.model.lstm_units} "
        f"LSTM), {args.frames}-second videos, audio + visual; export took {export_seconds:.1f}s")
  for name in runners:
    print(f"{name:>12}: batch 1 {lat[name]:8.1f} ms/video   batch {args.batch} "
          f"{throughput[name]:7.2f} videos/s")
  result = {
      "frames": args.frames,
      "batch": args.batch,
      "saved_model_batch1_ms": round(lat["saved_model"], 2),
      "keras_batch1_ms": round(lat["keras"], 2),
      "batch1_latency_ratio": round(lat["saved_model"] / lat["keras"], 3),
      f"saved_model_batch{args.batch}_videos_per_s": round(throughput["saved_model"], 3),
      f"keras_batch{args.batch}_videos_per_s": round(throughput["keras"], 3),
      "throughput_ratio": round(throughput["saved_model"] / throughput["keras"], 3),
      "export_seconds": round(export_seconds, 2),  # Load + trace + write.
      "cpus": os.cpu_count(),
      "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
  }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
