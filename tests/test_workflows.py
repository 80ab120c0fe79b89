"""The three uses: pictures for a long soundtrack, soundtracks for pictures, topic search.

The tiny export is untrained, so its audio and pictures do not match; the
catalogues here are made so that one item holds what the query encodes to
(through the export) at a known place, as test_search's localization test
does, and the tools must find that item and that place.
"""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import yt8m_crossmodal as ym
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.answers import formats, search_view, soundtracks_view, storyboard_view
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import pictures as pictures_job
from yt8m_crossmodal.jobs import search as search_job
from yt8m_crossmodal.retrieval import hubness, storyboard, stretches, window_index
from yt8m_crossmodal.serving import loading

import helpers
import records

E = helpers.E


def _unit(x):
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def loaded(frame_export):
  return loading.load_export(frame_export.export_dir)


@pytest.fixture(scope="module")
def broadcast(tmp_path_factory):
  """A 40-second record (longer than the tiny model's 16 max_frames)."""
  path = tmp_path_factory.mktemp("broadcast") / "broadcast.tfrecord"
  record, rgb, audio = records.frame_record("radio", labels=(3, 4), frames=40, seed=7)
  records.write(path, [record])
  return str(path), rgb, audio


# ----------------------------------------------------------------------------
# Pictures for a long soundtrack.


def test_a_long_track_is_encoded_in_pieces_as_a_whole(loaded, broadcast):
  _, _, audio = broadcast
  encode = loaded.encode_fn("audio")
  pieces = pictures_job.encode_timeline(encode, feat.to_float(audio), piece=16)
  _, whole = encode(feat.to_float(audio)[None], np.array([40], np.int32))
  assert pieces.shape == (40, E)
  np.testing.assert_allclose(pieces, whole[0], atol=1e-5)  # The timeline is per second.


def test_segments_cover_the_track():
  assert stretches.segments(45, 20, 10) == [(0, 20), (10, 30), (20, 40), (25, 45)]
  assert stretches.segments(12, 20, 10) == [(0, 12)]
  assert stretches.segments(0, 20, 10) == []


@pytest.mark.parametrize("dtype,pool", [("float16", 1), ("int8", 1), ("int8", 2)])
def test_the_planted_stretch_is_found_catalogue_wide(tmp_path, dtype, pool):
  rng = np.random.default_rng(0)
  n, t, length = 30, 40, 8
  track = _unit(rng.normal(size=(60, E)))
  visual = _unit(rng.normal(size=(n, t, E)))
  visual[17, 21:21 + length] = track[30:30 + length]  # Video 17, seconds 21..28.
  nf = rng.integers(10, t + 1, size=n)
  nf[17] = t
  retrieval.write_catalogue(str(tmp_path / "c"), [f"v{i}" for i in range(n)],
                            _unit(rng.normal(size=(n, E))), _unit(rng.normal(size=(n, E))),
                            _unit(rng.normal(size=(n, t, E))), visual, nf,
                            timeline_dtype=dtype, timeline_pool=pool)
  cat = retrieval.load_catalogue(str(tmp_path / "c"))
  spans = stretches.segments(60, length, 5)
  found = stretches.stretches(track, spans, cat.timelines("visual"), cat.num_frames,
                              width=4, count=20)
  best = found[spans.index((30, 38))][0]
  assert best.item == 17 and abs(best.start - 21) < pool
  assert best.score > (0.99 if pool == 1 else 0.5)
  if dtype == "int8" and pool == 1:  # The same from a faiss index of the windows.
    windows = window_index.build(cat, str(tmp_path / "windows"), "visual", width=4)
    assert windows.info["windows"] == int(np.ceil(nf / 4).sum())
    again = stretches.stretches(track, spans, cat.timelines("visual"), cat.num_frames, 4, 20,
                                window_search=lambda q, c, ok, b: windows.search(q, c, None, ok, b))
    best = again[spans.index((30, 38))][0]
    assert (best.item, best.start) == (17, 21) and best.score > 0.99
    assert window_index.open_or_build(str(tmp_path / "windows"), cat, "visual", 4).info == \
        windows.info  # Reused, not built again.
    with pytest.raises(ValueError, match="built for another catalogue or setting \\(width"):
      window_index.load(str(tmp_path / "windows"), cat, "visual", width=5)
  for cands in found:  # One stretch per video, on the video, best first.
    assert len({c.item for c in cands}) == len(cands)
    assert all(0 <= c.start <= nf[c.item] - length for c in cands)
    assert [c.score for c in cands] == sorted([c.score for c in cands], reverse=True)


