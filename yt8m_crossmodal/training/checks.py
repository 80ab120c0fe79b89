"""The checks of a training config that need no TensorFlow (``yt8m-train`` runs
them before TensorFlow loads; :func:`yt8m_crossmodal.jobs.train.train`
first thing)."""

from __future__ import annotations

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import paths
from yt8m_crossmodal.training import backends


def validate_config(config: config_lib.Config) -> None:
  """Raises UsageError for a value that would fail, hang or mislead a run.

  The values are checked by :meth:`Config.validate`; this adds what depends
  on the machine (the backend is installed and fits the strategy).
  """
  config.validate()
  t = config.train
  if t.backend != "auto":
    backends.resolve(t.backend)
    backends.check_strategy(t.backend, t.distribution_strategy)
    backends.require_installed(t.backend)


def check_config(config: config_lib.Config) -> None:
  """:func:`validate_config`, then the paths: the local data patterns match
  files, ``--model_dir`` can be created (:func:`yt8m_crossmodal.paths.check_paths`).

  Raises:
    UsageError: naming the flag (a pattern that matches nothing: a
      ``PathNotFoundError``, also a ``FileNotFoundError``).
  """
  validate_config(config)
  paths.check_paths(config)
