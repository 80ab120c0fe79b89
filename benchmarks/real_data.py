"""Cross-modal retrieval on real YouTube-8M video-level records, model against model.

Reads the genuine records of ``--data_dir`` (the project's ``../shared/data``:
YouTube-8M 2018 ``yt8m-2018-video/*.tfrecord``, 2017
``yt8m-2017-video/*.tfrecord``), splits the 2018 shards by file (sorted by
name: the last ``--test_shards`` for testing, the ``--validation_shards``
before them for choosing settings, the rest for training; the run prints which
shards are which) and scores each row on the test shards:

- ``cca_mean``: linear CCA on the mean features; ridge, dimensions and the
  weighting of the directions chosen on the validation shards (``CCA_GRID``);
- ``video_mlp`` (only with ``--rows=...,video_mlp``): the published
  baseline (``--video_encoder=mlp --clip_loss=triplet``), ``--mlp_epochs``;
- ``ours``: ``yt8m-train --feature_level=video`` with no other flag, through
  the same training code (:func:`yt8m_crossmodal.jobs.train.train`);
- ``*_on_2017``: the 2018-trained CCA and ``ours`` scored on every 2017
  record (other videos, another release's label vocabulary);
- ``*_hub``: the same embeddings ranked as ``yt8m-search`` ranks by default,
  ``cosine - w * hubness`` with the defaults of
  :mod:`yt8m_crossmodal.retrieval.hubness` (each candidate's soft maximum of
  its cosines to the items of the query modality in the test set).

Columns: Recall@1/5/10 with 256 candidates and Recall@1 and the median rank
with 1000 candidates, audio->visual and visual->audio, each the mean over
``--seeds`` seeded random pools per query (a 2017 pool of 1000 is capped at
the set's size).

The same run gives the learning curve: the CCA (re-tuned on the validation
shards at each size) and ``ours`` (its defaults picked for each size, as
``yt8m-train`` picks them) trained on the first ``--learning_curve`` training
shards and on all of them, scored on the same test shards.

  python benchmarks/real_data.py --data_dir=../shared/data --png=docs/real_learning_curve.png
  python benchmarks/real_data.py --ablation=ours,towers_2 --seeds=5   # variants, validation shards
"""

import argparse
import functools
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
from yt8m_crossmodal.evaluation.metrics import candidate_pools  # noqa: E402
from yt8m_crossmodal import cca as cca_lib  # noqa: E402
from yt8m_crossmodal.retrieval import hubness  # noqa: E402
from yt8m_crossmodal.jobs.train import train  # noqa: E402

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
    "batch_64_epochs_10": "video_batch_64_epochs_10",
    "batch_1024": "video_batch_1024",
    "epochs_50": "video_epochs_50",
    "towers_2": "video_towers_2",
    "towers_3": "video_towers_3",
    "shared_label_0.5": "video_shared_label_0.5",
    "shared_label_0": "video_shared_label_0",
    "memory_2048": "video_memory_2048",
    "linear_trainable": "video_linear_trainable",
}
COLUMNS = (("a2v_r1@256", 256, "a2v", 1), ("v2a_r1@256", 256, "v2a", 1),
           ("a2v_r5@256", 256, "a2v", 5), ("v2a_r5@256", 256, "v2a", 5),
           ("a2v_r10@256", 256, "a2v", 10), ("v2a_r10@256", 256, "v2a", 10),
           ("a2v_r1@1000", 1000, "a2v", 1), ("v2a_r1@1000", 1000, "v2a", 1),
           ("a2v_med@1000", 1000, "a2v", "median"), ("v2a_med@1000", 1000, "v2a", "median"))
# The published paper (trained on the 2017 release), as reported: R@1 at 256.
PAPER = {"a2v_r1@256": 0.215, "v2a_r1@256": 0.223}
# ``*_hub`` rows rank as yt8m-search does by default: cosine - w * hubness.
HUB_WEIGHT = hubness.DEFAULT_WEIGHT
# The CCA's settings, chosen on the validation shards: ridge (relative to the
# mean variance), canonical directions kept, and the power of the canonical
# correlations that weights each direction.
CCA_GRID = dict(reg=(1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0), dims=(32, 64, 96, 128),
                power=(0.0, 0.5, 1.0, 2.0))


