"""Triplet loss math (hand-worked values) and the loss layer."""

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import losses  # noqa: E402
from yt8m_crossmodal.config import LossConfig  # noqa: E402
from yt8m_crossmodal.layers import CrossModalLoss, CrossModalTripletLoss, frame_mask  # noqa: E402


def _np(d):
  return {k: (_np(v) if isinstance(v, dict) else float(v))
          for k, v in d.items()}


# Case A (B=2, 2-D): a0=(1,0) a1=(0,1); v0=(.6,.8) v1=(.8,.6).
# sim[i, j] = <a_i, v_j> = [[.6, .8], [.8, .6]]; positives .6, negatives .8;
# every hinge (margin .2) = .2 - .6 + .8 = .4 in both directions.
A_AUDIO = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
A_VISUAL = np.array([[0.6, 0.8], [0.8, 0.6]], "float32")

# Case B (B=3, 2-D), margin .1, audio anchors:
#   a0=(1,0)   sims to v0..v2 = .8 | .6, 1.0   hinge(neg) = s - .7
#   a1=(0,1)                  .8 | .6, 0.0   hinge(neg) = s - .7
#   a2=(.6,.8)                .6 | .96, 1.0  hinge(neg) = s - .5
# batch_hard: max(0, .3), max(0, -.1), .5 -> mean .8/3, active 2/3
# semi_hard (most similar negative below the positive, else hardest):
#   a0 -> .6 (hinge 0), a1 -> .6 (0), a2 none below .6 -> 1.0 (.5)
#   -> .5/3, active 1/3
# all: active hinges .3, .46, .5 of 6 triplets -> 1.26/3 = .42, active 1/2
B_AUDIO = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], "float32")
B_VISUAL = np.array([[0.8, 0.6], [0.6, 0.8], [1.0, 0.0]], "float32")


def test_case_a_both_directions_and_weights():
  out = _np(losses.cross_modal_clip_loss(A_AUDIO, A_VISUAL, margin=0.2,
                                         mining="batch_hard"))
  assert out["loss"] == pytest.approx(0.8, abs=1e-6)
  for direction in ("audio_to_visual", "visual_to_audio"):
    d = out[direction]
    assert d["loss"] == pytest.approx(0.4, abs=1e-6)
    assert d["active_fraction"] == pytest.approx(1.0)
    assert d["positive_similarity"] == pytest.approx(0.6, abs=1e-6)
    assert d["negative_similarity"] == pytest.approx(0.8, abs=1e-6)
  # The term weights the directions (the one place they are weighted).
  term = losses.clip_triplet.term_from(
      LossConfig(clip_loss="triplet", margin=0.2, mining="batch_hard",
                 audio_to_visual_weight=0.5, visual_to_audio_weight=2.0), True)
  weighted = _np(losses.term_loss(losses.TermInputs(A_AUDIO, A_VISUAL), term.config))
  assert weighted["loss"] == pytest.approx(0.5 * 0.4 + 2.0 * 0.4, abs=1e-6)
  assert weighted["a2v_loss"] == pytest.approx(0.4, abs=1e-6)


@pytest.mark.parametrize("mining,loss,active", [
    ("batch_hard", 0.8 / 3, 2 / 3),
    ("semi_hard", 0.5 / 3, 1 / 3),
    ("all", 1.26 / 3, 0.5),
])
def test_case_b_mining_modes_differ(mining, loss, active):
  out = _np(losses.clip_triplet_loss(B_AUDIO, B_VISUAL, margin=0.1,
                                     mining=mining))
  assert out["loss"] == pytest.approx(loss, abs=1e-6)
  assert out["active_fraction"] == pytest.approx(active, abs=1e-6)
  assert out["positive_similarity"] == pytest.approx(2.2 / 3, abs=1e-6)
  assert out["negative_similarity"] == pytest.approx(2.6 / 3, abs=1e-6)


