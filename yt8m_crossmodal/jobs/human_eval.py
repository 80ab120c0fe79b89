"""``yt8m-human-eval``'s job: MTurk results read, summarized and written."""

from __future__ import annotations

import json
from typing import Any, Dict, Tuple

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.evaluation import human
from yt8m_crossmodal.jobs.config import HumanEvalConfig


def human_eval(cfg: HumanEvalConfig) -> Tuple[Dict[str, Any], str]:
  """Reads the results files; writes ``--output`` and TensorBoard if asked.

  Returns:
    ``(summary, report)``: :func:`yt8m_crossmodal.evaluation.human.summarize`'s
    dict and its text report.
  """
  cfg.validate()
  results = human.read_results(human.expand(cfg.results))
  summary = human.summarize(results, cfg.relevant_rating)
  text = human.report(summary)
  if cfg.tensorboard_dir:
    human.write_tensorboard(summary, text, cfg.tensorboard_dir)
  if cfg.output:
    io_utils.atomic_write(cfg.output, json.dumps(summary, indent=2))
  return summary, text
