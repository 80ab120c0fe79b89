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
step (``auto``, the default: ``KERAS_BACKEND``). The flags are read and
checked before TensorFlow and Keras load, so the backend is set in
``KERAS_BACKEND`` before Keras starts on it (should Keras already run on
another one, the process is replaced by the same command in a fresh
interpreter: :mod:`yt8m_crossmodal.training.backends`).
"""

import json
import os
import sys

from yt8m_crossmodal.config import Config
from yt8m_crossmodal.tools.runner import run_tool

MODULE = "yt8m_crossmodal.tools.train"


def check(config: Config) -> None:
  """The config's checks (before TensorFlow loads); then the backend is set."""
  from yt8m_crossmodal.training import checks
  checks.check_config(config)
  if config.train.backend != "auto" and "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = config.train.backend  # Before Keras starts.


def main(config: Config) -> None:
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.training import backends
  backend = backends.resolve(config.train.backend)
  if backend != backends.active():
    argv, env = backends.switch_command(backend, MODULE)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
  print(json.dumps(ym.train(config), sort_keys=True))


def cli():
  run_tool(Config, main, check=check)


if __name__ == "__main__":
  cli()
