"""The published recipe's pieces, each against an independent reference:
VGGish's log-mel front end, the VGGish network from a checkpoint in the
published format, the Inception graph loader, PCA, whitening and the two
quantizers, and the weight cache (downloads, digests, offline use)."""

import io
import os
import urllib.error

import numpy as np
import pytest

from yt8m_crossmodal.media import standins as media_weights
from yt8m_crossmodal.data import features as feat
from yt8m_crossmodal.media import inception
from yt8m_crossmodal.media import logmel
from yt8m_crossmodal.media import pca
from yt8m_crossmodal.media import vggish
from yt8m_crossmodal.media import weights


# ---------------------------------------------------------------------------
# The log-mel front end, against its documented definition computed here
# another way: an explicit DFT matrix, the Hann window and the HTK triangles
# written out band by band.

def _reference_log_mel(samples):
  n_win, hop, n_fft = 400, 160, 512
  window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_win) / n_win)  # Periodic Hann.
  k = np.arange(n_fft // 2 + 1)
  dft = np.exp(-2j * np.pi * np.outer(np.arange(n_win), k) / n_fft)  # Zero-padded to 512.
  hz = k * 16000.0 / n_fft
  mel = lambda f: 1127.0 * np.log(1 + f / 700.0)
  edges = mel(125.0) + (mel(7500.0) - mel(125.0)) * np.arange(66) / 65
  weights_ = np.zeros((k.size, 64))
  for band in range(64):
    lo, mid, hi = edges[band], edges[band + 1], edges[band + 2]
    for b in range(1, k.size):  # The DC bin is in no band.
      m = mel(hz[b])
      if lo < m <= mid:
        weights_[b, band] = (m - lo) / (mid - lo)
      elif mid < m < hi:
        weights_[b, band] = (hi - m) / (hi - mid)
  count = 1 + (len(samples) - n_win) // hop
  frames = np.stack([samples[i * hop:i * hop + n_win] for i in range(count)])
  return np.log(np.abs((frames * window) @ dft) @ weights_ + 0.01)


def test_log_mel_matches_the_documented_definition():
  rng = np.random.default_rng(0)
  samples = rng.uniform(-1, 1, 16000)
  ours = logmel.log_mel(samples)
  assert ours.shape == (98, 64)  # 1 + (16000 - 400) // 160.
  np.testing.assert_allclose(ours, _reference_log_mel(samples), rtol=1e-9, atol=1e-9)


def test_a_sine_lands_in_its_band_and_noise_gives_the_expected_level():
  t = np.arange(32000) / 16000
  bands = logmel.log_mel(0.5 * np.sin(2 * np.pi * 1000 * t)).mean(axis=0)
  mel = lambda f: 1127.0 * np.log(1 + f / 700.0)
  centers = np.linspace(mel(125.0), mel(7500.0), 66)[1:-1]
  assert np.argmax(bands) == np.argmin(np.abs(centers - mel(1000.0)))
  assert bands.max() - np.median(bands) > 5  # Far above the other bands.
  # White noise of standard deviation s: each bin's magnitude is Rayleigh with
  # mean sqrt(pi / 4 * s^2 * sum(window^2)); a band sums its bins' weights.
  s = 0.1
  noise = np.random.default_rng(1).normal(0, s, 16000 * 20)
  mel_values = np.exp(logmel.log_mel(noise)) - 0.01
  window = logmel.periodic_hann()
  expected = np.sqrt(np.pi / 4 * s ** 2 * np.sum(window ** 2)) * logmel.mel_matrix().sum(axis=0)
  np.testing.assert_allclose(mel_values.mean(axis=0), expected, rtol=0.03)


def test_one_example_starts_at_each_whole_second():
  rng = np.random.default_rng(2)
  samples = rng.uniform(-1, 1, 16000 * 5 + 15599)  # 15599: the sixth example is one short.
  examples = logmel.examples_per_second(samples)
  assert examples.shape == (5, 96, 64) and examples.dtype == np.float32
  frames = logmel.log_mel(samples)
  for k in range(5):
    np.testing.assert_allclose(examples[k], frames[100 * k:100 * k + 96], rtol=1e-5,
                               atol=1e-5)
  assert logmel.examples_per_second(np.append(samples, 0.0)).shape[0] == 6
  # Blocks of any size give the same examples, the same seconds.
  framer, got = logmel.SecondFramer(max_block_seconds=2), []
  for start in range(0, len(samples), 7001):
    for first, block in framer.push(samples[start:start + 7001]):
      assert first == len(got)
      got.extend(block)
  for first, block in framer.finish():
    got.extend(block)
  np.testing.assert_allclose(np.stack(got), examples, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# VGGish: the Keras model with the checkpoint's weights, against a forward
# pass written here in numpy (3x3 SAME convolutions as sums of shifted
# products, 2x2 max-pools, row-major flatten).

def _reference_vggish(arrays, examples):
  x = examples[..., None].astype(np.float64)
  for layer in vggish.CONV_LAYERS:
    w, b = arrays[layer]
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    h, wd = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (w.shape[-1],))
    for dy in range(3):
      for dx in range(3):
        out += padded[:, dy:dy + h, dx:dx + wd, :] @ w[dy, dx]
    x = np.maximum(out + b, 0)
    if layer in vggish.POOL_AFTER:
      n, h, wd, c = x.shape
      x = x.reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
  x = x.reshape(x.shape[0], -1)
  for layer in vggish.DENSE_LAYERS:
    w, b = arrays[layer]
    x = x @ w + b
    if layer != "fc2":
      x = np.maximum(x, 0)
  return x


def test_vggish_from_a_checkpoint_matches_a_reference_forward_pass(tmp_path):
  path, arrays = media_weights.write_vggish_checkpoint(
      str(tmp_path / "vggish_model.ckpt"), media_weights.SMALL_WIDTHS, seed=3)
  model = vggish.load_vggish(path)
  examples = np.random.default_rng(4).normal(-2, 1.5, (3, 96, 64)).astype(np.float32)
  got = np.asarray(model.predict_on_batch(examples))
  want = _reference_vggish(arrays, examples)
  assert got.shape == (3, 128)
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())
  # The embedding is the layer before its activation: negative values survive.
  assert (got < 0).any()


