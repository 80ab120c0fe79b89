"""The Mechanical Turk task layout that goes with ``mturk_batch.csv``.

:func:`write_layout` writes ``mturk_layout.html``: an HTML layout for MTurk's
requester UI ("Custom HTML" project), with ``${column}`` placeholders that
MTurk fills from the batch CSV (:func:`yt8m_crossmodal.evaluation.reports.write_mturk_csv`).
One HIT is one query row: the query clip, its top-K candidates, and per
candidate a relevance question on a 3-point scale (answer ``relevance_<j>``:
``0`` does not fit, ``1`` partly fits, ``2`` fits well). With ``sync=True``
it also holds the synchronization question (answer ``sync``: ``in_sync``,
``audio_early``, ``audio_late`` or ``cant_tell``), shown only on rows whose
``sync_audio_start`` is filled.

Every value MTurk pastes in comes from a cell that
:func:`yt8m_crossmodal.escaping.mturk_cell` wrote: HTML-escaped, so an id is
shown as text and cannot leave the quoted attribute it is put in (the
placeholders stand only in element text and quoted attributes, never in a
script); the script reads ids back with ``textContent``/``getAttribute`` and
writes them with ``textContent`` only.

Record ids become YouTube videos in the worker's browser: an 11-character id
(2017 ``video_id``) is a YouTube id; a 4-character pseudo-id (2018+) is
looked up through the data set's public lookup
(``https://data.yt8m.org/2/j/i/<first 2 chars>/<id>.js``, which calls
``i("<id>", "<YouTube id>")``); anything else, or a failed lookup, shows the
record id alone. Audio queries and candidates are played with the pictures
covered, visual ones muted (YouTube IFrame API), with a plain YouTube link as
the fallback.
"""

from __future__ import annotations

import re
from typing import Mapping

from yt8m_crossmodal import io_utils

ANSWER_RELEVANCE = "relevance_{j}"
ANSWER_SYNC = "sync"
RELEVANCE_LABELS = ((2, "Fits well"), (1, "Partly fits"), (0, "Does not fit"))
SYNC_LABELS = (("in_sync", "In sync"), ("audio_early", "Sound comes too early"),
               ("audio_late", "Sound comes too late"), ("cant_tell", "Can't tell"))

_STYLE = """
body{font-family:sans-serif;max-width:70em;margin:auto}
.clip{display:inline-block;vertical-align:top;width:330px;margin:4px;padding:6px;
  border:1px solid #ccc;border-radius:4px;background:#fafafa}
.player{position:relative;width:320px;height:180px;background:#222;color:#eee;
  font-size:13px;display:flex;align-items:center;justify-content:center;text-align:center}
.player iframe{position:absolute;left:0;top:0;width:320px;height:180px;border:0}
.cover{position:absolute;left:0;top:0;width:320px;height:180px;background:#000;color:#ddd;
  display:flex;align-items:center;justify-content:center}
.question{margin:6px 0}
.question label{display:block;cursor:pointer}
.id{font-family:monospace}
.instructions{background:#eef4ff;padding:6px 12px;border-radius:4px}
.sync{border:2px solid #9bc;padding:8px;margin-top:12px}
"""

