"""Frame-level (temporal) encoders: multi-stride windowed LSTMs."""

import keras
from keras import ops

from yt8m_crossmodal.layers import (FrameDense, FrameMask, L2Normalize,
                                    MaskedMean, MaskedWindowPool,
                                    WindowUpsample)


def build_shared_projection(model_config, name="shared_projection"):
  """The Dense(E) layer shared by the audio and visual frame encoders."""
  return keras.layers.Dense(model_config.embedding_size, name=name)


def local_timeline(model_config, features, mask):
  """Per-second timeline features without LSTM context: ``[B, T, E]``.

  A branch of its own (the clip path is untouched). By default a linear
  per-second projection of the dequantized ``features`` ([B, T, D]):
  Conv1D(E, ``timeline_kernel``), which is a Dense when the kernel is 1.
  With ``timeline_hidden_units`` > 0 a FrameDense (ReLU, LayerNorm,
  dropout) comes first. Features are zeroed past the valid frames first
  (Conv1D ignores masks). Second ``t`` only sees seconds ``t - k//2 ..
  t + k//2``, so an excerpt encodes the same alone as cut from its video,
  up to ``k//2`` edge seconds. In ``benchmarks/sync_ablation.py`` the
  linear, kernel-1 head trained with the per-second contrastive loss
  synchronized best; hidden layers and wider kernels did worse.
  """
  mc = model_config
  x = features
  if mc.timeline_hidden_units > 0:
    x = FrameDense(mc.timeline_hidden_units, activation="relu", use_norm=True,
                   dropout=mc.dropout, name="timeline_frame_dense")(x)
  x = ZeroPadding(name="timeline_zero_padding")(x, mask)
  return keras.layers.Conv1D(mc.embedding_size, mc.timeline_kernel,
                             padding="same", name="timeline_projection")(x)


def clip_with_timeline(weight, embedding, timeline, mask):
  """``L2(embedding [B, E] + weight * L2(masked mean of timeline [B, T, E]))``."""
  mean = MaskedMean(dtype="float32", name="timeline_mean")(timeline, mask)
  mean = L2Normalize(dtype="float32", name="timeline_mean_l2")(mean)
  mean = keras.layers.Rescaling(weight, dtype="float32", name="timeline_mean_weight")(mean)
  fused = keras.layers.Add(dtype="float32", name="clip_fuse")([embedding, mean])
  return L2Normalize(dtype="float32", name="clip_l2")(fused)


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class ZeroPadding(keras.layers.Layer):
  """``ZeroPadding()(x [B, T, D], valid [B, T]) -> x``, zeros where not valid."""

  def call(self, inputs, valid):
    keep = ops.expand_dims(ops.cast(valid, "bool"), -1)
    return ops.where(keep, inputs, ops.zeros_like(inputs))

  def compute_output_spec(self, inputs, valid):
    return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)


def build_frame_encoder(model_config, input_dim, shared_projection,
                        modality, name=None, use_cudnn="auto"):
  """One modality's frame-level encoder.

  ``[features float32 [B, T, input_dim], num_frames int32 [B]] ->
  {"embedding": [B, E], "timeline": [B, T, E]}``.

  FrameDense -> per stride s: MaskedWindowPool(s) -> stacked LSTMs over the
  windows (window mask) -> WindowUpsample(s); the strides are concatenated
  per second into ``fused`` ([B, T, lstm_units * len(strides)], plus the
  FrameDense output itself, ``projection_units`` wide, when
  ``frame_skip``).
  The timeline ([B, T, E], L2-normalized rows, zeros past ``num_frames``) is
  :func:`local_timeline` (``timeline_source="local"``) or
  ``shared_projection(fused)`` (``"fused"``). The LSTM clip is
  ``L2Normalize(shared_projection(MaskedMean(fused)))``; with
  ``clip_timeline_weight`` w > 0 the embedding is
  ``L2(clip + w * L2(MaskedMean(timeline)))`` (:func:`clip_with_timeline`),
  trained as one by the clip triplets (in ``benchmarks/sync_ablation.py``
  it raised clip R@1 on every family and left sync as it was).

  Outputs are float32 also under a mixed precision policy. ``use_cudnn`` goes
  to every LSTM ("auto": cuDNN when a GPU is visible at trace time; the export
  builds with False so that its graph runs on CPU and GPU alike).
  """
  mc = model_config
  if not mc.window_strides:
    raise ValueError("window_strides must not be empty")
  if mc.lstm_layers < 1:
    raise ValueError("lstm_layers must be >= 1")
  features = keras.Input((None, input_dim), dtype="float32",
                         name=f"{modality}_features")
  num_frames = keras.Input((), dtype="int32", name=f"{modality}_num_frames")
  mask = FrameMask(name="frame_mask")(features, num_frames)
  x = FrameDense(mc.projection_units, activation="relu", use_norm=True,
                 dropout=mc.dropout, name="frame_dense")(features)
  # The per-second projection itself is fused too: it carries what changes
  # from one second to the next, which synchronization needs, while the
  # LSTM strides carry context.
  branches = [x] if mc.frame_skip else []
  for stride in mc.window_strides:
    h, window_mask = MaskedWindowPool(stride, name=f"pool_s{stride}")(x, mask)
    for i in range(mc.lstm_layers):
      h = keras.layers.LSTM(mc.lstm_units, return_sequences=True,
                            use_cudnn=use_cudnn,
                            name=f"lstm_s{stride}_{i}")(h, mask=window_mask)
    branches.append(WindowUpsample(stride, name=f"upsample_s{stride}")(h, x))
  if len(branches) > 1:
    fused = keras.layers.Concatenate(axis=-1, name="fuse_strides")(branches)
  else:
    fused = branches[0]
  if mc.timeline_source == "local":
    timeline = L2Normalize(dtype="float32", name="timeline_l2")(
        local_timeline(mc, features, mask), mask=mask)
  else:
    timeline = L2Normalize(dtype="float32", name="timeline_l2")(
        shared_projection(fused), mask=mask)
  clip = MaskedMean(name="clip_mean")(fused, mask)
  embedding = L2Normalize(dtype="float32", name="embedding_l2")(
      shared_projection(clip))
  if mc.clip_timeline_weight > 0:
    embedding = clip_with_timeline(mc.clip_timeline_weight, embedding, timeline, mask)
  return keras.Model([features, num_frames],
                     {"embedding": embedding, "timeline": timeline},
                     name=name or f"{modality}_encoder")
