"""The error types for bad input from a user (the tools print them as one line)."""


class UsageError(ValueError):
  """Bad input from the user (missing file, wrong shape...): one-line error.

  The tools print it as ``error: <message>`` (exit status 2); the Python API
  raises it with the same message. A ``ValueError``, so code that catches
  those keeps working.

  >>> try:
  ...   Config().replace(lstm_unit=8)
  ... except UsageError as e:
  ...   print(e)
  no config field named 'lstm_unit'; did you mean lstm_units? (the fields are the flags of yt8m-train; yt8m-train --help lists them)
  """


class PathNotFoundError(UsageError, FileNotFoundError):
  """A path or file pattern given by the user that names nothing.

  Both a :class:`UsageError` and a ``FileNotFoundError``, so that code
  catching either keeps working.
  """
