"""Label names of the YouTube-8M releases (what a record's ``labels`` mean).

The package ships the names of both vocabularies (``data/vocabularies/``,
CC BY 4.0, Google; attribution in its README): 2018 and later (3862 classes,
records with ``id``) and 2017 (4716 classes, records with ``video_id``).
Class indices of the two releases mean different things, so the vocabulary
follows the release the records belong to: :func:`load` with ``"auto"``
picks it by the number of classes the model was trained with (the export's
``num_classes``, which the reader needs to read the records at all).

When no vocabulary applies (another number of classes, ``"none"``, or the
files were left out of an install), labels are shown as ``class <index>``
and :attr:`Vocabulary.note` says why.

>>> vocab = load("yt8m-2018")
>>> vocab.names([0, 3])
['Game', 'Concert']
>>> load("auto", num_classes=1000).names([7])
['class 7']
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from importlib import resources
from typing import Dict, Iterable, List, Optional

from yt8m_crossmodal.config import NUM_CLASSES_2017, NUM_CLASSES_2018

RELEASES = {"yt8m-2018": ("yt8m_2018.tsv", NUM_CLASSES_2018),
            "yt8m-2017": ("yt8m_2017.tsv", NUM_CLASSES_2017)}
CHOICES = ("auto", "none") + tuple(RELEASES)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Class index -> display name.

  Attributes:
    release: "yt8m-2018", "yt8m-2017", a file path, or "" (no names).
    entries: index -> name ("" for a class the file names only by its
      Knowledge Graph id, which is then in ``ids``).
    ids: index -> Knowledge Graph id (2018 only).
    note: why there are no names ("" when there are).
  """

  release: str = ""
  entries: Dict[int, str] = dataclasses.field(default_factory=dict)
  ids: Dict[int, str] = dataclasses.field(default_factory=dict)
  note: str = ""

  def name(self, index: int) -> str:
    """The class's name, else its Knowledge Graph id, else ``class <index>``."""
    index = int(index)
    return self.entries.get(index) or self.ids.get(index) or f"class {index}"

  def names(self, indices: Iterable[int]) -> List[str]:
    return [self.name(i) for i in indices]

  def __bool__(self) -> bool:
    return bool(self.entries)


def release_for(num_classes: Optional[int]) -> str:
  """The release whose vocabulary has ``num_classes`` classes ("" if none)."""
  for release, (_, size) in RELEASES.items():
    if num_classes == size:
      return release
  return ""


def _parse(text: str, source: str) -> Vocabulary:
  """A ``vocabulary.csv`` (Index, Name, KnowledgeGraphId, ...) or our TSV."""
  dialect = "excel-tab" if "\t" in text.split("\n", 1)[0] else "excel"
  rows = csv.DictReader(io.StringIO(text), dialect=dialect)
  fields = {f.lower(): f for f in rows.fieldnames or ()}
  if "index" not in fields or "name" not in fields:
    raise ValueError(f"{source}: a vocabulary needs the columns Index and Name "
                     f"(got {', '.join(rows.fieldnames or ()) or 'none'})")
  kg = fields.get("knowledgegraphid") or fields.get("knowledge_graph_id")
  entries, ids = {}, {}
  for line, row in enumerate(rows, start=2):
    try:
      index = int(row[fields["index"]])
    except (TypeError, ValueError) as e:
      raise ValueError(f"{source}, line {line}: Index {row[fields['index']]!r} is not "
                       "a number") from e
    entries[index] = " ".join((row[fields["name"]] or "").split())
    if kg and row.get(kg):
      ids[index] = row[kg].strip()
  return Vocabulary(source, entries, ids)


def load(spec: str = "auto", num_classes: Optional[int] = None) -> Vocabulary:
  """The vocabulary ``spec`` names.

  Args:
    spec: "auto" (the release with ``num_classes`` classes), "yt8m-2018",
      "yt8m-2017", "none", or the path of a ``vocabulary.csv`` (columns
      Index and Name, as the releases publish it).
    num_classes: for "auto": the number of classes of the records.

  Returns:
    A :class:`Vocabulary`; empty, with a ``note``, when none applies or the
    package's files are missing.

  Raises:
    ValueError: a path that cannot be read or is not a vocabulary.
  """
  if spec == "none":
    return Vocabulary(note="label names turned off (--vocabulary=none)")
  if spec == "auto":
    spec = release_for(num_classes)
    if not spec:
      return Vocabulary(note=f"no YouTube-8M vocabulary has {num_classes} classes "
                        "(2018: 3862, 2017: 4716): labels shown by index "
                        "(--vocabulary=<vocabulary.csv> names them)")
  if spec in RELEASES:
    name = RELEASES[spec][0]
    try:
      text = (resources.files("yt8m_crossmodal.data") / "vocabularies" / name).read_text(
          encoding="utf-8")
    except (OSError, ModuleNotFoundError) as e:
      return Vocabulary(note=f"the {spec} label names ({name}) are not installed ({e}): "
                        "labels shown by index")
    vocab = _parse(text, name)
    return dataclasses.replace(vocab, release=spec)
  if not os.path.isfile(spec):
    raise ValueError(f"--vocabulary {spec!r}: not one of {', '.join(CHOICES)} and no such "
                     "file")
  try:
    with open(spec, encoding="utf-8") as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as e:
    raise ValueError(f"--vocabulary {spec!r}: cannot read it ({e})") from e
  return _parse(text, spec)
