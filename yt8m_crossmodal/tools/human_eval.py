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

import dataclasses
import json
import os

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.config import option
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import human
from yt8m_crossmodal.tools.runner import run_tool


@dataclasses.dataclass(frozen=True)
class HumanEvalConfig:
  """Options of ``yt8m-human-eval`` (each field is a flag of the same name)."""

  results: str = option("", "MTurk results file(s): comma-separated file patterns "
                        "(Batch_*_batch_results.csv).")
  output: str = option("", "Where the JSON goes too ('': stdout only).")
  relevant_rating: float = option(1.0, "A candidate is relevant when its mean rating "
                                  "(0 does not fit, 1 partly, 2 fits well) is >= this.")
  tensorboard_dir: str = option("", "Also write the report as a TensorBoard text summary "
                                "and the figures as scalars here ('': no).")


def main(config: HumanEvalConfig):
  if not config.results:
    raise UsageError("--results is required")
  if not 0.0 <= config.relevant_rating <= 2.0:
    raise UsageError(f"--relevant_rating must be in [0, 2], got {config.relevant_rating}")
  if config.output:  # Before the work: a folder that cannot be written fails now.
    io_utils.writable_dir(os.path.dirname(io_utils.abspath(config.output)),
                          "--output's folder")
  results = human.read_results(human.expand(config.results))
  summary = human.summarize(results, config.relevant_rating)
  text = human.report(summary)
  print(text)
  if config.tensorboard_dir:
    human.write_tensorboard(summary, text, config.tensorboard_dir)
  line = json.dumps(summary)
  if config.output:
    io_utils.atomic_write(config.output, json.dumps(summary, indent=2))
  print(line)
  return 0


def cli():
  run_tool(HumanEvalConfig, main)


if __name__ == "__main__":
  cli()
