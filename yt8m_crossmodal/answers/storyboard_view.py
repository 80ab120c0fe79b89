"""The answers of ``yt8m-pictures``: a storyboard (segment time -> suggested pictures).

- jsonl: one JSON object per segment (``query_id``, ``segment``,
  ``start_second``, ``end_second``, ``pictures``), so a script can stream an
  hours-long storyboard; the first line of each soundtrack is its summary
  (``query_id``, ``seconds``, ``segments``, ``videos``, ``most_uses``, ...);
- table: one row per suggested picture;
- html: one row per segment, its pictures side by side.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable

from yt8m_crossmodal.answers import html_page as hp
from yt8m_crossmodal.answers.describe import clock, rounded
from yt8m_crossmodal.answers.formats import Column, Output, json_line, printable, score, table
from yt8m_crossmodal.answers.search_view import NOTE, where

COLUMNS = (Column("time", "broadcast"), Column("rank", "#", right=True),
           Column("score", "score", right=True, show=score), Column("id", "id", width=64),
           Column("stretch", "video seconds"), Column("labels", "labels", width=44),
           Column("where", "where", width=80))


def _segments(n: int) -> str:
  return f"{n} segment" + ("" if n == 1 else "s")


def _summary(board: Dict[str, Any]) -> Dict[str, Any]:
  return dict({k: v for k, v in board.items() if k != "segments"},
              segments=len(board["segments"]))


def _header(board: Dict[str, Any]) -> str:
  text = (f"storyboard of {board['query_id']}: {clock(board['seconds'])}, "
          f"{len(board['segments'])} segments of {board['segment_seconds']} s every "
          f"{board['hop_seconds']} s; {board['videos']} videos, none suggested twice within "
          f"{board['repeat_gap_seconds']} s (the most used: {_segments(board['most_uses'])})")
  if board.get("query_labels"):
    text += f"\n  labels: {', '.join(board['query_labels'])}"
  return text


def _table(board: Dict[str, Any]) -> str:
  rows = []
  for seg in board["segments"]:
    span = f"{clock(seg['start_second'])}-{clock(seg['end_second'])}"
    if not seg["pictures"]:
      rows.append({"time": span, "id": _NONE.format(board["repeat_gap_seconds"])})
    for pic in seg["pictures"]:
      rows.append(dict(pic, time=span if pic["rank"] == 1 else "",
                       stretch=f"{clock(pic['start_second'])}-{clock(pic['end_second'])}",
                       where=where(pic)))
  header = "\n".join(printable(line) for line in _header(board).split("\n"))
  return header + "\n" + table(COLUMNS, rows) + "\n"


_NONE = "(none: every video found was suggested less than {} s away)"


def _cell(pic: Dict[str, Any]) -> str:
  span = f"{clock(pic['start_second'])}&ndash;{clock(pic['end_second'])}"
  path = (f'<div class="small">{hp.esc(pic["media"]["path"])}</div>'
          if pic.get("media") else "")
  return (hp.picture(pic, pic["start_second"])
          + f'<div><b>{hp.link(pic, pic["id"], pic["start_second"])}</b></div>'
          + f'<div class="small">its seconds {span} &middot; score '
          f'{hp.esc(score(pic["score"]))}</div>' + path + hp.labels_html(pic))


def _html(page: hp.Page, board: Dict[str, Any]) -> None:
  who = {"id": board["query_id"]}
  if board.get("query_link"):
    who["link"] = board["query_link"]
  page.heading(f"Storyboard of {hp.link(who, board['query_id'])}", raw=True)
  page.paragraph(
      f"{clock(board['seconds'])} of sound, {len(board['segments'])} segments of "
      f"{board['segment_seconds']} s every {board['hop_seconds']} s. Each row: the pictures "
      f"that fit that stretch of sound best, across the whole catalogue, each from a "
      f"different video; a video is not suggested again within "
      f"{board['repeat_gap_seconds']} s ({board['videos']} videos in all, the most used in "
      f"{_segments(board['most_uses'])}).")
  if board.get("query_labels"):
    page.paragraph(hp.esc(", ".join(board["query_labels"])), raw=True, css="labels")
  k = max([len(s["pictures"]) for s in board["segments"]] + [1])
  rows = []
  for seg in board["segments"]:
    cells = [_cell(p) for p in seg["pictures"]] + [""] * (k - len(seg["pictures"]))
    if not seg["pictures"]:
      cells[0] = f'<span class="small">{hp.esc(_NONE.format(board["repeat_gap_seconds"]))}</span>'

    rows.append([f"<b>{clock(seg['start_second'])}</b>&ndash;{clock(seg['end_second'])}"]
                + cells)
  page.table(["sound"] + [f"picture {j + 1}" for j in range(k)], rows)


def write(boards: Iterable[Dict[str, Any]], fmt: str, out: Output,
          title: str = "yt8m-pictures: storyboard") -> int:
  """Writes every storyboard in ``fmt`` (table, jsonl or html); returns the count."""
  count = 0
  page = hp.Page(title) if fmt == "html" else None
  for board in boards:
    count += 1
    what = f"soundtrack {board.get('query_id')!r}"
    if fmt == "jsonl":
      out.write(json_line(rounded(_summary(board)), what) + "\n")
      for seg in board["segments"]:
        out.write(json_line(rounded(dict(query_id=board["query_id"], **seg)), what) + "\n")
    elif fmt == "table":
      out.write(_table(board))
    else:
      _html(page, board)
  if fmt == "table" and count:
    out.write(NOTE + "\n")
  if page is not None:
    out.write(page.render())
  return count
