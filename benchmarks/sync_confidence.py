"""How far ``yt8m-sync``'s confidence can be trusted: aligned vs unaligned soundtracks.

Runs ``yt8m-sync``'s library (:class:`yt8m_crossmodal.jobs.sync.Synchronizer`)
on a set whose truth file (``yt8m-synth``'s ``<prefix>_offsets.json``) gives each
soundtrack's lateness and lists the soundtracks laid over footage they do not
belong to (``unrelated``), and prints one JSON line:

- ``auc``: ROC AUC of the confidence, aligned against unaligned;
- ``aligned_answered`` / ``unaligned_refused``: at ``--min_confidence``;
- ``exact`` / ``within_1s``: the best offset on aligned soundtracks;
  ``answered_exact``: exact among the answered ones;
- ``ece``: expected calibration error of the confidence as the probability
  that the answer is right (aligned and exact), 10 equal-width bins;
- with ``--drift`` (sets made with ``yt8m-synth --drift_rate``):
  ``drift_within_1s``, the model chosen, answered, and the answered paths
  placed wrong (:func:`yt8m_crossmodal.evaluation.calibration.score_drift`);
- ``--lines=FILE``: ``yt8m-sync``'s lines, to score again without encoding;
- ``unaligned_answered_at``: unaligned soundtracks answered at thresholds c
  (the p-value promises at most 1 - c);
- ``--png``: the reliability diagram and that null calibration
  (:func:`yt8m_crossmodal.evaluation.calibration.plot_reliability`);
  ``--plot_from=FILE.jsonl --png=OUT.png`` draws the lines this benchmark
  printed into one figure (``--title``), one curve per line.

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
from yt8m_crossmodal.jobs.sync import SyncConfig, Synchronizer  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--export_dir")
  parser.add_argument("--data")
  parser.add_argument("--offsets_file")
  parser.add_argument("--name", default="", help="the line's name in --plot_from figures")
  parser.add_argument("--plot_from", default="")
  parser.add_argument("--max_offset", type=int, default=5)
  parser.add_argument("--min_overlap", type=int, default=0)
  parser.add_argument("--drift", action="store_true",
                      help="yt8m-sync --drift; adds calibration.score_drift's figures")
  parser.add_argument("--excerpt_start", type=int, default=0)
  parser.add_argument("--excerpt_seconds", type=int, default=0)
  parser.add_argument("--min_confidence", type=float, default=estimator.MIN_CONFIDENCE)
  parser.add_argument("--max_videos", type=int, default=0)
  parser.add_argument("--png", default="")
  parser.add_argument("--lines", default="", help="also write yt8m-sync's lines here (JSONL)")
  parser.add_argument("--title", default="")
  args = parser.parse_args()
  if args.plot_from:
    with open(args.plot_from) as f:
      results = [json.loads(line) for line in f if line.strip()]
    calibration.plot_reliability({r.get("name") or r["data"]: r for r in results},
                                 args.png, args.title)
    return
  if not (args.export_dir and args.data and args.offsets_file):
    parser.error("--export_dir, --data and --offsets_file are required")
  truth = calibration.read_truth(args.offsets_file)
  cfg = SyncConfig(export_dir=args.export_dir, data=args.data, max_offset=args.max_offset,
                   excerpt_start=args.excerpt_start, excerpt_seconds=args.excerpt_seconds,
                   min_confidence=args.min_confidence, max_videos=args.max_videos,
                   min_overlap=args.min_overlap, drift=args.drift)
  lines = [l for l in Synchronizer(cfg)() if l["status"] != "error"]
  if args.lines:
    with open(args.lines, "w") as f:
      f.writelines(json.dumps(l) + "\n" for l in lines)
  result = calibration.score_answers(lines, truth, args.min_confidence)
  if args.drift:
    frames = {l["id"]: l["audio_seconds"][1] + args.max_offset for l in lines}
    result.update(calibration.score_drift(lines, truth, frames))
  result.update({"name": args.name, "data": args.data, "max_offset": args.max_offset,
                 "min_overlap": args.min_overlap, "excerpt_seconds": args.excerpt_seconds})
  if args.png:
    calibration.plot_reliability({args.name or args.data: result}, args.png,
                                 args.title or args.data)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
