"""``yt8m-synth``'s job: sample records written as shards, with their offsets file.

The videos come from :mod:`yt8m_crossmodal.data.synthetic` (``SynthConfig``
is its generator's config and the tool's flags).
"""

from __future__ import annotations

import json
import os
from typing import Dict

from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.data.synthetic import SynthConfig
from yt8m_crossmodal.progress import Progress


def write_dataset(cfg: SynthConfig) -> Dict[str, object]:
  """Writes the shards (and offsets.json when ``max_offset``); returns a summary."""
  import tensorflow as tf
  cfg.validate()
  tf.io.gfile.makedirs(cfg.output_dir)
  shards = min(cfg.num_shards, cfg.num_videos)
  paths = [os.path.join(cfg.output_dir, f"{cfg.prefix}{i:04d}.tfrecord")
           for i in range(shards)]
  writers = [tf.io.TFRecordWriter(p) for p in paths]
  serialize = synthetic.frame_example if cfg.feature_level == "frame" else synthetic.video_example
  offsets, unrelated, frames, drift = {}, [], [], {}
  bar = Progress("videos written", cfg.num_videos)
  try:
    for i, video in enumerate(synthetic.generate_videos(cfg)):
      writers[i % shards].write(serialize(video, cfg.release))
      bar.update(i + 1)
      offsets[video.id] = video.offset
      frames.append(len(video.visual))
      if not video.related:
        unrelated.append(video.id)
      if video.drift:
        drift[video.id] = {"late_at_start": -video.offset, "rate": video.drift}
  finally:
    bar.close()
    for w in writers:
      w.close()
  summary = {"files": paths, "videos": cfg.num_videos, "feature_level": cfg.feature_level,
             "release": cfg.release, "frames_total": int(sum(frames)),
             "unrelated_soundtracks": len(unrelated)}
  sidecar = os.path.join(cfg.output_dir, f"{cfg.prefix}_offsets.json")
  if (cfg.max_offset or cfg.preset != "texture" or cfg.unaligned_fraction > 0
      or cfg.drift_rate):
    with tf.io.gfile.GFile(sidecar + ".tmp", "w") as f:
      json.dump({"max_offset": cfg.max_offset,
                 "convention": "audio second t carries the content of video second t + offset",
                 "offsets": offsets,
                 # The sign of yt8m-sync and estimate_offset: + = audio late.
                 "audio_late_seconds": {k: -v for k, v in offsets.items()},
                 "unrelated": unrelated,
                 # Drifting soundtracks: picture second t is heard at audio second
                 # late_at_start + (1 + rate) t.
                 "drift": drift}, f)
    tf.io.gfile.rename(sidecar + ".tmp", sidecar, overwrite=True)
    summary["offsets_file"] = sidecar
  return summary
