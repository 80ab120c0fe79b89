"""Cross-modal retrieval on real YouTube-8M video-level records, model against model.

Reads the genuine records of ``--data_dir`` (the project's ``../shared/data``:
YouTube-8M 2018 ``yt8m-2018-video/*.tfrecord``, 2017
``yt8m-2017-video/*.tfrecord``), splits the 2018 shards by file (the last
``--test_shards`` for testing, the ``--validation_shards`` before them for
choosing the CCA's settings, the rest for training) and scores each row on the
test shards:

- ``cca_mean``: linear CCA on the mean features; ridge, dimensions and the
  weighting of the directions chosen on the validation shards;
- ``video_mlp``: the published baseline (``--video_encoder=mlp
  --clip_loss=triplet``), ``--mlp_epochs``;
- ``ours``: ``yt8m-train --feature_level=video`` with no other flag (the
  residual towers and the contrastive clip loss), through the same training
  code (:func:`yt8m_crossmodal.training.trainer.train`);
- ``*_on_2017``: the 2018-trained CCA and ``ours`` scored on every 2017
  record (other videos, another release's label vocabulary).

Columns: Recall@1/5/10 with 256 candidates and Recall@1 and the median rank
with 1000 candidates, audio->visual and visual->audio, each the mean over
``--seeds`` seeded random pools per query (a 2017 pool of 1000 is capped at
the set's size).

  python benchmarks/real_data.py --data_dir=../shared/data --work_dir=/tmp/yt8m_real
  python benchmarks/real_data.py --ablation=all --seeds=5   # variants, validation shards
"""

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import config as config_lib  # noqa: E402
from yt8m_crossmodal import experiments  # noqa: E402
from yt8m_crossmodal import models  # noqa: E402
from yt8m_crossmodal.data import pipeline  # noqa: E402
from yt8m_crossmodal.evaluation.metrics import cross_modal_retrieval  # noqa: E402
from yt8m_crossmodal import cca as cca_lib  # noqa: E402
from yt8m_crossmodal.training.trainer import train  # noqa: E402

# --ablation: variants of ``ours``, each a named configuration of
# yt8m_crossmodal.experiments, trained on the training shards and scored on
# the validation shards.
VARIANTS = {
    "ours": "video_residual",
    "no_linear_branch": "video_no_linear_branch",
    "triplet_clip_loss": "video_triplet_clip_loss",
    "mlp_towers_contrastive": "video_mlp_contrastive",
    "classification_0.1": "video_classification_0.1",
    "temperature_0.05": "video_temperature_0.05",
    "temperature_0.2": "video_temperature_0.2",
    "two_blocks": "video_two_blocks",
    "no_input_dropout": "video_no_input_dropout",
    "batch_256": "video_batch_256",
    "epochs_20": "video_epochs_20",
}
COLUMNS = (("a2v_r1@256", 256, "a2v/recall@1"), ("v2a_r1@256", 256, "v2a/recall@1"),
           ("a2v_r5@256", 256, "a2v/recall@5"), ("v2a_r5@256", 256, "v2a/recall@5"),
           ("a2v_r10@256", 256, "a2v/recall@10"), ("v2a_r10@256", 256, "v2a/recall@10"),
           ("a2v_r1@1000", 1000, "a2v/recall@1"), ("v2a_r1@1000", 1000, "v2a/recall@1"),
           ("a2v_med@1000", 1000, "a2v/median_rank"), ("v2a_med@1000", 1000, "v2a/median_rank"))
# The published paper (trained on the 2017 release), as reported: R@1 at 256.
PAPER = {"a2v_r1@256": 0.215, "v2a_r1@256": 0.223}
CCA_GRID = dict(reg=(1e-3, 1e-2, 0.1, 1.0), dims=(32, 64, 128), power=(0.0, 0.5, 1.0))


