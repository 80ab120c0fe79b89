"""Sets the data-dependent layers of the video-level residual towers.

Before the first step the towers' :class:`Standardize` layers take the mean
and standard deviation of the training features, and their frozen linear
branches take the canonical directions of a CCA of the standardized training
means (weighted by the square root of each direction's correlation). Numpy.
"""

import numpy as np

from yt8m_crossmodal.models.encoders import AUDIO_ENCODER_NAME, VISUAL_ENCODER_NAME
from yt8m_crossmodal.models.video_level import linear_branch_name, standardize_layer_name
from yt8m_crossmodal import cca as cca_lib

_ENCODERS = {"audio": AUDIO_ENCODER_NAME, "visual": VISUAL_ENCODER_NAME}
# Ridge of the linear branch's CCA, relative to the mean variance (chosen on
# a validation split of real records, benchmarks/real_data.py).
CCA_RIDGE = 1.0


def _find(model, name_fn):
  """``{modality: layer}`` of the encoders' layers named ``name_fn(modality)``."""
  found = {}
  for modality, encoder_name in _ENCODERS.items():
    encoder = model.get_layer(encoder_name)
    name = name_fn(modality)
    if any(layer.name == name for layer in encoder.layers):
      found[modality] = encoder.get_layer(name)
  return found


def data_dependent_layers(model):
  """True when the training model has layers :func:`initialize_from_data` sets."""
  return bool(_find(model, standardize_layer_name) or _find(model, linear_branch_name))


def initialize_from_data(model, batches, max_examples=50_000):
  """Sets standardization and linear branches from training batches.

  Args:
    model: a training model (``CrossModalTrainingModel``).
    batches: iterable of dicts with ``audio`` ``[B, 128]`` and ``visual``
      ``[B, 1024]`` float features (numpy or tensors: video level).
    max_examples: read at most about this many examples.

  Returns:
    The number of examples read (0 when the model has no such layer; then
    nothing is read).

  Raises:
    ValueError: when ``batches`` holds fewer than two examples.
  """
  standardize = _find(model, standardize_layer_name)
  linear = _find(model, linear_branch_name)
  if not standardize and not linear:
    return 0
  features = {"audio": [], "visual": []}
  count = 0
  for batch in batches:
    for modality, rows in features.items():
      rows.append(np.asarray(batch[modality], np.float32))
    count += len(features["audio"][-1])
    if count >= max_examples:
      break
  if count < 2:
    raise ValueError(f"{count} training example(s): too few to set the input "
                     "standardization and linear branches")
  data = {m: np.concatenate(rows) for m, rows in features.items()}
  for modality, layer in standardize.items():
    x = data[modality].astype(np.float64)
    layer.set_statistics(x.mean(0), x.std(0))
    data[modality] = np.asarray(layer(data[modality]))
  if linear:
    dims = linear["audio"].units
    fit = cca_lib.fit_cca(data["audio"], data["visual"], dims, reg=CCA_RIDGE)
    weight = np.sqrt(np.maximum(fit.correlations, 0.0))
    for modality, (w, mean) in {"audio": (fit.audio_w, fit.audio_mean),
                                "visual": (fit.visual_w, fit.visual_mean)}.items():
      kernel = np.zeros((w.shape[0], dims), np.float32)
      kernel[:, :w.shape[1]] = w * weight
      linear[modality].set_weights([kernel, -(mean @ kernel)])
  return count
