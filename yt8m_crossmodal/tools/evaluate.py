"""``yt8m-evaluate``: scores an exported model through its serving signatures.

Example::

  yt8m-evaluate --export_dir=saved_models/temporal \\
      --data='/data/yt8m/frame/validate00*.tfrecord' --output_dir=eval/temporal
  yt8m-evaluate --export_dir=saved_models/temporal/3 --data=... --max_videos=2000

The metrics and files are described in
:mod:`yt8m_crossmodal.jobs.evaluate`. The last stdout line is
one JSON object (NaN written as null).
"""

import json

from yt8m_crossmodal.jobs.config import EvaluateConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: EvaluateConfig) -> None:
  import yt8m_crossmodal as ym
  result = ym.evaluate(config)
  print(f"{result['num_videos']} videos, export {result['export']}")
  for name in ("a2v", "v2a"):
    print(f"{name}: R@1 {result.get(f'all/{name}/recall@1')}, "
          f"R@10 {result.get(f'all/{name}/recall@10')}, "
          f"median rank {result.get(f'all/{name}/median_rank')}")
  if "sync/exact" in result:
    print(f"sync: exact {result['sync/exact']}, within 1s {result['sync/within_1s']}")
  print(json.dumps(result, sort_keys=True))


def cli():
  run_tool(EvaluateConfig, main)


if __name__ == "__main__":
  cli()
