"""``yt8m-train``: trains a cross-modal model with ``model.fit``.

Example (real YT-8M frame-level data)::

  yt8m-train --train_data='gs://bucket/frame/train*.tfrecord' \\
      --validation_data='gs://bucket/frame/validate00*.tfrecord' \\
      --model_dir=runs/temporal --epochs=20 --steps_per_epoch=5000

Every flag is a field of :class:`yt8m_crossmodal.config.Config` with the same
name; ``--flagfile`` works too. ``<model_dir>`` receives:

- ``config.json``: the resolved config;
- ``model.keras``: the latest model (every epoch), what ``yt8m-export`` reads;
- ``checkpoints/epoch_NNN.weights.h5``: weights after each epoch;
- ``backup/``: ``BackupAndRestore`` state: run the same command again after a
  crash or a kill and training continues from the last finished epoch;
- ``training_log.csv``: one row of losses and validation metrics per epoch;
- ``tensorboard/``: scalars (loss parts, learning rate, validation Recall@K,
  median rank, sync accuracy) and an embedding-projector sample.

``--distribution_strategy``: ``none`` (default device), ``mirrored`` (all local
GPUs, or CPU), ``multi_worker`` (``MultiWorkerMirroredStrategy``; every worker
runs the same command with its own ``TF_CONFIG``; the chief writes
``model_dir``, the others write under ``model_dir/workers/<index>``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Dict, Optional

from absl import logging
import numpy as np

from yt8m_crossmodal import cli as cli_lib  # noqa: F401  (sets TF log level first)
from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import flags
from yt8m_crossmodal.data import reader

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import models  # noqa: E402
from yt8m_crossmodal.evaluation import encode  # noqa: E402


# ----------------------------------------------------------------------------
# Pieces.


def make_strategy(name: str) -> tf.distribute.Strategy:
  """``none`` | ``mirrored`` | ``multi_worker`` (reads ``TF_CONFIG``)."""
  if name == "none":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if not os.environ.get("TF_CONFIG"):
      raise cli_lib.UsageError("--distribution_strategy=multi_worker needs TF_CONFIG")
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise cli_lib.UsageError(f"unknown distribution_strategy {name!r}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type == "chief" or (task_type == "worker" and task_id == 0 and
                                  "chief" not in resolver.cluster_spec().as_dict())


def worker_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
  """Where this worker writes: ``model_dir`` for the chief."""
  if is_chief(strategy):
    return model_dir
  return os.path.join(model_dir, "workers", str(strategy.cluster_resolver.task_id))


def multi_worker_fit_fixes(model: keras.Model, dataset: tf.data.Dataset,
                           strategy: tf.distribute.Strategy) -> None:
  """Lets ``model.fit`` run under ``MultiWorkerMirroredStrategy`` (Keras 3).

  Keras 3's TF trainer has two bugs in multi-worker mode, both in reductions
  that run outside the model's own computation:

  1. Before training, ``_maybe_symbolic_build`` takes the first distributed
     batch and calls ``strategy.reduce("MEAN", batch)`` only to read its
     shapes. ``CollectiveAllReduceExtended`` does not map ``reduce`` over a
     nested (dict) batch: "Attempt to convert a value ({'audio':
     PerReplica..." (keras-team/keras#20329, open); per tensor it would
     all-reduce uint8 frames whose padded length differs between workers.
     The model is functional (built) and compiled without Keras losses or
     metrics, so the symbolic build only builds the optimizer: it is done
     from the dataset's element spec instead.
  2. The train function reduces every log with
     ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars:
     "Invalid reduction dimension 0 for input with 0 dimensions"
     (tensorflow/tensorflow#72388). ``model.train_function`` (the hook
     ``make_train_function`` caches) is set to a step that reduces the
     per-replica logs with ``axis=None``, the mean over replicas that Keras
     computes for ``MirroredStrategy``.
  """
  def symbolic_build(iterator=None, data_batch=None):
    del iterator, data_batch
    with strategy.scope():
      model._symbolic_build(data_batch=dataset.element_spec)  # pylint: disable=protected-access

  object.__setattr__(model, "_maybe_symbolic_build", symbolic_build)

  @tf.function
  def train_function(iterator):
    outputs = strategy.run(model.train_step, args=(next(iterator),))
    return tf.nest.map_structure(
        lambda v: strategy.reduce("MEAN", v, axis=None), outputs)

  model.train_function = train_function


def keras_encode_fn(encoder: keras.Model) -> encode.EncodeFn:
  """Wraps a Keras encoder as an :data:`encode.EncodeFn` (inference mode)."""
  frame_level = len(encoder.inputs) == 2
  dim = encoder.inputs[0].shape[-1]
  feature_shape = [None, None, dim] if frame_level else [None, dim]

  @tf.function(input_signature=[tf.TensorSpec(feature_shape, tf.float32),
                                tf.TensorSpec([None], tf.int32)])
  def run(features, num_frames):
    if frame_level:
      out = encoder([features, num_frames], training=False)
      return out["embedding"], out["timeline"]
    out = encoder([features], training=False)
    return out["embedding"], out["embedding"]

  def fn(features, num_frames):
    emb, timeline = run(tf.constant(features, tf.float32), tf.constant(num_frames, tf.int32))
    return emb.numpy(), (timeline.numpy() if frame_level else None)

  return fn


def learning_rate_schedule(cfg: config_lib.TrainConfig, total_steps: int):
  if cfg.lr_schedule == "constant":
    return cfg.learning_rate
  warmup = min(cfg.warmup_steps, max(0, total_steps - 1))
  return keras.optimizers.schedules.CosineDecay(
      initial_learning_rate=0.0 if warmup else cfg.learning_rate,
      decay_steps=max(1, total_steps - warmup),
      alpha=0.01,
      warmup_target=cfg.learning_rate if warmup else None,
      warmup_steps=warmup)


def make_optimizer(cfg: config_lib.TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
  return keras.optimizers.AdamW(
      learning_rate=learning_rate_schedule(cfg, total_steps),
      weight_decay=cfg.weight_decay,
      global_clipnorm=cfg.clipnorm or None)


def count_records(pattern: str) -> int:
  """Records in the files of ``pattern`` (a raw pass, no parsing)."""
  files = reader.list_files(pattern)
  return int(tf.data.TFRecordDataset(files, num_parallel_reads=4).reduce(
      np.int64(0), lambda n, _: n + 1).numpy())


def train_dataset(config: config_lib.Config, repeat: bool) -> tf.data.Dataset:
  d = config.data
  ds = reader.make_dataset(
      d.train_data, feature_level=d.feature_level, batch_size=d.batch_size,
      num_classes=d.num_classes, max_frames=d.max_frames,
      shuffle_buffer=d.shuffle_buffer, seed=config.train.seed, repeat=repeat,
      drop_remainder=True, skip_bad_records=d.skip_bad_records,
      bad_record_log=BAD_RECORDS)
  return ds.map(models.model_inputs)


def validation_dataset(config: config_lib.Config) -> tf.data.Dataset:
  d = config.data
  return reader.make_dataset(
      d.validation_data, feature_level=d.feature_level, batch_size=min(d.batch_size, 128),
      num_classes=d.num_classes, max_frames=d.max_frames, seed=0,
      skip_bad_records=d.skip_bad_records, bad_record_log=BAD_RECORDS)


BAD_RECORDS = reader.BadRecordLog()


# ----------------------------------------------------------------------------
# Callbacks.


class ValidationMetrics(keras.callbacks.Callback):
  """Adds validation retrieval and sync metrics to the epoch logs.

  Runs the model's own encoders (inference mode) over ``validation_size``
  validation videos and adds, e.g., ``val_a2v_recall@1``,
  ``val_v2a_median_rank``, ``val_timeline_a2v_recall@1`` and
  ``val_sync_exact`` to the logs, so that TensorBoard, the CSV log and the
  history all get them (this callback must come before those in the list).
  Retrieval is over a pool of ``min(1000, N)`` candidates, stated as
  ``val_pool_size``.
  """

  def __init__(self, config: config_lib.Config, dataset_fn):
    super().__init__()
    self.config = config
    self.dataset_fn = dataset_fn
    self.last_embedded: Optional[encode.EmbeddedSet] = None
    self._encoders = None

  def compute(self) -> Dict[str, float]:
    if self._encoders is None:
      self._encoders = (
          keras_encode_fn(self.model.get_layer(models.AUDIO_ENCODER_NAME)),
          keras_encode_fn(self.model.get_layer(models.VISUAL_ENCODER_NAME)))
    enc_a, enc_v = self._encoders
    frame = self.config.data.feature_level == "frame"
    embedded = encode.embed_dataset(self.dataset_fn(), enc_a, enc_v,
                                    limit=self.config.data.validation_size,
                                    keep_audio_features=frame)
    self.last_embedded = embedded
    pool = min(1000, len(embedded))
    t = self.config.train
    res = encode.evaluate_embedded(embedded, enc_a if frame else None, pool_sizes=(pool,),
                                   max_offset=t.sync_max_offset,
                                   excerpt_seconds=t.sync_excerpt_seconds, seed=0)
    out = {}
    for key, value in res.items():
      if key.startswith(f"pool{pool}/"):
        key = key[len(f"pool{pool}/"):]
      if key in ("pool_size_requested", "num_queries"):
        continue
      out["val_" + key.replace("/", "_")] = float(value)
    return out

  def on_epoch_end(self, epoch, logs=None):
    start = time.time()
    metrics = self.compute()
    if logs is not None:
      logs.update(metrics)
    shown = {k: round(v, 4) for k, v in metrics.items()
             if k.endswith(("recall@1", "median_rank", "sync_exact", "within_1s"))}
    logging.info("epoch %d validation (%.1fs): %s", epoch + 1, time.time() - start, shown)


class LearningRateLogger(keras.callbacks.Callback):
  """Adds the optimizer's current learning rate to the epoch logs."""

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs["learning_rate"] = float(keras.ops.convert_to_numpy(
          self.model.optimizer.learning_rate))


