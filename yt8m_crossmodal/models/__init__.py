"""Encoders and the training model, chosen explicitly by name.

* :data:`MODELS`: ``temporal`` (multi-stride LSTMs, frame-level data) and
  ``video_level`` (the MLP baseline, video-level means);
* :func:`model_name` resolves ``ModelConfig.model`` ("auto" follows the data's
  feature level) and checks that the model fits the data;
* :func:`build_encoders` -> ``(audio_encoder, visual_encoder)``;
* :func:`build_training_model` -> the model trained with ``model.fit``;
* :func:`model_inputs` drops batch keys the model does not take (``id``);
* :func:`initialize_from_data` sets the video-level towers' input
  standardization and linear branches from training batches.
"""

from yt8m_crossmodal.models.encoders import (AUDIO_ENCODER_NAME, MODELS,
                                             VISUAL_ENCODER_NAME,
                                             build_encoders)
from yt8m_crossmodal.models.data_init import (data_dependent_layers,
                                              initialize_from_data)
from yt8m_crossmodal.models.temporal import (build_frame_encoder,
                                             build_shared_projection)
from yt8m_crossmodal.models.training_model import (LOSS_LAYER_NAME,
                                                   MODEL_INPUT_KEYS,
                                                   CrossModalTrainingModel,
                                                   model_inputs)
from yt8m_crossmodal.models.video_level import (build_residual_video_encoder,
                                                build_video_encoder)

__all__ = [
    "MODELS", "AUDIO_ENCODER_NAME", "VISUAL_ENCODER_NAME", "LOSS_LAYER_NAME",
    "MODEL_INPUT_KEYS", "CrossModalTrainingModel", "model_name",
    "build_encoders", "build_training_model", "model_inputs",
    "build_frame_encoder", "build_video_encoder", "build_residual_video_encoder",
    "build_shared_projection", "data_dependent_layers", "initialize_from_data",
]


def model_name(config) -> str:
  """The explicit model of a run config (``auto`` resolved).

  Raises:
    ValueError: unknown name, or a model that does not read the data's
      feature level.
  """
  level = config.data.feature_level
  name = config.model.model
  if name == "auto":
    name = next((m for m, lvl in MODELS.items() if lvl == level), None)
    if name is None:
      raise ValueError(f"feature_level must be 'frame' or 'video', got {level!r}")
  if name not in MODELS:
    raise ValueError(f"model must be one of {sorted(MODELS)} or auto, got {name!r}")
  if MODELS[name] != level:
    raise ValueError(f"--model={name} reads {MODELS[name]}-level data but "
                     f"--feature_level={level}")
  return name


def build_training_model(config):
  """The model trained by ``model.compile(optimizer); model.fit(dataset)``.

  Args:
    config: the run ``Config``; the model takes its ``model`` and ``loss``
      sections and ``data.num_classes``.

  Returns:
    A :class:`CrossModalTrainingModel` (see there for inputs and outputs).
  """
  return CrossModalTrainingModel(
      model=model_name(config), model_config=config.model,
      loss_config=config.loss, num_classes=config.data.num_classes)
