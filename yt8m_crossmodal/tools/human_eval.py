"""``yt8m-human-eval``: human precision, nDCG and agreement from MTurk results.

Example::

  yt8m-human-eval --results='Batch_*_batch_results.csv' --output=eval/human.json \\
      --tensorboard_dir=eval/tensorboard/human

Reads MTurk's results download of a batch made from ``yt8m-evaluate``'s
``mturk_batch.csv`` and ``mturk_layout.html``; rejected assignments are left
out and malformed rows named. Prints a short report and, as its last line,
one JSON object (see :func:`yt8m_crossmodal.evaluation.human.summarize`;
``null`` where a figure is undefined). Exits with 2 on a usage error (no
file, not a results file).
"""

import json

from yt8m_crossmodal.jobs.config import HumanEvalConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: HumanEvalConfig):
  import yt8m_crossmodal as ym
  summary, text = ym.human_eval(config)
  print(text)
  print(json.dumps(summary))
  return 0


def cli():
  run_tool(HumanEvalConfig, main)


if __name__ == "__main__":
  cli()
