"""Answers a person can read: label names, links, media files, tables and HTML pages."""

import io
import json
import os

import numpy as np
import pytest

from yt8m_crossmodal.answers import (context, describe, formats, html_page, search_view,
                                     thumbnails)
from yt8m_crossmodal.data import media_manifest, pipeline, vocabulary
from yt8m_crossmodal.errors import UsageError

REAL = os.path.join(os.path.dirname(__file__), "data", "real")


def test_vocabularies_of_both_releases():
  v18, v17 = vocabulary.load("yt8m-2018"), vocabulary.load("yt8m-2017")
  assert len(v18.entries) == 3862 and len(v17.entries) == 4716
  assert v18.names([0, 1, 2, 3]) == ["Game", "Video game", "Vehicle", "Concert"]
  assert v17.names([0, 1, 333]) == ["Games", "Vehicle", "Nike, Inc."]
  assert v18.name(120) == "/m/0dxrf"  # No name in the published file: its Knowledge Graph id.
  assert vocabulary.load("auto", 4716).release == "yt8m-2017"
  assert vocabulary.load("auto", 3862).release == "yt8m-2018"
  missing = vocabulary.load("auto", 500)
  assert not missing and missing.names([7]) == ["class 7"] and "500 classes" in missing.note
  assert vocabulary.load("none").names([0]) == ["class 0"]


