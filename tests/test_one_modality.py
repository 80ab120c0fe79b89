"""Records with sound only or pictures only, and records longer than 300 s:
the reader, one-modality indexes, search queries, sync of a dub with its
footage; where both are needed, one line naming the record."""

import numpy as np
import pytest
import tensorflow as tf

import records
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.data import decode
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


def _decode(serialized, **kw):
  """The reader's decoding of a batch of records (as its pipeline runs it)."""
  kw.setdefault("num_classes", 3862)
  kw.setdefault("max_frames", 300)
  level = kw.pop("feature_level", "frame")
  out, reason = decode.decode_records(tf.constant(serialized), level, modalities=kw.pop(
      "modalities", decode.BOTH), **kw)
  out = {k: v.numpy() for k, v in out.items()}
  return out, [r.decode() for r in reason.numpy()]


def test_the_reader_takes_one_modality_where_one_is_enough(tmp_path):
  song, _, song_audio = _sound_only("song", 7, 1)
  clip, clip_rgb, _ = _pictures_only("clip", 5, 2)
  both, _, both_audio = records.frame_record("both", frames=6, audio_frames=4, seed=3)
  out, reasons = _decode([song, both, clip], modalities=("audio",))
  assert reasons == ["", "", "missing modality: no audio frames (only the sound is read here)"]
  assert out["num_frames"].tolist()[:2] == [7, 4]  # Its own length.
  assert "visual" not in out
  np.testing.assert_array_equal(out["audio"][0], song_audio)
  np.testing.assert_array_equal(out["audio"][1][:4], both_audio)
  out, reasons = _decode([song, both, clip], modalities=("visual",))
  assert reasons[0].startswith("missing modality: no rgb frames (only the pictures")
  assert reasons[1:] == ["", ""] and out["num_frames"].tolist()[1:] == [6, 5]
  np.testing.assert_array_equal(out["visual"][2][:5], clip_rgb)
  # Where both are needed, the reason says where one is enough; the pipeline's
  # error names the file, index and id with it.
  _, reasons = _decode([song, both, clip])
  assert reasons[0].startswith("missing modality: no rgb frames (a sound-only record: tools "
                               "that need only the sound read it, e.g. yt8m-validate "
                               "--modalities=audio, yt8m-embed --modalities=audio")
  assert reasons[1] == "" and "(a pictures-only record" in reasons[2]
  path = records.write(tmp_path / "mixed.tfrecord", [both, song])
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    list(pipeline.make_dataset(path))
  assert pipeline.bad_record_message(info.value).startswith(
      f"Bad YT-8M record in {path} at record index 1 (video id 'song'): missing modality: no "
      "rgb frames (a sound-only record")


def test_longer_than_300_seconds_and_video_level_reads():
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (900, 1024), dtype=np.uint8)
  audio = rng.integers(0, 256, (900, 128), dtype=np.uint8)
  long = media_records.sequence_example("long", rgb, audio, labels=(5, 2),
                                        mean_rgb=rgb.mean(0) / 64 - 2,
                                        mean_audio=audio.mean(0) / 64 - 2)
  sound = media_records.sequence_example("sound", None, audio[:10], mean_audio=np.zeros(128))
  out, reasons = _decode([long])
  assert reasons == [""] and out["num_frames"].tolist() == [300]  # The reader's default crop.
  out, _ = _decode([long], max_frames=1000)
  assert out["num_frames"].tolist() == [900]
  np.testing.assert_array_equal(out["visual"][0], rgb)
  # The extractor's records carry the means too: they read at video level.
  out, reasons = _decode([long, sound], feature_level="video", modalities=("audio",),
                         num_classes=10)
  assert reasons == ["", ""] and "visual" not in out
  np.testing.assert_allclose(out["audio"][0], audio.mean(0) / 64 - 2, rtol=1e-6)
  assert out["labels"][0].tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
  _, reasons = _decode([long, sound], feature_level="video", num_classes=10)
  assert reasons[0] == "" and reasons[1].startswith("missing modality: no mean_rgb (a sound-only")


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


def test_validate_checks_the_modalities_asked_for(songs_and_clips):
  from yt8m_crossmodal.jobs import validate as validate_job
  from yt8m_crossmodal.jobs.config import ValidateConfig
  songs = songs_and_clips["songs"]  # 4 sound-only songs, 2 videos with both.
  both = validate_job.validate(ValidateConfig(data=songs))
  assert (both["good_records"], both["bad_record_count"]) == (2, 4)
  assert validate_job.exit_status(both) == 1
  assert "yt8m-validate --modalities=audio" in both["bad_records"][0]["reason"]
  sound = validate_job.validate(ValidateConfig(data=songs, modalities="audio"))
  assert (sound["good_records"], sound["bad_record_count"]) == (6, 0)
  assert sound["modalities"] == ["audio"] and validate_job.exit_status(sound) == 0
  assert sound["frames"]["min"] == 8  # The songs' own lengths: 8-11 s, the videos 10 s.
  pictures = validate_job.validate(ValidateConfig(data=songs, modalities="visual"))
  assert (pictures["good_records"], pictures["bad_record_count"]) == (2, 4)
  with pytest.raises(UsageError, match=r"--modalities must be audio, visual or audio,visual"):
    ValidateConfig(data=songs, modalities="sound").validate()


def test_a_catalogue_of_songs_searched_by_silent_clips(frame_export, songs_and_clips,
                                                       tmp_path):
  index = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=frame_export.export_dir, data=songs_and_clips["songs"],
      output=str(tmp_path / "songs"), modalities="audio", timelines=True, batch_size=4))
  assert index["num_items"] == 6 and index["modalities"] == ["audio"]
  assert not (tmp_path / "songs" / "visual_embeddings.npy").exists()
  songs = retrieval.load_catalogue(index["path"])
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
  # The encoders read them too (and the videos' audio, read with both, is the same).
  import yt8m_crossmodal as ym
  encoder = ym.load_encoder(frame_export.export_dir)
  encoded = encoder.encode_records(songs_and_clips["songs"], modalities=("audio",))
  assert encoded.ids == songs.ids and encoded.visual_embedding is None
  np.testing.assert_allclose(encoded.audio_embedding, songs.embeddings("audio"), atol=1e-5)
  assert [len(t) for t in encoded.audio_timelines] == [8, 9, 10, 11, 10, 10]
  videos = encoder.encode_records(songs_and_clips["videos"])
  np.testing.assert_allclose(songs.embeddings("audio")[4:], videos.audio_embedding, atol=1e-5)


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
  assert line["audio_seconds"] == [2, 16]  # All 18 s of the dub (not the export's 16), less 2 at each end.
  # --data needs both tracks in each record: as the reader says, naming the record
  # (the first test above).

