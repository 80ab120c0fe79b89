"""The error type for bad input from a user (the tools print it as one line)."""


class UsageError(ValueError):
  """Bad input from the user (missing file, wrong shape...): one-line error."""