def split_shards(data_dir, test_shards, validation_shards):
  """(train, validation, test) lists of 2018 files; SystemExit when absent."""
  pattern = os.path.join(data_dir, "yt8m-2018-video", "*.tfrecord")
  try:
    files = pipeline.list_files(pattern)
  except FileNotFoundError:
    sys.exit(f"error: no real YouTube-8M 2018 video-level records match {pattern} "
             "(the project's shared data; pass --data_dir=<folder holding yt8m-2018-video/>)")
  if len(files) < test_shards + validation_shards + 1:
    sys.exit(f"error: {len(files)} shards under {pattern}: need more than "
             f"--test_shards + --validation_shards = {test_shards + validation_shards}")
  test = files[len(files) - test_shards:]
  validation = files[len(files) - test_shards - validation_shards:len(files) - test_shards]
  return files[:len(files) - test_shards - validation_shards], validation, test


def mean_features(files, num_classes=config_lib.NUM_CLASSES_2018):
  """(audio [N, 128], visual [N, 1024]) float32 means of the records."""
  ds = pipeline.make_dataset(",".join(files), feature_level="video", batch_size=512,
                             num_classes=num_classes)
  a, v = [], []
  for batch in ds:
    a.append(batch["audio"].numpy())
    v.append(batch["visual"].numpy())
  return np.concatenate(a), np.concatenate(v)


def unit(x):
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_row(audio, visual, seeds, pools=(256, 1000)):
  """The COLUMNS of two [N, E] embedding sets, averaged over seeded pools."""
  row = {}
  for pool in pools:
    runs = [cross_modal_retrieval(audio, visual, pool_size=min(pool, len(audio) - 1), seed=s)
            for s in range(seeds)]
    for name, p, key in COLUMNS:
      if p == pool:
        row[name] = float(np.mean([r[key] for r in runs]))
  return row