def test_exclude_shared_labels():
  # a0 and a2 share label 0: a0 keeps only v1 (.6 -> hinge 0), a1 keeps v0
  # and v2 (hardest .6 -> 0), a2 keeps only v1 (1.0 -> .5). Mean .5/3.
  labels = np.array([[1, 0], [0, 1], [1, 0]], "float32")
  kwargs = dict(margin=0.1, mining="batch_hard")
  plain = _np(losses.cross_modal_clip_loss(B_AUDIO, B_VISUAL, **kwargs))
  assert plain["audio_to_visual"]["loss"] == pytest.approx(0.8 / 3, abs=1e-6)
  out = _np(losses.cross_modal_clip_loss(
      B_AUDIO, B_VISUAL, labels=labels, exclude_shared_labels=True,
      **kwargs))
  assert out["audio_to_visual"]["loss"] == pytest.approx(0.5 / 3, abs=1e-6)
  # Every other video shares a label: no negatives at all -> 0, finite.
  none = _np(losses.cross_modal_clip_loss(
      B_AUDIO, B_VISUAL, labels=np.ones((3, 2), "float32"),
      exclude_shared_labels=True, **kwargs))
  assert none["loss"] == 0.0
  assert none["audio_to_visual"]["active_fraction"] == 0.0


# Temporal case: B=1, T=4, num_frames=3 (t=3 is padding), guard 2, margin .2.
#   audio  a0=(1,0) a1=(0,1) a2=(1,0)        visual v0=(.8,.6) v1=(.6,.8) v2=(0,1)
#   negatives |t - t'| >= 2 among valid: t=0 -> {2}, t=1 -> {} , t=2 -> {0}
#   a2v: t=0: .2 - .8 + <a0,v2>=0 -> 0;  t=2: .2 - 0 + <a2,v0>=.8 -> 1.0
#        -> loss (0 + 1)/2 = .5, positives (.8 + .8 + 0)/3, hardest (0 + .8)/2
#   v2a: t=0: .2 - .8 + <v0,a2>=.8 -> .2;  t=2: .2 - 0 + <v2,a0>=0 -> .2
#        -> loss .2;  total .7
T_AUDIO = np.array([[[1, 0], [0, 1], [1, 0], [0.6, 0.8]]], "float32")
T_VISUAL = np.array([[[0.8, 0.6], [0.6, 0.8], [0, 1], [1, 0]]], "float32")


def test_temporal_hand_values_and_padding_ignored():
  mask = frame_mask(np.array([3]), 4)
  out = _np(losses.temporal_triplet_loss(T_AUDIO, T_VISUAL, mask,
                                         margin=0.2, guard=2))
  assert out["loss"] == pytest.approx(0.7, abs=1e-6)
  a2v, v2a = out["audio_to_visual"], out["visual_to_audio"]
  assert a2v["loss"] == pytest.approx(0.5, abs=1e-6)
  assert a2v["active_fraction"] == pytest.approx(0.5)
  assert a2v["positive_similarity"] == pytest.approx(1.6 / 3, abs=1e-6)
  assert a2v["negative_similarity"] == pytest.approx(0.4, abs=1e-6)
  assert v2a["loss"] == pytest.approx(0.2, abs=1e-6)
  # Padding values do not matter.
  audio, visual = T_AUDIO.copy(), T_VISUAL.copy()
  audio[0, 3] = [0.0, 1.0]
  visual[0, 3] = [0.0, 1.0]
  again = _np(losses.temporal_triplet_loss(audio, visual, mask,
                                           margin=0.2, guard=2))
  assert again == out


def test_temporal_guard_never_uses_the_positive_second():
  # guard=0 behaves like guard=1: t'=t is never a negative.
  x = np.tile(np.array([[[1.0, 0.0]]], "float32"), (1, 2, 1))
  y = np.array([[[1.0, 0.0], [0.0, 1.0]]], "float32")
  mask = np.ones((1, 2), bool)
  g0 = _np(losses.temporal_triplet_loss(x, y, mask, margin=0.2, guard=0))
  g1 = _np(losses.temporal_triplet_loss(x, y, mask, margin=0.2, guard=1))
  assert g0 == g1
  # a2v t=0: pos 1, neg <x0, y1>=0 -> 0; t=1: pos 0, neg <x1, y0>=1 -> 1.2
  assert g1["audio_to_visual"]["loss"] == pytest.approx(0.6, abs=1e-6)