def split_shards(data_dir, test_shards, validation_shards):
  """(train, validation, test) lists of 2018 files; SystemExit when absent."""
  pattern = os.path.join(data_dir, "yt8m-2018-video", "*.tfrecord")
  try:
    files = sorted(pipeline.list_files(pattern))
  except FileNotFoundError:
    sys.exit(f"error: no real YouTube-8M 2018 video-level records match {pattern} "
             "(the project's shared data; pass --data_dir=<folder holding yt8m-2018-video/>)")
  if len(files) < test_shards + validation_shards + 1:
    sys.exit(f"error: {len(files)} shards under {pattern}: need more than "
             f"--test_shards + --validation_shards = {test_shards + validation_shards}")
  test = files[len(files) - test_shards:]
  validation = files[len(files) - test_shards - validation_shards:len(files) - test_shards]
  return files[:len(files) - test_shards - validation_shards], validation, test


def shard_range(files):
  """``validate0000..validate0119`` (first and last file names)."""
  name = lambda f: os.path.splitext(os.path.basename(f))[0]
  return f"{name(files[0])}..{name(files[-1])}" if len(files) > 1 else name(files[0])


def mean_features(files, num_classes=config_lib.NUM_CLASSES_2018, labels=False):
  """(audio [N, 128], visual [N, 1024]) float32 means of the records.

  With ``labels`` a third item, the labels as ``(video index [M], class [M])``.
  """
  ds = pipeline.make_dataset(",".join(files), feature_level="video", batch_size=512,
                             num_classes=num_classes, file_order=True)
  a, v, rows, cols = [], [], [], []
  for batch in ds:
    if labels:
      r, c = np.nonzero(batch["labels"].numpy())
      rows.append(r + sum(len(x) for x in a))
      cols.append(c)
    a.append(batch["audio"].numpy())
    v.append(batch["visual"].numpy())
  out = (np.concatenate(a), np.concatenate(v))
  if labels:
    out += ((np.concatenate(rows), np.concatenate(cols)),)
  return out


def fit_in_memory(experiment, train_set, num_classes=config_lib.NUM_CLASSES_2018):
  """Trains a named configuration on features held in memory; returns its encoders.

  The model, its data-dependent initialization, the loss, the optimizer and
  the settings picked for the number of videos are those of ``yt8m-train``
  (the same functions); the batches come from memory, shuffled each epoch,
  instead of the records (no validation, checkpoints or TensorBoard), so it
  runs on any Keras backend (``KERAS_BACKEND``).
  """
  from yt8m_crossmodal.training import size_settings
  from yt8m_crossmodal.training.optimizer import make_optimizer
  audio, visual, (rows, cols) = train_set
  cfg = experiments.get(experiment, train_data="(in memory)", model_dir="(none)")
  cfg = cfg.replace(model=models.model_name(cfg))
  cfg, note = size_settings.resolve(cfg, len(audio))
  print(f"{experiment}: {note or 'settings given'}", flush=True)
  keras.utils.set_random_seed(cfg.train.seed)
  batch, steps = cfg.data.batch_size, len(audio) // cfg.data.batch_size
  model = models.build_training_model(cfg)
  model.compile(optimizer=make_optimizer(cfg.train, steps * cfg.train.epochs))
  models.initialize_from_data(model, [{"audio": audio, "visual": visual}])
  label_ids = tf.RaggedTensor.from_row_lengths(
      cols.astype(np.int32), np.bincount(rows, minlength=len(audio)))
  ds = tf.data.Dataset.from_tensor_slices({"audio": audio, "visual": visual,
                                           "label_ids": label_ids})
  ds = ds.shuffle(len(audio), seed=cfg.train.seed, reshuffle_each_iteration=True).repeat()

  def model_batch(b):
    hot = tf.reduce_max(tf.one_hot(b["label_ids"], num_classes, dtype=tf.float32), axis=1)
    return {"audio": b["audio"], "visual": b["visual"], "labels": hot,
            "num_frames": tf.zeros([batch], tf.int32)}

  ds = ds.batch(batch, drop_remainder=True).map(model_batch).prefetch(4)
  model.fit(ds, epochs=cfg.train.epochs, steps_per_epoch=steps, verbose=0)
  return (model.get_layer(models.AUDIO_ENCODER_NAME),
          model.get_layer(models.VISUAL_ENCODER_NAME), cfg.to_dict())


def unit(x):
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@functools.lru_cache(maxsize=64)
def _pools(n, pool, seed):
  """The pools of ``metrics.cross_modal_retrieval`` (drawn once per set, size, seed)."""
  return candidate_pools(n, pool, seed)


def _pooled_ranks(scores, pools):
  """Ranks of the true match (column 0 of ``pools``) as ``metrics`` counts them."""
  sims = np.take_along_axis(scores, pools, axis=1)
  true = sims[:, 0]
  ranks = np.count_nonzero((sims >= true[:, None]) | np.isnan(sims), axis=1)
  return np.where(np.isfinite(true), np.maximum(ranks, 1), sims.shape[1])