def test_no_video_is_suggested_again_within_the_gap():
  top = lambda j: [storyboard.Pick(0, 0, 1.0, 1.0, 1.0)] + [
      storyboard.Pick(i, 0, 0.5 - i / 100, 0.5, 0.5) for i in range(1, 20)]
  starts = list(range(0, 100, 10))
  chosen = storyboard.choose([top(j) for j in range(10)], starts, k=2, repeat_gap=30)
  firsts = [picks[0].item for picks in chosen]
  assert firsts == [0, 2, 4, 0, 2, 4, 0, 2, 4, 0]  # The hub only every 30 s.
  for j, picks in enumerate(chosen):
    assert len(picks) == 2 and picks[0].item != picks[1].item
    for p in picks:  # No video within 30 s of its last use.
      earlier = [i for i in range(max(0, j - 2), j) if p.item in {q.item for q in chosen[i]}]
      assert not earlier
  again = storyboard.choose([top(j) for j in range(10)], starts, k=1, repeat_gap=0)
  assert [p[0].item for p in again] == [0] * 10
  # A strong fit is placed first: video 7 fits the second segment best, and is not
  # used up as the first segment's weak second choice.
  weak = [storyboard.Pick(1, 0, 0.9, 0.9, 0.9), storyboard.Pick(7, 0, 0.2, 0.2, 0.2),
          storyboard.Pick(8, 0, 0.1, 0.1, 0.1)]
  strong = [storyboard.Pick(7, 5, 0.95, 0.95, 0.95), storyboard.Pick(9, 0, 0.3, 0.3, 0.3)]
  first, second = storyboard.choose([weak, strong], [0, 10], k=2, repeat_gap=60)
  assert [p.item for p in first] == [1, 8] and [p.item for p in second] == [7, 9]


def _planted_pictures_catalogue(path, loaded, audio, frame_export, plant_at, plant_from,
                                length, n=8, t=24):
  """Video "c2"'s pictures at seconds [plant_at, +length) are the soundtrack's
  seconds [plant_from, +length) as the export encodes them."""
  rng = np.random.default_rng(1)
  _, timeline = loaded.encode_fn("audio")(feat.to_float(audio)[None],
                                          np.array([len(audio)], np.int32))
  visual = _unit(rng.normal(size=(n, t, E)))
  visual[2, plant_at:plant_at + length] = timeline[0, plant_from:plant_from + length]
  retrieval.write_catalogue(
      str(path), [f"c{i}" for i in range(n)], _unit(rng.normal(size=(n, E))),
      _unit(rng.normal(size=(n, E))), _unit(rng.normal(size=(n, t, E))), visual,
      np.full([n], t), labels=[[0, 3]] * n, source={"num_classes": 3862},
      model_info={"export_dir": frame_export.version_dir})
  return str(path)


def test_pictures_for_a_long_soundtrack(frame_export, loaded, broadcast, tmp_path):
  data, _, audio = broadcast
  index = _planted_pictures_catalogue(tmp_path / "cat", loaded, audio, frame_export,
                                      plant_at=9, plant_from=18, length=6)
  cfg = ym.PicturesConfig(index=index, export_dir=frame_export.export_dir, audio_data=data,
                          segment_seconds=6, hop_seconds=6, k=2, window_seconds=3,
                          candidates=16, repeat_gap_seconds=0, clip_weight=0.0)
  (board,) = list(ym.find_pictures(cfg))  # Ranked by the stretches' own fit.
  assert board["query_id"] == "radio" and board["seconds"] == 40
  assert board["query_labels"] == ["Concert", "Musician"]
  spans = [(s["start_second"], s["end_second"]) for s in board["segments"]]
  assert spans == stretches.segments(40, 6, 6)
  segment = board["segments"][spans.index((18, 24))]
  top = segment["pictures"][0]
  assert (top["id"], top["start_second"], top["end_second"]) == ("c2", 9, 15)
  assert top["stretch_score"] == pytest.approx(1.0, abs=3e-3)  # float16 storage.
  assert top["labels"] == ["Game", "Concert"] and top["score"] == top["stretch_score"]
  for seg in board["segments"]:
    assert len(seg["pictures"]) == 2 and seg["pictures"][0]["id"] != seg["pictures"][1]["id"]
    assert all(p["start_second"] >= 0 and p["end_second"] <= 24 for p in seg["pictures"])
  # With a gap of a minute no video comes back within this 40-s soundtrack (8 videos,
  # 2 a segment: the last segments get fewer); the whole video's fit counts half.
  gapped = next(ym.find_pictures(dataclasses.replace(cfg, repeat_gap_seconds=60,
                                                     clip_weight=0.5)))
  used = [p["id"] for s in gapped["segments"] for p in s["pictures"]]
  assert len(used) == len(set(used)) == 8 and gapped["most_uses"] == 1
  for p in (p for s in gapped["segments"] for p in s["pictures"]):
    assert p["score"] == pytest.approx(0.5 * p["clip_score"] + 0.5 * p["stretch_score"])
  # The storyboard as a person reads it.
  out = formats.Output(str(tmp_path / "board.html"))
  storyboard_view.write([board], "html", out)
  out.close()
  page = (tmp_path / "board.html").read_text()
  assert "Storyboard of" in page and "0:18</b>&ndash;0:24" in page and "c2" in page
  out = formats.Output(str(tmp_path / "board.jsonl"))
  storyboard_view.write([board], "jsonl", out)
  out.close()
  lines = [json.loads(x) for x in (tmp_path / "board.jsonl").read_text().splitlines()]
  assert lines[0]["segments"] == len(spans) and len(lines) == 1 + len(spans)
  assert lines[1 + spans.index((18, 24))]["pictures"][0]["start_second"] == 9


