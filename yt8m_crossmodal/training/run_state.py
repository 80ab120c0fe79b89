"""The files of a run folder, written in a safe order at the end of each epoch.

:class:`EpochCheckpoint` is the one callback that writes, at the end of
epoch ``E``, in this order and each atomically (a temporary sibling, then a
rename):

1. ``checkpoints/epoch_EEE.weights.h5``;
2. ``model.keras``;
3. ``backup/epoch_EEE.weights.h5`` (weights and optimizer state);
4. ``training_log.csv`` (rewritten whole: rows of epochs ``1..E``, numbered
   from 1 as the checkpoints);
5. ``backup/training_metadata.json`` ``{"epoch": E, "weights":
   "epoch_EEE.weights.h5", "seed_states": [...]}`` (the dropout random
   generators' states, which weight files do not hold): the commit point;
   the previous epoch's backup weights are removed after it.

A kill anywhere before step 5 leaves the run at epoch ``E - 1``: the rerun
(the same command) drops log rows past ``E - 1``, restores the backup,
skips the batches epochs ``1..E-1`` read and trains epoch ``E`` again,
rewriting the same files. So a killed and resumed run ends with the same log
(no gap, no duplicate row) as a run that was never killed.

The backup stays after the last epoch: a rerun of a finished run finds
``epoch == epochs`` and does nothing (``--epochs`` higher trains more,
``--restart`` starts over).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import signal
from typing import Dict, List, Optional

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from yt8m_crossmodal import escaping
from yt8m_crossmodal import io_utils
from yt8m_crossmodal.errors import UsageError

# Fault injection for tests: "<epoch>:<point>" kills this process (SIGKILL)
# at the end of that epoch (1-based) just before the write named by point.
FAULT_ENV = "YT8M_CROSSMODAL_FAULT"
WRITE_POINTS = ("checkpoint", "model", "backup", "log", "commit")

MODEL_FILE = "model.keras"
LOG_FILE = "training_log.csv"
FINAL_METRICS_FILE = "final_metrics.json"
CONFIG_CHANGES_FILE = "config_changes.json"
BACKUP_DIR = "backup"
BACKUP_METADATA = "training_metadata.json"
LEGACY_WEIGHTS = "latest.weights.h5"


class RunFolder:
  """Paths and state of one run folder (``model_dir`` or a worker's)."""

  def __init__(self, path: str):
    self.path = path
    self.model = os.path.join(path, MODEL_FILE)
    self.log = os.path.join(path, LOG_FILE)
    self.final_metrics = os.path.join(path, FINAL_METRICS_FILE)
    self.config_changes = os.path.join(path, CONFIG_CHANGES_FILE)
    self.checkpoints = os.path.join(path, "checkpoints")
    self.backup = os.path.join(path, BACKUP_DIR)
    self.backup_metadata = os.path.join(self.backup, BACKUP_METADATA)
    self.backup_weights = ""  # Set by finished_epochs().
    self.seed_states: List[List[int]] = []

  def checkpoint(self, epoch: int) -> str:
    return os.path.join(self.checkpoints, f"epoch_{epoch:03d}.weights.h5")

  def backup_file(self, epoch: int) -> str:
    return os.path.join(self.backup, f"epoch_{epoch:03d}.weights.h5")

  def finished_epochs(self) -> int:
    """Epochs committed by :class:`EpochCheckpoint` (0: none).

    Raises:
      UsageError: the backup is damaged (named, with what to do).
    """
    if not tf.io.gfile.exists(self.backup_metadata):
      return 0
    try:
      with tf.io.gfile.GFile(self.backup_metadata) as f:
        metadata = json.load(f)
      epoch = metadata["epoch"]
      # A backup of Keras' BackupAndRestore (earlier versions) names no file.
      weights = metadata.get("weights", LEGACY_WEIGHTS)
      if not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"bad epoch {epoch!r}")
      if weights not in (os.path.basename(self.backup_file(epoch)), LEGACY_WEIGHTS):
        raise ValueError(f"bad weights file name {weights!r}")
      self.seed_states = [list(map(int, s)) for s in metadata.get("seed_states", [])]
    except (ValueError, KeyError, TypeError) as e:
      raise self._damaged(self.backup_metadata, f"{type(e).__name__}: {e}") from e
    self.backup_weights = os.path.join(self.backup, weights)
    if epoch and not tf.io.gfile.exists(self.backup_weights):
      raise self._damaged(self.backup_weights, "missing")
    return epoch

  def _damaged(self, path: str, why) -> UsageError:
    return UsageError(f"the training backup {path!r} is damaged ({why}): rerun with "
                      "--restart to train from scratch")

  def restore(self, model) -> None:
    """Loads the backed-up weights and optimizer state into ``model``."""
    if model.optimizer is not None and not model.optimizer.built:
      model.optimizer.build(model.trainable_variables)
    try:
      model.load_weights(self.backup_weights)
    except Exception as e:  # pylint: disable=broad-except  (h5py: OSError, KeyError...)
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise self._damaged(self.backup_weights, first) from e
    states = seed_state_variables(model)
    if len(states) != len(self.seed_states):
      raise self._damaged(self.backup_metadata, f"{len(self.seed_states)} random generator "
                          f"states for {len(states)} in the model")
    for variable, value in zip(states, self.seed_states):
      variable.assign(value)

  def remove_temporaries(self) -> None:
    """Removes temporary files of writes a kill interrupted.

    Also the backup weights of an epoch that was not committed.
    """
    committed = self.backup_weights
    for folder in (self.path, self.checkpoints, self.backup):
      if not tf.io.gfile.isdir(folder):
        continue
      for name in tf.io.gfile.listdir(folder):
        stale = folder == self.backup and name.endswith(".weights.h5") and (
            os.path.join(folder, name) != committed)
        if stale or (name.startswith(".") and ".tmp-" in name):
          path = os.path.join(folder, name.rstrip("/"))
          logging.info("removing %s (an interrupted write)", path)
          if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
          else:
            tf.io.gfile.remove(path)

  def log_rows(self) -> List[Dict[str, str]]:
    if not tf.io.gfile.exists(self.log):
      return []
    with tf.io.gfile.GFile(self.log) as f:
      return list(csv.DictReader(f))

  def truncate_log(self, epochs: int) -> None:
    """Keeps the log rows of epochs ``1..epochs`` only (one each)."""
    rows = self.log_rows()
    kept = _rows_up_to(rows, epochs)
    if kept != rows:
      _write_csv(self.log, kept)

  def record_config_changes(self, first_epoch: int, changes: Dict[str, tuple]) -> None:
    """Appends ``changes`` (field: (before, after)) from epoch ``first_epoch`` on.

    ``config_changes.json`` is a list of ``{"from_epoch": n, "changes":
    {field: {"before": ..., "after": ...}}}``, oldest first: with it,
    ``config.json`` (the settings of the latest epochs) tells what trained
    each epoch.
    """
    entries = []
    if tf.io.gfile.exists(self.config_changes):
      with tf.io.gfile.GFile(self.config_changes) as f:
        entries = json.load(f)
    entries.append({"from_epoch": int(first_epoch), "changes": {
        name: {"before": before, "after": after}
        for name, (before, after) in sorted(changes.items())}})
    io_utils.atomic_write_text(self.config_changes, json.dumps(entries, indent=2))

  def clear(self) -> None:
    """Removes the outputs of an earlier run (``--restart``)."""
    for path in (self.backup, self.checkpoints, os.path.join(self.path, "tensorboard")):
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    for path in (self.log, self.model, self.final_metrics, self.config_changes):
      if tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