def write_projector(log_dir: str, embedded: encode.EmbeddedSet, samples: int) -> None:
  """Writes clip embeddings of both modalities for TensorBoard's projector."""
  from tensorboard.plugins import projector
  n = min(samples, len(embedded))
  if n == 0:
    return
  tf.io.gfile.makedirs(log_dir)
  vectors = np.concatenate([embedded.audio_embedding[:n], embedded.visual_embedding[:n]])
  with tf.io.gfile.GFile(os.path.join(log_dir, "metadata.tsv"), "w") as f:
    f.write("id\tmodality\n")
    for modality in ("audio", "visual"):
      for video_id in embedded.ids[:n]:
        f.write(f"{video_id}\t{modality}\n")
  var = tf.Variable(vectors, name="clip_embeddings")
  tf.train.Checkpoint(embedding=var).save(os.path.join(log_dir, "embedding.ckpt"))
  cfg = projector.ProjectorConfig()
  emb = cfg.embeddings.add()
  emb.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
  emb.metadata_path = "metadata.tsv"
  projector.visualize_embeddings(log_dir, cfg)


# ----------------------------------------------------------------------------
# Training.


def validate_config(config: config_lib.Config) -> None:
  d, m, t = config.data, config.model, config.train
  if not d.train_data:
    raise cli_lib.UsageError("--train_data is required")
  if not t.model_dir:
    raise cli_lib.UsageError("--model_dir is required")
  if d.batch_size < 2:
    raise cli_lib.UsageError("--batch_size must be >= 2 (negatives come from the batch)")
  if not m.window_strides or any(s <= 0 for s in m.window_strides):
    raise cli_lib.UsageError(f"--window_strides must be positive, got {m.window_strides}")
  if t.epochs <= 0:
    raise cli_lib.UsageError("--epochs must be positive")
  if t.distribution_strategy == "multi_worker" and not t.steps_per_epoch:
    raise cli_lib.UsageError(
        "--distribution_strategy=multi_worker needs --steps_per_epoch (workers read "
        "different files, so 'one pass' would end at different steps)")


