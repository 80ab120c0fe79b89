"""yt8m-embed --runner=DirectRunner: the Beam pipeline builds the in-process index."""

import os

import numpy as np
import pytest

pytest.importorskip("apache_beam", reason="apache-beam is not installed "
                    "(pip install 'yt8m-crossmodal[beam]')")

from yt8m_crossmodal import retrieval  # noqa: E402
from yt8m_crossmodal.errors import UsageError  # noqa: E402
from yt8m_crossmodal.jobs import embed as embed_job  # noqa: E402

import records  # noqa: E402


def _embed(export, data, output, **kw):
  return embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=export.export_dir, data=data, output=str(output), timelines=True,
      batch_size=5, **kw))


def _same_index(a_path, b_path):
  a, b = retrieval.load_catalogue(a_path), retrieval.load_catalogue(b_path)
  assert a.ids == b.ids
  assert a.has_labels and [a.labels_of(i) for i in range(a.size)] == [
      b.labels_of(i) for i in range(b.size)]
  np.testing.assert_array_equal(a.num_frames, b.num_frames)
  for m in ("audio", "visual"):
    np.testing.assert_allclose(b.embeddings(m), a.embeddings(m), atol=1e-5)
    np.testing.assert_allclose(np.asarray(b.timelines(m)), np.asarray(a.timelines(m)),
                               atol=1e-5)
  return a, b


def test_direct_runner_builds_the_in_process_index(frame_export, frame_data_dir, tmp_path):
  data = f"{frame_data_dir}/*.tfrecord"
  options = dict(timeline_dtype="int8", ann="ivfpq")
  here = _embed(frame_export, data, tmp_path / "in_process", **options)
  beam = _embed(frame_export, data, tmp_path / "beam", runner="DirectRunner",
                pipeline_options="--direct_num_workers=2 "
                "--direct_running_mode=multi_processing", **options)
  assert here["runner"] == "in_process" and beam["runner"] == "DirectRunner"
  assert beam["num_items"] == here["num_items"] == 24 and beam["bad_records_skipped"] == 0
  assert beam["faiss"]["visual"]["kind"] == "ivfpq"
  _same_index(here["path"], beam["path"])
  # Built aside: nothing but the two index folders is left next to them.
  assert sorted(os.listdir(tmp_path)) == ["beam", "in_process"]


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
  """Two files: a bad record (rgb width 1000) at index 1, and a truncated file."""
  folder = tmp_path_factory.mktemp("bad_data")
  good = [records.frame_record(f"g{i}", frames=6 + i, seed=i)[0] for i in range(4)]
  bad, _, _ = records.frame_record("badwidth", frames=5, rgb_width=1000)
  records.write(folder / "a.tfrecord", [good[0], bad, good[1]])
  path = records.write(folder / "b.tfrecord", good[2:])
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:-10])  # The last record is cut short.
  return str(folder)


def test_bad_records_follow_the_reader_rules(frame_export, bad_data, tmp_path):
  data = f"{bad_data}/*.tfrecord"
  with pytest.raises(UsageError, match=r"Bad YT-8M record in .*a\.tfrecord at record index 1 "
                     r"\(video id 'badwidth'\): rgb bytes per frame not 1024"):
    _embed(frame_export, data, tmp_path / "failed", runner="DirectRunner")
  assert os.listdir(tmp_path) == []  # Nothing half-written.
  beam = _embed(frame_export, data, tmp_path / "beam", runner="DirectRunner",
                skip_bad_records=True)
  here = _embed(frame_export, data, tmp_path / "here", skip_bad_records=True)
  assert beam["bad_records_skipped"] == 2  # The bad record and the truncated tail.
  a, _ = _same_index(here["path"], beam["path"])
  assert a.ids == ["g0", "g1", "g2"]


def test_bad_runner_settings_are_usage_errors(frame_export, frame_data_dir, tmp_path):
  data = f"{frame_data_dir}/*.tfrecord"
  with pytest.raises(UsageError, match="--pipeline_options needs a Beam --runner"):
    _embed(frame_export, data, tmp_path / "x", pipeline_options="--direct_num_workers=2")
  with pytest.raises(ValueError, match="NoSuchRunner"):
    _embed(frame_export, data, tmp_path / "y", runner="NoSuchRunner")
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("dtype,pool", [("float16", 1), ("int8", 2)])
def test_shards_are_assembled_in_file_and_record_order(frame_export, tmp_path, dtype, pool):
  """Shards written out of order (and a video twice) give rows in (file, index) order."""
  from yt8m_crossmodal.jobs import embed_beam
  from yt8m_crossmodal.retrieval import compact_timelines
  from yt8m_crossmodal.serving.loading import load_export
  exp = load_export(frame_export.export_dir)
  e, rng = exp.embedding_size, np.random.default_rng(0)
  unit = lambda x: (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
  items = []
  for f in range(2):
    for i in range(5):
      n = int(rng.integers(2, 12))
      item = {"id": f"f{f}r{i}", "file": f"file{f}", "index": i, "num_frames": n}
      for m in ("audio", "visual"):
        item[f"{m}_embedding"] = unit(rng.normal(size=e))
        tl = unit(rng.normal(size=(n, e)))
        if dtype == "int8":
          item[f"{m}_timeline"], item[f"{m}_scales"] = compact_timelines.encode(
              tl[None], [n], pool)
        else:
          item[f"{m}_timeline"] = tl.astype(dtype)
      items.append(item)
  shuffled = [items[j] for j in rng.permutation(len(items))] + [items[3]]
  records.write(tmp_path / "part-00000-of-00002", [embed_beam.to_example(x)
                                                    for x in shuffled[:6]])
  records.write(tmp_path / "part-00001-of-00002", [embed_beam.to_example(x)
                                                    for x in shuffled[6:]])
  cfg = embed_job.EmbedConfig(output=str(tmp_path / "out"), timelines=True,
                             timeline_dtype=dtype, timeline_pool=pool)
  meta = embed_beam.assemble(cfg, exp, str(tmp_path / "part-*"), ["file0", "file1"],
                                 str(tmp_path / "out"))
  assert meta["num_items"] == 10
  cat = retrieval.load_catalogue(str(tmp_path / "out"))
  assert cat.ids == [x["id"] for x in items]
  np.testing.assert_array_equal(cat.num_frames, [x["num_frames"] for x in items])
  np.testing.assert_array_equal(cat.embeddings("visual"),
                                np.stack([x["visual_embedding"] for x in items]))
  if dtype == "int8":
    enc = cat.timelines("audio").encoded(np.arange(10))
    np.testing.assert_array_equal(enc.rows, np.concatenate([x["audio_timeline"] for x in items]))
    np.testing.assert_array_equal(enc.scales, np.concatenate([x["audio_scales"] for x in items]))
  else:
    for j, x in enumerate(items):
      np.testing.assert_array_equal(np.asarray(cat.timelines("audio"))[j, :x["num_frames"]],
                                    x["audio_timeline"])
  assert not os.path.exists(str(tmp_path / "out") + "-unordered")
