"""One worker of the Keras multi-worker canary (run by tests/test_train.py).

Plain ``model.fit`` under ``MultiWorkerMirroredStrategy`` with dict batches
and an ``add_loss`` model, *without* ``training.distribution.multi_worker_fit_fixes``,
plus TF's scalar reduction with ``axis=0`` that Keras' train step uses. Prints
one ``CANARY`` JSON line with what failed.
"""
import json

import numpy as np
import tensorflow as tf

import keras


class AddLoss(keras.layers.Layer):
  def call(self, x):
    self.add_loss(keras.ops.mean(keras.ops.square(x)))
    return x


strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
  a = keras.Input((None, 3), name="a")
  b = keras.Input((), dtype="int32", name="b")
  model = keras.Model([a, b], AddLoss()(keras.layers.Dense(2)(a)))
  model.compile(optimizer="sgd")
x = {"a": np.ones((16, 4, 3), "float32"), "b": np.arange(16, dtype="int32")}
ds = tf.data.Dataset.from_tensor_slices(x).batch(4, drop_remainder=True).repeat()
result = {}
try:
  model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
  result["fit"] = "ok"
except Exception as e:  # pylint: disable=broad-except
  result["fit"] = str(e).replace("\n", " ")[:200]
try:
  strategy.reduce("MEAN", strategy.run(lambda: tf.constant(1.0)), axis=0)
  result["scalar_reduce_axis0"] = "ok"
except Exception as e:  # pylint: disable=broad-except
  result["scalar_reduce_axis0"] = str(e).replace("\n", " ")[:200]
print("CANARY " + json.dumps(result), flush=True)
