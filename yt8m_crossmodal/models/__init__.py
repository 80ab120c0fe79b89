"""Encoders and the training model.

* :func:`build_encoders` -> ``(audio_encoder, visual_encoder)``;
* :func:`build_training_model` -> the model trained with ``model.fit`` on
  the data pipeline's dict batches (loss added by ``CrossModalTripletLoss``);
* :func:`model_inputs` drops batch keys the model does not take (``id``).
"""

import keras

from yt8m_crossmodal.config import AUDIO_DIM, VISUAL_DIM, Config
from yt8m_crossmodal.layers import CrossModalTripletLoss, Dequantize
from yt8m_crossmodal.models.temporal import (build_frame_encoder,
                                             build_shared_projection)
from yt8m_crossmodal.models.video_level import build_video_encoder

AUDIO_ENCODER_NAME = "audio_encoder"
VISUAL_ENCODER_NAME = "visual_encoder"
LOSS_LAYER_NAME = "triplet_loss"
# Batch keys consumed by the training model.
MODEL_INPUT_KEYS = ("audio", "visual", "num_frames", "labels")

__all__ = [
    "AUDIO_ENCODER_NAME", "VISUAL_ENCODER_NAME", "LOSS_LAYER_NAME",
    "MODEL_INPUT_KEYS", "CrossModalTrainingModel", "build_encoders",
    "build_training_model", "model_inputs", "build_frame_encoder",
    "build_video_encoder", "build_shared_projection",
]


def _check_level(config):
  level = config.data.feature_level
  if level not in ("frame", "video"):
    raise ValueError(f"feature_level must be 'frame' or 'video', got {level!r}")
  return level


def build_encoders(config):
  """Returns ``(audio_encoder, visual_encoder)`` keras Models.

  Frame level: inputs ``[features [B, T, D], num_frames [B]]``, outputs
  ``{"embedding": [B, E], "timeline": [B, T, E]}``; the final Dense(E)
  (layer ``shared_projection``) is the same instance in both encoders.
  Video level: inputs ``[features [B, D]]``, output ``{"embedding": [B, E]}``.
  """
  mc = config.model
  if _check_level(config) == "frame":
    projection = build_shared_projection(mc)
    audio = build_frame_encoder(mc, AUDIO_DIM, projection, "audio",
                                name=AUDIO_ENCODER_NAME)
    visual = build_frame_encoder(mc, VISUAL_DIM, projection, "visual",
                                 name=VISUAL_ENCODER_NAME)
  else:
    audio = build_video_encoder(mc.audio_tower, mc.embedding_size, AUDIO_DIM,
                                "audio", name=AUDIO_ENCODER_NAME)
    visual = build_video_encoder(mc.visual_tower, mc.embedding_size,
                                 VISUAL_DIM, "visual",
                                 name=VISUAL_ENCODER_NAME)
  return audio, visual


def _training_graph(config):
  """(inputs list, outputs dict) of the training model."""
  level = _check_level(config)
  audio_encoder, visual_encoder = build_encoders(config)
  num_frames = keras.Input((), dtype="int32", name="num_frames")
  labels = keras.Input((config.data.num_classes,), dtype="float32",
                       name="labels")
  loss_layer = CrossModalTripletLoss.from_loss_config(config.loss,
                                                      name=LOSS_LAYER_NAME)
  if level == "frame":
    audio = keras.Input((None, AUDIO_DIM), dtype="uint8", name="audio")
    visual = keras.Input((None, VISUAL_DIM), dtype="uint8", name="visual")
    a = audio_encoder([Dequantize(name="audio_dequantize")(audio), num_frames])
    v = visual_encoder([Dequantize(name="visual_dequantize")(visual),
                        num_frames])
    loss_inputs = {"audio_timeline": a["timeline"],
                   "visual_timeline": v["timeline"]}
  else:
    audio = keras.Input((AUDIO_DIM,), dtype="float32", name="audio")
    visual = keras.Input((VISUAL_DIM,), dtype="float32", name="visual")
    a = audio_encoder([audio])
    v = visual_encoder([visual])
    loss_inputs = {}
  loss_inputs.update(audio_embedding=a["embedding"],
                     visual_embedding=v["embedding"], num_frames=num_frames,
                     labels=labels)
  outputs = loss_layer(loss_inputs)
  # A list of named Inputs, not a dict: Keras 3 then picks the entries of a
  # dict batch by Input name and ignores extra keys (the pipeline's "id").
  # With a dict structure, extra keys make Keras flatten the batch
  # positionally (sorted keys) and feed tensors to the wrong inputs.
  inputs = [audio, visual, num_frames, labels]
  return inputs, outputs


@keras.saving.register_keras_serializable(package="yt8m_crossmodal")
class CrossModalTrainingModel(keras.Model):
  """Functional training model rebuilt from its :class:`Config` on load.

  A plain functional model cannot be reloaded from ``.keras`` here: the
  shared projection layer lives in two nested encoder models and Keras
  would deserialize it twice (and load its weights into one copy only).
  This class serializes the resolved ``Config`` instead and rebuilds the
  graph with :func:`build_training_model`'s code, so ``model.save`` /
  ``keras.models.load_model`` round-trip with the sharing intact.
  ``crossmodal_config`` holds the ``Config``.
  """

  def __init__(self, config, name=None, **kwargs):
    if not isinstance(config, Config):
      config = Config.from_dict(config)
    inputs, outputs = _training_graph(config)
    name = name or f"crossmodal_{config.data.feature_level}_training_model"
    super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
    self.crossmodal_config = config

  def get_config(self):
    return {"config": self.crossmodal_config.to_dict(), "name": self.name,
            "trainable": self.trainable}

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def build_training_model(config):
  """The model trained by ``model.compile(optimizer); model.fit(dataset)``.

  Frame level input dict: ``audio`` uint8 ``[B, T, 128]``, ``visual`` uint8
  ``[B, T, 1024]`` (float input is also accepted and used as is),
  ``num_frames`` int32 ``[B]``, ``labels`` float32 ``[B, C]``. Outputs
  ``audio_embedding``, ``visual_embedding``, ``audio_timeline``,
  ``visual_timeline``. Video level: ``audio`` float32 ``[B, 128]``,
  ``visual`` float32 ``[B, 1024]``, ``num_frames`` (ignored), ``labels``;
  outputs the two embeddings. The encoders are the sub-models
  ``model.get_layer("audio_encoder")`` / ``"visual_encoder"``, the loss layer
  is ``model.get_layer("triplet_loss")``.

  The model's inputs are four Inputs named ``audio``, ``visual``,
  ``num_frames``, ``labels`` (``model.input`` is a list): a dict batch is
  matched by key and extra keys (the pipeline's string ``id``) are ignored.
  A string tensor in the batch still breaks ``jit_compile=True`` (XLA has no
  strings; Keras' "auto" enables XLA on GPU when no cuDNN LSTM is present,
  e.g. video level), so map the dataset through :func:`model_inputs`.
  """
  return CrossModalTrainingModel(config)


def model_inputs(batch, keys=MODEL_INPUT_KEYS):
  """The sub-dict of ``batch`` the training model takes (drops ``id``).

  Pure dict filtering, usable in ``dataset.map(model_inputs)``.
  """
  return {key: batch[key] for key in keys if key in batch}
