"""The command-line tools, one module per console script (never imported as
a library): each reads its config from flags, calls the library and prints.
Run one as ``yt8m-<name>`` or ``python -m yt8m_crossmodal.tools.<name>``.

A tool module imports no TensorFlow: :func:`runner.run_tool` checks the
flags and paths first, then loads TensorFlow without its start-up lines
(:mod:`yt8m_crossmodal.quiet`)."""
