"""Records with sound only or pictures only, and records longer than 300 s:
the reader, one-modality indexes, search queries, sync of a dub with its
footage; where both are needed, one line naming the record."""

import numpy as np
import pytest
import tensorflow as tf

import records
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import embed as embed_job
from yt8m_crossmodal.jobs import search as search_job
from yt8m_crossmodal.jobs import sync as sync_job
from yt8m_crossmodal.media import records as media_records
from yt8m_crossmodal.serving import exporter


def _sound_only(video_id, frames, seed):
  return records.frame_record(video_id, frames=0, audio_frames=frames, seed=seed)


def _pictures_only(video_id, frames, seed):
  return records.frame_record(video_id, frames=frames, audio_frames=0, seed=seed)


def _read(path, **kw):
  out = {}
  for batch in pipeline.make_dataset(path, batch_size=8, **kw):
    for key, value in batch.items():
      out.setdefault(key, []).extend(list(value.numpy()))
  return out


def test_the_reader_takes_one_modality_where_one_is_enough(tmp_path):
  song, _, song_audio = _sound_only("song", 7, 1)
  clip, clip_rgb, _ = _pictures_only("clip", 5, 2)
  both, both_rgb, both_audio = records.frame_record("both", frames=6, audio_frames=4, seed=3)
  path = records.write(tmp_path / "mixed.tfrecord", [song, both, clip])
  got = _read(records.write(tmp_path / "sound.tfrecord", [song, both]), modalities=("audio",))
  assert [i.decode() for i in got["id"]] == ["song", "both"]
  assert [int(n) for n in got["num_frames"]] == [7, 4]  # Its own length.
  assert "visual" not in got
  np.testing.assert_array_equal(got["audio"][0], song_audio)
  np.testing.assert_array_equal(got["audio"][1][:4], both_audio)
  got = _read(records.write(tmp_path / "pictures.tfrecord", [both, clip]),
              modalities=("visual",))
  assert [i.decode() for i in got["id"]] == ["both", "clip"]
  assert [int(n) for n in got["num_frames"]] == [6, 5]
  np.testing.assert_array_equal(got["visual"][1][:5], clip_rgb)
  # Reading the sound, a pictures-only record is bad, named by file, index, id.
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    _read(path, modalities=("audio",))
  assert pipeline.bad_record_message(info.value) == (
      f"Bad YT-8M record in {path} at record index 2 (video id 'clip'): missing modality: "
      "no audio frames (only the sound is read here)")
  # Where both are needed, the one-line message says where one is enough.
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    _read(path)
  message = pipeline.bad_record_message(info.value)
  assert message.startswith(f"Bad YT-8M record in {path} at record index 0 (video id 'song'): "
                            "missing modality: no rgb frames (a sound-only record")
  assert "yt8m-embed --modalities=audio" in message


def test_longer_than_300_seconds_and_video_level_reads(tmp_path):
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (900, 1024), dtype=np.uint8)
  audio = rng.integers(0, 256, (900, 128), dtype=np.uint8)
  long = media_records.sequence_example("long", rgb, audio, labels=(5, 2),
                                        mean_rgb=rgb.mean(0) / 64 - 2,
                                        mean_audio=audio.mean(0) / 64 - 2)
  sound = media_records.sequence_example("sound", None, audio[:10], mean_audio=np.zeros(128))
  path = records.write(tmp_path / "long.tfrecord", [long])
  assert [int(n) for n in _read(path)["num_frames"]] == [300]  # The reader's default crop.
  full = _read(path, max_frames=1000)
  assert [int(n) for n in full["num_frames"]] == [900]
  np.testing.assert_array_equal(full["visual"][0], rgb)
  # The extractor's records carry the means too: they read at video level.
  path = records.write(tmp_path / "means.tfrecord", [long, sound])
  video = _read(path, feature_level="video", modalities=("audio",), num_classes=10)
  assert [i.decode() for i in video["id"]] == ["long", "sound"]
  np.testing.assert_allclose(video["audio"][0], audio.mean(0) / 64 - 2, rtol=1e-6)
  assert video["labels"][0].tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]


def test_a_one_modality_catalogue(tmp_path):
  rng = np.random.default_rng(1)
  emb = rng.normal(size=(5, 4)).astype(np.float32)
  emb /= np.linalg.norm(emb, axis=1, keepdims=True)
  timelines = rng.normal(size=(5, 3, 4)).astype(np.float32)
  path = str(tmp_path / "songs")
  meta = retrieval.write_catalogue(path, [f"s{i}" for i in range(5)], emb, None,
                                   audio_timelines=timelines, num_frames=[3, 3, 2, 1, 3])
  assert meta["modalities"] == ["audio"] and meta["hubness"] is None
  cat = retrieval.load_catalogue(path)
  assert cat.modalities == ("audio",) and cat.size == 5 and cat.has_timelines
  scores, indices = cat.search(emb[2:3], target="audio", k=2)
  assert indices[0, 0] == 2 and scores[0, 0] == pytest.approx(1.0)
  with pytest.raises(ValueError, match="holds audio embeddings only .*no visual to search"):
    cat.search(emb[:1], target="visual")
  with pytest.raises(UsageError, match="holds audio embeddings only"):
    exporter._check_catalogue(path, 4)  # The export's search signatures need both.


