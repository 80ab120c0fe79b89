"""``yt8m-synth``: writes YouTube-8M-format sample data.

Example::

  yt8m-synth --output_dir=/tmp/yt8m/train --num_videos=1000 --num_shards=4
  yt8m-synth --output_dir=/tmp/yt8m/sync --prefix=validate --max_offset=5
  python -m yt8m_crossmodal.synth --feature_level=video --release=2017 ...

Prints a JSON summary (files, videos, offsets file) as its last line.
"""

import json

from yt8m_crossmodal import cli as cli_lib
from yt8m_crossmodal import flags
from yt8m_crossmodal.data import synthetic


def main(argv):
  if len(argv) > 1:
    raise cli_lib.UsageError(f"unexpected arguments: {argv[1:]}")
  summary = synthetic.write_dataset(flags.read(synthetic.SynthConfig))
  print(json.dumps(summary))


def cli():
  flags.define(synthetic.SynthConfig)
  cli_lib.run(main)


if __name__ == "__main__":
  cli()
