"""``yt8m-evaluate``: scores an exported model through its serving signatures.

Example::

  yt8m-evaluate --export_dir=saved_models/temporal \\
      --data='/data/yt8m/frame/validate00*.tfrecord' --output_dir=eval/temporal
  yt8m-evaluate --export_dir=saved_models/temporal/3 --data=... --max_videos=2000

First printed (and first in index.html): for each --pool_sizes entry, then
for all the videos, the R@1, R@5, R@10 and median rank of clip retrieval in
both directions (a2v: audio query, visual candidates; v2a: the reverse),
ranked as yt8m-search ranks (cosine - --hub_weight x hubness) and by plain
cosine. The metrics and files are described in
:mod:`yt8m_crossmodal.jobs.evaluate`. The last stdout line is one JSON object
with every figure (NaN written as null).
"""

import json

from yt8m_crossmodal.jobs.config import EvaluateConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: EvaluateConfig) -> None:
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.evaluation import reports
  result = ym.evaluate(config)
  print(f"{result['num_videos']} videos, export {result['export']}")
  print(reports.headline_text(result, config.pool_sizes))
  if "sync/exact" in result:
    print(f"sync: exact {result['sync/exact']:.3f}, within 1 s {result['sync/within_1s']:.3f}")
  print(json.dumps(result, sort_keys=True))


def cli():
  run_tool(EvaluateConfig, main)


if __name__ == "__main__":
  cli()
