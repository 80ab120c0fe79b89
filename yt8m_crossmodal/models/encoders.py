"""The audio and visual encoders of each model."""

from yt8m_crossmodal.data.features import AUDIO_DIM, VISUAL_DIM
from yt8m_crossmodal.models.temporal import (build_frame_encoder,
                                             build_shared_projection)
from yt8m_crossmodal.models.video_level import (build_residual_video_encoder,
                                                build_video_encoder)

AUDIO_ENCODER_NAME = "audio_encoder"
VISUAL_ENCODER_NAME = "visual_encoder"
# Model name -> the feature level of the data it reads.
MODELS = {"temporal": "frame", "video_level": "video"}


def build_encoders(model_config, model="temporal", use_cudnn="auto"):
  """Returns ``(audio_encoder, visual_encoder)`` keras Models.

  Args:
    model_config: a ``config.ModelConfig``.
    model: "temporal" or "video_level" (see :func:`model_name`).
    use_cudnn: for the temporal model's LSTMs ("auto", True or False).

  ``temporal``: inputs ``[features [B, T, D], num_frames [B]]``, outputs
  ``{"embedding": [B, E], "timeline": [B, T, E]}``; the final Dense(E)
  (layer ``shared_projection``) is the same instance in both encoders.
  ``video_level``: inputs ``[features [B, D]]``, output
  ``{"embedding": [B, E]}`` (``video_encoder``: residual towers or the
  published MLP).
  """
  mc = model_config
  if model == "temporal":
    projection = build_shared_projection(mc)
    audio = build_frame_encoder(mc, AUDIO_DIM, projection, "audio",
                                name=AUDIO_ENCODER_NAME, use_cudnn=use_cudnn)
    visual = build_frame_encoder(mc, VISUAL_DIM, projection, "visual",
                                 name=VISUAL_ENCODER_NAME, use_cudnn=use_cudnn)
  elif model == "video_level" and mc.video_encoder == "residual":
    audio = build_residual_video_encoder(mc, AUDIO_DIM, "audio",
                                         name=AUDIO_ENCODER_NAME)
    visual = build_residual_video_encoder(mc, VISUAL_DIM, "visual",
                                          name=VISUAL_ENCODER_NAME)
  elif model == "video_level":
    audio = build_video_encoder(mc.audio_tower, mc.embedding_size, AUDIO_DIM,
                                "audio", name=AUDIO_ENCODER_NAME)
    visual = build_video_encoder(mc.visual_tower, mc.embedding_size,
                                 VISUAL_DIM, "visual",
                                 name=VISUAL_ENCODER_NAME)
  else:
    raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
  return audio, visual
