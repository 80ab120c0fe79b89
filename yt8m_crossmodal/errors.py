"""The error types for bad input from a user (the tools print them as one line)."""


class UsageError(ValueError):
  """Bad input from the user (missing file, wrong shape...): one-line error."""


class PathNotFoundError(UsageError, FileNotFoundError):
  """A path or file pattern given by the user that names nothing.

  Both a :class:`UsageError` and a ``FileNotFoundError``, so that code
  catching either keeps working.
  """
