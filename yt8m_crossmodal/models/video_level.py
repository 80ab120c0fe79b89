"""Video-level encoders over mean features: residual towers (default) or the
published ReLU MLP."""

import keras

from yt8m_crossmodal.layers import L2Normalize, Standardize


def standardize_layer_name(modality):
  """Name of the :class:`Standardize` layer of a residual tower."""
  return f"{modality}_standardize"


def linear_branch_name(modality):
  """Name of the frozen Dense layer of a residual tower's linear branch."""
  return f"{modality}_linear_branch"


def build_video_encoder(hidden_sizes, embedding_size, input_dim, modality,
                        name=None):
  """The published MLP: ``[features float32 [B, input_dim]] -> {"embedding": [B, E]}``.

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


def build_residual_video_encoder(model_config, input_dim, modality, name=None):
  """A residual tower: ``[features float32 [B, input_dim]] -> {"embedding": [B, E]}``.

  Standardize (statistics set from the training data, see
  :func:`yt8m_crossmodal.models.initialize_from_data`), input dropout,
  Dense(H), then ``video_blocks`` pre-norm residual blocks
  ``x + Dropout(Dense(H)(GELU(Dense(H)(LayerNorm(x)))))``, LayerNorm,
  Dense(E - L) and L2 normalization. With ``L = video_linear_dims > 0`` a
  frozen linear branch Dense(L) of the standardized input (set to the
  canonical directions of the training data) is L2 normalized and
  concatenated, and the whole L2 normalized again: the cosine of two
  embeddings is the mean of the two branches' cosines.

  Args:
    model_config: a ``config.ModelConfig`` (its ``video_*`` fields and
      ``embedding_size``).
    input_dim: D (128 audio, 1024 visual).
    modality: "audio" or "visual" (layer names).
    name: model name.
  """
  mc = model_config
  features = keras.Input((input_dim,), dtype="float32",
                         name=f"{modality}_features")
  x = standardized = Standardize(name=standardize_layer_name(modality))(features)
  if mc.video_input_dropout:
    x = keras.layers.Dropout(mc.video_input_dropout,
                             name=f"{modality}_input_dropout")(x)
  x = keras.layers.Dense(mc.video_hidden_units, name=f"{modality}_input_projection")(x)
  for i in range(mc.video_blocks):
    y = keras.layers.LayerNormalization(name=f"{modality}_block{i}_norm")(x)
    y = keras.layers.Dense(mc.video_hidden_units, activation="gelu",
                           name=f"{modality}_block{i}_hidden")(y)
    y = keras.layers.Dropout(mc.video_dropout, name=f"{modality}_block{i}_dropout")(y)
    y = keras.layers.Dense(mc.video_hidden_units, name=f"{modality}_block{i}_out")(y)
    x = keras.layers.Add(name=f"{modality}_block{i}_add")([x, y])
  x = keras.layers.LayerNormalization(name=f"{modality}_output_norm")(x)
  linear = mc.video_linear_dims
  x = keras.layers.Dense(mc.embedding_size - linear, name=f"{modality}_projection")(x)
  if linear:
    x = L2Normalize(dtype="float32", name="residual_l2")(x)
    y = keras.layers.Dense(linear, trainable=mc.video_linear_trainable,
                           name=linear_branch_name(modality))(standardized)
    y = L2Normalize(dtype="float32", name="linear_l2")(y)
    x = keras.layers.Concatenate(name="branches")([x, y])
  embedding = L2Normalize(dtype="float32", name="embedding_l2")(x)
  return keras.Model([features], {"embedding": embedding},
                     name=name or f"{modality}_encoder")