def test_sigmoid_cross_entropy_and_ramp():
  assert float(losses.sigmoid_cross_entropy(
      np.array([[1.0, 0.0]]), np.zeros((1, 2)))) == pytest.approx(np.log(2))
  big = float(losses.sigmoid_cross_entropy(np.array([[1.0, 0.0]]),
                                           np.array([[100.0, -100.0]])))
  assert 0.0 <= big < 1e-6
  assert float(losses.ramp_weight(0, 2.0, 4)) == 0.0
  assert float(losses.ramp_weight(1, 2.0, 4)) == pytest.approx(0.5)
  assert float(losses.ramp_weight(10, 2.0, 4)) == pytest.approx(2.0)
  assert float(losses.ramp_weight(0, 2.0, 0)) == pytest.approx(2.0)


# --------------------------------------------------------------------------
# Numerical safety


def _finite_loss_and_grads(audio, visual, mining, timelines=None, mask=None):
  audio, visual = tf.constant(audio), tf.constant(visual)
  watched = [audio, visual]
  with tf.GradientTape() as tape:
    tape.watch(watched)
    if timelines is not None:
      watched_tl = [tf.constant(t) for t in timelines]
      tape.watch(watched_tl)
      watched += watched_tl
    out = losses.cross_modal_clip_loss(audio, visual, margin=0.2,
                                       mining=mining)
    total = out["loss"]
    if timelines is not None:
      total += losses.temporal_triplet_loss(watched_tl[0], watched_tl[1],
                                            mask, margin=0.2, guard=1)["loss"]
  grads = tape.gradient(total, watched)
  assert np.isfinite(float(total))
  for g in grads:
    if g is not None:
      assert np.isfinite(np.asarray(g, "float32")).all()
  return float(total)


@pytest.mark.tensorflow_backend  # Drives TensorFlow itself (tf.function / GradientTape).
@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard", "all"])
def test_nan_safety(mining):
  one = np.array([[0.6, 0.8]], "float32")
  assert _finite_loss_and_grads(one, one, mining) == 0.0  # batch of one
  same = np.tile(one, (4, 1))
  # Identical embeddings: every triplet costs exactly the margin.
  assert _finite_loss_and_grads(same, same, mining) == pytest.approx(
      2 * 0.2, abs=1e-6)
  zeros = np.zeros((3, 5, 2), "float32")  # all padding
  total = _finite_loss_and_grads(
      B_AUDIO, B_VISUAL, mining, timelines=(zeros, zeros),
      mask=np.zeros((3, 5), bool))
  assert total == pytest.approx(float(losses.cross_modal_clip_loss(
      B_AUDIO, B_VISUAL, margin=0.2, mining=mining)["loss"]), abs=1e-6)


def test_float16_inputs():
  ref = _np(losses.cross_modal_clip_loss(B_AUDIO, B_VISUAL, margin=0.1,
                                         mining="batch_hard"))
  half = _np(losses.cross_modal_clip_loss(B_AUDIO.astype("float16"),
                                          B_VISUAL.astype("float16"),
                                          margin=0.1, mining="batch_hard"))
  assert half["loss"] == pytest.approx(ref["loss"], abs=2e-3)
  mask = frame_mask(np.array([3]), 4)
  ref_t = _np(losses.temporal_triplet_loss(T_AUDIO, T_VISUAL, mask, margin=0.2,
                                           guard=2))
  half_t = _np(losses.temporal_triplet_loss(T_AUDIO.astype("float16"),
                                            T_VISUAL.astype("float16"), mask,
                                            margin=0.2, guard=2))
  assert half_t["loss"] == pytest.approx(ref_t["loss"], abs=2e-3)


def _numpy_temporal_loss(a, v, lengths, margin, guard):
  """Brute-force batch-hard temporal triplets, both directions (reference)."""
  total = 0.0
  for x, y in ((a, v), (v, a)):
    hinges = []
    for b, n in enumerate(lengths):
      sim = x[b, :n] @ y[b, :n].T
      for t in range(n):
        negatives = [sim[t, u] for u in range(n) if abs(t - u) >= max(guard, 1)]
        if negatives:
          hinges.append(max(0.0, margin - sim[t, t] + max(negatives)))
    total += np.mean(hinges)
  return total


