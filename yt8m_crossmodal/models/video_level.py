"""Video-level encoders: one ReLU MLP tower per modality (baseline)."""

import keras

from yt8m_crossmodal.layers import L2Normalize


def build_video_encoder(hidden_sizes, embedding_size, input_dim, modality,
                        name=None):
  """``[features float32 [B, input_dim]] -> {"embedding": [B, E]}`` (a bare
  tensor is accepted too).

  Dense(h, ReLU) for each ``h`` in ``hidden_sizes``, then Dense(E) and L2
  normalization. The towers end at different widths, so nothing is shared
  between the modalities.
  """
  features = keras.Input((input_dim,), dtype="float32",
                         name=f"{modality}_features")
  x = features
  for i, units in enumerate(hidden_sizes):
    x = keras.layers.Dense(units, activation="relu",
                           name=f"{modality}_tower_{i}")(x)
  x = keras.layers.Dense(embedding_size, name=f"{modality}_projection")(x)
  embedding = L2Normalize(dtype="float32", name="embedding_l2")(x)
  return keras.Model([features], {"embedding": embedding},
                     name=name or f"{modality}_encoder")
