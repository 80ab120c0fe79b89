"""The pieces of a training run (the run itself: :mod:`yt8m_crossmodal.jobs.train`).

The checks of the records before a run (:func:`require_records`,
:func:`require_feature_level`, :func:`require_good_records`,
:func:`count_records`), of the config (:func:`validate_config`) and of a
resume (:func:`check_resumable`); the datasets ``model.fit`` reads
(:func:`train_dataset`, :func:`validation_dataset`,
:func:`fit_validation_data`).
"""

from __future__ import annotations

import os
from typing import Dict

from absl import logging
import numpy as np
import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import models
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.progress import Progress
from yt8m_crossmodal.training.checks import check_config, validate_config  # noqa: F401


def _count(files) -> int:
  """Records in ``files``; raises DataLossError when a file is damaged.

  A truncated last record ends a file silently in TF, so the bytes read
  (each record takes its length + 16) are compared with the files' sizes.
  """
  n, read = tf.data.TFRecordDataset(files, num_parallel_reads=4).reduce(
      (np.int64(0), np.int64(0)),
      lambda acc, r: (acc[0] + 1, acc[1] + tf.cast(tf.strings.length(r), tf.int64) + 16))
  size = sum(tf.io.gfile.stat(f).length for f in files)
  if int(read) != size:
    raise tf.errors.DataLossError(
        None, None, f"truncated or corrupted at byte {int(read)} of {size}")
  return int(n)


_COUNT_CHUNK = 16  # Files counted per pass (and per progress update).


def count_records(pattern: str, skip_bad_records: bool = False) -> int:
  """Records in the files of ``pattern`` (a raw pass, no parsing).

  Shows a progress line (files counted, rate, ETA) on a terminal.

  Raises:
    UsageError: a file is not a readable TFRecord file (truncated, not a
      TFRecord at all); it is named. With ``skip_bad_records`` the records
      before the damage are counted and a warning names the file instead.
  """
  files = pipeline.list_files(pattern)
  bar = Progress("files counted", len(files))
  total = 0
  try:
    for start in range(0, len(files), _COUNT_CHUNK):
      chunk = files[start:start + _COUNT_CHUNK]
      total += _count_chunk(chunk, skip_bad_records)
      bar.update(start + len(chunk))
  finally:
    bar.close()
  return total


def require_records(pattern: str, flag: str) -> None:
  """Raises UsageError when the files of ``pattern`` hold no record at all.

  Reads up to the first record (a raw read, no parsing).
  """
  files = pipeline.list_files(pattern)
  try:
    for _ in tf.data.TFRecordDataset(files).take(1):
      return
  except tf.errors.DataLossError:
    return  # A damaged file: named (or skipped) by the reader later.
  raise UsageError(f"--{flag} {pattern!r} holds no records ({len(files)} file(s), all "
                   "empty): nothing to train on")


def require_feature_level(config: config_lib.Config, pattern: str, flag: str) -> None:
  """Raises UsageError when the first record of ``pattern`` is of the other level.

  A record that reads as neither level is left to the reader, which names it.
  """
  d = config.data
  level = pipeline.first_record_level(pattern, d.max_frames)
  if level is not None and level != d.feature_level:
    raise UsageError(f"--{flag} {pattern!r} does not hold {d.feature_level}-level records as "
                     f"--feature_level={d.feature_level} says (its first record is "
                     f"{level}-level): pass --feature_level={level}")


def _count_chunk(files, skip_bad_records: bool) -> int:
  """:func:`count_records` of some files; a damaged one is found file by file."""
  try:
    return _count(files)
  except tf.errors.OpError:
    pass  # Find the file, one at a time.
  total = 0
  for f in files:
    try:
      total += _count([f])
    except tf.errors.OpError as e:
      if not skip_bad_records:
        raise UsageError(f"cannot read {f!r} as TFRecords: "
                         f"{str(e.message).strip().splitlines()[0]}") from e
      readable = int(tf.data.TFRecordDataset([f]).ignore_errors().reduce(
          np.int64(0), lambda n, _: n + 1).numpy())
      logging.warning("%s is damaged: counting its first %d readable record(s)", f, readable)
      total += readable
  return total


def train_dataset(config: config_lib.Config, repeat: bool,
                  bad_records: pipeline.BadRecordLog,
                  skip_batches: int = 0) -> tf.data.Dataset:
  d = config.data
  ds = pipeline.make_dataset(
      d.train_data, feature_level=d.feature_level, batch_size=d.batch_size,
      num_classes=d.num_classes, max_frames=d.max_frames,
      shuffle_buffer=d.shuffle_buffer, seed=config.train.seed, repeat=repeat,
      drop_remainder=True, skip_bad_records=d.skip_bad_records,
      bad_record_log=bad_records, skip_batches=skip_batches)
  return ds.map(models.model_inputs)