@pytest.mark.tensorflow_backend  # Drives TensorFlow itself (tf.function / GradientTape).
def test_long_timelines_value_and_memory_quadratic_in_t_only():
  b, t, e = 2, 300, 16
  rng = np.random.default_rng(0)
  x = rng.normal(size=(b, t, e)).astype("float32")
  x /= np.linalg.norm(x, axis=-1, keepdims=True)
  y = x[:, ::-1].copy()
  lengths = np.array([300, 17])
  mask = frame_mask(lengths, t)
  out = losses.temporal_triplet_loss(x, y, mask, margin=0.2, guard=1)
  assert float(out["loss"]) == pytest.approx(
      _numpy_temporal_loss(x, y, lengths, 0.2, 1), abs=1e-4)
  # No intermediate tensor holds more than the [B, T, T] similarity: a
  # [B, T, T, E] one would be E = 16 times larger.
  fn = tf.function(lambda a, c, m: losses.temporal_triplet_loss(
      a, c, m, margin=0.2, guard=1)["loss"])
  graph = fn.get_concrete_function(tf.TensorSpec([b, t, e]), tf.TensorSpec([b, t, e]),
                                   tf.TensorSpec([b, t], tf.bool)).graph
  largest = max(int(np.prod(out.shape.as_list())) for op in graph.get_operations()
                for out in op.outputs if out.shape.is_fully_defined())
  assert largest == b * t * t


# --------------------------------------------------------------------------
# The layer


def _layer_inputs(labels=None):
  inputs = {
      "audio_embedding": B_AUDIO, "visual_embedding": B_VISUAL,
      "audio_timeline": np.concatenate([T_AUDIO] * 3),
      "visual_timeline": np.concatenate([T_VISUAL] * 3),
      "num_frames": np.array([3, 3, 3], "int32"),
  }
  if labels is not None:
    inputs["labels"] = labels
  return inputs


def test_layer_adds_hand_worked_loss_and_passes_through():
  # clip (batch_hard, margin .1): a2v .8/3; v2a from the transposed sims:
  #   v0 anchors: pos .8, negs a1 .6, a2 .96 -> .96 - .7 = .26
  #   v1: pos .8, negs a0 .6, a2 1.0 -> 1.0 - .7 = .3
  #   v2: pos .6, negs a0 1.0, a1 0 -> 1.0 - .5 = .5   => 1.06/3
  # temporal (guard 2, margin .2): .7 per video, same in all 3.
  layer = CrossModalLoss(LossConfig(mining="batch_hard", margin=0.1, temporal_weight=0.5,
                                temporal_guard=2, timeline_nce_weight=0.0))
  inputs = _layer_inputs()
  out = layer(inputs)
  expected = 0.8 / 3 + 1.06 / 3 + 0.5 * 0.7
  assert float(layer.losses[0]) == pytest.approx(expected, abs=1e-5)
  for key in ("audio_embedding", "visual_embedding", "audio_timeline",
              "visual_timeline"):
    np.testing.assert_array_equal(np.asarray(out[key]), inputs[key])
  results = {k: float(v) for k, v in out["loss_parts"].items()}
  assert sorted(results) == sorted(layer.metric_names)
  assert results["clip_loss"] == pytest.approx(1.86 / 3, abs=1e-5)
  assert results["temporal_loss"] == pytest.approx(0.7, abs=1e-5)
  assert "classification_loss" not in results


