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


def _tower_prefix(modality, index):
  """Layer-name prefix of residual tower ``index`` (the first keeps the plain names)."""
  return modality if index == 0 else f"{modality}_tower{index}"


def _residual_tower(mc, x, prefix, units):
  """Input dropout, Dense(H), the residual blocks, LayerNorm, Dense(units)."""
  if mc.video_input_dropout:
    x = keras.layers.Dropout(mc.video_input_dropout, name=f"{prefix}_input_dropout")(x)
  x = keras.layers.Dense(mc.video_hidden_units, name=f"{prefix}_input_projection")(x)
  for i in range(mc.video_blocks):
    y = keras.layers.LayerNormalization(name=f"{prefix}_block{i}_norm")(x)
    y = keras.layers.Dense(mc.video_hidden_units, activation="gelu",
                           name=f"{prefix}_block{i}_hidden")(y)
    y = keras.layers.Dropout(mc.video_dropout, name=f"{prefix}_block{i}_dropout")(y)
    y = keras.layers.Dense(mc.video_hidden_units, name=f"{prefix}_block{i}_out")(y)
    x = keras.layers.Add(name=f"{prefix}_block{i}_add")([x, y])
  x = keras.layers.LayerNormalization(name=f"{prefix}_output_norm")(x)
  return keras.layers.Dense(units, name=f"{prefix}_projection")(x)


def build_residual_video_encoder(model_config, input_dim, modality, name=None):
  """Residual towers: ``[features float32 [B, input_dim]] -> {"embedding": [B, E]}``.

  Standardize (statistics set from the training data, see
  :func:`yt8m_crossmodal.models.initialize_from_data`), then per tower: input
  dropout, Dense(H), ``video_blocks`` pre-norm residual blocks
  ``x + Dropout(Dense(H)(GELU(Dense(H)(LayerNorm(x)))))``, LayerNorm and
  Dense(its share of E - L, :func:`tower_units`). With ``L = video_linear_dims > 0`` a frozen linear branch
  Dense(L) of the standardized input (set to the canonical directions of the
  training data) is L2 normalized and concatenated, and the whole L2
  normalized again: the cosine of two embeddings is the mean of the two
  branches' cosines. With ``K = video_towers > 1`` towers, each tower's output
  is L2 normalized and the linear branch weighted by sqrt(K): the cosine is
  the mean over the towers of ``(tower cosine + linear cosine) / 2``, the
  cosine of an ensemble of K one-tower models sharing the linear branch (see
  :func:`ensemble_members`).

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
  standardized = Standardize(name=standardize_layer_name(modality))(features)
  linear, towers = mc.video_linear_dims, mc.video_towers
  outputs = [_residual_tower(mc, standardized, _tower_prefix(modality, k), units)
             for k, units in enumerate(tower_units(mc))]
  if linear or towers > 1:
    outputs = [L2Normalize(dtype="float32", name="residual_l2" if k == 0 else f"residual{k}_l2")(x)
               for k, x in enumerate(outputs)]
  if linear:
    y = keras.layers.Dense(linear, trainable=mc.video_linear_trainable,
                           name=linear_branch_name(modality))(standardized)
    y = L2Normalize(dtype="float32", name="linear_l2")(y)
    if towers > 1:
      y = keras.layers.Rescaling(float(towers) ** 0.5, name="linear_weight")(y)
    outputs.append(y)
  x = (keras.layers.Concatenate(name="branches")(outputs) if len(outputs) > 1
       else outputs[0])
  embedding = L2Normalize(dtype="float32", name="embedding_l2")(x)
  return keras.Model([features], {"embedding": embedding},
                     name=name or f"{modality}_encoder")


def tower_units(model_config):
  """Output widths of the residual towers: ``embedding_size - video_linear_dims``
  split as evenly as it goes (the first towers take one more)."""
  mc = model_config
  total, towers = mc.embedding_size - mc.video_linear_dims, mc.video_towers
  return [total // towers + (1 if k < total % towers else 0) for k in range(towers)]


def ensemble_members(embedding, model_config):
  """The K one-tower embeddings inside a K-tower embedding.

  Returns ``[B, K, d]`` when the towers are equally wide, else a list of K
  ``[B, d_k]``. Member ``k`` is ``L2([tower k, linear branch])`` (``d_k`` =
  its tower's width + L),
  read off the joint embedding ``[t_1, ..., t_K, sqrt(K) l] / sqrt(2K)`` (unit
  ``t_k``, ``l``) by scaling its blocks; without a linear branch, the towers'
  unit outputs. ``keras.ops`` only.
  """
  from keras import ops
  mc = model_config
  towers, linear = mc.video_towers, mc.video_linear_dims
  units = tower_units(mc)
  scale = float(2 * towers if linear else towers) ** 0.5
  members, start = [], 0
  for width in units:
    tower = embedding[:, start:start + width] * scale
    start += width
    if linear:
      shared = embedding[:, sum(units):] * (2.0 ** 0.5)
      tower = ops.concatenate([tower, shared], axis=-1) / (2.0 ** 0.5)
    members.append(tower)
  if len(set(units)) == 1:
    return ops.stack(members, axis=1)
  return members
