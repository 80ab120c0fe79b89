"""``yt8m-train``'s job: a whole training run with ``model.fit``, in three steps.

1. prepare the run: :func:`check_run` (the config, the backend, the
   records, the folder; the settings the number of training videos picks),
   then :func:`resume_run` (where the run stands: finished, resumed after its
   last epoch, or started over; ``config.json``), the run folder locked from
   there on (one run at a time writes it);
2. :func:`build`: the model, compiled, restored from the backup or set from
   the training data;
3. :func:`fit`: ``model.fit`` with the callbacks, then the projector and
   ``final_metrics.json``.

``<model_dir>`` receives:

- ``config.json``: the resolved config (written once the data are checked);
- ``model.keras``: the latest model (every epoch), what ``yt8m-export`` reads;
- ``checkpoints/epoch_NNN.weights.h5``: weights after each epoch;
- ``backup/``: the last finished epoch (weights, optimizer state, epoch
  number): run the same command again after a crash or a kill and training
  continues from there, exactly as if it had not stopped; run it again after
  the last epoch and it says so and does nothing (``--restart`` starts over);
- ``training_log.csv``: one row of losses and validation metrics per epoch;
- ``tensorboard/``: scalars (loss parts, learning rate, validation Recall@K,
  median rank, sync accuracy) and an embedding-projector sample.

Every file is written atomically, in the order of
:mod:`yt8m_crossmodal.training.run_state`.

Distribution (``distribution_strategy``): ``none`` (default device),
``mirrored`` (all local GPUs, or CPU), ``multi_worker``
(``MultiWorkerMirroredStrategy``; every worker runs the same command with its
own ``TF_CONFIG``; the chief writes ``model_dir``, the others write under
``model_dir/workers/<index>``); both need the TensorFlow backend.

Backend (``backend``): the process' Keras backend runs ``model.fit``
(``auto`` takes it as it is; another name must match it, see
:mod:`yt8m_crossmodal.training.backends`) and is recorded in
``config.json``. The ``tf.data`` pipeline feeds every backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, Dict, Optional

from absl import logging
import keras
import tensorflow as tf

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import io_utils
from yt8m_crossmodal import models
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.training import backends
from yt8m_crossmodal.training import callbacks as callbacks_lib
from yt8m_crossmodal.training import checks
from yt8m_crossmodal.training import distribution
from yt8m_crossmodal.training import run_state
from yt8m_crossmodal.training import size_settings
from yt8m_crossmodal.training import trainer
from yt8m_crossmodal.training.optimizer import make_optimizer


@dataclasses.dataclass
class Run:
  """A run being prepared, then trained.

  Attributes:
    config: the resolved config (model, backend and sizes picked).
    strategy: the ``tf.distribute`` strategy.
    out_dir: the folder this process writes (``model_dir``, or a worker's).
    folder: its files.
    bad_records: the log of the records skipped as bad.
    count: the training records, counted when ``steps_per_epoch`` is 0.
    done: epochs already finished (a resumed run goes on after them).
    steps: steps per epoch.
  """

  config: config_lib.Config
  strategy: Any
  out_dir: str
  folder: run_state.RunFolder
  bad_records: pipeline.BadRecordLog
  count: Optional[int] = None
  done: int = 0
  steps: int = 0

  @property
  def total_steps(self) -> int:
    return self.steps * self.config.train.epochs


def train(config: config_lib.Config) -> Dict[str, float]:
  """Trains as configured; returns the last epoch's logs.

  ``config.model.model`` "auto" is resolved (and so recorded in
  ``config.json``) by :func:`yt8m_crossmodal.models.model_name`. A run that
  has already finished returns its final metrics with ``already_finished``.
  """
  run = check_run(config)
  # One run at a time writes a run folder: a second one is refused while the
  # first is alive (it would resume from, and overwrite, the first's epochs).
  lock = (contextlib.nullcontext() if io_utils.is_remote(run.out_dir)
          else io_utils.exclusive_output(run.out_dir, "--model_dir"))
  with lock:
    finished = resume_run(run)
    if finished is not None:
      return finished
    # Process-wide in Keras: set for the run and put back to float32 after it,
    # so what follows in the same process (an export, a benchmark's next run)
    # builds float32 layers.
    keras.mixed_precision.set_global_policy(run.config.train.precision)
    try:
      return fit(run, build(run))
    finally:
      keras.mixed_precision.set_global_policy("float32")


def check_run(config: config_lib.Config) -> Run:
  """Step 1, first half: checks the config, backend, records and folder; picks sizes.

  Nothing is written: a failed command never changes what an earlier run's
  folder says.
  """
  checks.validate_config(config)
  try:
    config = config.replace(model=models.model_name(config))
  except ValueError as e:
    raise UsageError(str(e)) from e
  backend = backends.resolve(config.train.backend)
  backends.check_active(backend)
  backends.check_strategy(backend, config.train.distribution_strategy)
  checks.check_config(config)  # The paths too: a pattern that matches nothing, before any work.
  config = config.replace(backend=backend)
  bad_records = pipeline.BadRecordLog()
  t = config.train
  keras.utils.set_random_seed(t.seed)
  strategy = distribution.make_strategy(t.distribution_strategy)
  logging.info("distribution strategy %s: %d replica(s) in sync",
               t.distribution_strategy, strategy.num_replicas_in_sync)
  out_dir = distribution.worker_dir(t.model_dir, strategy)
  # Fail early, with the pattern, when files are missing; config.json is only
  # written once the run is known to start, so a failed command never
  # changes what an earlier run's folder says.
  trainer.require_records(config.data.train_data, "train_data")
  if config.data.validation_data:
    trainer.require_records(config.data.validation_data, "validation_data")
  trainer.require_feature_level(config, config.data.train_data, "train_data")
  if config.data.validation_data:
    trainer.require_feature_level(config, config.data.validation_data, "validation_data")
  if config.data.skip_bad_records:  # The repeated data would skip bad records forever.
    trainer.require_good_records(config)
  io_utils.writable_dir(t.model_dir, "--model_dir")
  io_utils.writable_dir(out_dir, "--model_dir")
  # The records are counted once (one pass, no parsing) unless the steps are
  # given: the size picks the settings left at 0 and one pass is one epoch.
  count = None
  if not t.steps_per_epoch:
    count = trainer.count_records(config.data.train_data, config.data.skip_bad_records)
  config, note = size_settings.resolve(config, count)
  if note:
    logging.info("%s", note)
  return Run(config=config, strategy=strategy, out_dir=out_dir,
             folder=run_state.RunFolder(out_dir), bad_records=bad_records, count=count)


def resume_run(run: Run) -> Optional[Dict[str, Any]]:
  """Step 1, second half: where the run stands (``run.done``, ``run.steps``); config.json.

  Returns:
    None to train, or the final metrics of a run that has already finished
    (with ``already_finished``; nothing is written then).

  Raises:
    UsageError: a damaged backup, or a resume with other settings (see
      :func:`yt8m_crossmodal.training.trainer.check_resumable`).
  """
  config, folder, t = run.config, run.folder, run.config.train
  run.done = 0 if t.restart else folder.finished_epochs()
  if not t.restart:
    folder.remove_temporaries()
  if run.done >= t.epochs:
    logging.warning("training already finished: %s holds %d epoch(s) (pass a higher "
                    "--epochs to train more, or --restart to start over)",
                    run.out_dir, run.done)
    last = {}
    if tf.io.gfile.exists(folder.final_metrics):
      with tf.io.gfile.GFile(folder.final_metrics) as f:
        last = json.load(f)
    return dict(last, already_finished=True)

  run.steps = t.steps_per_epoch
  if not run.steps:
    run.steps = max(1, run.count // config.data.batch_size)
    logging.info("one pass over the training data: %d steps per epoch", run.steps)
  if t.restart:
    folder.clear()
  elif run.done:
    changes = trainer.check_resumable(config, os.path.join(run.out_dir, "config.json"))
    if changes:
      logging.warning("resuming after epoch %d with changed settings %s (recorded in %s)",
                      run.done, changes, folder.config_changes)
      folder.record_config_changes(run.done + 1, changes)
  config_lib.save_config(config, os.path.join(run.out_dir, "config.json"))
  return None


def build(run: Run) -> keras.Model:
  """Step 2: the training model, compiled; restored from the backup, or set from data.

  Under the run's strategy; the dtype policy is set by :func:`train`.
  """
  config, done = run.config, run.done
  with run.strategy.scope():
    model = models.build_training_model(config)
    model.compile(optimizer=make_optimizer(config.train, run.total_steps))
    if done:
      run.folder.restore(model)
      logging.info("resuming after epoch %d of %d", done, config.train.epochs)
    elif models.data_dependent_layers(model):
      n = models.initialize_from_data(
          model, trainer.train_dataset(config, repeat=False, bad_records=run.bad_records
                                       ).as_numpy_iterator())
      logging.info("input standardization and linear branches from %d training "
                   "videos", n)
  return model


def fit(run: Run, model: keras.Model) -> Dict[str, float]:
  """Step 3: ``model.fit`` from the epoch after ``run.done``; returns the last epoch's logs.

  Also writes the embedding projector's sample and ``final_metrics.json``.
  """
  config, t, done, steps = run.config, run.config.train, run.done, run.steps
  strategy, bad_records, out_dir = run.strategy, run.bad_records, run.out_dir
  run.folder.truncate_log(done)

  dataset = trainer.train_dataset(config, repeat=True, bad_records=bad_records,
                                  skip_batches=done * steps)
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    distribution.multi_worker_fit_fixes(model, dataset, strategy)
  callbacks = []
  if config.data.validation_data and distribution.is_chief(strategy):
    callbacks.append(callbacks_lib.ValidationMetrics(
        config, lambda: trainer.validation_dataset(config, bad_records)))
  callbacks += [
      callbacks_lib.StepProgress(t.epochs, steps),
      callbacks_lib.LearningRateLogger(),
      keras.callbacks.TerminateOnNaN(),
      run_state.EpochCheckpoint(run.folder),
      callbacks_lib.GroupedTensorBoard(os.path.join(out_dir, "tensorboard")),
  ]
  # shuffle=False: the pipeline shuffles (Keras would ignore True, with a warning).
  history = model.fit(dataset, epochs=t.epochs, initial_epoch=done, steps_per_epoch=steps,
                      validation_data=trainer.fit_validation_data(config, strategy,
                                                                  bad_records),
                      callbacks=callbacks, verbose=2, shuffle=False)
  last = {k: float(v[-1]) for k, v in history.history.items() if v}
  if "loss" not in last:
    raise UsageError(f"no training step ran: --train_data {config.data.train_data!r} gave "
                     f"no batch ({bad_records.count} bad record(s) skipped)")
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
  io_utils.atomic_write_text(run.folder.final_metrics,
                             json.dumps(last, indent=2, sort_keys=True))
  return last
