"""How much the sample data looks like real features: statistics side by side.

Per-second audio (10-second windows, each centred on its own mean; see
:func:`yt8m_crossmodal.data.statistics.window_statistics`) of real AudioSet
clips (``--data_dir``/audioset-bal-train, the feature YouTube-8M ships as
``audio``) and of every ``yt8m-synth`` family; and, of video-level means
(real: ``--data_dir``/yt8m-2018-video), the canonical correlations between
``mean_audio`` and ``mean_rgb`` (fitted on half the videos, measured on the
other half) and the spread of the means.

``distance`` is the mean over the figures of |family - real| / tolerance
(tolerances in :data:`TOLERANCE`): below 1, every figure is about as close as
its tolerance on average.

  python benchmarks/realism.py --data_dir=../shared/data
"""

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from yt8m_crossmodal.data import audioset  # noqa: E402
from yt8m_crossmodal.data import features as feat  # noqa: E402
from yt8m_crossmodal.data import pipeline  # noqa: E402
from yt8m_crossmodal.data import statistics  # noqa: E402
from yt8m_crossmodal.data import synthetic  # noqa: E402

FAMILIES = ("texture", "events", "music_over", "realistic")
TOLERANCE = {"cosine_1": 0.05, "cosine_5": 0.05, "within_share": 0.05, "top_share": 0.05,
             "dim_std": 0.1, "saturated": 0.05, "cc_1": 0.1, "cc_2_5": 0.1, "cc_6_10": 0.1,
             "mean_audio_std": 0.1, "mean_visual_std": 0.1}
COLUMNS = tuple(TOLERANCE)


def video_level_figures(audio_means, visual_means):
  cc = statistics.held_out_canonical_correlations(audio_means, visual_means, dims=10)
  return {"cc_1": float(cc[0]), "cc_2_5": float(cc[1:5].mean()), "cc_6_10": float(cc[5:10].mean()),
          "mean_audio_std": float(np.std(audio_means, axis=0).mean()),
          "mean_visual_std": float(np.std(visual_means, axis=0).mean())}


def real_figures(data_dir, clips_limit, videos_limit):
  clips = audioset.read_audio_clips(os.path.join(data_dir, "audioset-bal-train", "*.tfrecord"),
                                    limit=clips_limit)
  row = statistics.window_statistics(clips)
  ds = pipeline.make_dataset(os.path.join(data_dir, "yt8m-2018-video", "*.tfrecord"),
                             feature_level="video", batch_size=512)
  a, v = [], []
  for batch in ds:
    a.append(batch["audio"].numpy())
    v.append(batch["visual"].numpy())
    if sum(len(x) for x in a) >= videos_limit:
      break
  row.update(video_level_figures(np.concatenate(a)[:videos_limit],
                                 np.concatenate(v)[:videos_limit]))
  return row


def family_figures(family, videos, seconds, clips_limit):
  cfg = synthetic.SynthConfig(preset=family, num_videos=videos, min_frames=seconds,
                              max_frames=seconds, seed=11, unrelated_fraction=0.0)
  clips, a, v = [], [], []
  for video in synthetic.generate_videos(cfg):
    if len(clips) < clips_limit:
      clips.append(video.audio)
    a.append(feat.dequantize(video.audio).mean(0))
    v.append(feat.dequantize(video.visual).mean(0))
  row = statistics.window_statistics(clips)
  row.update(video_level_figures(np.stack(a), np.stack(v)))
  return row


def distance(row, real):
  return float(np.mean([abs(row[k] - real[k]) / TOLERANCE[k] for k in COLUMNS]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=os.path.normpath(os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")))
  parser.add_argument("--families", default=",".join(FAMILIES))
  parser.add_argument("--videos", type=int, default=2000,
                      help="sample videos per family (video-level figures)")
  parser.add_argument("--seconds", type=int, default=40, help="length of each sample video")
  parser.add_argument("--clips", type=int, default=3000,
                      help="clips for the per-second figures (real and sample)")
  args = parser.parse_args()
  start = time.time()
  try:
    real = real_figures(args.data_dir, args.clips, args.videos)
  except FileNotFoundError as e:
    sys.exit(f"error: the real records are missing ({e}); pass --data_dir=<folder holding "
             "audioset-bal-train/ and yt8m-2018-video/> (the project's ../shared/data)")
  table = {"real": real}
  for family in filter(None, args.families.split(",")):
    table[family] = family_figures(family, args.videos, args.seconds, args.clips)
    table[family]["distance"] = distance(table[family], real)
  print(f"{'data':<12}" + "".join(f"{c:>15}" for c in COLUMNS + ("distance",)))
  for name, row in table.items():
    print(f"{name:<12}" + "".join(f"{row[c]:>15.3f}" if c in row else f"{'-':>15}"
                                  for c in COLUMNS + ("distance",)))
  print(f"total {time.time() - start:.0f}s")
  print(json.dumps({k: {c: round(float(x), 4) for c, x in r.items()} for k, r in table.items()}))


if __name__ == "__main__":
  main()
