"""The bodies of the console tools, one module a tool, over the library.

- :mod:`.train` (``yt8m-train``: prepare the run, build, fit);
  :mod:`.synth` (``yt8m-synth``);
- :mod:`.embed` (``yt8m-embed``; its Beam pipeline in :mod:`.embed_beam`);
- :mod:`.search` (``yt8m-search``); :mod:`.sync` (``yt8m-sync``);
- :mod:`.evaluate` (``yt8m-evaluate``).

Domain packages never import a job and a job never imports another (a job's
own helper modules share its name as a prefix); :mod:`yt8m_crossmodal.api`
is the one way in from code.
"""

import importlib
from types import ModuleType

from yt8m_crossmodal.errors import UsageError


def beam_pipeline(module: str) -> ModuleType:
  """A job's Beam pipeline module (e.g. ``"embed_beam"``), imported on first use.

  Raises:
    UsageError: apache-beam is not installed (``--runner`` other than in_process).
  """
  try:
    return importlib.import_module(f"{__name__}.{module}")
  except ModuleNotFoundError as e:
    if not (e.name or "").startswith("apache_beam"):
      raise
    raise UsageError("--runner other than in_process needs apache-beam: pip install "
                     "'yt8m-crossmodal[beam]'") from e
