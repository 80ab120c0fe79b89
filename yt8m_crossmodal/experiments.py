"""Named configurations of the experiments, as overrides of the Config defaults.

``yt8m-train --config=<name>`` starts from one (flags given on the command
line still override it); the benchmarks train them by name. An override
names config fields (``Config.replace``), so a name changes nothing else.
"""

from typing import Any, Dict

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal.errors import UsageError

# The timeline is the shared projection of the fused LSTM strides, trained
# with temporal triplets; the clip embedding is the LSTM clip alone.
_FUSED = {"timeline_source": "fused", "timeline_nce_weight": 0.0, "temporal_weight": 0.2,
          "clip_timeline_weight": 0.0}
# The local per-second timeline trained with temporal triplets, not InfoNCE.
_TRIPLETS = {"timeline_nce_weight": 0.0, "temporal_weight": 0.2}
_VIDEO = {"feature_level": "video"}

EXPERIMENTS: Dict[str, Dict[str, Any]] = {
    "default": {},
    # Frame level (temporal model).
    "per_second_nce": {"timeline_source": "local", "timeline_nce_weight": 1.0,
                       "temporal_weight": 0.0, "clip_timeline_weight": 1.0},
    "per_second_nce_lstm_clip": {"timeline_source": "local", "timeline_nce_weight": 1.0,
                                 "temporal_weight": 0.0, "clip_timeline_weight": 0.0},
    "fused_timeline": _FUSED,
    "fused_timeline_sync_loss": {**_FUSED, "sync_weight": 1.0},
    "fused_timeline_nce": {"timeline_source": "fused"},
    "temporal_triplets": _TRIPLETS,
    "temporal_triplets_sync_loss": {**_TRIPLETS, "sync_weight": 1.0},
    "temporal_triplets_sync_loss_near_negatives": {**_TRIPLETS, "sync_weight": 1.0,
                                                   "temporal_max_distance": 5},
    "temporal_triplets_sync_loss_reweight": {**_TRIPLETS, "sync_weight": 1.0,
                                             "sync_loss_reweight": True},
    "nce_and_temporal_triplets": {"temporal_weight": 0.2},
    "nce_and_sync_loss": {"sync_weight": 1.0},
    "local_timeline_mlp": {"timeline_hidden_units": 256},
    "local_timeline_k3": {"timeline_kernel": 3},
    "nce_temperature_0.05": {"timeline_nce_temperature": 0.05},
    "bfloat16": {"precision": "mixed_bfloat16"},
    "lstm_clip": {"clip_timeline_weight": 0.0},
    "clip_timeline_weight_2": {"clip_timeline_weight": 2.0},
    "clip_timeline_weight_4": {"clip_timeline_weight": 4.0},
    "mining_all": {"mining": "all"},
    # Video level.
    "video_residual": _VIDEO,
    "video_mlp": {**_VIDEO, "video_encoder": "mlp", "clip_loss": "triplet"},
    "video_no_linear_branch": {**_VIDEO, "video_linear_dims": 0},
    "video_triplet_clip_loss": {**_VIDEO, "clip_loss": "triplet"},
    "video_mlp_contrastive": {**_VIDEO, "video_encoder": "mlp"},
    "video_classification_0.1": {**_VIDEO, "classification_weight": 0.1,
                                 "classification_warmup_steps": 200},
    "video_temperature_0.05": {**_VIDEO, "clip_temperature": 0.05},
    "video_temperature_0.2": {**_VIDEO, "clip_temperature": 0.2},
    "video_two_blocks": {**_VIDEO, "video_blocks": 2},
    "video_no_input_dropout": {**_VIDEO, "video_input_dropout": 0.0},
    "video_batch_256": {**_VIDEO, "batch_size": 256},
    "video_epochs_20": {**_VIDEO, "epochs": 20},
    "video_batch_64_epochs_10": {**_VIDEO, "batch_size": 64, "epochs": 10,
                                 "learning_rate": 1e-3},
    "video_batch_1024": {**_VIDEO, "batch_size": 1024},
    "video_epochs_50": {**_VIDEO, "epochs": 50},
    "video_towers_2": {**_VIDEO, "video_towers": 2},
    "video_towers_3": {**_VIDEO, "video_towers": 3},
    "video_shared_label_0.5": {**_VIDEO, "clip_shared_label_weight": 0.5},
    "video_shared_label_0": {**_VIDEO, "clip_shared_label_weight": 0.0},
    "video_memory_2048": {**_VIDEO, "clip_memory_size": 2048},
    "video_linear_trainable": {**_VIDEO, "video_linear_trainable": True},
}


def overrides(name: str) -> Dict[str, Any]:
  """The fields experiment ``name`` sets; UsageError for an unknown name."""
  if name not in EXPERIMENTS:
    raise UsageError(f"--config must be one of {sorted(EXPERIMENTS)}, got {name!r}")
  return dict(EXPERIMENTS[name])


def get(name: str, base: config_lib.Config = None, **fields: Any) -> config_lib.Config:
  """``base`` (default: ``Config()``) with experiment ``name``, then ``fields``."""
  return (base or config_lib.Config()).replace(**{**overrides(name), **fields})
