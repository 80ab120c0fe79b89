"""The answers of ``yt8m-soundtracks`` as a table, JSON lines or an HTML page."""

from __future__ import annotations

from typing import Any, Dict, Iterable

from yt8m_crossmodal.answers import html_page as hp
from yt8m_crossmodal.answers.describe import clock, rounded
from yt8m_crossmodal.answers.formats import Column, Output, json_line, printable, score, table
from yt8m_crossmodal.answers.search_view import NOTE, where

COLUMNS = (Column("rank", "#", right=True), Column("score", "score", right=True, show=score),
           Column("id", "soundtrack", width=32), Column("start", "start the song at"),
           Column("with", "with the pictures at"), Column("seconds", "for", right=True),
           Column("confidence", "confidence", right=True, show=score),
           Column("labels", "labels", width=44), Column("where", "where", width=80))


def _header(answer: Dict[str, Any]) -> str:
  text = f"soundtracks for {answer['query_id']} ({clock(answer['seconds'])} of pictures)"
  if answer.get("query_labels"):
    text += "  " + ", ".join(answer["query_labels"])
  return text


def _table(answer: Dict[str, Any]) -> str:
  rows = [dict(r, start=clock(r["song_start_second"]), where=where(r),
               seconds=f"{r['seconds']} s", **{"with": clock(r["video_start_second"])})
          for r in answer["soundtracks"]]
  return printable(_header(answer)) + "\n" + table(COLUMNS, rows) + "\n"


def _html(page: hp.Page, answer: Dict[str, Any]) -> None:
  who = {"id": answer["query_id"]}
  if answer.get("query_link"):
    who["link"] = answer["query_link"]
  page.heading(f"Soundtracks for {hp.link(who, answer['query_id'])} "
               f"({clock(answer['seconds'])} of pictures)", raw=True)
  if answer.get("query_labels"):
    page.paragraph(hp.esc(", ".join(answer["query_labels"])), raw=True, css="labels")
  rows = []
  for r in answer["soundtracks"]:
    path = (f'<div class="small">{hp.esc(r["media"]["path"])}</div>' if r.get("media")
            else "")
    rows.append([str(r["rank"]), hp.esc(score(r["score"])),
                 hp.link(r, r["id"], r["song_start_second"]) + path,
                 f"song at <b>{clock(r['song_start_second'])}</b> with the pictures at "
                 f"{clock(r['video_start_second'])}, for {int(r['seconds'])} s",
                 hp.esc(score(r["confidence"])) + ("" if r["confident"] else
                                                   ' <span class="small">(not sure)</span>'),
                 hp.labels_html(r)])
  page.table(["#", "score", "soundtrack", "where to start", "confidence", "labels"], rows,
             numeric=(0, 1))


def write(answers: Iterable[Dict[str, Any]], fmt: str, out: Output,
          title: str = "yt8m-soundtracks") -> int:
  """Writes every answer in ``fmt`` (table, jsonl or html); returns the count."""
  count = 0
  page = hp.Page(title) if fmt == "html" else None
  for answer in answers:
    count += 1
    if fmt == "jsonl":
      out.write(json_line(rounded(answer), f"picture track {answer.get('query_id')!r}") + "\n")
    elif fmt == "table":
      out.write(_table(answer))
    else:
      _html(page, answer)
  if fmt == "table" and count:
    out.write(NOTE + "\n")
  if page is not None:
    out.write(page.render())
  return count
