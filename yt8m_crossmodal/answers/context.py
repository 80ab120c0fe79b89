"""The :class:`~.describe.Describer` of a tool run: which vocabulary, which manifests."""

from __future__ import annotations

import glob
import logging
from typing import Any, Dict, Iterable, List, Optional

from yt8m_crossmodal.answers.describe import Describer
from yt8m_crossmodal.data import media_manifest, vocabulary
from yt8m_crossmodal.errors import UsageError

VOCABULARY_HELP = ("Label names: auto (the YouTube-8M release with the model's number of "
                   "classes: 3862 -> 2018, 4716 -> 2017), yt8m-2018, yt8m-2017, none, or a "
                   "vocabulary.csv (columns Index and Name). Without names, labels show as "
                   "'class <index>'.")
MANIFEST_HELP = ("yt8m-extract media manifests (<prefix>_manifest.jsonl; comma-separated "
                 "patterns) naming the media file of each record id ('': the manifests in "
                 "the folders of the query records and of the records the index was "
                 "embedded from).")


def source_patterns(meta: Optional[Dict[str, Any]]) -> List[str]:
  """The record patterns an index folder says it was embedded from."""
  data = ((meta or {}).get("source") or {}).get("data") or ""
  if not isinstance(data, str):
    return []  # A received folder's meta.json: a wrong type is not a pattern.
  return [p for p in data.split(",") if p]


def num_classes_of(meta: Optional[Dict[str, Any]], default: Optional[int]) -> Optional[int]:
  """The label vocabulary size an index folder records (else ``default``)."""
  value = ((meta or {}).get("source") or {}).get("num_classes")
  ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1_000_000
  return int(value) if ok else default


def make_describer(vocabulary_spec: str, manifest: str, num_classes: Optional[int],
                   data_patterns: Iterable[str]) -> Describer:
  """The describer of a run.

  Args:
    vocabulary_spec: ``--vocabulary`` (see :data:`VOCABULARY_HELP`).
    manifest: ``--manifest``: comma-separated patterns, or "" to look beside
      ``data_patterns``.
    num_classes: the records' vocabulary size (for ``auto``).
    data_patterns: record file patterns whose folders may hold manifests.

  Raises:
    UsageError: a vocabulary file that cannot be read, a ``--manifest``
      pattern that matches nothing, or a manifest that cannot be read.
  """
  try:
    vocab = vocabulary.load(vocabulary_spec, num_classes)
  except ValueError as e:
    raise UsageError(str(e)) from e
  if vocab.note:
    logging.info("%s", vocab.note)
  if manifest:
    files = []
    for pattern in (p.strip() for p in manifest.split(",") if p.strip()):
      matched = sorted(glob.glob(pattern))
      if not matched:
        raise UsageError(f"--manifest {pattern!r} matches no file")
      files += matched
  else:
    files = media_manifest.manifests_beside(",".join(data_patterns))
  try:
    media = media_manifest.read_manifests(files)
  except ValueError as e:
    raise UsageError(str(e)) from e
  if media:
    logging.info("media files of %d record ids from %s", len(media), ", ".join(files))
  return Describer(vocab, media, vocabulary.release_for(num_classes))