def test_layer_temporal_off_and_video_level():
  layer = CrossModalLoss(LossConfig(mining="batch_hard", margin=0.1, temporal_weight=0.0,
                                timeline_nce_weight=0.0))
  parts = layer(_layer_inputs())["loss_parts"]
  assert float(layer.losses[0]) == pytest.approx(1.86 / 3, abs=1e-5)
  assert not any(name.startswith("temporal") for name in parts) and "clip_loss" in parts
  assert not layer.metrics  # Nothing is updated inside call (JAX).
  video = CrossModalLoss(LossConfig(mining="batch_hard", margin=0.1, clip_loss="triplet"))
  out = video({"audio_embedding": B_AUDIO, "visual_embedding": B_VISUAL})
  assert sorted(out) == ["audio_embedding", "loss_parts", "visual_embedding"]
  assert float(video.losses[0]) == pytest.approx(1.86 / 3, abs=1e-5)
  # Without timelines "auto" is the contrastive clip loss.
  auto = CrossModalLoss(LossConfig(clip_temperature=0.5))
  parts = auto({"audio_embedding": B_AUDIO, "visual_embedding": B_VISUAL})["loss_parts"]
  want = _np(losses.clip_contrastive_loss(B_AUDIO, B_VISUAL, temperature=0.5))
  assert float(auto.losses[0]) == pytest.approx(want["loss"], abs=1e-6)
  assert "clip_accuracy" in parts and "clip_active_fraction" not in parts


def _info_nce(audio, visual, temperature):
  logits = audio @ visual.T / temperature
  a2v = np.mean(np.log(np.exp(logits).sum(1)) - np.diag(logits))
  v2a = np.mean(np.log(np.exp(logits).sum(0)) - np.diag(logits))
  return a2v, v2a


def test_clip_contrastive_loss_by_hand():
  a2v, v2a = _info_nce(B_AUDIO.astype(np.float64), B_VISUAL.astype(np.float64), 0.2)
  out = _np(losses.clip_contrastive_loss(B_AUDIO, B_VISUAL, temperature=0.2))
  assert out["audio_to_visual"] == pytest.approx(a2v, abs=1e-5)
  assert out["visual_to_audio"] == pytest.approx(v2a, abs=1e-5)
  assert out["loss"] == pytest.approx(a2v + v2a, abs=1e-5)
  term = losses.clip_contrastive.term_from(
      LossConfig(clip_temperature=0.2, audio_to_visual_weight=0.5), False)
  weighted = _np(losses.term_loss(losses.TermInputs(B_AUDIO, B_VISUAL), term.config))
  assert weighted["loss"] == pytest.approx(0.5 * a2v + v2a, abs=1e-5)
  # Similarities (rows audio, columns visual): a0 .8 .6 1.0 | a1 .6 .8 0 | a2 .96 1.0 .6.
  assert out["positive_similarity"] == pytest.approx((0.8 + 0.8 + 0.6) / 3, abs=1e-6)
  assert out["negative_similarity"] == pytest.approx((1.0 + 0.6 + 1.0) / 3, abs=1e-6)
  # Own match on top in both directions: a1 tops its row, but a2 tops column 1.
  assert out["accuracy"] == pytest.approx(0.0, abs=1e-6)
  # Aligned unit vectors at a low temperature cost almost nothing.
  eye = np.eye(3, dtype="float32")
  assert _np(losses.clip_contrastive_loss(eye, eye, temperature=0.01))["loss"] < 1e-6


def test_clip_contrastive_negative_weights_and_memory_by_hand():
  audio, visual = B_AUDIO.astype(np.float64), B_VISUAL.astype(np.float64)
  weights = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0], [0.5, 1.0, 1.0]])
  memory_audio = np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
  memory_visual = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
  valid = np.array([True, True, False])
  logits = audio @ visual.T / 0.2
  extra_v = np.exp(audio @ memory_visual[valid].T / 0.2).sum(1)
  extra_a = np.exp(visual @ memory_audio[valid].T / 0.2).sum(1)
  a2v = np.mean(np.log((weights * np.exp(logits)).sum(1) + extra_v) - np.diag(logits))
  v2a = np.mean(np.log((weights * np.exp(logits)).sum(0) + extra_a) - np.diag(logits))
  out = _np(losses.clip_contrastive_loss(
      B_AUDIO, B_VISUAL, temperature=0.2, negative_weights=weights.astype("float32"),
      audio_memory=memory_audio.astype("float32"), visual_memory=memory_visual.astype("float32"),
      memory_valid=valid))
  assert out["audio_to_visual"] == pytest.approx(a2v, abs=1e-5)
  assert out["visual_to_audio"] == pytest.approx(v2a, abs=1e-5)
  # The weight of a video on itself is ignored; weight 0 takes a negative out.
  labels = np.array([[1, 0], [0, 1], [1, 1]], "float32")
  np.testing.assert_allclose(
      keras.ops.convert_to_numpy(losses.shared_label_weights(labels, 0.25)),
      [[0.25, 1, 0.25], [1, 0.25, 0.25], [0.25, 0.25, 0.25]])