def test_a_vocabulary_csv_of_ones_own(tmp_path):
  path = tmp_path / "vocabulary.csv"
  path.write_text('Index,TrainVideoCount,KnowledgeGraphId,Name\n0,5,/m/x,"Cats, big"\n'
                  '2,1,/m/y,\n')
  vocab = vocabulary.load(str(path))
  assert vocab.names([0, 1, 2]) == ["Cats, big", "class 1", "/m/y"]
  (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
  with pytest.raises(ValueError, match="needs the columns Index and Name"):
    vocabulary.load(str(tmp_path / "bad.csv"))
  with pytest.raises(ValueError, match="no such file"):
    vocabulary.load(str(tmp_path / "none.csv"))


def _read(name, num_classes):
  ds = pipeline.make_dataset(os.path.join(REAL, name), feature_level="video", batch_size=16,
                             num_classes=num_classes, seed=0)
  batch = next(iter(ds))
  return ([i.decode() for i in batch["id"].numpy()],
          [np.flatnonzero(row > 0).tolist() for row in batch["labels"].numpy()])


def test_real_records_are_named_and_linked():
  ids, labels = _read("yt8m_2018_validate0000_first8.tfrecord", 3862)
  d = context.make_describer("auto", "", 3862, [])
  q = d.query(ids[0], labels[0])
  assert ids[0] == "02aa" and q["query_labels"][:2] == ["Concert", "Musician"]
  assert q["query_link"] == "https://data.yt8m.org/2/j/i/02/02aa.js"  # A pseudo-id: its lookup.
  ids, labels = _read("yt8m_2017_validatea0_six.tfrecord", 4716)
  d = context.make_describer("auto", "", 4716, [])
  r = d.result({"id": ids[0], "score": 0.5}, labels[0], second=41)
  assert r["labels"][0] == "Games"
  assert r["link"] == f"https://www.youtube.com/watch?v={ids[0]}&t=41s"
  # The same 11 characters in 2018 records (sample data) are not YouTube ids.
  assert "link" not in context.make_describer("auto", "", 3862, []).where(ids[0])
  test_ids, _ = _read("yt8m_2017_testa0_first2.tfrecord", 4716)
  assert "link" not in d.where(test_ids[0])  # 2017 test ids are numbers.


def _manifest(tmp_path, entries, name="clips_manifest.jsonl"):
  path = tmp_path / name
  path.write_text("\n".join(json.dumps(e) if isinstance(e, dict) else e for e in entries)
                  + "\n")
  return str(path)


def test_media_manifests_name_the_file_and_second(tmp_path, caplog):
  (tmp_path / "clips-0.tfrecord").write_bytes(b"")
  _manifest(tmp_path, [
      {"id": "holiday", "path": "/media/holiday 2019.mp4", "duration_seconds": 183.4,
       "seconds": 183, "audio": True, "visual": True, "streams": {}, "shard": "x"},
      "not json", {"id": 5}, {"id": "broken", "path": "/media/b.mp4", "error": "no stream"}])
  found = media_manifest.manifests_beside(str(tmp_path / "clips-*.tfrecord"))
  assert found == [str(tmp_path / "clips_manifest.jsonl")]
  d = context.make_describer("auto", "", 3862, [str(tmp_path / "clips-*.tfrecord")])
  assert set(d.media) == {"holiday", "broken"} and "line 2: skipped" in caplog.text
  where = d.where("holiday", 42)
  assert where["media"] == {"path": "/media/holiday 2019.mp4", "second": 42}
  assert where["link"] == "file:///media/holiday%202019.mp4#t=42"
  assert d.where("broken", 0)["media"]["error"] == "no stream"
  with pytest.raises(UsageError, match="--manifest 'nothing\\*' matches no file"):
    context.make_describer("auto", "nothing*", 3862, [])


def test_tables_round_and_show_control_characters_safely():
  rows = [{"rank": 1, "score": 0.123456789, "id": "a\x1b[31mred", "labels": ["x", "y"]}]
  text = formats.table([formats.Column("rank", "#", right=True),
                        formats.Column("score", "score", show=formats.score),
                        formats.Column("id", "id"), formats.Column("labels", "labels"),
                        formats.Column("empty", "never shown")], rows)
  assert "0.123 " in text and "0.1234" not in text and "x, y" in text
  assert "\x1b" not in text and "\\x1b[31mred" in text and "never shown" not in text
  assert describe.rounded({"a": [0.123456789, {"b": 2.0000001}]}) == {"a": [0.1235, {"b": 2.0}]}
  assert describe.clock(75) == "1:15" and describe.clock(3725) == "1:02:05"


def test_format_auto_and_output(tmp_path):
  assert formats.resolve("auto", "", io.StringIO()) == "jsonl"  # A pipe: for a script.

  class Terminal(io.StringIO):
    def isatty(self):
      return True

  assert formats.resolve("auto", "", Terminal()) == "table"
  assert formats.resolve("auto", str(tmp_path / "a.html")) == "html"
  with pytest.raises(UsageError, match="--format must be one of"):
    formats.resolve("xml")
  out = formats.Output(str(tmp_path / "answer.txt"))
  out.write("one\n")
  assert not (tmp_path / "answer.txt").exists()  # Written whole at the end.
  out.close()
  assert (tmp_path / "answer.txt").read_text() == "one\n"


def test_html_escapes_everything_from_the_data(tmp_path):
  evil = '"><script>alert(1)</script>'
  media = {evil: media_manifest.MediaEntry(evil, f"/m/{evil}.mp4")}
  d = describe.Describer(vocabulary.Vocabulary("x", {0: evil}), media, "yt8m-2018")
  line = {"query_id": evil, "query_modality": "audio", "target_modality": "visual",
          "query_labels": [evil], "warning": evil,
          "results": [d.result({"id": evil, "kind": "pictures", "score": 0.5, "rank": 1,
                                "best_start_second": 3}, [0], 3),
                      d.result({"id": "Xfbq", "kind": "pictures", "score": 0.4, "rank": 2},
                               [0])]}
  out = formats.Output(str(tmp_path / "p.html"))
  search_view.write([line], "html", out)
  out.close()
  page = (tmp_path / "p.html").read_text()
  assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
  assert 'data-yt8m="Xfbq"' in page and "https://data.yt8m.org/2/j/i/Xf/Xfbq.js" in page
  # Without a picture (no such file): the media file at its second, for the browser.
  assert '<video src="file:///m/%22%3E%3Cscript%3Ealert%281%29%3C/script%3E.mp4#t=3"' in page


@pytest.mark.skipif(not thumbnails.available(), reason="PyAV is not installed")
def test_the_picture_at_a_second_of_a_media_file(tmp_path):
  import av
  from PIL import Image
  path = str(tmp_path / "colours.mp4")
  colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
  with av.open(path, "w") as container:
    stream = container.add_stream("mpeg4", rate=4)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    for second, colour in enumerate(colours):
      for _ in range(4):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), colour, np.uint8), "rgb24")
        for packet in stream.encode(frame):
          container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  for second, colour in enumerate(colours):
    jpeg = thumbnails.picture_at(path, second + 0.5)
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), np.float32)
    assert pixels.shape[1] == thumbnails.WIDTH
    assert np.argmax(pixels.mean(axis=(0, 1))) == np.argmax(colour), second
  assert thumbnails.picture_at(str(tmp_path / "none.mp4"), 1) is None
  cell = html_page.picture({"id": "c", "media": {"path": path, "second": 1}}, 1.5)
  assert cell.startswith('<div class="pic"><img src="data:image/jpeg;base64,')
