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
