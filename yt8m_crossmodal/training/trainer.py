"""``train()``: a whole training run with ``model.fit``.

``<model_dir>`` receives:

- ``config.json``: the resolved config;
- ``model.keras``: the latest model (every epoch), what ``yt8m-export`` reads;
- ``checkpoints/epoch_NNN.weights.h5``: weights after each epoch;
- ``backup/``: ``BackupAndRestore`` state: run the same command again after a
  crash or a kill and training continues from the last finished epoch;
- ``training_log.csv``: one row of losses and validation metrics per epoch;
- ``tensorboard/``: scalars (loss parts, learning rate, validation Recall@K,
  median rank, sync accuracy) and an embedding-projector sample.

Distribution (``distribution_strategy``): ``none`` (default device),
``mirrored`` (all local GPUs, or CPU), ``multi_worker``
(``MultiWorkerMirroredStrategy``; every worker runs the same command with its
own ``TF_CONFIG``; the chief writes ``model_dir``, the others write under
``model_dir/workers/<index>``).
"""

from __future__ import annotations

import json
import os
from typing import Dict

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import models
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.training import callbacks as callbacks_lib
from yt8m_crossmodal.training import distribution
from yt8m_crossmodal.training.optimizer import make_optimizer


def count_records(pattern: str) -> int:
  """Records in the files of ``pattern`` (a raw pass, no parsing)."""
  files = pipeline.list_files(pattern)
  return int(tf.data.TFRecordDataset(files, num_parallel_reads=4).reduce(
      np.int64(0), lambda n, _: n + 1).numpy())


def train_dataset(config: config_lib.Config, repeat: bool,
                  bad_records: pipeline.BadRecordLog) -> tf.data.Dataset:
  d = config.data
  ds = pipeline.make_dataset(
      d.train_data, feature_level=d.feature_level, batch_size=d.batch_size,
      num_classes=d.num_classes, max_frames=d.max_frames,
      shuffle_buffer=d.shuffle_buffer, seed=config.train.seed, repeat=repeat,
      drop_remainder=True, skip_bad_records=d.skip_bad_records,
      bad_record_log=bad_records)
  return ds.map(models.model_inputs)


def validation_dataset(config: config_lib.Config,
                       bad_records: pipeline.BadRecordLog) -> tf.data.Dataset:
  d = config.data
  return pipeline.make_dataset(
      d.validation_data, feature_level=d.feature_level, batch_size=min(d.batch_size, 128),
      num_classes=d.num_classes, max_frames=d.max_frames, seed=0,
      skip_bad_records=d.skip_bad_records, bad_record_log=bad_records)


def fit_validation_data(config: config_lib.Config, strategy, bad_records):
  """The validation batches ``model.fit`` computes the loss parts on (val_*).

  At most ``validation_size`` videos (the ones the retrieval metrics use);
  None without validation data, and under multi-worker training (the
  validation metrics run on the chief only).
  """
  d = config.data
  if not d.validation_data or isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return None
  ds = validation_dataset(config, bad_records).map(models.model_inputs)
  if d.validation_size:
    ds = ds.take(-(-d.validation_size // min(d.batch_size, 128)))
  return ds


def validate_config(config: config_lib.Config) -> None:
  d, m, t = config.data, config.model, config.train
  if not d.train_data:
    raise UsageError("--train_data is required")
  if not t.model_dir:
    raise UsageError("--model_dir is required")
  if d.batch_size < 2:
    raise UsageError("--batch_size must be >= 2 (negatives come from the batch)")
  if not m.window_strides or any(s <= 0 for s in m.window_strides):
    raise UsageError(f"--window_strides must be positive, got {m.window_strides}")
  if t.epochs <= 0:
    raise UsageError("--epochs must be positive")
  if t.distribution_strategy == "multi_worker" and not t.steps_per_epoch:
    raise UsageError(
        "--distribution_strategy=multi_worker needs --steps_per_epoch (workers read "
        "different files, so 'one pass' would end at different steps)")


def train(config: config_lib.Config) -> Dict[str, float]:
  """Trains as configured; returns the last epoch's logs.

  ``config.model.model`` "auto" is resolved (and so recorded in
  ``config.json``) by :func:`yt8m_crossmodal.models.model_name`.
  """
  validate_config(config)
  try:
    config = config.replace(model=models.model_name(config))
  except ValueError as e:
    raise UsageError(str(e)) from e
  bad_records = pipeline.BadRecordLog()
  t = config.train
  keras.utils.set_random_seed(t.seed)
  strategy = distribution.make_strategy(t.distribution_strategy)
  logging.info("distribution strategy %s: %d replica(s) in sync",
               t.distribution_strategy, strategy.num_replicas_in_sync)
  out_dir = distribution.worker_dir(t.model_dir, strategy)
  tf.io.gfile.makedirs(out_dir)
  config_lib.save_config(config, os.path.join(out_dir, "config.json"))
  # Fail early, with the pattern, when files are missing.
  pipeline.list_files(config.data.train_data)
  if config.data.validation_data:
    pipeline.list_files(config.data.validation_data)

  steps = t.steps_per_epoch
  if not steps:
    steps = max(1, count_records(config.data.train_data) // config.data.batch_size)
    logging.info("one pass over the training data: %d steps per epoch", steps)
  total_steps = steps * t.epochs

  with strategy.scope():
    model = models.build_training_model(config)
    model.compile(optimizer=make_optimizer(t, total_steps))

  dataset = train_dataset(config, repeat=True, bad_records=bad_records)
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    distribution.multi_worker_fit_fixes(model, dataset, strategy)
  callbacks = []
  if config.data.validation_data and distribution.is_chief(strategy):
    callbacks.append(callbacks_lib.ValidationMetrics(
        config, lambda: validation_dataset(config, bad_records)))
  callbacks += [
      callbacks_lib.LearningRateLogger(),
      keras.callbacks.BackupAndRestore(os.path.join(out_dir, "backup")),
      keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "model.keras")),
      keras.callbacks.ModelCheckpoint(
          os.path.join(out_dir, "checkpoints", "epoch_{epoch:03d}.weights.h5"),
          save_weights_only=True),
      keras.callbacks.CSVLogger(os.path.join(out_dir, "training_log.csv"), append=True),
      callbacks_lib.GroupedTensorBoard(os.path.join(out_dir, "tensorboard")),
      keras.callbacks.TerminateOnNaN(),
  ]
  tf.io.gfile.makedirs(os.path.join(out_dir, "checkpoints"))
  history = model.fit(dataset, epochs=t.epochs, steps_per_epoch=steps,
                      validation_data=fit_validation_data(config, strategy, bad_records),
                      callbacks=callbacks, verbose=2)
  last = {k: float(v[-1]) for k, v in history.history.items() if v}
  validation = next((c for c in callbacks
                     if isinstance(c, callbacks_lib.ValidationMetrics)), None)
  if validation is not None and validation.last_embedded is not None:
    callbacks_lib.write_projector(os.path.join(out_dir, "tensorboard", "validation"),
                                  validation.last_embedded, t.projector_samples)
  # The training data repeats and the pipeline reads ahead (into the next
  # pass too), so a bad record may be skipped more than once: count each once.
  skipped = len({(r.file, r.index) for r in bad_records.records})
  if skipped:
    logging.warning("%d bad record(s) skipped during training (%d skips)",
                    skipped, bad_records.count)
  last["bad_records_skipped"] = skipped
  with tf.io.gfile.GFile(os.path.join(out_dir, "final_metrics.json"), "w") as f:
    json.dump(last, f, indent=2, sort_keys=True)
  return last