def seed_state_variables(model) -> list:
  """The state variables of the model's random generators (dropout), in order."""
  return [v for v in model.variables if v.name == "seed_generator_state"]


def _rows_up_to(rows, epochs: int):
  """Rows of epochs ``1..epochs`` (as the checkpoints count), the last row of each.

  A log of an older version counted from 0 (its first row is epoch 0): its
  rows are renumbered from 1.
  """
  numbered = []
  for row in rows:
    try:
      numbered.append((int(row["epoch"]), row))
    except (KeyError, TypeError, ValueError):
      continue
  shift = 1 if any(e == 0 for e, _ in numbered) else 0
  by_epoch = {}
  for e, row in numbered:
    if 1 <= e + shift <= epochs:
      by_epoch[e + shift] = dict(row, epoch=str(e + shift)) if shift else row
  return [by_epoch[e] for e in sorted(by_epoch)]


def _write_csv(path: str, rows) -> None:
  keys = []
  for row in rows:
    keys += [k for k in row if k not in keys]
  keys = ["epoch"] + sorted(k for k in keys if k != "epoch")
  text = io.StringIO()
  writer = csv.DictWriter(text, fieldnames=keys, lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({k: escaping.csv_cell(row.get(k, "")) for k in keys})
  io_utils.atomic_write_text(path, text.getvalue())


def weights_file_bytes(model) -> int:
  """About the bytes of ``model.save_weights``' file: the variables and the
  optimizer's, plus HDF5's overhead (measured: under 2 kB a variable)."""
  variables = list(model.variables)
  if model.optimizer is not None:
    variables += list(model.optimizer.variables)
  data = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
  return data + 4096 * len(variables) + (1 << 16)


def _hdf5_write_failure(error: BaseException) -> bool:
  """h5py's RuntimeError for a write the disk refused (it has no errno)."""
  return isinstance(error, RuntimeError) and any(
      m in str(error) for m in ("No space left on device", "file write failed",
                                "Disk quota exceeded", "Read-only file system"))


def _save_atomically(path: str, save, needed_bytes: int = 0) -> None:
  """Calls ``save(tmp)`` with a temporary sibling of ``path``, then renames it.

  Args:
    needed_bytes: with an HDF5 file, about its size: checked free first,
      because HDF5 on a disk that fills up while it writes may end the
      process (SIGSEGV) instead of failing.
  """
  folder, name = os.path.split(path)
  suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
  tmp = io_utils.tmp_sibling(path) + suffix
  if needed_bytes:
    io_utils.require_space(path, needed_bytes)
  try:
    save(tmp)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException as e:
    io_utils.remove_quietly(tmp)
    if isinstance(e, (OSError, tf.errors.OpError)):  # A full disk: h5py's OSError.
      raise io_utils.write_error(path, e) from e
    if _hdf5_write_failure(e):
      raise io_utils.write_error(path, OSError(
          errno.ENOSPC, "No space left on device (HDF5: file write failed)")) from e
    raise


class EpochCheckpoint(keras.callbacks.Callback):
  """Writes the end-of-epoch files in the safe order (module docstring).

  Must come after the callbacks that add to the logs (validation metrics,
  the learning rate). A non-finite loss stops the run with an error before
  anything of that epoch is written, so the last good epoch stays in place.
  """

  def __init__(self, folder: RunFolder):
    super().__init__()
    self.folder = folder
    fault = os.environ.get(FAULT_ENV, "")
    self.fault: Optional[tuple] = None
    if fault:
      epoch, _, point = fault.partition(":")
      if point not in WRITE_POINTS:
        raise ValueError(f"{FAULT_ENV}={fault!r}: point must be one of {WRITE_POINTS}")
      self.fault = (int(epoch), point)

  def _point(self, epoch: int, point: str) -> None:
    if self.fault == (epoch, point):
      logging.warning("fault injection: killing the process at epoch %d before %s",
                      epoch, point)
      logging.flush()
      os.kill(os.getpid(), signal.SIGKILL)

  def on_epoch_end(self, epoch, logs=None):
    logs = dict(logs or {})
    number = epoch + 1
    loss = logs.get("loss")
    if loss is not None and not math.isfinite(float(loss)):
      raise UsageError(
          f"training diverged: the loss of epoch {number} is {float(loss)} (try a lower "
          f"--learning_rate); {self.folder.path!r} keeps epoch {number - 1}")
    try:
      self._write(epoch, number, logs)
    except UsageError as e:
      raise UsageError(f"{e}; {self.folder.path!r} keeps epoch {number - 1}") from e

  def _write(self, epoch: int, number: int, logs) -> None:
    """The end-of-epoch writes of epoch ``number`` (0-based ``epoch``), in order."""
    f = self.folder
    tf.io.gfile.makedirs(f.checkpoints)
    tf.io.gfile.makedirs(f.backup)
    weights = weights_file_bytes(self.model)
    self._point(number, "checkpoint")
    _save_atomically(f.checkpoint(number), self.model.save_weights, weights)
    self._point(number, "model")
    _save_atomically(f.model, self.model.save)
    self._point(number, "backup")
    _save_atomically(f.backup_file(number), self.model.save_weights, weights)
    self._point(number, "log")
    row = {"epoch": str(number)}  # Counted from 1, as the checkpoints.
    row.update({k: str(v) for k, v in _scalars(logs).items()})
    _write_csv(f.log, _rows_up_to(f.log_rows(), number - 1) + [row])
    self._point(number, "commit")
    io_utils.atomic_write_text(f.backup_metadata, json.dumps(
        {"epoch": number, "weights": os.path.basename(f.backup_file(number)),
         "seed_states": [[int(x) for x in keras.ops.convert_to_numpy(v)]
                         for v in seed_state_variables(self.model)]}))
    previous, f.backup_weights = f.backup_weights, f.backup_file(number)
    if previous and previous != f.backup_weights and tf.io.gfile.exists(previous):
      tf.io.gfile.remove(previous)


def _scalars(logs) -> Dict[str, float]:
  out = {}
  for key, value in logs.items():
    try:
      out[key] = float(keras.ops.convert_to_numpy(value))
    except (TypeError, ValueError):
      continue
  return out
