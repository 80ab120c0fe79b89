"""The training model: both encoders and the loss layer in one graph."""

import dataclasses

import keras

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal.config import LossConfig, ModelConfig
from yt8m_crossmodal.data.features import AUDIO_DIM, VISUAL_DIM
from yt8m_crossmodal.layers import CrossModalTripletLoss, Dequantize
from yt8m_crossmodal.layers.cross_modal_loss import LOSS_PARTS
from yt8m_crossmodal.models.encoders import MODELS, build_encoders
from yt8m_crossmodal.models.video_level import ensemble_members

# The loss layer's name (``model.get_layer``), kept from earlier versions; its
# class is CrossModalTripletLoss, the name its saved weights are filed under.
LOSS_LAYER_NAME = "triplet_loss"
# Batch keys consumed by the training model.
MODEL_INPUT_KEYS = ("audio", "visual", "num_frames", "labels")


def _training_graph(model, model_config, loss_config, num_classes):
  """(inputs list, outputs dict) of the training model."""
  audio_encoder, visual_encoder = build_encoders(model_config, model)
  num_frames = keras.Input((), dtype="int32", name="num_frames")
  labels = keras.Input((num_classes,), dtype="float32", name="labels")
  loss_layer = CrossModalTripletLoss(loss_config, name=LOSS_LAYER_NAME)
  if MODELS[model] == "frame":
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
    if model_config.video_encoder == "residual" and model_config.video_towers > 1:
      # Each tower with the linear branch has a clip loss of its own.
      loss_inputs.update(audio_members=ensemble_members(a["embedding"], model_config),
                         visual_members=ensemble_members(v["embedding"], model_config))
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
  """Functional training model rebuilt from its own arguments on load.

  Frame level (``temporal``) inputs: ``audio`` uint8 ``[B, T, 128]``,
  ``visual`` uint8 ``[B, T, 1024]`` (float input is used as is),
  ``num_frames`` int32 ``[B]``, ``labels`` float32 ``[B, C]``; outputs
  ``audio_embedding``, ``visual_embedding`` ``[B, E]``, ``audio_timeline``,
  ``visual_timeline`` ``[B, T, E]``. Video level (``video_level``):
  ``audio`` float32 ``[B, 128]``, ``visual`` float32 ``[B, 1024]``,
  ``num_frames`` (ignored), ``labels``; outputs the two embeddings. The
  encoders are ``model.get_layer("audio_encoder")`` / ``"visual_encoder"``,
  the loss layer ``model.get_layer("triplet_loss")``.

  The inputs are four Inputs named ``audio``, ``visual``, ``num_frames``,
  ``labels`` (``model.input`` is a list): a dict batch is matched by key and
  extra keys are ignored. A string tensor in the batch still breaks
  ``jit_compile=True`` (XLA has no strings), so map the dataset through
  :func:`model_inputs`.

  A plain functional model cannot be reloaded from ``.keras`` here: the shared
  projection layer lives in two nested encoder models and Keras would
  deserialize it twice. This class serializes its own arguments instead (the
  model name, the ``ModelConfig`` and ``LossConfig`` fields and the number of
  classes) and rebuilds the graph on load; fields a later version no longer
  has are ignored, missing ones take ``config.ABSENT_FIELD_VALUES`` (what
  the code did before they existed), else their defaults.

  Args:
    model: "temporal" or "video_level".
    model_config: ``ModelConfig`` (or its dict).
    loss_config: ``LossConfig`` (or its dict).
    num_classes: label vocabulary C.
  """

  def __init__(self, model="temporal", model_config=None, loss_config=None,
               num_classes=3862, name=None, **kwargs):
    if model not in MODELS:
      raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    model_config = config_lib.section_from_dict(ModelConfig, model_config or ModelConfig())
    loss_config = config_lib.section_from_dict(LossConfig, loss_config or LossConfig())
    inputs, outputs = _training_graph(model, model_config, loss_config,
                                      int(num_classes))
    super().__init__(inputs=inputs, outputs=outputs,
                     name=name or f"crossmodal_{model}_training_model", **kwargs)
    # One Mean a loss part, averaged over the epoch (see compute_metrics).
    self.part_trackers = [keras.metrics.Mean(name=part) for part in
                          self.get_layer(LOSS_LAYER_NAME).metric_names]
    self.model_name = model
    self.model_config = model_config
    self.loss_config = loss_config
    self.num_classes = int(num_classes)

  def compute_metrics(self, x, y, y_pred, sample_weight=None):
    """Averages the loss layer's ``loss_parts`` into :attr:`part_trackers`.

    Runs inside each backend's train and test step (the JAX trainer maps the
    tracker variables statelessly), so the parts are logged on every backend.
    """
    parts = y_pred[LOSS_PARTS]
    for tracker in self.part_trackers:
      tracker.update_state(parts[tracker.name])
    return super().compute_metrics(x, y, y_pred, sample_weight)

  def get_config(self):
    return {"model": self.model_name,
            "model_config": dataclasses.asdict(self.model_config),
            "loss_config": dataclasses.asdict(self.loss_config),
            "num_classes": self.num_classes, "name": self.name,
            "trainable": self.trainable}

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    if "config" in config:  # Saved before 0.2: the whole run config.
      run = config.pop("config")
      level = run.get("data", {}).get("feature_level", "frame")
      config.update(model=next(m for m, lvl in MODELS.items() if lvl == level),
                    model_config=run.get("model", {}), loss_config=run.get("loss", {}),
                    num_classes=run.get("data", {}).get("num_classes", 3862))
    return cls(**config)


def model_inputs(batch, keys=MODEL_INPUT_KEYS):
  """The sub-dict of ``batch`` the training model takes (drops ``id``).

  Pure dict filtering, usable in ``dataset.map(model_inputs)``.
  """
  return {key: batch[key] for key in keys if key in batch}