@pytest.fixture(scope="module")
def songs_and_clips(tmp_path_factory):
  """Sound-only songs, pictures-only clips, and two videos with both."""
  folder = tmp_path_factory.mktemp("one_modality")
  songs = [_sound_only(f"song{i}", 8 + i, 10 + i)[0] for i in range(4)]
  clips = [_pictures_only(f"clip{i}", 9 + i, 20 + i)[0] for i in range(3)]
  videos = [records.frame_record(f"video{i}", frames=10, seed=30 + i)[0] for i in range(2)]
  return {"songs": records.write(folder / "songs.tfrecord", songs + videos),
          "clips": records.write(folder / "clips.tfrecord", clips),
          "videos": records.write(folder / "videos.tfrecord", videos)}


def test_a_catalogue_of_songs_searched_by_silent_clips(frame_export, songs_and_clips,
                                                       tmp_path):
  index = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=songs_and_clips["songs"],
      output=str(tmp_path / "songs"), modalities="audio", timelines=True, batch_size=4))
  assert index["num_items"] == 6 and index["modalities"] == ["audio"]
  assert not (tmp_path / "songs" / "visual_embeddings.npy").exists()
  both = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=songs_and_clips["videos"],
      output=str(tmp_path / "videos"), timelines=True))
  # A video's audio embedding is the same in either index.
  songs, videos = (retrieval.load_catalogue(p) for p in (index["path"], both["path"]))
  np.testing.assert_allclose(songs.embeddings("audio")[4:], videos.embeddings("audio"),
                             atol=1e-5)
  lines = search_job.search_queries(search_job.SearchConfig(
      index=index["path"], query_data=songs_and_clips["clips"], query_modality="visual",
      export_dir=frame_export.export_dir, k=3, rerank=5))
  assert [line["query_id"] for line in lines] == ["clip0", "clip1", "clip2"]
  assert all(len(line["results"]) == 3 and line["target_modality"] == "audio" for line in lines)
  with pytest.raises(UsageError, match="holds audio embeddings only .* answers "
                     "--query_modality=visual queries"):
    search_job.Searcher(search_job.SearchConfig(
        index=index["path"], query_data=songs_and_clips["songs"], query_modality="audio",
        export_dir=frame_export.export_dir))
  # The encoders read them too.
  import yt8m_crossmodal as ym
  encoded = ym.load_encoder(frame_export.export_dir).encode_records(
      songs_and_clips["songs"], modalities=("audio",))
  assert encoded.ids == songs.ids and encoded.visual_embedding is None
  np.testing.assert_allclose(encoded.audio_embedding, songs.embeddings("audio"), atol=1e-5)
  assert [len(t) for t in encoded.audio_timelines] == [8, 9, 10, 11, 10, 10]
  # A song is a query of a full index too.
  lines = search_job.search_queries(search_job.SearchConfig(
      index=both["path"], query_data=songs_and_clips["songs"], query_modality="audio",
      export_dir=frame_export.export_dir, k=2))
  assert len(lines) == 6


def test_beam_builds_the_same_one_modality_index(frame_export, songs_and_clips, tmp_path):
  pytest.importorskip("apache_beam")
  out = {}
  for runner in ("in_process", "DirectRunner"):
    out[runner] = retrieval.load_catalogue(embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=songs_and_clips["clips"],
        output=str(tmp_path / runner), modalities="visual", timelines=True,
        timeline_dtype="int8", runner=runner))["path"])
  assert out["DirectRunner"].ids == out["in_process"].ids == ["clip0", "clip1", "clip2"]
  assert out["DirectRunner"].modalities == ("visual",)
  np.testing.assert_allclose(out["DirectRunner"].embeddings("visual"),
                             out["in_process"].embeddings("visual"), atol=1e-5)


def test_sync_pairs_a_sound_only_dub_with_silent_footage(frame_export, tmp_path):
  rng = np.random.default_rng(4)
  rgb = rng.integers(0, 256, (20, 1024), dtype=np.uint8)
  audio = rng.integers(0, 256, (18, 128), dtype=np.uint8)
  dub = records.write(tmp_path / "dub.tfrecord",
                      [media_records.sequence_example("film", None, audio)])
  footage = records.write(tmp_path / "footage.tfrecord",
                          [media_records.sequence_example("film", rgb, None)])
  (line,) = sync_job.Synchronizer(sync_job.SyncConfig(
      export_dir=frame_export.export_dir, audio_data=dub, visual_data=footage,
      max_offset=2))()
  assert line["id"] == "film" and line["status"] in ("synchronized", "cannot_synchronize")
  assert line["audio_seconds"] == [2, 14]  # The model reads 16 s (max_frames), less 2 at each end.
  # --data needs both tracks in each record: one line naming the record.
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    list(sync_job.Synchronizer(sync_job.SyncConfig(export_dir=frame_export.export_dir,
                                                   data=dub))())
  assert "(video id 'film'): missing modality: no rgb frames (a sound-only record" in \
      pipeline.bad_record_message(info.value)