def require_good_records(config: config_lib.Config) -> None:
  """Raises UsageError when no training record is good (all skipped as bad).

  Decodes up to the first good batch of one pass.
  """
  skipped = pipeline.BadRecordLog(max_logged=0)
  ds = pipeline.make_dataset(
      config.data.train_data, feature_level=config.data.feature_level, batch_size=1,
      num_classes=config.data.num_classes, max_frames=config.data.max_frames,
      skip_bad_records=True, bad_record_log=skipped, prefetch=False, file_order=True)
  for _ in ds.take(1):
    return
  raise UsageError(f"--train_data {config.data.train_data!r} holds no good record: all "
                   f"{skipped.count} were skipped as bad (yt8m-validate lists them)")


def validation_dataset(config: config_lib.Config,
                       bad_records: pipeline.BadRecordLog) -> tf.data.Dataset:
  d = config.data
  return pipeline.make_dataset(
      d.validation_data, feature_level=d.feature_level, batch_size=min(d.batch_size, 128),
      num_classes=d.num_classes, max_frames=d.max_frames, seed=0,
      skip_bad_records=d.skip_bad_records, bad_record_log=bad_records)


def fit_validation_data(config: config_lib.Config, strategy, bad_records):
  """The validation batches ``model.fit`` computes the loss parts on (val_*).

  At most ``validation_size`` videos (the ones the retrieval metrics use),
  of known cardinality; None without validation data (or no good record),
  and under multi-worker training (the validation metrics run on the chief
  only).
  """
  d = config.data
  if not d.validation_data or isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return None
  ds = validation_dataset(config, bad_records).map(models.model_inputs)
  if d.validation_size:
    ds = ds.take(-(-d.validation_size // min(d.batch_size, 128)))
  # Keras warns "Your input ran out of data" at the end of every pass over
  # data of unknown length; the number of batches (one pass, counted once)
  # tells it where a pass ends.
  batches = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
  if not batches:
    return None
  return ds.apply(tf.data.experimental.assert_cardinality(batches))


# Fields a resumed run may change: what it runs on and reports, not what the
# weights are trained with.
RESUME_FREE_FIELDS = frozenset({
    "model_dir", "epochs", "restart", "allow_config_change", "distribution_strategy",
    "backend", "validation_data", "validation_size", "projector_samples",
    "sync_max_offset", "sync_excerpt_seconds", "skip_bad_records"})


def check_resumable(config: config_lib.Config, saved_path: str) -> Dict[str, tuple]:
  """Compares ``config`` with the run saved in ``saved_path`` before a resume.

  A resumed run restores the saved weights into a model built from
  ``config``; a different architecture or loss (other flags, or a newer
  default) would fail to restore or, worse, train on silently changed. Other
  training or data settings (learning rate, batch size, data...) would make
  ``config.json`` describe epochs it did not train: they are refused unless
  ``config.train.allow_config_change``.

  Returns:
    The training and data fields that change, ``{name: (saved, now)}``
    (empty when nothing saved).

  Raises:
    UsageError: unreadable saved config, a model or loss field changed, or a
      training or data field without ``allow_config_change`` (each named).
  """
  if not tf.io.gfile.exists(saved_path):
    return {}
  try:
    saved = config_lib.load_config(saved_path)
  except (ValueError, TypeError) as e:
    raise UsageError(f"cannot resume: {saved_path} cannot be read as a config ({e}); "
                     "pass --restart to start over") from e
  changed, others = [], {}
  for section, field in config_lib.all_fields():
    if field.name in RESUME_FREE_FIELDS:
      continue
    before = getattr(getattr(saved, section), field.name)
    now = getattr(getattr(config, section), field.name)
    if before == now:
      continue
    if section in ("model", "loss"):
      changed.append(f"--{field.name}: {before!r} in the saved run, {now!r} now")
    else:
      others[field.name] = (before, now)
  run = os.path.dirname(saved_path)
  if changed:
    raise UsageError(f"cannot resume the run in {run} with other model "
                     f"or loss settings ({'; '.join(changed)}): pass the same flags, or "
                     "--restart to start over")
  if others and not config.train.allow_config_change:
    named = "; ".join(f"--{k}: {b!r} in the saved run, {a!r} now"
                      for k, (b, a) in sorted(others.items()))
    raise UsageError(f"cannot resume the run in {run} with other training or data "
                     f"settings ({named}): pass the same flags, --allow_config_change to "
                     "resume with them (recorded in config_changes.json), or --restart "
                     "to start over")
  return {k: [list(v) if isinstance(v, tuple) else v for v in pair]
          for k, pair in others.items()}
