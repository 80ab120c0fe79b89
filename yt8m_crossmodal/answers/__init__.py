"""Answers a person can read: label names, links, tables and HTML pages.

The search-like tools (``yt8m-search``, ``yt8m-pictures``, ``yt8m-soundtracks``)
compute their results as dicts; this package turns them into what a person
reads: :mod:`.describe` (label names, where to watch a result: a YouTube
link, the YouTube-8M pseudo-id lookup, or the media file and second),
:mod:`.formats` (``--format=table|jsonl``), :mod:`.html_page` (``--format=html``,
every text escaped) and :mod:`.thumbnails` (the picture at a second of a
media file).
"""
