"""Index folders: recorded sizes and digests, non-finite rows, damaged files."""

import json
import os

import numpy as np
import pytest

from yt8m_crossmodal import retrieval
from yt8m_crossmodal.retrieval import integrity
from yt8m_crossmodal.jobs.search import json_line
from yt8m_crossmodal.errors import UsageError

import helpers

E = helpers.E


def _catalogue(path, n=12, timelines=True, seed=0):
  rng = np.random.default_rng(seed)
  unit = lambda x: (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
  audio, visual = unit(rng.normal(size=(n, E))), unit(rng.normal(size=(n, E)))
  kw = {}
  if timelines:
    kw = dict(audio_timelines=unit(rng.normal(size=(n, 5, E))),
              visual_timelines=unit(rng.normal(size=(n, 5, E))),
              num_frames=np.full(n, 5, np.int32))
  retrieval.write_catalogue(str(path), [f"v{i}" for i in range(n)], audio, visual, **kw)
  return audio, visual


def _poke(path, row, value):
  """Writes ``value`` into row ``row`` of the .npy file ``path`` in place."""
  array = np.load(path, mmap_mode="r+")
  array[row] = value
  array.flush()
  del array


def _forget_checksums(folder):
  meta_path = os.path.join(folder, "meta.json")
  meta = json.load(open(meta_path))
  del meta[integrity.FILES_KEY]
  json.dump(meta, open(meta_path, "w"))


def test_meta_records_size_and_digest_of_every_file(tmp_path):
  folder = tmp_path / "cat"
  _catalogue(folder)
  cat = retrieval.load_catalogue(str(folder), verify="full")
  cat.build_index("visual", kind="hnsw")
  meta = json.load(open(folder / "meta.json"))
  want = {n for n in os.listdir(folder) if n != "meta.json"}
  assert set(meta["files"]) == want and "visual.faiss" in want
  for name, entry in meta["files"].items():
    assert entry == integrity.digest(str(folder / name))
  retrieval.load_catalogue(str(folder), verify="full")  # The faiss file is recorded too.


@pytest.mark.parametrize("damage", ["flip", "scale"])
def test_changed_embeddings_are_refused_on_open(tmp_path, damage):
  folder = tmp_path / "cat"
  _, visual = _catalogue(folder)
  path = str(folder / "visual_embeddings.npy")
  if damage == "flip":  # A flipped byte in the data: a huge but finite value.
    with open(path, "r+b") as f:
      f.seek(os.path.getsize(path) - 7)
      byte = f.read(1)
      f.seek(-1, 1)
      f.write(bytes([byte[0] ^ 0x7F]))
  else:  # One row scaled by 100 would win every query.
    _poke(path, 4, visual[4] * 100)
  with pytest.raises(ValueError, match="visual_embeddings.npy: SHA-256"):
    retrieval.load_catalogue(str(folder))


def test_a_truncated_file_is_refused_by_its_size(tmp_path):
  folder = tmp_path / "cat"
  _catalogue(folder)
  path = folder / "audio_timelines.npy"
  path.write_bytes(path.read_bytes()[:-10])
  with pytest.raises(ValueError, match=r"audio_timelines.npy: \d+ bytes, meta.json recorded"):
    retrieval.load_catalogue(str(folder))


def test_timelines_are_hashed_only_by_the_full_check(tmp_path):
  folder = tmp_path / "cat"
  _catalogue(folder)
  _poke(str(folder / "visual_timelines.npy"), 2, 0.5)
  retrieval.load_catalogue(str(folder))  # fast: sizes only for timelines.
  with pytest.raises(ValueError, match="visual_timelines.npy: SHA-256"):
    retrieval.load_catalogue(str(folder), verify="full")


def test_a_nan_row_is_named_even_without_checksums(tmp_path):
  folder = tmp_path / "cat"
  _catalogue(folder)
  _poke(str(folder / "visual_embeddings.npy"), 7, np.nan)
  _forget_checksums(folder)  # An index written before the checksums.
  with pytest.raises(ValueError, match=r"visual_embeddings.npy: row 7 \(video 'v7'\) holds NaN"):
    retrieval.load_catalogue(str(folder))
  assert retrieval.load_catalogue(str(folder), verify="none").size == 12


def test_a_nan_timeline_row_stops_rerank_naming_the_row(tmp_path):
  folder = tmp_path / "cat"
  _, visual = _catalogue(folder)
  _poke(str(folder / "visual_timelines.npy"), 3, np.nan)
  _forget_checksums(folder)
  cat = retrieval.load_catalogue(str(folder))
  query = np.ones((5, E), np.float32) / np.sqrt(E)
  with pytest.raises(ValueError, match=r"visual_timelines.npy: row 3 \(video 'v3'\) holds NaN"):
    retrieval.rerank_by_timeline(query, 5, np.arange(6), cat, np.ones(6), 0.5,
                                 modality="visual")
  with pytest.raises(ValueError, match="row 3"):
    retrieval.load_catalogue(str(folder), verify="full")


def test_damaged_meta_and_faiss_files_are_named(tmp_path):
  folder = tmp_path / "cat"
  _catalogue(folder, timelines=False)
  cat = retrieval.load_catalogue(str(folder))
  cat.build_index("audio", kind="hnsw")
  _forget_checksums(folder)
  faiss_file = folder / "audio.faiss"
  faiss_file.write_bytes(faiss_file.read_bytes()[:40])
  with pytest.raises(ValueError, match="audio.faiss is not a readable faiss index"):
    retrieval.load_catalogue(str(folder))
  (folder / "meta.json").write_text('{"num_items": 1')
  with pytest.raises(ValueError, match="meta.json is not valid JSON"):
    retrieval.load_catalogue(str(folder))


def test_search_lines_are_strict_json():
  line = {"query_id": "q1", "results": [{"id": "a", "score": 0.5}]}
  assert json.loads(json_line(line)) == line
  line["results"][0]["score"] = float("-inf")
  with pytest.raises(UsageError, match="query 'q1'"):
    json_line(line)