def test_pictures_errors(frame_export, video_export, broadcast, tmp_path):
  data, _, _ = broadcast
  cfg = lambda **kw: ym.PicturesConfig(**dict(dict(
      index=str(frame_export.root / "catalogue"), export_dir=frame_export.export_dir,
      audio_data=data), **kw))
  with pytest.raises(UsageError, match="--export_dir is required"):
    cfg(export_dir="").validate()
  with pytest.raises(UsageError, match="--segment_seconds must be >= 2"):
    cfg(segment_seconds=1).validate()
  with pytest.raises(UsageError, match="--candidates >= --k"):
    cfg(candidates=2, k=3).validate()
  with pytest.raises(UsageError, match="stores no timelines"):
    list(ym.find_pictures(cfg()))
  with pytest.raises(UsageError, match="video-level model"):
    list(ym.find_pictures(cfg(export_dir=video_export.export_dir)))


# ----------------------------------------------------------------------------
# Soundtracks for a video.


def test_soundtracks_for_a_picture_track(frame_export, loaded, tmp_path):
  record, rgb, _ = records.frame_record("myclip", labels=(), frames=30, seed=3)
  data = records.write(tmp_path / "clip.tfrecord", [record])
  clip, pictures = loaded.encode_fn("visual")(feat.to_float(rgb)[None], np.array([30], np.int32))
  rng = np.random.default_rng(2)
  n, t = 6, 48
  audio_tl = _unit(rng.normal(size=(n, t, E)))
  audio_tl[3, 7:37] = pictures[0]            # The song "s3" fits from its second 7,
  audio_emb = _unit(rng.normal(size=(n, E)))
  audio_emb[3] = clip[0]                     # and as a whole.
  nf = np.full([n], t)
  nf[5] = 20                                 # A song shorter than the pictures.
  retrieval.write_catalogue(
      str(tmp_path / "songs"), [f"s{i}" for i in range(n)], audio_emb,
      _unit(rng.normal(size=(n, E))), audio_tl, _unit(rng.normal(size=(n, t, E))), nf)
  cfg = ym.SoundtracksConfig(index=str(tmp_path / "songs"), export_dir=frame_export.export_dir,
                             visual_data=data, k=6, candidates=6)
  (answer,) = list(ym.find_soundtracks(cfg))
  assert answer["query_id"] == "myclip" and answer["seconds"] == 30
  top = answer["soundtracks"][0]
  assert top["id"] == "s3" and top["song_start_second"] == 7 and top["video_start_second"] == 0
  assert top["seconds"] == 30 and top["fit"] == pytest.approx(1.0, abs=3e-3)
  assert top["confidence"] > 0.99 and top["confident"]
  others = [r for r in answer["soundtracks"] if r["id"] != "s3"]
  assert all(not r["confident"] for r in others)
  short = next(r for r in answer["soundtracks"] if r["id"] == "s5")
  assert short["song_start_second"] == 0 and 0 <= short["video_start_second"] <= 10
  assert short["seconds"] == 20
  assert [r["rank"] for r in answer["soundtracks"]] == list(range(1, 7))
  out = formats.Output(str(tmp_path / "s.txt"))
  soundtracks_view.write([answer], "table", out)
  out.close()
  text = (tmp_path / "s.txt").read_text()
  assert "soundtracks for myclip (0:30 of pictures)" in text
  assert "start the song at" in text and "0:07" in text


# ----------------------------------------------------------------------------
# Topic search over both kinds.


@pytest.fixture(scope="module")
def index(frame_export, frame_data_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("topic") / "index")
  return ym.embed(ym.EmbedConfig(export_dir=frame_export.export_dir,
                                 data=f"{frame_data_dir}/*.tfrecord", output=out,
                                 batch_size=12, timelines=True))


