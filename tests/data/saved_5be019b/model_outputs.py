"""Outputs of the saved runs' model.keras on a fixed batch, by the code of 5be019b."""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np
from yt8m_crossmodal import models  # noqa: F401 (registers the classes)

root = sys.argv[1]
rng = np.random.default_rng(5)
batches = {
    "frame_run": {"audio": rng.integers(0, 256, (3, 14, 128)).astype("uint8"),
                  "visual": rng.integers(0, 256, (3, 14, 1024)).astype("uint8"),
                  "num_frames": np.array([14, 10, 7], "int32"),
                  "labels": (rng.random((3, 3862)) < 0.001).astype("float32")},
    "video_run": {"audio": rng.standard_normal((3, 128)).astype("float32"),
                  "visual": rng.standard_normal((3, 1024)).astype("float32"),
                  "num_frames": np.array([1, 1, 1], "int32"),
                  "labels": (rng.random((3, 3862)) < 0.001).astype("float32")},
}
out = {}
for name, batch in batches.items():
  np.savez(os.path.join(root, f"{name}_batch.npz"), **batch)
  model = keras.saving.load_model(os.path.join(root, name, "model.keras"), compile=False)
  y = model(batch, training=False)
  out[name] = {"loss": float(sum(keras.ops.convert_to_numpy(l) for l in model.losses)),
               "parts": {k: float(v) for k, v in y["loss_parts"].items()},
               "audio_embedding": np.asarray(y["audio_embedding"]).tolist(),
               "visual_embedding": np.asarray(y["visual_embedding"]).tolist()}
with open(os.path.join(root, "model_outputs.json"), "w") as f:
  json.dump(out, f, indent=1, sort_keys=True)
print({k: v["loss"] for k, v in out.items()})
