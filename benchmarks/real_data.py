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
  record (other videos, another release's label vocabulary);
- ``*_hub``: the same embeddings ranked as ``yt8m-search`` ranks by default,
  ``cosine - 0.5 * hubness`` (each candidate's mean cosine to its 50
  nearest items of the query modality in the test set).

Columns: Recall@1/5/10 with 256 candidates and Recall@1 and the median rank
with 1000 candidates, audio->visual and visual->audio, each the mean over
``--seeds`` seeded random pools per query (a 2017 pool of 1000 is capped at
the set's size).

  python benchmarks/real_data.py --data_dir=../shared/data --work_dir=/tmp/yt8m_real
  python benchmarks/real_data.py --ablation=all --seeds=5   # variants, validation shards
  python benchmarks/real_data.py --learning_curve=14,28,56 --png=docs/real_learning_curve.png

``--learning_curve`` trains the CCA (its settings chosen on the validation
shards) and ``ours`` on the first 14, 28, ... training shards and scores both
on the test shards: how R@1 grows with the number of training videos, and,
if the last doubling's gain held, how many videos a target would need.
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
from yt8m_crossmodal.retrieval import hubness  # noqa: E402
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
# ``*_hub`` rows rank as yt8m-search does by default: cosine - w * hubness.
HUB_WEIGHT = hubness.DEFAULT_WEIGHT
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


def retrieval_row(audio, visual, seeds, pools=(256, 1000), hub_weight=0.0):
  """The COLUMNS of two [N, E] embedding sets, averaged over seeded pools.

  ``hub_weight`` > 0 ranks as ``yt8m-search`` does in an index of the set
  (cosine - w * hubness).
  """
  row = {}
  hub_values = hubness.hubness_pair(audio, visual) if hub_weight else None
  for pool in pools:
    runs = [cross_modal_retrieval(audio, visual, pool_size=min(pool, len(audio) - 1), seed=s,
                                  hub_weight=hub_weight, hubness_values=hub_values)
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


def learning_curve(args, data, train_files):
  """R@1 at 256 of CCA and ``ours`` against the number of training videos."""
  points = []
  for shards in sorted({int(n) for n in args.learning_curve.split(",")}):
    if not 0 < shards <= len(train_files):
      sys.exit(f"error: --learning_curve={shards}: there are {len(train_files)} training shards")
    files = train_files[:shards]
    subset = mean_features(files)
    fit, weight, _ = fit_cca(subset, data["validation"], args.seeds)
    cca = retrieval_row(unit(fit.audio(data["test"][0]) * weight),
                        unit(fit.visual(data["test"][1]) * weight), args.seeds)
    ours = retrieval_row(*encode(train_row(f"curve_{shards}", args.work_dir, files,
                                           "video_residual", args.epochs), data["test"]),
                         args.seeds)
    points.append({"shards": shards, "videos": len(subset[0]), "cca": cca, "ours": ours})
    print(f"{shards} shards, {len(subset[0])} videos: R@1@256 CCA "
          f"{cca['a2v_r1@256']:.3f}/{cca['v2a_r1@256']:.3f}, ours "
          f"{ours['a2v_r1@256']:.3f}/{ours['v2a_r1@256']:.3f}", flush=True)
  print(f"\n{'videos':>8}" + "".join(f"{m + ' ' + c:>18}" for m in ("cca", "ours")
                                     for c in ("r1@256", "r1@1000", "med@1000")))
  both = lambda row, c: (row[f"a2v_{c}"] + row[f"v2a_{c}"]) / 2
  for p in points:
    print(f"{p['videos']:>8}" + "".join(f"{both(p[m], c):>18.3f}" for m in ("cca", "ours")
                                          for c in ("r1@256", "r1@1000", "med@1000")))
  if len(points) >= 2:
    a, b = points[-2], points[-1]
    for m in ("cca", "ours"):
      gain = (both(b[m], "r1@256") - both(a[m], "r1@256")) / np.log2(b["videos"] / a["videos"])
      need = (b["videos"] * 2 ** ((args.target - both(b[m], "r1@256")) / gain)
              if gain > 0 else float("inf"))
      print(f"{m}: +{gain:.3f} R@1@256 per doubling of the videos over the last step; "
            f"R@1@256 {args.target} at about {need:,.0f} videos if that gain held")
  if args.png:
    plot_curve(points, both, args.png)
  return points


def plot_curve(points, both, png):
  """Writes the learning curve (R@1 at 256 and 1000 against videos) to ``png``."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  videos = [p["videos"] for p in points]
  for ax, column, title in ((axes[0], "r1@256", "R@1, 256 candidates"),
                            (axes[1], "r1@1000", "R@1, 1000 candidates")):
    for m, label in (("cca", "linear CCA (tuned on validation)"),
                     ("ours", "ours (yt8m-train --feature_level=video)")):
      ax.plot(videos, [both(p[m], column) for p in points], "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(videos, [f"{v:,}" for v in videos])
    ax.set_xlabel("training videos (real YouTube-8M 2018)")
    ax.set_ylabel("R@1, mean of a->v and v->a")
    ax.set_title(title)
    ax.grid(alpha=0.3)
  axes[0].legend(loc="upper left")
  fig.suptitle("Test shards: 4,437 real videos, 20 seeded pools per point")
  fig.tight_layout()
  tmp = png + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  os.replace(tmp, png)
  print(f"wrote {png}")


def print_table(table):
  print(f"{'model':<22}" + "".join(f"{c:>13}" for c, _, _ in COLUMNS))
  for name, row in table.items():
    print(f"{name:<22}" + "".join(
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
  parser.add_argument("--learning_curve", default="",
                      help="comma-separated numbers of training shards: train CCA and ours "
                      "on the first N shards and score both on the test shards")
  parser.add_argument("--target", type=float, default=0.35,
                      help="R@1 at 256 the learning curve extrapolates to")
  parser.add_argument("--png", default="", help="where --learning_curve draws its plot")
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
  if args.learning_curve:
    points = learning_curve(args, data, train_files)
    print(json.dumps({"learning_curve": points, "seconds": round(time.time() - start)}))
    return
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
    test = project(data["test"])
    table["cca_mean"] = retrieval_row(*test, args.seeds)
    table["cca_mean_hub"] = retrieval_row(*test, args.seeds, hub_weight=HUB_WEIGHT)
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
    test = encode(encoders, data["test"])
    table[name] = retrieval_row(*test, args.seeds)
    if name == "ours":
      table["ours_hub"] = retrieval_row(*test, args.seeds, hub_weight=HUB_WEIGHT)
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
