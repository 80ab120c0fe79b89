"""Paths and file patterns given by the user, checked before TensorFlow loads.

A config field that names a path says what it must be in its metadata
(``option(..., path=RECORDS)``). :func:`check_config` runs a config's own
``validate()`` and then :func:`check_paths`, which checks the local paths
with the standard library: a typo is answered at once, before TensorFlow
loads (which takes seconds). Remote paths (``gs://``...) are left to the
job, which reads them through ``tf.io.gfile``; the job also checks more
(the contents) once TensorFlow is up.

File patterns are comma-separated lists of globs (``*``, ``?``, ``[0-5]``),
local or remote: ``'data/train*.tfrecord,more/train0[0-3].tfrecord'``.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Iterator, List, Optional, Tuple

from yt8m_crossmodal.errors import PathNotFoundError, UsageError
from yt8m_crossmodal.io_utils import is_remote

# What a path field names (the ``path`` metadata of a config field).
RECORDS = "records"              # comma-separated globs of TFRecord files
FILES = "files"                  # comma-separated globs of any files
FOLDER = "folder"                # an existing folder
FILE = "file"                    # an existing file
OUTPUT_FOLDER = "output_folder"  # a folder that exists or can be created, writable
KINDS = (RECORDS, FILES, FOLDER, FILE, OUTPUT_FOLDER)

# What the help of a file-pattern flag says about lists and ranges.
PATTERN_HELP = ("comma-separated list of file globs, local or gs:// (*, ?, ranges such as "
                "train0[0-5].tfrecord)")

# Files a wildcard leaves out: sidecars written beside the shards (yt8m-synth's
# ``<prefix>_offsets.json``, yt8m-extract's ``<prefix>_manifest.jsonl``, notes,
# listings), never TFRecords. A file named
# without a wildcard is read whatever its name.
SIDECAR_SUFFIXES = (".json", ".jsonl", ".md", ".txt", ".csv", ".tsv", ".log", ".yaml",
                    ".yml")
WILDCARDS = ("*", "?", "[")


def split_patterns(pattern: str) -> List[str]:
  """The globs of a comma-separated list, stripped, empty ones dropped."""
  return [p.strip() for p in str(pattern).split(",") if p.strip()]


def has_wildcard(pattern: str) -> bool:
  return any(w in pattern for w in WILDCARDS)


def is_sidecar(path: str) -> bool:
  """A file that a wildcard leaves out of a TFRecord pattern (:data:`SIDECAR_SUFFIXES`)."""
  return path.lower().endswith(SIDECAR_SUFFIXES)


def no_match_error(pattern: str, sidecars: List[str], flag: str = "") -> PathNotFoundError:
  """The error of a TFRecord pattern that matches no file (``flag``: the flag that named it)."""
  of_flag = f" of --{flag}" if flag else ""
  left_out = (f" (only {len(sidecars)} non-TFRecord file(s) such as {sidecars[0]!r}, "
              "which a wildcard does not match)") if sidecars else ""
  return PathNotFoundError(f"No files match the pattern {pattern!r}{of_flag}{left_out}")


def local_matches(pattern: str, records: bool = True) -> Optional[Tuple[List[str], List[str]]]:
  """``(files, sidecars left out)`` of a local pattern, or None if any part is remote.

  As :func:`yt8m_crossmodal.data.pipeline.list_files` expands it: folders
  are not files, and with ``records`` a wildcard leaves sidecar files out.
  """
  parts = split_patterns(pattern)
  if any(is_remote(p) for p in parts):
    return None
  files, sidecars = set(), set()
  for p in parts:
    matched = [f for f in glob.glob(p, include_hidden=True) if not os.path.isdir(f)]
    if records and has_wildcard(p):
      sidecars.update(f for f in matched if is_sidecar(f))
      matched = [f for f in matched if not is_sidecar(f)]
    files.update(matched)
  return sorted(files), sorted(sidecars - files)


def _check_pattern(pattern: str, flag: str, records: bool) -> None:
  found = local_matches(pattern, records)
  if found is None:
    return
  files, sidecars = found
  if files:
    return
  if records:
    raise no_match_error(pattern, sidecars, flag)
  raise PathNotFoundError(f"--{flag} matches no file: {pattern!r}")


def _check_output_folder(path: str, flag: str) -> None:
  """A folder that exists or can be created (nothing is created here)."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise UsageError(f"--{flag} {path!r} is a file, not a folder")
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise UsageError(f"cannot create --{flag} {path!r}: {existing!r} is a file")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise UsageError(f"--{flag} {path!r} is not writable ({existing!r} is not)")


def check_path(kind: str, value: str, flag: str) -> None:
  """Raises UsageError when local ``value`` is not what ``kind`` says.

  Empty and remote values pass (required fields are the config's own check;
  remote paths are the job's).
  """
  if not value or is_remote(value):
    return
  if kind in (RECORDS, FILES):
    _check_pattern(value, flag, records=kind == RECORDS)
  elif kind == FOLDER:
    if not os.path.exists(value):
      raise PathNotFoundError(f"--{flag} {value!r}: no such folder")
    if not os.path.isdir(value):
      raise UsageError(f"--{flag} {value!r} is a file, not a folder")
  elif kind == FILE:
    if not os.path.exists(value):
      raise PathNotFoundError(f"--{flag} {value!r}: no such file")
    if os.path.isdir(value):
      raise UsageError(f"--{flag} {value!r} is a folder, not a file")
  elif kind == OUTPUT_FOLDER:
    _check_output_folder(value, flag)
  else:
    raise ValueError(f"unknown path kind {kind!r}")


def path_fields(cfg) -> Iterator[Tuple[str, str, str]]:
  """``(kind, value, flag)`` of every path field of a config dataclass.

  Fields whose value is itself a dataclass (the sections of the training
  config) are walked into.
  """
  for f in dataclasses.fields(cfg):
    value = getattr(cfg, f.name)
    if dataclasses.is_dataclass(value):
      yield from path_fields(value)
    elif f.metadata.get("path"):
      yield f.metadata["path"], value, f.name


def check_paths(cfg) -> None:
  """:func:`check_path` of every path field of ``cfg`` (no TensorFlow)."""
  for kind, value, flag in path_fields(cfg):
    check_path(kind, value, flag)


def check_config(cfg) -> None:
  """``cfg.validate()`` (when it has one), then :func:`check_paths`.

  What the console tools run before TensorFlow loads.

  Raises:
    UsageError: naming the flag of the first bad value or path.
  """
  validate = getattr(cfg, "validate", None)
  if validate is not None:
    validate()
  check_paths(cfg)
