"""Training's pieces over ``model.fit``: the checks and datasets of a run
(:mod:`.trainer`), its optimizer, callbacks, run folder, size settings,
backends and tf.distribute plumbing. The run itself is
:mod:`yt8m_crossmodal.jobs.train`."""