def retrieval_row(audio, visual, seeds, pools=(256, 1000), hub_weight=0.0):
  """The COLUMNS of two [N, E] embedding sets, averaged over seeded pools.

  The same figures as ``metrics.cross_modal_retrieval`` with these pools
  (each seed's pools are drawn once and serve every model and direction).
  ``hub_weight`` > 0 ranks as ``yt8m-search`` does in an index of the set
  (cosine - w * hubness).
  """
  audio, visual = np.asarray(audio, np.float32), np.asarray(visual, np.float32)
  scores = {"a2v": audio @ visual.T, "v2a": visual @ audio.T}
  if hub_weight:
    audio_hub, visual_hub = hubness.hubness_pair(audio, visual)
    scores["a2v"] = scores["a2v"] - np.float32(hub_weight) * visual_hub[None, :]
    scores["v2a"] = scores["v2a"] - np.float32(hub_weight) * audio_hub[None, :]
  row = {}
  for pool in pools:
    pool = min(pool, len(audio) - 1)
    ranks = {d: [_pooled_ranks(s, _pools(len(audio), pool, seed)) for seed in range(seeds)]
             for d, s in scores.items()}
    for name, p, direction, k in COLUMNS:
      if min(p, len(audio) - 1) != pool:
        continue
      if k == "median":
        row[name] = float(np.mean([np.median(r) for r in ranks[direction]]))
      else:
        row[name] = float(np.mean([np.mean(r <= k) for r in ranks[direction]]))
  return row


def both(row, column):
  """Mean of the a->v and v->a figures of ``column`` (e.g. ``r1@256``)."""
  return (row[f"a2v_{column}"] + row[f"v2a_{column}"]) / 2


def fit_cca(train, validation, seeds):
  """The CCA of the grid with the best validation R@1 at 256 (both directions).

  Returns ``(fit, weight, chosen settings)``; the settings say whether the
  best sits at an edge of the grid.
  """
  best = None
  for reg in CCA_GRID["reg"]:
    fit = cca_lib.fit_cca(*train, max(CCA_GRID["dims"]), reg=reg)
    projected = fit.audio(validation[0]), fit.visual(validation[1])
    for dims in CCA_GRID["dims"]:
      for power in CCA_GRID["power"]:
        weight = fit.correlations[:dims] ** power
        row = retrieval_row(unit(projected[0][:, :dims] * weight),
                            unit(projected[1][:, :dims] * weight), seeds, pools=(256,))
        score = both(row, "r1@256")
        if best is None or score > best[0]:
          best = (score, reg, dims, power)
  _, reg, dims, power = best
  fit = cca_lib.fit_cca(*train, dims, reg=reg)
  chosen = dict(reg=reg, dims=dims, power=power)
  edges = [k for k, v in chosen.items()
           if len(CCA_GRID[k]) > 1 and v in (CCA_GRID[k][0], CCA_GRID[k][-1]) and k != "dims"]
  if edges:
    chosen["at_grid_edge"] = edges
  return fit, fit.correlations ** power, chosen


def project_cca(fit, weight, features):
  return unit(fit.audio(features[0]) * weight), unit(fit.visual(features[1]) * weight)


def train_row(name, work_dir, train_files, experiment, epochs):
  """Trains with ``jobs.train.train``; returns (audio encoder, visual encoder, config.json)."""
  model_dir = os.path.join(work_dir, "runs", name)
  if tf.io.gfile.exists(model_dir):
    tf.io.gfile.rmtree(model_dir)
  cfg = experiments.get(experiment, train_data=",".join(train_files), model_dir=model_dir)
  if epochs:
    cfg = cfg.replace(epochs=epochs)
  train(cfg)
  model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
  with open(os.path.join(model_dir, "config.json")) as f:
    resolved = json.load(f)
  return (model.get_layer(models.AUDIO_ENCODER_NAME),
          model.get_layer(models.VISUAL_ENCODER_NAME), resolved)


def encode(encoders, features):
  a_enc, v_enc = encoders[:2]
  a = a_enc.predict(features[0], batch_size=1024, verbose=0)["embedding"]
  v = v_enc.predict(features[1], batch_size=1024, verbose=0)["embedding"]
  return np.asarray(a), np.asarray(v)


def picked(resolved):
  """The size-dependent settings a run picked (from its config.json)."""
  return {k: resolved[s][k] for s, k in (("data", "batch_size"), ("train", "epochs"),
                                         ("train", "learning_rate"))}