def test_vggish_loads_a_checkpoint_of_the_published_shapes(tmp_path):
  # Every variable at its published shape (72 M values, 289 MB on disk), each
  # landing in its layer unchanged (the forward pass itself is checked above
  # at smaller widths: the same code; the V1 format too: this one is written
  # as V2, five times quicker to write).
  path, arrays = media_weights.write_vggish_checkpoint(str(tmp_path / "full.ckpt"), seed=5,
                                                       version="V2")
  model = vggish.load_vggish(path)
  assert model.count_params() == sum(w.size + b.size for w, b in arrays.values()) == 72141184
  for layer, w, b in vggish.layer_weights(model):
    np.testing.assert_array_equal(w, arrays[layer][0])
    np.testing.assert_array_equal(b, arrays[layer][1])
  assert model.get_layer("fc1_fc1_1").get_weights()[0].shape == (12288, 4096)
  out = np.asarray(model.predict_on_batch(np.zeros((2, 96, 64), np.float32)))
  assert out.shape == (2, 128) and np.isfinite(out).all()


def test_a_checkpoint_that_is_not_vggish_is_named(tmp_path):
  arrays = media_weights.vggish_arrays(media_weights.SMALL_WIDTHS)
  missing = dict(arrays)
  del missing["conv3/conv3_2"]
  path, _ = media_weights.write_vggish_checkpoint(str(tmp_path / "a.ckpt"), arrays=missing)
  with pytest.raises(vggish.CheckpointError, match="no variable 'vggish/conv3/conv3_2/weights'"):
    vggish.read_checkpoint(path)
  wide = dict(arrays)
  wide["fc2"] = (np.zeros((32, 100), np.float32), np.zeros(100, np.float32))
  path, _ = media_weights.write_vggish_checkpoint(str(tmp_path / "b.ckpt"), arrays=wide)
  with pytest.raises(vggish.CheckpointError, match="embedding .fc2. is 100 wide"):
    vggish.read_checkpoint(path)
  (tmp_path / "c.ckpt").write_bytes(b"not a checkpoint")
  with pytest.raises(vggish.CheckpointError, match="not a TensorFlow checkpoint"):
    vggish.read_checkpoint(str(tmp_path / "c.ckpt"))


# ---------------------------------------------------------------------------
# The Inception graph loader on a stand-in GraphDef with the real tensor names.

def test_inception_loader_feeds_decodejpeg_and_reads_pool_3():
  fn = inception.load_inception(media_weights.inception_graph_bytes())
  red = np.zeros((30, 40, 3), np.uint8)
  red[..., 0] = 255
  out = fn(red)
  assert out.shape == (2048,) and out.dtype == np.float32
  # The stand-in's first three values are the mean of R, G, B after (x - 128) / 128.
  np.testing.assert_allclose(out[:3], [127 / 128, -1, -1], atol=1e-6)
  blue = red[..., ::-1].copy()
  np.testing.assert_allclose(fn(blue)[:3], [-1, -1, 127 / 128], atol=1e-6)