def fit_cca(train, validation, seeds):
  """The CCA of the grid with the best validation R@1 at 256 (both directions)."""
  best = None
  for reg in CCA_GRID["reg"]:
    for dims in CCA_GRID["dims"]:
      fit = cca_lib.fit_cca(*train, dims, reg=reg)
      for power in CCA_GRID["power"]:
        weight = fit.correlations ** power
        a = unit(fit.audio(validation[0]) * weight)
        v = unit(fit.visual(validation[1]) * weight)
        row = retrieval_row(a, v, max(1, seeds // 4), pools=(256,))
        score = row["a2v_r1@256"] + row["v2a_r1@256"]
        if best is None or score > best[0]:
          best = (score, fit, weight, dict(reg=reg, dims=dims, power=power))
  return best[1], best[2], best[3]


def train_row(name, work_dir, train_files, experiment, epochs):
  """Trains with ``trainer.train``; returns (audio encoder, visual encoder)."""
  model_dir = os.path.join(work_dir, "runs", name)
  if tf.io.gfile.exists(model_dir):
    tf.io.gfile.rmtree(model_dir)
  cfg = experiments.get(experiment, train_data=",".join(train_files), model_dir=model_dir)
  if epochs:
    cfg = cfg.replace(epochs=epochs)
  train(cfg)
  model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
  return (model.get_layer(models.AUDIO_ENCODER_NAME),
          model.get_layer(models.VISUAL_ENCODER_NAME))


def encode(encoders, features):
  a_enc, v_enc = encoders
  a = a_enc.predict(features[0], batch_size=1024, verbose=0)["embedding"]
  v = v_enc.predict(features[1], batch_size=1024, verbose=0)["embedding"]
  return np.asarray(a), np.asarray(v)


def print_table(table):
  print(f"{'model':<18}" + "".join(f"{c:>13}" for c, _, _ in COLUMNS))
  for name, row in table.items():
    print(f"{name:<18}" + "".join(
        f"{row[c]:>13.3f}" if c in row else f"{'-':>13}" for c, _, _ in COLUMNS))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=os.path.normpath(os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")))
  parser.add_argument("--work_dir", default="/tmp/yt8m_real")
  parser.add_argument("--test_shards", type=int, default=16)
  parser.add_argument("--validation_shards", type=int, default=8)
  parser.add_argument("--rows", default="cca_mean,video_mlp,ours",
                      help="comma-separated rows to run")
  parser.add_argument("--epochs", type=int, default=0,
                      help="epochs of 'ours' (0: the yt8m-train default)")
  parser.add_argument("--mlp_epochs", type=int, default=20)
  parser.add_argument("--seeds", type=int, default=20, help="seeded pools per figure")
  parser.add_argument("--ablation", default="",
                      help="comma-separated VARIANTS of ours (or 'all') to train and score "
                      "on the validation shards instead of the rows")
  args = parser.parse_args()
  start = time.time()
  rows = set(filter(None, args.rows.split(",")))
  train_files, val_files, test_files = split_shards(args.data_dir, args.test_shards,
                                                    args.validation_shards)
  data = {"train": mean_features(train_files), "validation": mean_features(val_files),
          "test": mean_features(test_files)}
  release_2017 = pipeline.list_files(os.path.join(args.data_dir, "yt8m-2017-video",
                                                  "*.tfrecord"))
  data["2017"] = mean_features(release_2017, config_lib.NUM_CLASSES_2017)
  print(f"videos: {', '.join(f'{k} {len(v[0])}' for k, v in data.items())} "
        f"(2018 shards: {len(train_files)} train, {len(val_files)} validation, "
        f"{len(test_files)} test)", flush=True)
  table, notes, seconds = {}, {}, {}
  if args.ablation:
    names = list(VARIANTS) if args.ablation == "all" else args.ablation.split(",")
    for name in names:
      t0 = time.time()
      encoders = train_row(f"ablation_{name}", args.work_dir, train_files, VARIANTS[name],
                           args.epochs)
      table[name] = retrieval_row(*encode(encoders, data["validation"]), args.seeds)
      seconds[name] = round(time.time() - t0)
      print(f"{name}: {seconds[name]}s " + json.dumps(
          {k: round(v, 4) for k, v in table[name].items()}), flush=True)
    rows = set()
  if "cca_mean" in rows:
    t0 = time.time()
    fit, weight, chosen = fit_cca(data["train"], data["validation"], args.seeds)
    project = lambda x: (unit(fit.audio(x[0]) * weight), unit(fit.visual(x[1]) * weight))
    table["cca_mean"] = retrieval_row(*project(data["test"]), args.seeds)
    table["cca_mean_on_2017"] = retrieval_row(*project(data["2017"]), args.seeds)
    notes["cca_mean"] = chosen
    seconds["cca_mean"] = round(time.time() - t0)
  trained = {"video_mlp": ("video_mlp", args.mlp_epochs),
             "ours": ("video_residual", args.epochs)}
  for name, (experiment, epochs) in trained.items():
    if name not in rows:
      continue
    t0 = time.time()
    encoders = train_row(name, args.work_dir, train_files, experiment, epochs)
    table[name] = retrieval_row(*encode(encoders, data["test"]), args.seeds)
    if name == "ours":
      table["ours_on_2017"] = retrieval_row(*encode(encoders, data["2017"]), args.seeds)
    seconds[name] = round(time.time() - t0)
    print(f"{name}: {seconds[name]}s", flush=True)
  if not args.ablation:
    table["paper (2017, reported)"] = dict(PAPER)
  print()
  print_table(table)
  print(f"CCA chosen on validation: {notes.get('cca_mean')}; total {time.time() - start:.0f}s")
  print(json.dumps({"tables": {k: {c: round(v, 4) for c, v in r.items()} for k, r in table.items()},
                    "cca": notes.get("cca_mean"), "seconds": seconds,
                    "videos": {k: len(v[0]) for k, v in data.items()}}))


if __name__ == "__main__":
  main()
