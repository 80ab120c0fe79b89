"""``yt8m-train``: trains a cross-modal model with ``model.fit``.

Example (real YT-8M frame-level data)::

  yt8m-train --train_data='gs://bucket/frame/train*.tfrecord' \\
      --validation_data='gs://bucket/frame/validate00*.tfrecord' \\
      --model_dir=runs/temporal --epochs=20 --steps_per_epoch=5000
  yt8m-train --model=video_level --feature_level=video ...   # the MLP baseline

Every flag is a field of :class:`yt8m_crossmodal.config.Config` with the same
name; ``--flagfile`` works too. What ``--model_dir`` receives is listed in
:mod:`yt8m_crossmodal.jobs.train`. Prints the last epoch's logs as one
JSON line.

``--backend=jax|torch|tensorflow`` picks the Keras backend of the training
step (``auto``, the default: ``KERAS_BACKEND``). TensorFlow, imported before
the flags are read, has already started Keras on its backend, so another
backend replaces this process with the same command in a fresh interpreter
whose ``KERAS_BACKEND`` names it (:mod:`yt8m_crossmodal.training.backends`);
set ``KERAS_BACKEND`` yourself to skip that second start.
"""

import json
import os
import sys

from yt8m_crossmodal.config import Config
from yt8m_crossmodal.tools.runner import run_tool

MODULE = "yt8m_crossmodal.tools.train"


def main(config: Config) -> None:
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.training import backends
  from yt8m_crossmodal.training.trainer import validate_config
  t = config.train
  backend = backends.resolve(t.backend)
  if backend != backends.active():
    validate_config(config)  # Bad flags fail before the second start.
    argv, env = backends.switch_command(backend, MODULE)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
  print(json.dumps(ym.train(config), sort_keys=True))


def cli():
  run_tool(Config, main)


if __name__ == "__main__":
  cli()