def test_a_graph_without_the_tensors_is_named():
  import tensorflow as tf
  graph = tf.Graph()
  with graph.as_default():
    tf.constant(1.0, name="something")
  with pytest.raises(inception.GraphError, match="no tensor 'DecodeJpeg:0'"):
    inception.load_inception(graph.as_graph_def().SerializeToString(), "x.pb")
  with pytest.raises(inception.GraphError, match="not a TensorFlow GraphDef"):
    inception.load_inception(b"\xff\xfe garbage", "x.pb")


# ---------------------------------------------------------------------------
# PCA, whitening and quantization against values worked out by hand.

def _npy(array):
  buf = io.BytesIO()
  np.save(buf, np.asarray(array))
  return buf.getvalue()


def test_picture_pca_whitening_and_rounding_by_hand():
  # mean 0.5 everywhere; x = 1.5 at dimension 0, 0.5 elsewhere: x - mean = e_0.
  # Component 0 (a row of eigenvecs.npy) = (e_0 + e_1) / sqrt(2), eigenvalue
  # 0.25 - 1e-4: feature 0 = (1 / sqrt 2) / sqrt(0.25) = 1.41421; quantized
  # (1.41421 + 2) * 255 / 4 = 217.66 -> 218 (truncation would give 217).
  # Component 1 = e_1, eigenvalue 4 - 1e-4: feature 1 = 0 -> 127.5 -> 128
  # (ties to even; truncation 127). Component 2 = -e_0, eigenvalue 0.01 - 1e-4:
  # -1 / 0.1 = -10, clipped to -2 -> 0.
  mean = np.full((2048, 1), 0.5)
  vecs = np.zeros((1024, 2048))
  vecs[0, :2] = 1 / np.sqrt(2)
  vecs[1, 1] = 1
  vecs[2, 0] = -1
  vals = np.ones((1024, 1))
  vals[:3, 0] = [0.25 - 1e-4, 4 - 1e-4, 0.01 - 1e-4]
  p = pca.PicturePCA.from_files({"mean.npy": _npy(mean), "eigenvals.npy": _npy(vals),
                                 "eigenvecs.npy": _npy(vecs)})
  x = np.full((1, 2048), 0.5)
  x[0, 0] = 1.5
  np.testing.assert_allclose(p.apply(x)[0, :3], [np.sqrt(2), 0, -10], rtol=1e-6, atol=1e-6)
  assert p.quantize(x)[0, :3].tolist() == [218, 128, 0]
  with pytest.raises(pca.PCAError, match="eigenvecs.npy is"):
    pca.PicturePCA.from_files({"mean.npy": _npy(mean), "eigenvals.npy": _npy(vals),
                               "eigenvecs.npy": _npy(vecs.T)})


def test_sound_pca_and_truncation_by_hand():
  # pca_eigen_vectors row 0 = 1.5 e_5, pca_means = 1: e = 1 + 0.6 e_5 gives
  # 0.9 -> (0.9 + 2) * 255 / 4 = 184.875 -> 184 (VGGish truncates; rounding:
  # 185). Row 1 = -e_5: -0.6 -> 89.25 -> 89. Row 2 = 10 e_5: 6 -> clipped 2 -> 255.
  matrix = np.zeros((128, 128))
  matrix[0, 5], matrix[1, 5], matrix[2, 5] = 1.5, -1, 10
  buf = io.BytesIO()
  np.savez(buf, pca_eigen_vectors=matrix, pca_means=np.ones(128))
  p = pca.SoundPCA.from_npz(buf.getvalue())
  e = np.ones((1, 128))
  e[0, 5] = 1.6
  np.testing.assert_allclose(p.apply(e)[0, :3], [0.9, -0.6, 6.0])
  assert p.quantize(e)[0, :4].tolist() == [184, 89, 255, 127]
  buf = io.BytesIO()
  np.savez(buf, means=np.ones(128))
  with pytest.raises(pca.PCAError, match="no array 'pca_eigen_vectors"):
    pca.SoundPCA.from_npz(buf.getvalue())


def test_the_two_quantizers():
  x = np.array([-3.0, -2.0, 0.0, 0.9, 1.41421, 2.0, 7.0], np.float32)
  assert feat.quantize_features(x, "round").tolist() == [0, 0, 128, 185, 218, 255, 255]
  assert feat.quantize_features(x, "truncate").tolist() == [0, 0, 127, 184, 217, 255, 255]


