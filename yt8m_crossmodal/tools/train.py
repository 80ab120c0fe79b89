"""``yt8m-train``: trains a cross-modal model with ``model.fit``.

Example (real YT-8M frame-level data)::

  yt8m-train --train_data='gs://bucket/frame/train*.tfrecord' \\
      --validation_data='gs://bucket/frame/validate00*.tfrecord' \\
      --model_dir=runs/temporal --epochs=20 --steps_per_epoch=5000
  yt8m-train --model=video_level --feature_level=video ...   # the MLP baseline

Every flag is a field of :class:`yt8m_crossmodal.config.Config` with the same
name; ``--flagfile`` works too. What ``--model_dir`` receives is listed in
:mod:`yt8m_crossmodal.training.trainer`. Prints the last epoch's logs as one
JSON line.
"""

import json

from yt8m_crossmodal.config import Config
from yt8m_crossmodal.tools.runner import run_tool
from yt8m_crossmodal.training.trainer import train


def main(config: Config) -> None:
  print(json.dumps(train(config), sort_keys=True))


def cli():
  run_tool(Config, main)


if __name__ == "__main__":
  cli()