def print_curve(points, target):
  """Prints the learning curve and, from its last step, the extrapolation."""
  columns = ("r1@256", "r1@1000", "med@1000")
  print(f"\n{'videos':>8}" + "".join(f"{m + ' ' + c:>18}" for m in ("cca", "ours")
                                     for c in columns))
  for p in points:
    print(f"{p['videos']:>8}" + "".join(
        f"{p[m]['a2v_' + c]:>9.3f}/{p[m]['v2a_' + c]:<8.3f}" for m in ("cca", "ours")
        for c in columns))
  if len(points) >= 2:
    a, b = points[-2], points[-1]
    for m in ("cca", "ours"):
      gain = (both(b[m], "r1@256") - both(a[m], "r1@256")) / np.log2(b["videos"] / a["videos"])
      need = (b["videos"] * 2 ** ((target - both(b[m], "r1@256")) / gain)
              if gain > 0 else float("inf"))
      print(f"{m}: {gain:+.3f} R@1@256 per doubling of the videos over the last step; "
            f"R@1@256 {target} at about {need:,.0f} videos if that gain held")
  for p in points:
    margin = both(p["ours"], "r1@256") - both(p["cca"], "r1@256")
    print(f"{p['videos']:>8} videos: ours - CCA = {margin:+.3f} R@1@256 (mean of both "
          f"directions); ours picked {p['ours_settings']}, CCA {p['cca_settings']}")


def plot_curve(points, png, test_videos):
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
  fig.suptitle(f"Test shards: {test_videos:,} real videos, 20 seeded pools per point")
  fig.tight_layout()
  tmp = png + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  os.replace(tmp, png)
  print(f"wrote {png}")


def print_table(table):
  print(f"{'model':<22}" + "".join(f"{c:>13}" for c, _, _, _ in COLUMNS))
  for name, row in table.items():
    print(f"{name:<22}" + "".join(
        f"{row[c]:>13.3f}" if c in row else f"{'-':>13}" for c, _, _, _ in COLUMNS))


