import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def frame_data_dir(tmp_path_factory):
  """24 short synthetic frame-level videos (2018 layout) in 3 shards."""
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import synth as synth_job
  out = tmp_path_factory.mktemp("frame_data")
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(out), prefix="train", num_videos=24, num_shards=3,
      min_frames=8, max_frames=20, seed=3))
  return str(out)


@pytest.fixture(scope="session")
def frame_export(tmp_path_factory):
  """A tiny exported frame-level model with search signatures (tests/helpers.py)."""
  import helpers
  return helpers.shared_export(tmp_path_factory, "frame")


@pytest.fixture(scope="session")
def video_export(tmp_path_factory):
  """The video-level twin of :func:`frame_export`."""
  import helpers
  return helpers.shared_export(tmp_path_factory, "video")


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "tensorflow_backend: drives TensorFlow itself (tf.function, "
      "GradientTape, graphs); skipped when KERAS_BACKEND is jax or torch")


def pytest_collection_modifyitems(config, items):
  """Skips the ``tensorflow_backend`` tests on another Keras backend."""
  marked = [item for item in items if item.get_closest_marker("tensorflow_backend")]
  if not marked:
    return
  import keras
  backend = keras.backend.backend()
  if backend == "tensorflow":
    return
  skip = pytest.mark.skip(reason=f"needs the TensorFlow backend (this pass: {backend})")
  for item in marked:
    item.add_marker(skip)


@pytest.fixture(scope="session")
def media_weights_dir(tmp_path_factory):
  """Stand-ins of the four published weight files, pinned in SHA256SUMS
  (yt8m_crossmodal.media.standins: narrow VGGish, identity picture PCA)."""
  from yt8m_crossmodal.media import standins
  return standins.write_weights_dir(str(tmp_path_factory.mktemp("media_weights")))


@pytest.fixture(scope="session")
def media_networks(media_weights_dir):
  """The networks loaded from :func:`media_weights_dir`."""
  from yt8m_crossmodal.media import extractor, weights
  return extractor.load_networks(weights.WeightStore(weights_dir=media_weights_dir))
