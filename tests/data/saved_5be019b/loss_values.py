"""Loss values of fixed batches, computed by the code of commit 5be019b."""
import json, sys, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from keras import ops
from yt8m_crossmodal import losses
from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.layers import frame_mask

out_dir = sys.argv[1]
rng = np.random.default_rng(0)
B, T, E, C, M = 4, 12, 6, 5, 3
def unit(x):
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype("float32")
inputs = dict(
    audio=unit(rng.standard_normal((B, E))), visual=unit(rng.standard_normal((B, E))),
    audio_timeline=unit(rng.standard_normal((B, T, E))),
    visual_timeline=unit(rng.standard_normal((B, T, E))),
    num_frames=np.array([12, 9, 7, 12], "int32"),
    labels=np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 0, 1]],
                    "float32"),
    window_uniform=np.array([0.1, 0.5, 0.9, 0.3], "float32"),
    audio_logits=rng.standard_normal((B, C)).astype("float32"),
    visual_logits=rng.standard_normal((B, C)).astype("float32"),
    audio_memory=unit(rng.standard_normal((M, E))),
    visual_memory=unit(rng.standard_normal((M, E))),
    memory_valid=np.array([True, True, False]))
np.savez(os.path.join(out_dir, "loss_batch.npz"), **inputs)

CASES = {
  "triplets_all_terms": (True, dict(
      clip_loss="triplet", mining="semi_hard", margin=0.15, exclude_shared_labels=True,
      temporal_weight=0.5, temporal_margin=0.25, temporal_guard=2, temporal_max_distance=4,
      sync_weight=0.3, sync_loss_offsets=2, sync_loss_window=4, sync_loss_temperature=0.1,
      sync_loss_center=True, sync_loss_reweight=True,
      timeline_nce_weight=1.5, timeline_nce_temperature=0.2, timeline_nce_seconds=6,
      classification_weight=0.4, classification_warmup_steps=0,
      audio_to_visual_weight=0.7, visual_to_audio_weight=1.3)),
  "contrastive_with_timelines": (True, dict(
      clip_loss="contrastive", clip_temperature=0.2, clip_shared_label_weight=0.3,
      clip_memory_size=3, temporal_weight=1.0, temporal_guard=1,
      sync_weight=0.5, sync_loss_center=False, sync_loss_reweight=False,
      sync_loss_offsets=3, sync_loss_window=5,
      timeline_nce_weight=0.8, timeline_nce_seconds=20,
      audio_to_visual_weight=1.2, visual_to_audio_weight=0.6)),
  "video_level_auto": (False, dict()),
  "video_level_triplet_all_one_way": (False, dict(
      clip_loss="triplet", mining="all", margin=0.3, visual_to_audio_weight=0.0,
      classification_weight=2.0)),
  "frame_defaults": (True, dict()),
  "batch_hard": (True, dict(clip_loss="triplet", mining="batch_hard", temporal_weight=0.2,
                            temporal_max_distance=3, timeline_nce_weight=0.0)),
}
results = {}
for name, (has_timelines, fields) in CASES.items():
  config = LossConfig(**fields)
  config.validate()
  x = losses.TermInputs(audio=inputs["audio"], visual=inputs["visual"], labels=inputs["labels"])
  if has_timelines:
    x.audio_timeline, x.visual_timeline = inputs["audio_timeline"], inputs["visual_timeline"]
    x.mask = frame_mask(inputs["num_frames"], T)
    x.window_uniform = inputs["window_uniform"]
  x.audio_logits, x.visual_logits = inputs["audio_logits"], inputs["visual_logits"]
  if fields.get("clip_memory_size"):
    x.audio_memory, x.visual_memory = inputs["audio_memory"], inputs["visual_memory"]
    x.memory_valid = inputs["memory_valid"]
  terms = config.terms(has_timelines)
  total, parts = losses.objective(x, terms)
  results[name] = {"has_timelines": has_timelines, "fields": fields,
                   "terms": [t.name for t in terms],
                   "total": float(total),
                   "parts": {k: float(v) for k, v in parts.items()},
                   "part_names": losses.part_names(terms)}
with open(os.path.join(out_dir, "loss_values.json"), "w") as f:
  json.dump(results, f, indent=1, sort_keys=True)
print("ok", {k: v["total"] for k, v in results.items()})

# The layer: two training calls (memory bank filled by the first, the
# classification ramp stepped), classifier weights fixed.
from yt8m_crossmodal.layers import CrossModalTripletLoss
layer_results = {}
for name, fields in {
    "layer_contrastive_memory": dict(clip_loss="contrastive", clip_memory_size=6,
                                     clip_shared_label_weight=0.5, classification_weight=1.0,
                                     classification_warmup_steps=2, timeline_nce_weight=0.0),
    "layer_triplet_timelines": dict(clip_loss="triplet", temporal_weight=0.5,
                                    sync_weight=0.2, sync_loss_window=4, sync_loss_offsets=2,
                                    timeline_nce_weight=1.0, timeline_nce_seconds=5,
                                    classification_weight=0.5, classification_warmup_steps=3,
                                    audio_to_visual_weight=0.4)}.items():
  layer = CrossModalTripletLoss(LossConfig(**fields))
  feed = {"audio_embedding": inputs["audio"], "visual_embedding": inputs["visual"],
          "labels": inputs["labels"]}
  if "triplet" in name:
    feed.update(audio_timeline=inputs["audio_timeline"],
                visual_timeline=inputs["visual_timeline"], num_frames=inputs["num_frames"])
  layer(feed)
  w = np.linspace(-1, 1, E * C, dtype="float32").reshape(E, C)
  layer.classifier.set_weights([w, np.linspace(0, 0.5, C, dtype="float32")])
  calls = []
  for _ in range(3):
    out = layer(feed, training=True)
    calls.append({"loss": float(layer.losses[0]),
                  "parts": {k: float(v) for k, v in out["loss_parts"].items()}})
  layer_results[name] = {"fields": fields, "calls": calls,
                         "metric_names": layer.metric_names}
with open(os.path.join(out_dir, "loss_layer_values.json"), "w") as f:
  json.dump(layer_results, f, indent=1, sort_keys=True)
print("layer ok")
