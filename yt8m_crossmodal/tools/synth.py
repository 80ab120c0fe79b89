"""``yt8m-synth``: writes YouTube-8M-format sample data.

Example::

  yt8m-synth --output_dir=/tmp/yt8m/train --num_videos=1000 --num_shards=4
  yt8m-synth --output_dir=/tmp/yt8m/sync --prefix=validate --max_offset=5
  yt8m-synth --feature_level=video --release=2017 ...

Prints a JSON summary (files, videos, offsets file) as its last line.
"""

import json

from yt8m_crossmodal.data import synthetic
from yt8m_crossmodal.tools.runner import run_tool


def main(config: synthetic.SynthConfig) -> None:
  import yt8m_crossmodal as ym
  print(json.dumps(ym.make_sample_data(config)))


def cli():
  run_tool(synthetic.SynthConfig, main)


if __name__ == "__main__":
  cli()
