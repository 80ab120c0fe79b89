"""Synchronization ablation: CCA baseline, today's default, then each idea.

Writes a training set of one ``yt8m-synth`` family (``--preset``), draws a
held-out test set in memory (another seed), trains one small model per
variant with :func:`yt8m_crossmodal.jobs.train.train` and prints one table.

Columns, per protocol (20 s audio excerpts, true offsets in [-5, 5]):

- ``cut``: the excerpt is cut from the audio timeline of the whole video;
- ``own``: the excerpt's uint8 features are encoded on their own (as
  :func:`yt8m_crossmodal.evaluation.sync.sync_from_encoded_excerpts` does);

sync exact / within 1 s over the tasks of videos whose audio is aligned,
clip R@1 audio -> visual (``--pool`` candidates at most) and, when some test
soundtracks are unaligned (``music_over``), the ROC AUC of the estimator's
confidence (aligned vs not, ``own`` protocol) and the accuracy of
``confidence >= --threshold``. Every model is scored with both offset
scorers of :mod:`yt8m_crossmodal.sync.statistics` (``mean_cosine``: today's;
``centered``); the CCA baseline too (one per-second linear map, so both
protocols coincide).

  python benchmarks/sync_ablation.py --preset=events --work_dir=/tmp/sync_ab
"""

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from yt8m_crossmodal import config as config_lib  # noqa: E402
from yt8m_crossmodal import experiments  # noqa: E402
from yt8m_crossmodal import models  # noqa: E402
from yt8m_crossmodal.data import features as feat  # noqa: E402
from yt8m_crossmodal.data import synthetic  # noqa: E402
from yt8m_crossmodal.jobs import synth as synth_job  # noqa: E402
from yt8m_crossmodal.evaluation import metrics  # noqa: E402
from yt8m_crossmodal.evaluation import sync as sync_eval  # noqa: E402
from yt8m_crossmodal.evaluation.encode import keras_encode_fn  # noqa: E402
from yt8m_crossmodal.jobs.train import train  # noqa: E402
from yt8m_crossmodal import cca as cca_lib  # noqa: E402
from yt8m_crossmodal.sync import statistics  # noqa: E402

# Each variant (a row of the table) is a named configuration of
# yt8m_crossmodal.experiments, over today's defaults (config.py): a linear
# per-second local timeline trained with the per-second contrastive loss, its
# mean row added to the clip embedding. "fused": the timeline is the shared
# projection of the fused LSTM strides, trained with temporal triplets.
VARIANTS = {
    "default": "default",
    "fused": "fused_timeline",
    # The fused (LSTM) timeline with the sync loss can learn a clock (time
    # since the start of the clip): compare its cut and own columns.
    "fused+sync_loss": "fused_timeline_sync_loss",
    "fused+nce": "fused_timeline_nce",
    "local+triplets": "temporal_triplets",
    "local+sync_loss": "temporal_triplets_sync_loss",
    "local+sync_loss+near_negatives": "temporal_triplets_sync_loss_near_negatives",
    "local+sync_loss+reweight": "temporal_triplets_sync_loss_reweight",
    "default+temporal": "nce_and_temporal_triplets",
    "default+sync_loss": "nce_and_sync_loss",
    "local_mlp": "local_timeline_mlp",
    "local_k3": "local_timeline_k3",
    "nce_t0.05": "nce_temperature_0.05",
    # bfloat16 compute (for accelerators): its effect on quality.
    "default_bf16": "bfloat16",
    # The clip embedding: the LSTM clip alone, or with the mean timeline row
    # at weight 2 or 4 (the default: 1).
    "clip_lstm_only": "lstm_clip",
    "clip_tl2": "clip_timeline_weight_2",
    # Clip retrieval: all triplets instead of semi-hard.
    "mining_all": "mining_all",
    "clip_tl4": "clip_timeline_weight_4",
}
SCORERS = ("mean_cosine", "centered", "double_centered")


def synth_config(args, **kw):
  return synthetic.SynthConfig(preset=args.preset, min_frames=args.min_frames,
                               max_frames=args.max_frames, **kw)


def write_train(args):
  out = os.path.join(args.work_dir, f"{args.preset}_train_n{args.train_videos}_"
                     f"{args.min_frames}_{args.max_frames}_s{args.seed}")
  if not tf.io.gfile.exists(os.path.join(out, "train_offsets.json")):
    synth_job.write_dataset(synth_config(
        args, output_dir=out, prefix="train", num_videos=args.train_videos,
        num_shards=4, seed=args.seed))
  return os.path.join(out, "*.tfrecord")


def test_videos(args):
  cfg = synth_config(args, prefix="test", num_videos=args.test_videos,
                     seed=args.seed + 1000)
  return list(synthetic.generate_videos(cfg))


