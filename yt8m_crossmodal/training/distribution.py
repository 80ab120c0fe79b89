"""tf.distribute for training: strategies, the chief, Keras 3 multi-worker fixes."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from yt8m_crossmodal.errors import UsageError

# Keras versions whose TF trainer needs :func:`multi_worker_fit_fixes`, as
# [first, last) major.minor. tests/test_train.py's canary
# (test_multi_worker_keras_bug_still_present) fails once upstream is fixed:
# then drop the fixes, or narrow this range.
MULTI_WORKER_FIXES_FOR = ((3, 0), (3, 16))


def keras_needs_multi_worker_fixes(version: str = keras.__version__) -> bool:
  """True for the Keras versions known to need :func:`multi_worker_fit_fixes`."""
  major_minor = tuple(int(x) for x in version.split(".")[:2])
  lo, hi = MULTI_WORKER_FIXES_FOR
  return lo <= major_minor < hi


def make_strategy(name: str) -> tf.distribute.Strategy:
  """``none`` | ``mirrored`` | ``multi_worker`` (reads ``TF_CONFIG``)."""
  if name == "none":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if not os.environ.get("TF_CONFIG"):
      raise UsageError("--distribution_strategy=multi_worker needs TF_CONFIG")
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise UsageError(f"unknown distribution_strategy {name!r}")


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
     from the dataset's element spec instead. This needs Keras' private
     ``_symbolic_build`` and a replaced ``_maybe_symbolic_build``: allowed
     only for the versions in :data:`MULTI_WORKER_FIXES_FOR`.
  2. The train function reduces every log with
     ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars:
     "Invalid reduction dimension 0 for input with 0 dimensions"
     (tensorflow/tensorflow#72388). ``model.train_function`` (the hook
     ``make_train_function`` caches) is set to a step that reduces the
     per-replica logs with ``axis=None``, the mean over replicas that Keras
     computes for ``MirroredStrategy``.
  """
  if not keras_needs_multi_worker_fixes():
    raise RuntimeError(
        "multi_worker_fit_fixes is only known to be right for Keras "
        f"{MULTI_WORKER_FIXES_FOR}, this is {keras.__version__}: run the canary "
        "test (tests/test_train.py) and update the guard")

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