# In the worker's browser: resolve ids, build players, check the answers.
_SCRIPT = r"""
(function(){
  var YT_ID = /^[A-Za-z0-9_-]{11}$/, PSEUDO = /^[A-Za-z0-9_-]{4}$/;
  var pending = {}, players = [], apiReady = false, queue = [];
  // The batch file's cells that a spreadsheet would run carry a leading
  // apostrophe (escaping.csv_cell): the id is the rest.
  var FORMULA = /^[ \u00a0]*['=+\-@\t\r\n\uff1d\uff0b\uff0d\uff20]/;
  var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  function cellText(v){
    var rest = v.substring(1);
    return (v.charAt(0) === "'" && FORMULA.test(rest) && !NUMBER.test(rest)) ? rest : v;
  }
  window.i = function(pseudo, yt){
    if (typeof yt !== 'string' || !YT_ID.test(yt)) yt = null;  // Only a YouTube id is used.
    (pending[pseudo] || []).forEach(function(f){ f(yt); });
    delete pending[pseudo]; };
  function resolve(id, done){
    if (YT_ID.test(id)) { done(id); return; }
    if (!PSEUDO.test(id)) { done(null); return; }
    var first = !pending[id]; (pending[id] = pending[id] || []).push(done);
    if (!first) return;
    var s = document.createElement('script');
    s.src = 'https://data.yt8m.org/2/j/i/' + id.substring(0, 2) + '/' + id + '.js';
    s.onerror = function(){ window.i(id, null); };
    document.head.appendChild(s);
    setTimeout(function(){ if (pending[id]) window.i(id, null); }, 8000);
  }
  function build(box){
    var id = cellText(box.getAttribute('data-id') || ''), mode = box.getAttribute('data-modality');
    box.querySelectorAll('.id').forEach(function(x){ x.textContent = id; });
    var start = parseInt(box.getAttribute('data-start') || '0', 10) || 0;
    var end = parseInt(box.getAttribute('data-end') || '0', 10) || 0;
    var player = box.querySelector('.player'), link = box.querySelector('.link');
    if (!id) { player.textContent = '(no clip)'; return; }
    resolve(id, function(yt){
      if (!yt) {
        player.textContent = 'Record ' + id + ': no YouTube video known for this id.';
        // Nothing to judge: its question may be left blank (counted as missing).
        box.querySelectorAll('input').forEach(function(x){ x.required = false; });
        return;
      }
      var url = 'https://www.youtube.com/watch?v=' + yt + '&t=' + start + 's';
      link.innerHTML = '<a target="_blank" rel="noopener" href="' + url + '">open on YouTube</a>' +
          (mode === 'audio' ? ' (listen without looking)' : ' (watch with the sound off)');
      var holder = document.createElement('div'); player.textContent = ''; player.appendChild(holder);
      if (mode === 'audio') {
        var cover = document.createElement('div'); cover.className = 'cover';
        cover.textContent = 'Soundtrack only: press play'; player.appendChild(cover);
      }
      var make = function(){
        var vars = {start: start, controls: 1, rel: 0, playsinline: 1};
        if (end > start) vars.end = end;
        if (mode !== 'audio') vars.mute = 1;
        var p = new YT.Player(holder, {videoId: yt, width: 320, height: 180, playerVars: vars,
          events: {onReady: function(e){ if (mode !== 'audio') e.target.mute(); }}});
        players.push(p); box.ytPlayer = p;
        if (cover) cover.onclick = function(){
          var playing = p.getPlayerState && p.getPlayerState() === 1;
          if (playing) { p.pauseVideo(); cover.textContent = 'Paused: press to play'; }
          else { p.playVideo(); cover.textContent = 'Playing (soundtrack only): press to pause'; }
        };
      };
      make.fallback = function(){
        player.textContent = 'The YouTube player did not load: use the link below.'; };
      if (apiReady) make(); else queue.push(make);
    });
  }
  window.onYouTubeIframeAPIReady = function(){ apiReady = true; queue.forEach(function(f){ f(); }); };
  document.addEventListener('DOMContentLoaded', function(){
    var api = document.createElement('script'); api.src = 'https://www.youtube.com/iframe_api';
    api.onerror = function(){ queue.forEach(function(f){ f.fallback(); }); queue = []; };
    document.head.appendChild(api);
    var boxes = document.querySelectorAll('.clip');
    for (var n = 0; n < boxes.length; n++) {
      // Candidates of an unfilled rank (fewer videos than K) are hidden.
      if (!boxes[n].getAttribute('data-id') && boxes[n].getAttribute('data-role') === 'candidate') {
        boxes[n].style.display = 'none'; boxes[n].querySelectorAll('input').forEach(
          function(x){ x.required = false; x.disabled = true; });
        continue;
      }
      build(boxes[n]);
    }
    var sync = document.getElementById('sync_block');
    if (sync && !sync.getAttribute('data-audio-start')) {
      sync.style.display = 'none';
      sync.querySelectorAll('input').forEach(function(x){ x.required = false; x.disabled = true; });
    }
    var play = document.getElementById('sync_play');
    if (play) play.onclick = function(){
      var a = document.getElementById('sync_audio').ytPlayer, v = document.getElementById('sync_pictures').ytPlayer;
      if (!a || !v) return;
      a.seekTo(parseInt(sync.getAttribute('data-audio-start'), 10), true);
      v.seekTo(parseInt(sync.getAttribute('data-picture-start'), 10), true);
      a.playVideo(); v.playVideo();
    };
  });
})();
"""


def _question(name: str, choices) -> str:
  return "".join(
      f"<label><input type='radio' name='{name}' value='{value}' required> {text}</label>"
      for value, text in choices)


