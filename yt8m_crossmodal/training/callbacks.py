"""Training callbacks: validation metrics, progress, the learning rate, the projector."""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, Optional, Sequence, Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import escaping
from yt8m_crossmodal import models
from yt8m_crossmodal.evaluation import embedding
from yt8m_crossmodal.evaluation.encode import keras_encode_fn
from yt8m_crossmodal.losses import terms as terms_lib
from yt8m_crossmodal.progress import seconds


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
    self.last_embedded: Optional[embedding.EmbeddedSet] = None
    self._encoders = None

  def compute(self) -> Dict[str, float]:
    if self._encoders is None:
      self._encoders = (
          keras_encode_fn(self.model.get_layer(models.AUDIO_ENCODER_NAME)),
          keras_encode_fn(self.model.get_layer(models.VISUAL_ENCODER_NAME)))
    enc_a, enc_v = self._encoders
    frame = self.config.data.feature_level == "frame"
    embedded = embedding.embed_dataset(self.dataset_fn(), enc_a, enc_v,
                                    limit=self.config.data.validation_size,
                                    keep_audio_features=frame)
    self.last_embedded = embedded
    pool = min(1000, len(embedded))
    t = self.config.train
    res = embedding.evaluate_embedded(embedded, enc_a if frame else None, pool_sizes=(pool,),
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


# Seconds between the progress lines inside an epoch (StepProgress).
PROGRESS_SECONDS = 30.0


class StepProgress(keras.callbacks.Callback):
  """Logs a line inside an epoch every ``interval`` seconds: step, loss, rate, ETA.

  ``model.fit(verbose=2)`` prints one line per epoch, so a long epoch (and
  the first step, which builds the training function) is silent otherwise.
  Nothing is logged while a step takes less than ``interval`` seconds, so
  short runs stay as they were.

  Args:
    epochs: the run's last epoch (``--epochs``).
    steps: steps per epoch.
    interval: seconds between lines (default :data:`PROGRESS_SECONDS`).
  """

  def __init__(self, epochs: int, steps: int, interval: Optional[float] = None):
    super().__init__()
    self.epochs, self.steps = epochs, steps
    self.interval = PROGRESS_SECONDS if interval is None else interval
    self.async_safe = True  # Keras may call on_train_batch_end from other threads.
    self._lock = threading.Lock()
    self._epoch, self._start, self._last, self._first = 0, 0.0, 0.0, None

  def on_epoch_begin(self, epoch, logs=None):
    with self._lock:
      self._epoch = epoch
      self._start = self._last = time.monotonic()
      self._first = None

  def on_train_batch_end(self, batch, logs=None):
    now = time.monotonic()
    done = batch + 1
    with self._lock:
      if self._first is None or done < self._first[0]:
        self._first = (done, now)  # The first step of the epoch (may build the graph).
      if now - self._last < self.interval:
        return
      self._last = now
      first_done, first_time = self._first
    text = f"epoch {self._epoch + 1}/{self.epochs}: step {done}/{self.steps}"
    loss = (logs or {}).get("loss")
    if loss is not None:
      text += f", loss {float(loss):.4f}"
    text += f", {seconds(now - self._start)}"
    if first_done < done < self.steps:
      per_step = max((now - first_time) / (done - first_done), 1e-9)
      text += f", {1 / per_step:.2f} steps/s, ETA {seconds(per_step * (self.steps - done))}"
    logging.info(text)


class LearningRateLogger(keras.callbacks.Callback):
  """Adds the optimizer's current learning rate to the epoch logs."""

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs["learning_rate"] = float(keras.ops.convert_to_numpy(
          self.model.optimizer.learning_rate))


def write_projector(log_dir: str, embedded: embedding.EmbeddedSet, samples: int) -> None:
  """Writes clip embeddings of both modalities for TensorBoard's projector.

  ``metadata.tsv`` holds one row per point (ids through
  :func:`yt8m_crossmodal.escaping.tsv_field`: a tab or line break in an id
  cannot add a column or a row).
  """
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
        f.write(f"{escaping.tsv_field(video_id)}\t{modality}\n")
  var = tf.Variable(vectors, name="clip_embeddings")
  tf.train.Checkpoint(embedding=var).save(os.path.join(log_dir, "embedding.ckpt"))
  cfg = projector.ProjectorConfig()
  emb = cfg.embeddings.add()
  emb.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
  emb.metadata_path = "metadata.tsv"
  projector.visualize_embeddings(log_dir, cfg)


def retrieval_section(pool_size: Optional[float] = None) -> str:
  """``retrieval (pool of N videos)``: the candidates each query is ranked among."""
  return f"retrieval (pool of {int(pool_size)} videos)" if pool_size else "retrieval"


def scalar_tag(key: str, terms: Sequence[terms_lib.WeightedTerm] = (),
               pool_size: Optional[float] = None) -> Tuple[str, str]:
  """``(run, tag)`` of an epoch-log key, grouped for TensorBoard.

  ``val_`` keys go to the ``validation`` run, the others to ``train``, under
  the same tag so that the two curves overlay: ``loss/total``,
  ``loss/<part>`` (``clip_a2v_loss`` -> ``loss/clip_a2v``); the other parts
  of each loss term under the name of the loss that runs (its module's
  ``SECTION``: ``clip_accuracy`` -> ``clip_contrastive/accuracy``
  when the clip term is contrastive, ``clip_active_fraction`` ->
  ``clip_triplets/active_fraction`` with triplets); ``retrieval (pool of N
  videos)/<name>`` (Recall@K, ranks, mAP, timeline R@1 among N candidates,
  videos and pool size); ``sync/<name>``; ``optimizer/learning_rate``;
  ``other/<name>``.

  Args:
    key: the epoch-log key (``val_a2v_recall@1``).
    terms: the loss terms of the run (``losses.terms_from``).
    pool_size: the validation retrieval's pool (``val_pool_size``).
  """
  run, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
  if name == "loss":
    return run, "loss/total"
  if name.endswith("_loss"):
    return run, "loss/" + name[:-len("_loss")]
  for term in terms:  # Its parts, and the ramped weight of classification.
    if name in terms_lib.part_names([term]) or name == f"{term.name}_weight":
      return run, f"{terms_lib.module_of(term).SECTION}/{name[len(term.name) + 1:]}"
  if name.startswith(("clip_", "temporal_", "timeline_nce_", "classification_")):
    return run, "loss_parts/" + name  # Terms not given.
  if name.startswith("sync_"):
    return run, "sync/" + name[len("sync_"):]
  if name.startswith(("a2v_", "v2a_", "timeline_")) or name in ("num_videos", "pool_size"):
    return run, f"{retrieval_section(pool_size)}/{name}"
  if name == "learning_rate":
    return run, "optimizer/learning_rate"
  return run, "other/" + name


class GroupedTensorBoard(keras.callbacks.Callback):
  """Writes every epoch log as a scalar under :func:`scalar_tag` (one step an epoch).

  The loss terms come from the model's loss layer; the retrieval pool size
  from the logs (``val_pool_size``, set by :class:`ValidationMetrics`).

  ``<log_dir>/train`` and ``<log_dir>/validation`` are the two runs; the
  validation run also gets the projector sample (:func:`write_projector`),
  so that TensorBoard pointed at ``<log_dir>`` shows it.
  """

  def __init__(self, log_dir: str):
    super().__init__()
    self.log_dir = log_dir
    self._writers: Dict[str, tf.summary.SummaryWriter] = {}

  def _writer(self, run: str):
    if run not in self._writers:
      self._writers[run] = tf.summary.create_file_writer(os.path.join(self.log_dir, run))
    return self._writers[run]

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    terms = self.model.get_layer(models.LOSS_LAYER_NAME).terms if self.model else ()
    pool_size = logs.get("val_pool_size")
    for key, value in sorted(logs.items()):
      try:
        value = float(value)
      except (TypeError, ValueError):
        continue
      run, tag = scalar_tag(key, terms, pool_size)
      with self._writer(run).as_default():
        tf.summary.scalar(tag, value, step=epoch)
    for writer in self._writers.values():
      writer.flush()

  def on_train_end(self, logs=None):
    for writer in self._writers.values():
      writer.close()
    self._writers.clear()
