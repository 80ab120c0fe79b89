"""``yt8m-embed``: embeds a corpus through an exported model into an index folder.

Example::

  yt8m-embed --export_dir=saved_models/temporal \\
      --data='/data/yt8m/frame/train*.tfrecord' --output=indexes/train \\
      --timelines --ann=hnsw

The index folder and the options are described in
:mod:`yt8m_crossmodal.jobs.embed`. The last stdout line is one JSON
object (the catalogue's meta.json plus ``path``, ``seconds``,
``videos_per_second``).
"""

import json

from yt8m_crossmodal.jobs.config import EmbedConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: EmbedConfig):
  import yt8m_crossmodal as ym
  summary = ym.embed(config)
  print(f"{summary['num_items']} videos embedded into {summary['path']} "
        f"(E={summary['embedding_size']}, timelines: {summary['has_timelines']}, "
        f"faiss: {sorted(summary.get('faiss') or {})})")
  print(json.dumps(summary, sort_keys=True))


def cli():
  run_tool(EmbedConfig, main)


if __name__ == "__main__":
  cli()