def train_seconds(args):
  cfg = synth_config(args, prefix="train", num_videos=args.train_videos,
                     seed=args.seed)
  for v in synthetic.generate_videos(cfg):
    if v.related:
      yield feat.dequantize(v.audio), feat.dequantize(v.visual)


def score_sync(tasks, audio_excerpts, visual_timelines, related, args, scorer):
  """Sync metrics over aligned videos' tasks, confidence AUC / accuracy."""
  est, conf = [], []
  for (i, t0, d), excerpt in zip(tasks, audio_excerpts):
    r = statistics.estimate_offset(excerpt, visual_timelines[i], t0, args.max_offset,
                                  scorer=scorer)
    est.append(r.offset)
    conf.append(r.confidence)
  est, conf = np.array(est), np.array(conf)
  aligned = related[tasks[:, 0]]
  out = sync_eval.sync_metrics(est[aligned], tasks[aligned, 2])
  if not aligned.all():
    out["conf_auc"] = statistics.roc_auc(conf, aligned)
    out["conf_acc"] = float(np.mean((conf >= args.threshold) == aligned))
    # The best threshold on this set (optimistic: chosen on the test set; it
    # tells how far the default threshold is from the best one).
    out["conf_best_threshold"], out["conf_best_acc"] = statistics.best_threshold(conf, aligned)
  return out


def clip_r1(audio_emb, visual_emb, args):
  norm = lambda z: z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-8)
  pool = min(args.pool, len(audio_emb))
  res = metrics.cross_modal_retrieval(norm(audio_emb), norm(visual_emb), ks=(1,),
                                      pool_size=pool, seed=0)
  return res["a2v/recall@1"]


def evaluate_cca(videos, tasks, related, args):
  a, v = cca_lib.stack_seconds(train_seconds(args), max_seconds=200000)
  model = cca_lib.fit_cca(a, v, args.cca_dims, reg=args.cca_reg)
  audio = [model.audio(feat.dequantize(x.audio)) for x in videos]
  visual = [model.visual(feat.dequantize(x.visual)) for x in videos]
  excerpts = [audio[i][t0 + d:t0 + d + args.excerpt] for i, t0, d in tasks]
  r1 = clip_r1(np.stack([x.mean(0) for x in audio]), np.stack([x.mean(0) for x in visual]),
               args)
  rows = {}
  for scorer in SCORERS:
    s = score_sync(tasks, excerpts, visual, related, args, scorer)
    rows[f"cca{args.cca_dims}/{scorer}"] = {"cut": s, "own": s, "clip_r1": r1}
  return rows


def encode_all(encoder, arrays, batch=32):
  """Encodes uint8 [T_i, D] arrays one length-sorted batch at a time."""
  fn = keras_encode_fn(encoder)
  order = np.argsort([len(x) for x in arrays])
  emb, tl = [None] * len(arrays), [None] * len(arrays)
  for start in range(0, len(arrays), batch):
    idx = order[start:start + batch]
    lengths = np.array([len(arrays[i]) for i in idx], np.int32)
    x = np.zeros((len(idx), lengths.max(), arrays[idx[0]].shape[1]), np.float32)
    for j, i in enumerate(idx):
      x[j, :lengths[j]] = feat.dequantize(arrays[i])
    e, t = fn(x, lengths)
    for j, i in enumerate(idx):
      emb[i], tl[i] = e[j], t[j, :lengths[j]]
  return np.stack(emb), tl


def evaluate_model(model_dir, videos, tasks, related, args):
  model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
  enc_a = model.get_layer(models.AUDIO_ENCODER_NAME)
  enc_v = model.get_layer(models.VISUAL_ENCODER_NAME)
  a_emb, a_tl = encode_all(enc_a, [x.audio for x in videos])
  v_emb, v_tl = encode_all(enc_v, [x.visual for x in videos])
  cut = [a_tl[i][t0 + d:t0 + d + args.excerpt] for i, t0, d in tasks]
  # Protocol 2: the excerpt's features, encoded alone.
  _, own = encode_all(enc_a, [videos[i].audio[t0 + d:t0 + d + args.excerpt]
                              for i, t0, d in tasks])
  r1 = clip_r1(a_emb, v_emb, args)
  return {scorer: {"cut": score_sync(tasks, cut, v_tl, related, args, scorer),
                   "own": score_sync(tasks, own, v_tl, related, args, scorer),
                   "clip_r1": r1} for scorer in SCORERS}


def same_config(model_dir, cfg):
  """Whether ``model_dir`` holds a finished model trained with ``cfg``."""
  path = os.path.join(model_dir, "config.json")
  if not tf.io.gfile.exists(os.path.join(model_dir, "final_metrics.json")):
    return False
  return config_lib.load_config(path).to_dict() == cfg.to_dict()