def test_layer_shared_label_weight_and_memory_bank():
  labels = np.array([[1, 0], [0, 1], [1, 1]], "float32")
  layer = CrossModalLoss(LossConfig(clip_temperature=0.2, clip_shared_label_weight=0.0,
                                    clip_memory_size=4))
  inputs = {"audio_embedding": B_AUDIO, "visual_embedding": B_VISUAL, "labels": labels}
  weights = losses.shared_label_weights(labels, 0.0)
  first = _np(losses.clip_contrastive_loss(B_AUDIO, B_VISUAL, temperature=0.2,
                                           negative_weights=weights))["loss"]
  layer(inputs, training=False)  # Inference leaves the memory empty.
  assert int(layer.memory_filled.numpy()) == 0
  layer(inputs, training=True)
  assert float(layer.losses[0]) == pytest.approx(first, abs=1e-5)
  assert int(layer.memory_filled.numpy()) == 3
  # The next batch ranks the remembered embeddings as extra negatives; the
  # newest come first and the oldest drop out.
  flipped = {**inputs, "audio_embedding": B_AUDIO[:, ::-1].copy()}
  layer(flipped, training=True)
  want = _np(losses.clip_contrastive_loss(
      flipped["audio_embedding"], B_VISUAL, temperature=0.2, negative_weights=weights,
      audio_memory=np.concatenate([B_AUDIO, np.zeros((1, 2), "float32")]),
      visual_memory=np.concatenate([B_VISUAL, np.zeros((1, 2), "float32")]),
      memory_valid=np.array([True, True, True, False])))["loss"]
  assert float(layer.losses[0]) == pytest.approx(want, abs=1e-5)
  assert int(layer.memory_filled.numpy()) == 4
  np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.memory["audio"]),
                             np.concatenate([flipped["audio_embedding"], B_AUDIO[:1]]))
  with pytest.raises(ValueError, match="clip_shared_label_weight < 1 needs 'labels'"):
    CrossModalLoss(LossConfig(clip_shared_label_weight=0.5))(
        {"audio_embedding": B_AUDIO, "visual_embedding": B_VISUAL})


def test_layer_classification_warmup():
  labels = np.array([[1, 0], [0, 1], [1, 1]], "float32")
  # The hand-worked clip value 1.86 / 3 is for batch-hard mining.
  layer = CrossModalLoss(LossConfig(
      mining="batch_hard", margin=0.1, temporal_weight=0.0, timeline_nce_weight=0.0,
      classification_weight=2.0,
      classification_warmup_steps=2))
  inputs = _layer_inputs(labels)
  totals = []
  for _ in range(4):
    layer(inputs, training=True)
    totals.append(float(layer.losses[0]))
  layer(inputs, training=False)  # inference does not advance the ramp
  assert int(layer.step.numpy()) == 4
  clip = 1.86 / 3
  assert totals[0] == pytest.approx(clip, abs=1e-5)  # weight 0 at step 0
  cls = (totals[1] - clip) / 1.0  # weight 2 * 1/2
  assert cls > 0
  assert totals[2] == pytest.approx(clip + 2.0 * cls, abs=1e-5)
  assert totals[3] == pytest.approx(totals[2], abs=1e-6)
  # The head is shared by both modalities: one Dense(C).
  assert layer.classifier.kernel.shape == (2, 2)
  assert len(layer.trainable_weights) == 2


def test_layer_nan_safe_float16_single_and_padding():
  layer = CrossModalLoss(LossConfig(classification_weight=1.0,
                                classification_warmup_steps=0))
  half = {
      "audio_embedding": np.array([[0.6, 0.8]], "float16"),
      "visual_embedding": np.array([[0.6, 0.8]], "float16"),
      "audio_timeline": np.zeros((1, 5, 2), "float16"),
      "visual_timeline": np.zeros((1, 5, 2), "float16"),
      "num_frames": np.array([0], "int32"),
      "labels": np.array([[1.0, 0.0, 0.0]], "float32"),
  }
  out = layer(half)
  assert keras.backend.standardize_dtype(out["audio_embedding"].dtype) == "float32"
  assert np.isfinite(float(layer.losses[0]))
  assert all(np.isfinite(float(v)) for v in out["loss_parts"].values())


