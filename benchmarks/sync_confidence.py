"""How far ``yt8m-sync``'s confidence can be trusted: aligned vs unaligned soundtracks.

Runs ``yt8m-sync``'s library (:class:`yt8m_crossmodal.sync.synchronizer.Synchronizer`)
on a set whose truth file (``yt8m-synth``'s ``<prefix>_offsets.json``) gives each
soundtrack's lateness and lists the soundtracks laid over footage they do not
belong to (``unrelated``), and prints one JSON line:

- ``auc``: ROC AUC of the confidence, aligned against unaligned;
- ``aligned_answered`` / ``unaligned_refused``: at ``--min_confidence``;
- ``exact`` / ``within_1s``: the best offset on aligned soundtracks;
  ``answered_exact``: exact among the answered ones;
- ``ece``: expected calibration error of the confidence as the probability
  that the answer is right (aligned and exact), 10 equal-width bins;
- ``--png``: the reliability diagram (fraction right against confidence, bin
  sizes as bars).

  yt8m-synth --output_dir=/tmp/conf --prefix=test --preset=events --num_videos=300 \\
      --max_offset=5 --unaligned_fraction=0.35 --unaligned_kind=same_scenes
  python benchmarks/sync_confidence.py --export_dir=saved_models/temporal \\
      --data='/tmp/conf/test*.tfrecord' --offsets_file=/tmp/conf/test_offsets.json
"""

import argparse
import json
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from yt8m_crossmodal.evaluation import calibration  # noqa: E402
from yt8m_crossmodal.sync import estimator  # noqa: E402
from yt8m_crossmodal.sync.synchronizer import SyncConfig, Synchronizer  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--export_dir", required=True)
  parser.add_argument("--data", required=True)
  parser.add_argument("--offsets_file", required=True)
  parser.add_argument("--max_offset", type=int, default=5)
  parser.add_argument("--excerpt_start", type=int, default=0)
  parser.add_argument("--excerpt_seconds", type=int, default=0)
  parser.add_argument("--min_confidence", type=float, default=estimator.MIN_CONFIDENCE)
  parser.add_argument("--max_videos", type=int, default=0)
  parser.add_argument("--png", default="")
  parser.add_argument("--title", default="")
  args = parser.parse_args()
  truth = calibration.read_truth(args.offsets_file)
  cfg = SyncConfig(export_dir=args.export_dir, data=args.data, max_offset=args.max_offset,
                   excerpt_start=args.excerpt_start, excerpt_seconds=args.excerpt_seconds,
                   min_confidence=args.min_confidence, max_videos=args.max_videos)
  lines = [l for l in Synchronizer(cfg)() if l["status"] != "error"]
  result = calibration.score_answers(lines, truth, args.min_confidence)
  result.update({"data": args.data, "max_offset": args.max_offset,
                 "excerpt_seconds": args.excerpt_seconds})
  if args.png:
    calibration.plot_reliability(result["reliability"], args.png,
                                 args.title or os.path.basename(args.data))
  print(json.dumps(result))


if __name__ == "__main__":
  main()