def test_topic_search_ranks_both_kinds_on_one_scale(index, frame_export, frame_data_dir,
                                                     loaded):
  data = f"{frame_data_dir}/*.tfrecord"
  lines = search_job.search_queries(search_job.SearchConfig(
      index=index["path"], export_dir=frame_export.export_dir, query_data=data,
      query_modality="audio", target_modality="both", k=8))
  cat = retrieval.load_catalogue(index["path"])
  assert cat.has_labels and cat.self_hubness
  ids = list(cat.ids)
  query_emb = cat.embeddings("audio")  # The queries are the catalogue's own videos.
  w = hubness.DEFAULT_WEIGHT
  t = hubness.DEFAULT_TEMPERATURE
  kinds = set()
  for q, line in enumerate(lines):
    assert line["target_modality"] == "both" and line["query_id"] == ids[q]
    want = []
    for target, kind in (("audio", "sound"), ("visual", "pictures")):
      bank = cat.embeddings(target)[hubness.bank_rows(cat.size)]
      sims = query_emb[q] @ bank.T
      if target == "audio":  # The query itself is left out of its own modality's bank.
        sims = np.delete(sims, q)
      own = t * np.log(np.exp(sims / t).sum())  # The soft maximum.
      item = (cat.self_hubness if target == "audio" else cat.hubness)[target]
      scores = cat.embeddings(target) @ query_emb[q] - w * item - w * own
      want += [(s, kind, ids[i]) for i, s in enumerate(scores)
               if not (target == "audio" and ids[i] == ids[q])]  # Not the query itself.
    want.sort(key=lambda x: -x[0])
    got = line["results"]
    assert [(r["kind"], r["id"]) for r in got] == [(k, i) for _, k, i in want[:8]]
    np.testing.assert_allclose([r["score"] for r in got], [s for s, _, _ in want[:8]],
                               atol=1e-5)
    assert all(r["labels"] for r in got)  # Sample data: labels, named.
    kinds |= {r["kind"] for r in got}
  assert kinds == {"sound", "pictures"}
  # The same search as a table and as a page: both kinds said.
  out = formats.Output()
  text = []
  out.write = text.append
  search_view.write(lines[:2], "table", out)
  assert "kind" in text[0] and ("sound" in text[0] or "pictures" in text[0])


def test_the_tools_run_as_a_user_runs_them_and_print_no_library_line(index, frame_export,
                                                                       frame_data_dir):
  """yt8m-pictures and yt8m-soundtracks from a shell: answers on stdout, and on
  stderr no line of TensorFlow or absl (``--verbose`` shows them)."""
  data = f"{frame_data_dir}/train0000.tfrecord"
  common = [f"--index={index['path']}", f"--export_dir={frame_export.export_dir}",
            "--max_records=1", "--format=jsonl", "--noprogress"]
  runs = {"pictures": [f"--audio_data={data}", "--segment_seconds=4", "--hop_seconds=4",
                       "--window_seconds=2", "--candidates=8", "--k=2"],
          "soundtracks": [f"--visual_data={data}", "--k=3", "--candidates=6"]}
  for tool, args in runs.items():
    proc = subprocess.run([sys.executable, "-m", f"yt8m_crossmodal.tools.{tool}", *common,
                           *args], capture_output=True, text=True, timeout=300,
                          env=helpers.tool_env())
    assert proc.returncode == 0, (tool, proc.stderr[-3000:])
    assert helpers.library_lines(proc.stderr) == [], (tool, proc.stderr[-3000:])
    first = json.loads(proc.stdout.splitlines()[0])
    assert first["query_id"] and first["seconds"] > 0, (tool, first)
    if tool == "soundtracks":
      assert len(first["soundtracks"]) == 3
    else:
      assert first["segments"] == len(proc.stdout.splitlines()) - 1 > 0


def test_target_modality_is_checked():
  with pytest.raises(UsageError, match="--target_modality must be one of"):
    search_job.SearchConfig(index="i", query_data="q", target_modality="text").validate()


@pytest.mark.parametrize("tool,fields", [
    ("search", ["best_start_second", "never negative", "pseudo-id", "kind", "query_labels"]),
    ("pictures", ["start_second, end_second", "stretch_score", "repeat_gap_seconds", "media"]),
    ("soundtracks", ["song_start_second", "confidence", "video_start_second", "labels"])])
def test_help_says_what_every_field_means(tool, fields):
  proc = subprocess.run([sys.executable, "-m", f"yt8m_crossmodal.tools.{tool}", "--help"],
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for field in fields + ["--format", "--vocabulary", "--manifest"]:
    assert field in proc.stdout, (tool, field)
