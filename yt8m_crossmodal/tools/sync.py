"""``yt8m-sync``: estimates each video's audio offset, or says it cannot.

Example::

  # each video's own tracks, full length, offsets up to 5 s
  yt8m-sync --export_dir=saved_models/temporal --data='/data/clips/*.tfrecord'
  # audio from one set of records, pictures from another (paired by id),
  # a 20-second excerpt starting at second 30
  yt8m-sync --export_dir=saved_models/temporal --audio_data='dub/*.tfrecord' \\
      --visual_data='orig/*.tfrecord' --excerpt_start=30 --excerpt_seconds=20

Prints one JSON line per video::

  {"id": "...", "offset_seconds": 2, "confidence": 0.99997, "p_value": 3e-05,
   "status": "synchronized", "audio_seconds": [5, 115], "best_offset_seconds": 2,
   "scores": {"-5": 0.01, ..., "5": -0.02}}

``offset_seconds`` > 0: the audio is late (shift it earlier by that much);
``null`` with ``"status": "cannot_synchronize"`` when the confidence (1 - a
p-value against each video's own null, the same on any data and model) is
below ``--min_confidence`` (0.99). ``--min_overlap`` allows any offset up to
the video's length with partial overlap; ``--drift`` adds the drift model. A video that cannot be read or paired gets ``"status":
"error"`` and an ``error`` message; the exit status is then 1. Details:
:mod:`yt8m_crossmodal.jobs.sync`.
"""

import json

from yt8m_crossmodal.jobs.config import SyncConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: SyncConfig) -> int:
  errors = 0
  import yt8m_crossmodal as ym
  for line in ym.sync_records(config):
    errors += line["status"] == "error"
    print(json.dumps(line), flush=True)
  return 1 if errors else 0


def cli():
  run_tool(SyncConfig, main)


if __name__ == "__main__":
  cli()
