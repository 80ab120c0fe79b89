"""``yt8m-extract``: media files to YouTube-8M frame-level records.

Example::

  yt8m-extract --input='videos/*.mp4,songs/*.mp3' --output_dir=features --prefix=mine

Pictures at one frame a second through the 2015 Inception graph and
YouTube-8M's PCA (``rgb``), sound through VGGish and its PCA (``audio``),
as the published extractors make them; the weight files are downloaded on
first use into a cache (``--cache_dir``), or read from ``--weights_dir``
without a network. A file with only sound (a podcast) gives a record with
``audio`` alone, a silent one a record with ``rgb`` alone. Beside the
shards, ``<prefix>_manifest.jsonl`` says where each record came from. A file
that cannot be used is named in one line and skipped; the exit status is 1
when any was. The last stdout line is a JSON summary.
"""

import json

from yt8m_crossmodal.jobs.config import ExtractConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: ExtractConfig):
  import yt8m_crossmodal as ym
  summary = ym.extract(config)
  kinds = summary["kinds"]
  print(f"{summary['extracted']} of {summary['files']} file(s) extracted "
        f"({kinds['audio_and_visual']} with sound and pictures, {kinds['audio_only']} "
        f"sound only, {kinds['visual_only']} pictures only), {summary['media_seconds']} s of "
        f"media in {summary['seconds']:.1f} s into {len(summary['shards'])} shard(s); "
        f"manifest {summary['manifest']}")
  for failure in summary["failures"]:
    print(f"FAILED {failure['error']}")
  print(json.dumps(summary, sort_keys=True))
  return 1 if summary["failed"] else 0


def cli():
  run_tool(ExtractConfig, main)


if __name__ == "__main__":
  cli()
