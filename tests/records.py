"""Builders of hand-made YT-8M records for tests."""

import numpy as np
import tensorflow as tf


def frame_record(video_id="vid", labels=(1,), frames=5, audio_frames=None, rgb_width=1024,
                 audio_width=128, id_key="id", seed=0, extra_context=None):
  """A frame-level SequenceExample; returns (bytes, rgb uint8 [T,1024], audio uint8)."""
  rng = np.random.default_rng(seed)
  audio_frames = frames if audio_frames is None else audio_frames
  rgb = rng.integers(0, 256, size=(frames, rgb_width), dtype=np.uint8)
  audio = rng.integers(0, 256, size=(audio_frames, audio_width), dtype=np.uint8)
  se = tf.train.SequenceExample()
  if video_id is not None:
    se.context.feature[id_key].bytes_list.value.append(video_id.encode())
  se.context.feature["labels"].int64_list.value.extend(labels)
  for key, values in (extra_context or {}).items():
    f = se.context.feature[key]
    if isinstance(values[0], float):
      f.float_list.value.extend(values)
    else:
      f.int64_list.value.extend(values)
  for row in rgb:
    se.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(row.tobytes())
  for row in audio:
    se.feature_lists.feature_list["audio"].feature.add().bytes_list.value.append(row.tobytes())
  return se.SerializeToString(), rgb, audio


def video_record(video_id="vid", labels=(1,), rgb=None, audio=None, id_key="id", seed=0):
  rng = np.random.default_rng(seed)
  rgb = rng.normal(size=1024).astype(np.float32) if rgb is None else np.asarray(rgb, np.float32)
  audio = rng.normal(size=128).astype(np.float32) if audio is None else np.asarray(audio, np.float32)
  ex = tf.train.Example()
  ex.features.feature[id_key].bytes_list.value.append(video_id.encode())
  ex.features.feature["labels"].int64_list.value.extend(labels)
  if len(rgb):
    ex.features.feature["mean_rgb"].float_list.value.extend(rgb.tolist())
  if len(audio):
    ex.features.feature["mean_audio"].float_list.value.extend(audio.tolist())
  return ex.SerializeToString(), rgb, audio


def write(path, records):
  with tf.io.TFRecordWriter(str(path)) as w:
    for r in records:
      w.write(r)
  return str(path)