def base_config(args):
  u = args.units
  return config_lib.Config().replace(
      batch_size=args.batch_size, epochs=args.epochs, learning_rate=2e-3,
      warmup_steps=50, lstm_units=u, projection_units=u, embedding_size=u,
      lstm_layers=args.lstm_layers, validation_data="", num_classes=3862,
      seed=args.train_seed, max_frames=args.max_frames)


def format_table(rows, has_conf):
  cols = ["cut_exact", "cut_w1", "own_exact", "own_w1", "clip_r1"]
  if has_conf:
    cols += ["conf_auc", "conf_acc", "best_thr", "best_acc"]
  lines = [f"{'row':<34}" + "".join(f"{c:>10}" for c in cols)]
  for name, r in rows.items():
    vals = [r["cut"]["sync/exact"], r["cut"]["sync/within_1s"], r["own"]["sync/exact"],
            r["own"]["sync/within_1s"], r["clip_r1"]]
    if has_conf:
      vals += [r["own"].get(k, np.nan) for k in ("conf_auc", "conf_acc",
                                                   "conf_best_threshold", "conf_best_acc")]
    lines.append(f"{name:<34}" + "".join(f"{v:>10.3f}" for v in vals))
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="events",
                      choices=("texture", "events", "music_over"))
  parser.add_argument("--work_dir", default="/tmp/sync_ablation")
  parser.add_argument("--train_videos", type=int, default=1500)
  parser.add_argument("--test_videos", type=int, default=300)
  parser.add_argument("--min_frames", type=int, default=60)
  parser.add_argument("--max_frames", type=int, default=120)
  parser.add_argument("--epochs", type=int, default=6)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--units", type=int, default=64)
  parser.add_argument("--lstm_layers", type=int, default=1)
  parser.add_argument("--cca_dims", type=int, default=32)
  parser.add_argument("--cca_reg", type=float, default=1.0,
                      help="CCA ridge, relative to the mean variance (1.0: near the best "
                      "of a grid on these test sets; 1e-3 is weaker)")
  parser.add_argument("--pool", type=int, default=1000)
  parser.add_argument("--excerpt", type=int, default=20)
  parser.add_argument("--max_offset", type=int, default=5)
  parser.add_argument("--threshold", type=float, default=3.0,
                      help="confidence threshold for 'aligned'")
  parser.add_argument("--seed", type=int, default=1, help="data seed")
  parser.add_argument("--train_seed", type=int, default=1)
  parser.add_argument("--reuse", default="",
                      help="comma-separated variants to load instead of retraining "
                      "when a finished run with the same config exists")
  parser.add_argument("--variants", default="fused,default",
                      help=f"comma-separated, from {list(VARIANTS)}; 'none' for CCA only")
  args = parser.parse_args()
  start = time.time()
  os.makedirs(args.work_dir, exist_ok=True)
  pattern = write_train(args)
  videos = test_videos(args)
  related = np.array([v.related for v in videos])
  tasks, _ = sync_eval.make_sync_tasks([len(v.audio) for v in videos], args.max_offset,
                                     args.excerpt, seed=0)
  print(f"data ready in {time.time() - start:.0f}s; {len(tasks)} sync tasks, "
        f"{int((~related).sum())} unaligned test videos", flush=True)
  rows = evaluate_cca(videos, tasks, related, args)
  base = base_config(args)
  for name in filter(None, args.variants.split(",")):
    if name == "none":
      continue
    t0 = time.time()
    model_dir = os.path.join(args.work_dir, "runs", f"{args.preset}_{name}")
    cfg = experiments.get(VARIANTS[name], base, train_data=pattern, model_dir=model_dir)
    if name in args.reuse.split(",") and same_config(model_dir, cfg):
      print(f"{name}: reusing {model_dir}", flush=True)
    else:
      if tf.io.gfile.exists(model_dir):
        tf.io.gfile.rmtree(model_dir)
      train(cfg)
    for scorer, row in evaluate_model(model_dir, videos, tasks, related, args).items():
      rows[f"{name}/{scorer}"] = row
    print(f"{name}: {time.time() - t0:.0f}s", flush=True)
    print(format_table(rows, not related.all()), flush=True)
  print(f"preset={args.preset} train_videos={args.train_videos} "
        f"test_videos={args.test_videos} epochs={args.epochs} units={args.units} "
        f"total {time.time() - start:.0f}s")
  print(format_table(rows, not related.all()))
  print(json.dumps({"preset": args.preset, "rows": rows}, default=float))


if __name__ == "__main__":
  main()
