"""The answers of ``yt8m-search`` as a table, JSON lines or an HTML page."""

from __future__ import annotations

from typing import Any, Dict, Iterable

from yt8m_crossmodal.answers import html_page as hp
from yt8m_crossmodal.answers.describe import clock, rounded
from yt8m_crossmodal.answers.formats import Column, Output, json_line, printable, score, table

NOTE = ("4-character ids are YouTube-8M pseudo-ids: https://data.yt8m.org/2/j/i/<first 2>/"
        "<id>.js names the YouTube video (the HTML page looks it up); 11-character ids are "
        "YouTube ids. --help says what every field means.")


def where(result: Dict[str, Any]) -> str:
  """A result's media file and second, else its link."""
  media = result.get("media")
  if media:
    return f"{media['path']} at {clock(media.get('second'))}"
  return result.get("link", "")


def _starts(result: Dict[str, Any]) -> str:
  if "best_start_second" not in result:
    return ""
  text = clock(result["best_start_second"])
  if "query_start_second" in result:
    text += f" (query {clock(result['query_start_second'])})"
  return text


COLUMNS = (Column("rank", "#", right=True), Column("score", "score", right=True, show=score),
           Column("kind", "kind"), Column("id", "id", width=32), Column("from", "from"),
           Column("labels", "labels", width=44), Column("where", "where", width=80))


def _query_title(line: Dict[str, Any]) -> str:
  parts = [f"query {line['query_id']} ({line['query_modality']}"]
  if "query_seconds" in line:
    start, end = line["query_seconds"]
    parts[0] += f", {clock(start)}-{clock(end)}"
  parts[0] += f" -> {line['target_modality']})"
  if line.get("query_labels"):
    parts.append(", ".join(line["query_labels"]))
  if line.get("query_link"):
    parts.append(line["query_link"])
  return "  ".join(parts)


def _table_block(line: Dict[str, Any]) -> str:
  rows = [dict(r, where=where(r), **{"from": _starts(r)}) for r in line["results"]]
  if line.get("target_modality") != "both":
    for r in rows:
      r.pop("kind", None)
  text = printable(_query_title(line)) + "\n"
  if line.get("warning"):
    text += f"  warning: {printable(line['warning'])}\n"
  if line.get("error"):
    return text + f"  error: {printable(line['error'])}\n\n"
  return text + table(COLUMNS, rows) + "\n"


def _html_section(page: hp.Page, line: Dict[str, Any]) -> None:
  page.heading(_query_title_html(line), raw=True)
  if line.get("query_labels"):
    page.paragraph(hp.esc(", ".join(line["query_labels"])), raw=True, css="labels")
  if line.get("warning"):
    page.paragraph("warning: " + line["warning"], css="small")
  if line.get("error"):
    page.paragraph("error: " + line["error"])
    return
  both = line.get("target_modality") == "both"
  headers = ["#", "score"] + (["kind"] if both else []) + ["picture", "id", "from", "labels"]
  rows = []
  for r in line["results"]:
    second = r.get("best_start_second")
    pic = hp.picture(r, second) if r.get("kind") == "pictures" else ""
    rows.append([str(r["rank"]), hp.esc(score(r["score"]))] + (
        [hp.kind_html(r.get("kind", ""))] if both else []) + [
            pic, hp.link(r, r["id"], second) + (
                f'<div class="small">{hp.esc(r["media"]["path"])}</div>'
                if r.get("media") else ""),
            hp.esc(_starts(r)), hp.labels_html(r)])
  page.table(headers, rows, numeric=(0, 1))


def _query_title_html(line: Dict[str, Any]) -> str:
  who = {"query_id": line["query_id"], "id": line["query_id"]}
  if line.get("query_link"):
    who["link"] = line["query_link"]
  if line.get("query_media"):
    who["media"] = line["query_media"]
  text = f"query {hp.link(who, line['query_id'])} ({hp.esc(line['query_modality'])}"
  if "query_seconds" in line:
    start, end = line["query_seconds"]
    text += f", {clock(start)}&ndash;{clock(end)}"
  return text + f" &rarr; {hp.esc(line['target_modality'])})"


def write(lines: Iterable[Dict[str, Any]], fmt: str, out: Output,
          title: str = "yt8m-search") -> int:
  """Writes every line in ``fmt`` (table, jsonl or html) to ``out``; returns the count."""
  count = 0
  page = hp.Page(title) if fmt == "html" else None
  for line in lines:
    count += 1
    if fmt == "jsonl":
      out.write(json_line(rounded(line), f"query {line.get('query_id')!r}") + "\n")
    elif fmt == "table":
      out.write(_table_block(line))
    else:
      _html_section(page, line)
  if fmt == "table" and count:
    out.write(NOTE + "\n")
  if page is not None:
    out.write(page.render())
  return count