def test_invalid_mining():
  with pytest.raises(ValueError, match="mining"):
    CrossModalLoss(LossConfig(mining="hard"))


def test_the_earlier_layer_name_takes_and_restores_loss_fields():
  # Keyword arguments per LossConfig field, as the layer took them.
  layer = CrossModalTripletLoss(mining="batch_hard", margin=0.1, temporal_weight=0.5,
                                temporal_guard=2, timeline_nce_weight=0.0)
  layer(_layer_inputs())
  assert float(layer.losses[0]) == pytest.approx(0.8 / 3 + 1.06 / 3 + 0.5 * 0.7, abs=1e-5)
  # A config saved in that form (one key per field, written before
  # timeline_nce_weight existed): the absent field takes what the code did then.
  saved = {"name": "triplet_loss", "trainable": True, "dtype": "float32",
           "mining": "batch_hard", "margin": 0.1, "temporal_weight": 0.5,
           "temporal_guard": 2, "clip_loss": "triplet"}
  restored = keras.saving.deserialize_keras_object({
      "module": "yt8m_crossmodal.layers.triplet_loss", "class_name": "CrossModalTripletLoss",
      "config": saved, "registered_name": "yt8m_crossmodal>CrossModalTripletLoss"})
  assert isinstance(restored, CrossModalTripletLoss)
  assert restored.loss_config == LossConfig(mining="batch_hard", margin=0.1,
                                            temporal_weight=0.5, temporal_guard=2,
                                            clip_loss="triplet", timeline_nce_weight=0.0)
  restored(_layer_inputs())
  assert float(restored.losses[0]) == pytest.approx(float(layer.losses[0]), abs=1e-6)
  assert restored.get_config()["loss_config"] == dataclasses.asdict(restored.loss_config)


def test_objective_is_the_weighted_sum_of_its_terms():
  config = LossConfig(mining="batch_hard", margin=0.1, temporal_weight=0.5,
                      temporal_guard=2, timeline_nce_weight=0.0)
  terms = losses.terms_from(config, has_timelines=True)
  assert [t.name for t in terms] == ["clip", "temporal"]
  inputs = _layer_inputs()
  x = losses.TermInputs(
      audio=B_AUDIO, visual=B_VISUAL, audio_timeline=inputs["audio_timeline"],
      visual_timeline=inputs["visual_timeline"], mask=frame_mask(inputs["num_frames"], 4))
  total, parts = losses.objective(x, terms)
  assert sorted(parts) == sorted(losses.part_names(terms))
  assert float(total) == pytest.approx(float(parts["clip_loss"])
                                       + 0.5 * float(parts["temporal_loss"]), abs=1e-6)
  assert float(parts["temporal_loss"]) == pytest.approx(0.7, abs=1e-5)
  # The direction weights scale both directions of each two-way term.
  half = losses.terms_from(dataclasses.replace(config, visual_to_audio_weight=0.5), True)
  _, halved = losses.objective(x, half)
  assert float(halved["clip_loss"]) == pytest.approx(
      float(parts["clip_a2v_loss"]) + 0.5 * float(parts["clip_v2a_loss"]), abs=1e-6)
  assert float(halved["temporal_loss"]) == pytest.approx(
      float(parts["temporal_a2v_loss"]) + 0.5 * float(parts["temporal_v2a_loss"]), abs=1e-6)


def test_every_term_module_is_found_in_the_order_of_the_sum():
  found = losses.terms.modules()
  assert [m.__name__.rpartition(".")[2] for m in found] == [
      "clip_contrastive", "clip_triplet", "temporal_triplets", "sync_offset", "timeline_nce",
      "classification"]
  for module in found:
    assert module.PARTS[0] == "loss" and dataclasses.is_dataclass(module.CONFIG)
  # Every term on, at frame level: one clip term of the two, then the others.
  config = LossConfig(temporal_weight=1.0, sync_weight=1.0, classification_weight=1.0)
  assert [t.name for t in losses.terms_from(config, True)] == [
      "clip", "temporal", "sync", "timeline_nce", "classification"]
  assert [type(t.config).__name__ for t in losses.terms_from(config, False)] == [
      "ClipContrastiveConfig", "ClassificationConfig"]


