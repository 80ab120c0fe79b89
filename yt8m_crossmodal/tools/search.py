"""``yt8m-search``: cross-modal search of a catalogue with queries from records.

Example::

  yt8m-search --export_dir=saved_models/temporal --index=indexes/train \\
      --query_data='queries/*.tfrecord' --query_modality=audio --k=10
  # a 10-second audio clip (seconds 30..39 of each query), where does it fit?
  yt8m-search --export_dir=saved_models/temporal --index=indexes/train \\
      --query_data=... --query_modality=audio --query_start=30 --query_seconds=10 \\
      --rerank=50

``--export_dir`` is required: a SavedModel is a program, so only an export
you name is loaded, never the one an index's meta.json names.

What each flag does and the JSON line printed per query are described in
:mod:`yt8m_crossmodal.jobs.search`.
"""

from yt8m_crossmodal.jobs.config import SearchConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: SearchConfig):
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.jobs.search import json_line
  for line in ym.search(config):
    print(json_line(line), flush=True)


def cli():
  run_tool(SearchConfig, main)


if __name__ == "__main__":
  cli()
