"""``--format=html``: one self-contained page of answers.

Every text that comes from the data (ids, label names, file paths, query
names) is escaped with :func:`yt8m_crossmodal.escaping.html_text` (the one
HTML helper of the package) and every attribute is quoted, so
a file called ``<script>.mp4`` shows as its name. Results from media files
show the picture at their second (:mod:`.thumbnails`: a JPEG inside the page,
or a ``<video>`` element at that second when it cannot be decoded here); YouTube
ids link to YouTube at that second; YouTube-8M pseudo-ids link to their
lookup, which a script on the page turns into the YouTube link when it
is opened online (nothing is fetched when the page is written).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from yt8m_crossmodal import escaping
from yt8m_crossmodal.answers import describe, thumbnails

_STYLE = """
body{font-family:sans-serif;margin:1em 2em;max-width:110em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
.labels{color:#555;font-size:.85em;max-width:22em}
.pic img,.pic video{display:block;width:192px;max-height:144px;object-fit:cover;background:#ddd}
.nopic{width:192px;height:108px;background:#eee;color:#888;font-size:.8em;display:flex;
       align-items:center;justify-content:center;text-align:center}
.small{font-size:.85em;color:#555} .kind{font-size:.8em;padding:1px 5px;border-radius:3px}
.kind-pictures{background:#dde8ff} .kind-sound{background:#ffe6cc}
footer{margin-top:2em;font-size:.8em;color:#666}
"""

# Turns each pseudo-id link into its YouTube link when the page is opened
# online (JSONP: the lookup file calls i("<id>", "<YouTube id>")).
_SCRIPT = r"""
(function(){
  var pending = {};
  window.i = function(id, yt){
    (pending[id] || []).forEach(function(a){
      if (yt && /^[A-Za-z0-9_-]{11}$/.test(yt)) {
        var t = a.getAttribute('data-t');
        a.href = 'https://www.youtube.com/watch?v=' + yt + (t && t !== '0' ? '&t=' + t + 's' : '');
        a.title = 'YouTube ' + yt;
      } else {
        a.title = 'no YouTube video known for this id';
      }
    });
    delete pending[id];
  };
  document.addEventListener('DOMContentLoaded', function(){
    document.querySelectorAll('a[data-yt8m]').forEach(function(a){
      var id = a.getAttribute('data-yt8m');
      if (!/^[A-Za-z0-9_-]{4}$/.test(id)) return;
      if (!pending[id]) {
        pending[id] = [];
        var s = document.createElement('script');
        s.src = 'https://data.yt8m.org/2/j/i/' + id.substring(0, 2) + '/' + id + '.js';
        s.onerror = function(){ window.i(id, null); };
        document.head.appendChild(s);
      }
      pending[id].push(a);
    });
  });
})();
"""

FOOTER = (
    "Ids of 11 characters are YouTube ids (2017 release). Ids of 4 characters are "
    "YouTube-8M pseudo-ids (2018 and later): their link is the data set's lookup, "
    "https://data.yt8m.org/2/j/i/&lt;first two characters&gt;/&lt;id&gt;.js, which answers "
    "i(&quot;&lt;id&gt;&quot;, &quot;&lt;YouTube id&gt;&quot;); opened online, this page asks "
    "it and links to YouTube (a video taken down since has no answer). Results from "
    "yt8m-extract show their media file and second. Label names: the YouTube-8M "
    "vocabulary (Google, CC BY 4.0).")


def esc(value: Any) -> str:
  """``value`` as HTML text or a quoted attribute's value."""
  return escaping.html_text(value)


def link(result: Dict[str, Any], text: str, second: Optional[int] = None) -> str:
  """``text`` linked to where ``result`` can be watched (escaped)."""
  url = result.get("link")
  if not url:
    return esc(text)
  pseudo = url.startswith("https://data.yt8m.org/")
  extra = (f' data-yt8m="{esc(result["id"])}" data-t="{int(second or 0)}"'
           if pseudo else "")
  return f'<a href="{esc(url)}"{extra}>{esc(text)}</a>'


def picture(result: Dict[str, Any], second: Optional[float], use_thumbnails: bool = True
            ) -> str:
  """The picture at ``second`` of a media result ("" for other results)."""
  media = result.get("media")
  if not media:
    return ""
  path = media["path"]
  when = float(second if second is not None else media.get("second", 0))
  if media.get("error"):
    return f'<div class="nopic">{esc(media["error"])}</div>'
  jpeg = thumbnails.picture_at(path, when) if use_thumbnails else None
  if jpeg:
    return (f'<div class="pic"><img src="{esc(thumbnails.data_uri(jpeg))}" '
            f'alt="{esc(path)} at {when:g} s"></div>')
  return (f'<div class="pic"><video src="{esc(describe.file_url(path, when))}" '
          f'preload="metadata" muted title="{esc(path)} at {when:g} s"></video></div>')


def labels_html(result: Dict[str, Any], key: str = "labels", limit: int = 6) -> str:
  names = result.get(key) or []
  more = f" (+{len(names) - limit})" if len(names) > limit else ""
  return f'<div class="labels">{esc(", ".join(names[:limit]))}{esc(more)}</div>' if names else ""


def kind_html(kind: str) -> str:
  return f'<span class="kind kind-{esc(kind)}">{esc(kind)}</span>' if kind else ""


class Page:
  """An HTML page built part by part; :meth:`render` gives the text.

  Parts given as HTML (``raw``) must be escaped by the caller (the helpers
  of this module do).
  """

  def __init__(self, title: str):
    self.title = title
    self.parts: List[str] = []

  def heading(self, text: str, level: int = 2, raw: bool = False) -> None:
    self.parts.append(f"<h{level}>{text if raw else esc(text)}</h{level}>")

  def paragraph(self, text: str, raw: bool = False, css: str = "") -> None:
    cls = f' class="{esc(css)}"' if css else ""
    self.parts.append(f"<p{cls}>{text if raw else esc(text)}</p>")

  def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
            numeric: Sequence[int] = ()) -> None:
    """A table; ``rows`` hold HTML cells; column indices in ``numeric`` align right.

    A column empty in every row is left out.
    """
    keep = [j for j in range(len(headers)) if not rows or any(row[j] for row in rows)]
    numeric = [keep.index(j) for j in numeric if j in keep]
    headers = [headers[j] for j in keep]
    rows = [[row[j] for j in keep] for row in rows]
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
      cells = "".join(f'<td class="num">{c}</td>' if j in numeric else f"<td>{c}</td>"
                      for j, c in enumerate(row))
      body.append(f"<tr>{cells}</tr>")
    self.parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")

  def render(self) -> str:
    return "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
        f"<title>{esc(self.title)}</title>", f"<style>{_STYLE}</style>",
        f"<script>{_SCRIPT}</script>", "</head><body>",
        f"<h1>{esc(self.title)}</h1>", *self.parts,
        f"<footer>{FOOTER}</footer>", "</body></html>", ""])