# ---------------------------------------------------------------------------
# The weight cache: downloads written aside and checked, digests pinned or
# trusted on first use, offline folders, one-line messages.

class _Response(io.BytesIO):
  def __init__(self, data):
    super().__init__(data)
    self.headers = {"Content-Length": str(len(data))}


def test_download_is_checked_recorded_and_reused(tmp_path, monkeypatch):
  served = {"n": 0}
  payload = b"pca parameters" * 100

  def fetch(url):
    assert url == weights.VGGISH_PCA.url
    served["n"] += 1
    return _Response(payload)

  cache = str(tmp_path / "cache")
  store = weights.WeightStore(cache_dir=cache, fetch=fetch)
  path = store.file(weights.VGGISH_PCA)
  assert open(path, "rb").read() == payload and served["n"] == 1
  assert sorted(os.listdir(cache)) == [weights.SUMS_FILE, weights.VGGISH_PCA.name]
  recorded = weights.read_sums(cache)[weights.VGGISH_PCA.name]
  assert recorded == weights.sha256_of(path) == store.digests[weights.VGGISH_PCA.name]
  # Used again: no download; a changed file is refused with both digests.
  weights.WeightStore(cache_dir=cache, fetch=fetch).file(weights.VGGISH_PCA)
  assert served["n"] == 1
  open(path, "ab").write(b"tampered")
  with pytest.raises(weights.WeightsError, match=f"differs from the pinned {recorded}"):
    weights.WeightStore(cache_dir=cache, fetch=fetch).file(weights.VGGISH_PCA)
  # The environment variable moves the cache.
  monkeypatch.setenv(weights.ENV_CACHE, str(tmp_path / "elsewhere"))
  assert weights.WeightStore(fetch=fetch).file(weights.VGGISH_PCA).startswith(
      str(tmp_path / "elsewhere"))


def test_a_download_that_fails_its_pin_is_not_kept(tmp_path):
  store = weights.WeightStore(cache_dir=str(tmp_path), fetch=lambda url: _Response(b"x"))
  with pytest.raises(weights.WeightsError, match="not the pinned 0962b19"):
    store.file(weights.VGGISH)
  assert os.listdir(tmp_path) == []


def test_unreachable_or_absent_is_one_line_saying_what_to_get_from_where(tmp_path):
  def offline(url):
    raise urllib.error.URLError("Name or service not known")

  with pytest.raises(weights.WeightsError) as info:
    weights.WeightStore(cache_dir=str(tmp_path), fetch=offline).file(weights.INCEPTION)
  message = str(info.value)
  assert "\n" not in message and weights.INCEPTION.url in message and str(tmp_path) in message
  assert "--weights_dir" in message and "85-89 MB" in message
  assert os.listdir(tmp_path) == []  # No partial file left.
  with pytest.raises(weights.WeightsError, match="is not in --weights_dir .*download "
                     "vggish_model.ckpt .*storage.googleapis.com/audioset"):
    weights.WeightStore(weights_dir=str(tmp_path)).file(weights.VGGISH)


def test_weights_dir_takes_the_archives_or_the_files_they_hold(tmp_path):
  folder = tmp_path / "yt8m"  # As the YouTube-8M extractor leaves ~/yt8m: extracted files.
  folder.mkdir()
  mean, vals, vecs = media_weights.picture_pca_arrays("random")
  for name, array in (("mean.npy", mean), ("eigenvals.npy", vals), ("eigenvecs.npy", vecs)):
    np.save(folder / name, array)
  (folder / "classify_image_graph_def.pb").write_bytes(media_weights.inception_graph_bytes())
  store = weights.WeightStore(weights_dir=str(folder))
  members = weights.archive_members(store, weights.YT8M_PCA)
  p = pca.PicturePCA.from_files(members)
  np.testing.assert_array_equal(p.eigenvecs, vecs.T)
  assert store.member(weights.INCEPTION, "classify_image_graph_def.pb")[:4]
  assert set(store.digests) >= {"mean.npy", "classify_image_graph_def.pb"}
  # A digest you pin in SHA256SUMS is checked.
  (folder / weights.SUMS_FILE).write_text("0" * 64 + "  mean.npy\n")
  with pytest.raises(weights.WeightsError, match="differs from the one pinned"):
    weights.WeightStore(weights_dir=str(folder)).member(weights.YT8M_PCA, "mean.npy")