def test_crop_windows_and_random_starts():
  x = np.arange(2 * 6 * 1, dtype="float32").reshape(2, 6, 1)
  mask = np.array([[True] * 6, [True] * 3 + [False] * 3])
  rows, valid = losses.crop_windows(x, mask, np.array([2, 1]), 4)
  np.testing.assert_array_equal(np.asarray(rows)[..., 0],
                                [[2, 3, 4, 5], [7, 8, 0, 0]])
  np.testing.assert_array_equal(np.asarray(valid),
                                [[True] * 4, [True, True, False, False]])
  # Starts keep the window inside the valid span (0..n-W), 0 when n <= W.
  starts = losses.random_window_starts(mask, 4, np.array([0.999, 0.999]))
  np.testing.assert_array_equal(np.asarray(starts), [2, 0])
  starts = losses.random_window_starts(mask, 4, np.array([0.0, 0.5]))
  np.testing.assert_array_equal(np.asarray(starts), [0, 0])


def test_timeline_contrastive_hand_values_and_masking():
  # Two valid seconds with unit rows: a0=v0=(1,0), a1=(0,1), v1=(.6,.8).
  # logits/T (T=1): a0 -> [1, .6], a1 -> [0, .8]; columns v0 <- [1, 0],
  # v1 <- [.6, .8]. A third, padded second must change nothing.
  audio = np.array([[[1, 0], [0, 1], [5, 5]]], "float32")
  visual = np.array([[[1, 0], [.6, .8], [5, 5]]], "float32")
  mask = np.array([[True, True, False]])
  out = _np(losses.timeline_contrastive_loss(audio, visual, mask,
                                             temperature=1.0))
  lse = lambda *v: np.log(np.sum(np.exp(v)))
  a2v = ((lse(1, .6) - 1) + (lse(0, .8) - .8)) / 2
  v2a = ((lse(1, 0) - 1) + (lse(.6, .8) - .8)) / 2
  assert out["loss"] == pytest.approx(a2v + v2a, abs=1e-5)
  assert out["accuracy"] == pytest.approx(1.0)
  assert out["positive_similarity"] == pytest.approx(.9, abs=1e-6)
  # A lower temperature sharpens: the loss falls when positives win.
  sharp = _np(losses.timeline_contrastive_loss(audio, visual, mask,
                                               temperature=0.1))
  assert sharp["loss"] < out["loss"]
  # Swapping the visual seconds makes every pick wrong.
  wrong = _np(losses.timeline_contrastive_loss(
      audio, visual[:, [1, 0, 2]], mask, temperature=0.1))
  assert wrong["accuracy"] == 0.0 and wrong["loss"] > sharp["loss"]


def test_layer_timeline_nce_part_and_all_padding_safe():
  layer = CrossModalLoss(LossConfig(mining="batch_hard", margin=0.1,
                                temporal_weight=0.0, timeline_nce_weight=2.0,
                                timeline_nce_seconds=8))
  inputs = _layer_inputs()
  out = layer(inputs)
  parts = {k: float(v) for k, v in out["loss_parts"].items()}
  assert {"timeline_nce_loss", "timeline_nce_accuracy"} <= set(parts)
  assert float(layer.losses[0]) == pytest.approx(
      1.86 / 3 + 2.0 * parts["timeline_nce_loss"], abs=1e-5)
  # The window covers every (short) video whole: the same value again.
  again = {k: float(v) for k, v in layer(inputs)["loss_parts"].items()}
  assert again["timeline_nce_loss"] == pytest.approx(parts["timeline_nce_loss"])
  empty = dict(inputs, num_frames=np.zeros(3, "int32"))
  parts = layer(empty)["loss_parts"]
  assert all(np.isfinite(float(v)) for v in parts.values())