def train(config: config_lib.Config) -> Dict[str, float]:
  """Trains as configured; returns the last epoch's logs."""
  validate_config(config)
  t = config.train
  keras.utils.set_random_seed(t.seed)
  strategy = make_strategy(t.distribution_strategy)
  logging.info("distribution strategy %s: %d replica(s) in sync",
               t.distribution_strategy, strategy.num_replicas_in_sync)
  out_dir = worker_dir(t.model_dir, strategy)
  tf.io.gfile.makedirs(out_dir)
  config_lib.save_config(config, os.path.join(out_dir, "config.json"))
  # Fail early, with the pattern, when files are missing.
  reader.list_files(config.data.train_data)
  if config.data.validation_data:
    reader.list_files(config.data.validation_data)

  steps = t.steps_per_epoch
  if not steps:
    steps = max(1, count_records(config.data.train_data) // config.data.batch_size)
    logging.info("one pass over the training data: %d steps per epoch", steps)
  total_steps = steps * t.epochs

  with strategy.scope():
    model = models.build_training_model(config)
    model.compile(optimizer=make_optimizer(t, total_steps))

  dataset = train_dataset(config, repeat=True)
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    multi_worker_fit_fixes(model, dataset, strategy)
  callbacks = []
  if config.data.validation_data and is_chief(strategy):
    callbacks.append(ValidationMetrics(config, lambda: validation_dataset(config)))
  callbacks += [
      LearningRateLogger(),
      keras.callbacks.BackupAndRestore(os.path.join(out_dir, "backup")),
      keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "model.keras")),
      keras.callbacks.ModelCheckpoint(
          os.path.join(out_dir, "checkpoints", "epoch_{epoch:03d}.weights.h5"),
          save_weights_only=True),
      keras.callbacks.CSVLogger(os.path.join(out_dir, "training_log.csv"), append=True),
      keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard"), update_freq="epoch"),
      keras.callbacks.TerminateOnNaN(),
  ]
  tf.io.gfile.makedirs(os.path.join(out_dir, "checkpoints"))
  history = model.fit(dataset, epochs=t.epochs, steps_per_epoch=steps,
                      callbacks=callbacks, verbose=2)
  last = {k: float(v[-1]) for k, v in history.history.items() if v}
  validation = next((c for c in callbacks if isinstance(c, ValidationMetrics)), None)
  if validation is not None and validation.last_embedded is not None:
    write_projector(os.path.join(out_dir, "tensorboard", "projector"),
                    validation.last_embedded, t.projector_samples)
  # The training data repeats and the pipeline reads ahead (into the next
  # pass too), so a bad record may be skipped more than once: count each once.
  skipped = len({(r.file, r.index) for r in BAD_RECORDS.records})
  if skipped:
    logging.warning("%d bad record(s) skipped during training (%d skips)",
                    skipped, BAD_RECORDS.count)
  last["bad_records_skipped"] = skipped
  with tf.io.gfile.GFile(os.path.join(out_dir, "final_metrics.json"), "w") as f:
    json.dump(last, f, indent=2, sort_keys=True)
  return last


def main(argv):
  if len(argv) > 1:
    raise cli_lib.UsageError(f"unexpected arguments: {argv[1:]}")
  config = flags.read(config_lib.Config)
  last = train(config)
  print(json.dumps(last, sort_keys=True))


def cli():
  flags.define(config_lib.Config)
  cli_lib.run(main)


if __name__ == "__main__":
  cli()
