"""What a result is and where to watch it: label names and links.

A record id is one of:

- an id of ``yt8m-extract`` (found in a media manifest): the result is shown
  as its media file and second (``media``, a ``file://`` link with ``#t=``);
- in records of the 2017 release (4716 classes), an 11-character id (its
  ``video_id`` on train and validate records) is the YouTube id itself:
  ``https://www.youtube.com/watch?v=<id>&t=<s>s``;
- in records of the 2018 and later releases (3862 classes), a 4-character id
  is a YouTube-8M *pseudo-id*, which hides the YouTube id. Its video is looked
  up at ``https://data.yt8m.org/2/j/i/<first two characters>/<id>.js``; that
  file holds ``i("<id>","<YouTube id>")``. The HTML pages do this lookup in
  the reader's browser; a video taken down since has no answer;
- anything else (the 2017 test ids are numbers; sample data from
  ``yt8m-synth``): no link.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any, Dict, Iterable, List, Mapping, Optional

from yt8m_crossmodal.data.media_manifest import MediaEntry
from yt8m_crossmodal.data.vocabulary import Vocabulary

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
PSEUDO_ID = re.compile(r"[A-Za-z0-9_-]{4}")
LOOKUP = "https://data.yt8m.org/2/j/i/{prefix}/{id}.js"

# The --help text of the fields every search-like tool adds (shared wording).
FIELDS_HELP = """\
  id        the record id of the result (see "ids" below)
  labels    its label names from the release's vocabulary (records with labels)
  link      where to watch it: a YouTube link (at the start second), the
            pseudo-id lookup, or the media file (file://...#t=<second>)
  media     records made by yt8m-extract: {"path": media file, "second": start}
ids: in 2017 records (4716 classes) 11 characters = a YouTube id; in 2018+
records (3862 classes) 4 characters = a YouTube-8M pseudo-id, looked up at
https://data.yt8m.org/2/j/i/<first 2>/<id>.js (it answers i("<id>","<YouTube
id>"); the HTML page asks it when opened); ids found in a yt8m-extract
manifest are media files; other ids (sample data, 2017 test) have no link."""


def clock(seconds: Optional[float]) -> str:
  """``m:ss`` (``h:mm:ss`` from an hour); "" for None."""
  if seconds is None:
    return ""
  total = int(round(max(0.0, float(seconds))))
  hours, rest = divmod(total, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def youtube_url(video_id: str, second: Optional[int] = None) -> str:
  url = "https://www.youtube.com/watch?v=" + urllib.parse.quote(video_id, safe="-_")
  return url + (f"&t={int(second)}s" if second else "")


def lookup_url(pseudo_id: str) -> str:
  quoted = urllib.parse.quote(pseudo_id, safe="-_")
  return LOOKUP.format(prefix=quoted[:2], id=quoted)


def file_url(path: str, second: Optional[int] = None) -> str:
  url = "file://" + urllib.parse.quote(path)
  return url + (f"#t={int(second)}" if second else "")


def id_kind(video_id: str, media: Mapping[str, MediaEntry], release: str) -> str:
  """"media", "youtube", "pseudo_id" or "" (see the module docstring).

  Args:
    video_id: a record id.
    media: the ids of ``yt8m-extract`` manifests.
    release: "yt8m-2017", "yt8m-2018" or "" (the records' release, from their
      number of classes).
  """
  if video_id in media:
    return "media"
  if release == "yt8m-2017" and YOUTUBE_ID.fullmatch(video_id):
    return "youtube"
  if release == "yt8m-2018" and PSEUDO_ID.fullmatch(video_id):
    return "pseudo_id"
  return ""


@dataclasses.dataclass
class Describer:
  """Adds label names and where to watch to results.

  Attributes:
    vocabulary: the records' label names.
    media: id -> media entry (``yt8m-extract`` manifests).
    release: the records' YouTube-8M release ("yt8m-2017", "yt8m-2018" or
      ""), which says what an id is.
  """

  vocabulary: Vocabulary = dataclasses.field(default_factory=Vocabulary)
  media: Mapping[str, MediaEntry] = dataclasses.field(default_factory=dict)
  release: str = ""

  def label_names(self, indices: Iterable[int]) -> List[str]:
    return self.vocabulary.names(indices)

  def where(self, video_id: str, second: Optional[int] = None) -> Dict[str, Any]:
    """``link`` (and ``media`` for a media file) of ``video_id`` at ``second``."""
    kind = id_kind(video_id, self.media, self.release)
    if kind == "media":
      entry = self.media[video_id]
      out: Dict[str, Any] = {"link": file_url(entry.path, second),
                             "media": {"path": entry.path, "second": int(second or 0)}}
      if entry.error:
        out["media"]["error"] = entry.error
      return out
    if kind == "youtube":
      return {"link": youtube_url(video_id, second)}
    if kind == "pseudo_id":
      return {"link": lookup_url(video_id)}
    return {}

  def result(self, item: Dict[str, Any], label_indices: Optional[Iterable[int]] = None,
             second: Optional[int] = None) -> Dict[str, Any]:
    """``item`` with ``labels`` (names; when given) and where to watch it."""
    out = dict(item)
    if label_indices is not None:
      out["labels"] = self.label_names(label_indices)
    out.update(self.where(out["id"], second))
    return out

  def query(self, video_id: str, label_indices: Optional[Iterable[int]] = None,
            second: Optional[int] = None) -> Dict[str, Any]:
    """``query_labels`` and ``query_link`` (``query_media``) of a query."""
    out: Dict[str, Any] = {}
    if label_indices is not None:
      out["query_labels"] = self.label_names(label_indices)
    for key, value in self.where(video_id, second).items():
      out["query_" + key] = value
    return out


def rounded(value: Any, digits: int = 4) -> Any:
  """``value`` with every float rounded to ``digits`` (lists and dicts too)."""
  if isinstance(value, float):
    return round(value, digits)
  if isinstance(value, dict):
    return {k: rounded(v, digits) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [rounded(v, digits) for v in value]
  return value