def layout_html(k: int, sync: bool = False) -> str:
  """The layout's text for ``k`` candidates (``sync``: with the sync question).

  Args:
    k: candidates per row, as in the batch CSV (``candidate_1_id`` ... ``candidate_<k>_id``).
    sync: add the synchronization question (needs the ``sync_*`` columns).

  Returns:
    HTML with ``${...}`` placeholders named after batch-CSV columns.
  """
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}")
  parts = [
      "<!-- yt8m-crossmodal: Mechanical Turk layout for mturk_batch.csv. "
      "Its placeholders (dollar sign, column name in braces) are batch CSV columns. -->",
      "<script src='https://assets.crowd.aws/crowd-html-elements.js'></script>",
      f"<style>{_STYLE}</style>",
      f"<script>{_SCRIPT}</script>",
      "<crowd-form answer-format='flatten-objects'>",
      "<div class='instructions'><b>Does it fit?</b> Play the query "
      "(<b>${query_modality}</b>: a soundtrack is played with the pictures hidden, pictures "
      "with the sound off), then each result (<b>${candidate_modality}</b>). For each result, "
      "say how well it fits the query: would this soundtrack fit these pictures? Judge the kind "
      "of scene and sound, not the exact moment.</div>",
      "<h3>Query (${query_modality})</h3>",
      "<div class='clip' data-role='query' data-id='${query_id}' "
      "data-modality='${query_modality}'>"
      "<div class='player'>loading ${query_id}&hellip;</div>"
      "<div><span class='id'>${query_id}</span> <span class='link'></span></div></div>",
      "<h3>Results (${candidate_modality}), best first</h3><div>",
  ]
  for j in range(1, k + 1):
    parts.append(
        f"<div class='clip' data-role='candidate' data-id='${{candidate_{j}_id}}' "
        f"data-modality='${{candidate_modality}}'>"
        f"<b>Result {j}</b>"
        f"<div class='player'>loading ${{candidate_{j}_id}}&hellip;</div>"
        f"<div><span class='id'>${{candidate_{j}_id}}</span> <span class='link'></span></div>"
        f"<div class='question'>Does this fit the query?"
        f"{_question(ANSWER_RELEVANCE.format(j=j), RELEVANCE_LABELS)}</div></div>")
  parts.append("</div>")
  if sync:
    parts += [
        "<div class='sync' id='sync_block' data-audio-start='${sync_audio_start}' "
        "data-picture-start='${sync_picture_start}'>",
        "<h3>Timing (one more question)</h3>",
        "<p>Press <button type='button' id='sync_play'>Play both</button>: the pictures of the "
        "query's video (left, no sound) play together with ${sync_seconds} s of its soundtrack "
        "(right, pictures hidden). Is the sound in sync with the pictures?</p>",
        "<div class='clip' id='sync_pictures' data-role='sync' data-id='${query_id}' "
        "data-modality='visual' data-start='${sync_picture_start}'>"
        "<div class='player'>pictures of ${query_id}</div>"
        "<div><span class='id'>${query_id}</span> from ${sync_picture_start} s "
        "<span class='link'></span></div></div>",
        "<div class='clip' id='sync_audio' data-role='sync' data-id='${query_id}' "
        "data-modality='audio' data-start='${sync_audio_start}'>"
        "<div class='player'>soundtrack of ${query_id}</div>"
        "<div><span class='id'>${query_id}</span> from ${sync_audio_start} s "
        "<span class='link'></span></div></div>",
        f"<div class='question'>{_question(ANSWER_SYNC, SYNC_LABELS)}</div>",
        "</div>",
    ]
  parts += ["<p><crowd-button form-action='submit' variant='primary'>Submit</crowd-button></p>",
            "</crowd-form>"]
  return "\n".join(parts)


def write_layout(path: str, k: int, sync: bool = False) -> None:
  """Writes :func:`layout_html` to ``path`` (``mturk_layout.html``)."""
  io_utils.atomic_write(path, layout_html(k, sync) + "\n")


PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders(layout: str) -> set:
  """The column names the layout's ``${...}`` placeholders use."""
  return set(PLACEHOLDER.findall(layout))


def fill(layout: str, values: Mapping[str, str]) -> str:
  """The layout with its placeholders replaced, as MTurk does for one CSV row.

  Raises:
    KeyError: a placeholder without a value (MTurk refuses such a batch).
  """
  return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), layout)