def run_ablation(args, data, train_files):
  names = list(VARIANTS) if args.ablation == "all" else args.ablation.split(",")
  unknown = [n for n in names if n not in VARIANTS]
  if unknown:
    sys.exit(f"error: --ablation: unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
  table, seconds = {}, {}
  for name in names:
    t0 = time.time()
    encoders = fit_in_memory(VARIANTS[name], data["train"])
    validation = encode(encoders, data["validation"])
    table[name] = retrieval_row(*validation, args.seeds)
    table[name + "_hub"] = retrieval_row(*validation, args.seeds, pools=(256,),
                                         hub_weight=HUB_WEIGHT)
    seconds[name] = round(time.time() - t0)
    print(f"{name}: {seconds[name]}s " + json.dumps(
        {k: round(v, 4) for k, v in table[name].items()}), flush=True)
    print(f"{name}_hub: " + json.dumps(
        {k: round(v, 4) for k, v in table[name + "_hub"].items()}), flush=True)
  print()
  print_table(table)
  print(json.dumps({"ablation": {k: {c: round(v, 4) for c, v in r.items()}
                                 for k, r in table.items()}, "seconds": seconds}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=os.path.normpath(os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")))
  parser.add_argument("--work_dir", default="/tmp/yt8m_real")
  parser.add_argument("--test_shards", type=int, default=20)
  parser.add_argument("--validation_shards", type=int, default=10)
  parser.add_argument("--rows", default="cca_mean,ours",
                      help="comma-separated rows to run: cca_mean, ours, video_mlp (the published "
                      "baseline, not run by default)")
  parser.add_argument("--epochs", type=int, default=0,
                      help="epochs of 'ours' (0: what yt8m-train picks)")
  parser.add_argument("--mlp_epochs", type=int, default=20)
  parser.add_argument("--seeds", type=int, default=20, help="seeded pools per figure")
  parser.add_argument("--ablation", default="",
                      help="comma-separated VARIANTS of ours (or 'all') to train and score "
                      "on the validation shards instead of the rows")
  parser.add_argument("--learning_curve", default="15,30,60",
                      help="comma-separated numbers of training shards below all of them: "
                      "the CCA and ours are also trained on the first N shards and scored on "
                      "the test shards ('' for none)")
  parser.add_argument("--target", type=float, default=0.35,
                      help="R@1 at 256 the learning curve extrapolates to")
  parser.add_argument("--png", default="", help="where the learning curve is drawn")
  args = parser.parse_args()
  start = time.time()
  rows = set(filter(None, args.rows.split(",")))
  train_files, val_files, test_files = split_shards(args.data_dir, args.test_shards,
                                                    args.validation_shards)
  data = {"train": mean_features(train_files, labels=bool(args.ablation)),
          "validation": mean_features(val_files)}
  if not args.ablation:  # The ablation never reads the test shards.
    data["test"] = mean_features(test_files)
  print(f"2018 shards: train {shard_range(train_files)} ({len(train_files)} shards, "
        f"{len(data['train'][0])} videos), validation {shard_range(val_files)} "
        f"({len(val_files)}, {len(data['validation'][0])}), test {shard_range(test_files)} "
        f"({len(test_files)}{', not read' if args.ablation else ''})", flush=True)
  if args.ablation:
    run_ablation(args, data, train_files)
    return
  release_2017 = pipeline.list_files(os.path.join(args.data_dir, "yt8m-2017-video",
                                                  "*.tfrecord"))
  data["2017"] = mean_features(release_2017, config_lib.NUM_CLASSES_2017)
  print(f"2017 records: {len(data['2017'][0])} videos", flush=True)
  sizes = sorted({int(n) for n in args.learning_curve.split(",") if n})
  if any(not 0 < n < len(train_files) for n in sizes):
    sys.exit(f"error: --learning_curve={args.learning_curve}: each size must be in "
             f"[1, {len(train_files) - 1}] (there are {len(train_files)} training shards)")
  table, notes, seconds, points = {}, {}, {}, []
  for shards in sizes + [len(train_files)]:
    full = shards == len(train_files)
    files = train_files[:shards]
    subset = data["train"] if full else mean_features(files)
    point = {"shards": shards, "videos": len(subset[0])}
    if "cca_mean" in rows or not full:
      t0 = time.time()
      fit, weight, chosen = fit_cca(subset, data["validation"], max(1, args.seeds // 4))
      test = project_cca(fit, weight, data["test"])
      point["cca"], point["cca_settings"] = retrieval_row(*test, args.seeds), chosen
      if full:
        table["cca_mean"] = point["cca"]
        table["cca_mean_hub"] = retrieval_row(*test, args.seeds, hub_weight=HUB_WEIGHT)
        table["cca_mean_on_2017"] = retrieval_row(*project_cca(fit, weight, data["2017"]),
                                                  args.seeds)
        notes["cca_mean"] = chosen
        seconds["cca_mean"] = round(time.time() - t0)
    if "ours" in rows or not full:
      t0 = time.time()
      encoders = train_row(f"ours_{shards}_shards", args.work_dir, files, "video_residual",
                           args.epochs)
      test = encode(encoders, data["test"])
      point["ours"], point["ours_settings"] = (retrieval_row(*test, args.seeds),
                                               picked(encoders[2]))
      if full:
        table["ours"] = point["ours"]
        table["ours_hub"] = retrieval_row(*test, args.seeds, hub_weight=HUB_WEIGHT)
        table["ours_on_2017"] = retrieval_row(*encode(encoders, data["2017"]), args.seeds)
        notes["ours"] = point["ours_settings"]
        seconds["ours"] = round(time.time() - t0)
    if "cca" in point and "ours" in point:
      points.append(point)
      print(f"{shards} shards, {point['videos']} videos: R@1@256 CCA "
            f"{point['cca']['a2v_r1@256']:.3f}/{point['cca']['v2a_r1@256']:.3f}, ours "
            f"{point['ours']['a2v_r1@256']:.3f}/{point['ours']['v2a_r1@256']:.3f} "
            f"({time.time() - start:.0f}s)", flush=True)
  if "video_mlp" in rows:
    t0 = time.time()
    encoders = train_row("video_mlp", args.work_dir, train_files, "video_mlp", args.mlp_epochs)
    table["video_mlp"] = retrieval_row(*encode(encoders, data["test"]), args.seeds)
    seconds["video_mlp"] = round(time.time() - t0)
  table["paper (2017, reported)"] = dict(PAPER)
  print()
  print_table(table)
  if points:
    print_curve(points, args.target)
    if args.png:
      plot_curve(points, args.png, len(data["test"][0]))
  print(f"chosen: {notes}; total {time.time() - start:.0f}s")
  print(json.dumps({"tables": {k: {c: round(v, 4) for c, v in r.items()} for k, r in table.items()},
                    "learning_curve": points, "settings": notes, "seconds": seconds,
                    "total_seconds": round(time.time() - start),
                    "videos": {k: len(v[0]) for k, v in data.items()},
                    "shards": {"train": shard_range(train_files),
                               "validation": shard_range(val_files),
                               "test": shard_range(test_files)}}))


if __name__ == "__main__":
  main()
