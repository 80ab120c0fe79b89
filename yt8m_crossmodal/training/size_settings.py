"""Settings picked by the model and the size of the training data.

``--batch_size``, ``--epochs`` and ``--learning_rate`` default to 0, "pick
for me". :func:`resolve` replaces each 0 by the value of the row of
:data:`VIDEO_LEVEL` (video-level model) or :data:`FRAME_LEVEL` (temporal model)
that fits the number of training videos, and says which row it took and why;
the trainer logs that line and writes the resolved values into
``config.json``. A value given on the command line is kept as it is.

The video-level rows were measured on real YouTube-8M records
(``benchmarks/real_data.py``, docs/real_data.md): larger data sets take larger
batches (more in-batch negatives), more epochs and a higher peak learning
rate. The temporal model has one row (its defaults, measured on sample data).
No TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from yt8m_crossmodal import config as config_lib


@dataclasses.dataclass(frozen=True)
class SizeRow:
  """Settings for training sets of at least ``min_videos`` videos."""

  min_videos: int
  batch_size: int
  epochs: int
  learning_rate: float


# Largest row first; the last row has min_videos 0.
VIDEO_LEVEL: Tuple[SizeRow, ...] = (
    SizeRow(16_000, 512, 30, 2e-3),
    SizeRow(6_000, 256, 20, 2e-3),
    SizeRow(0, 64, 10, 1e-3),
)
FRAME_LEVEL: Tuple[SizeRow, ...] = (SizeRow(0, 64, 10, 1e-3),)
# The fields resolved here: (section, field name).
FIELDS = (("data", "batch_size"), ("train", "epochs"), ("train", "learning_rate"))


def _rows(config: config_lib.Config) -> Tuple[SizeRow, ...]:
  return VIDEO_LEVEL if config.data.feature_level == "video" else FRAME_LEVEL


def pick_row(config: config_lib.Config, num_videos: Optional[int]) -> SizeRow:
  """The row for ``num_videos`` training videos (None: not counted, the largest)."""
  rows = _rows(config)
  if num_videos is None:
    return rows[0]
  return next(row for row in rows if num_videos >= row.min_videos)


def resolve(config: config_lib.Config,
            num_videos: Optional[int]) -> Tuple[config_lib.Config, str]:
  """Fills the fields left at 0 from the row that fits ``num_videos``.

  Args:
    config: a run config (``model`` resolved or ``auto``).
    num_videos: training videos (None when they were not counted, e.g. with
      ``--steps_per_epoch``: the row for the largest data sets).

  Returns:
    ``(config, note)``: the config with every such field set, and one line
    naming the values and why (empty when every field was given).
  """
  unset = [name for section, name in FIELDS if not getattr(getattr(config, section), name)]
  if not unset:
    return config, ""
  row = pick_row(config, num_videos)
  values = {name: getattr(row, name) for name in unset}
  config = config.replace(**values)
  given = [f"--{name}={getattr(getattr(config, section), name)}"
           for section, name in FIELDS if name not in unset]
  rows = _rows(config)
  if len(rows) == 1:
    why = f"the defaults of the {config.data.feature_level}-level model"
  elif num_videos is None:
    why = (f"{config.data.feature_level}-level model, training videos not counted "
           f"(--steps_per_epoch set): the row for the largest data sets")
  else:
    index = rows.index(row)
    bound = (f"at least {row.min_videos:,}" if index == 0 else
             f"{row.min_videos:,} to {rows[index - 1].min_videos - 1:,}")
    why = (f"{config.data.feature_level}-level model, {num_videos:,} training videos: "
           f"the row for {bound} videos")
  picked: List[str] = [f"--{name}={values[name]:g}" if isinstance(values[name], float)
                       else f"--{name}={values[name]}" for name in unset]
  note = f"settings picked: {' '.join(picked)} ({why})"
  if given:
    note += f"; given: {' '.join(given)}"
  return config, note
