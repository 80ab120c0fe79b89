"""Retrieval and synchronization quality on ``yt8m-synth`` data, model against model.

Writes a training set and a 1000-video evaluation set with ``yt8m-synth``
(the same videos at frame and video level), trains each model with
:func:`yt8m_crossmodal.jobs.train.train` (the ``yt8m-train`` code path) and
scores it on the evaluation set with the shared evaluation code:

- ``cca_mean``: linear CCA on mean features (numpy; ridge ``--cca_reg``);
- ``cca_sync``: per-second linear CCA fitted on training seconds
  (:mod:`yt8m_crossmodal.cca`, 32 dims, ridge ``--cca_reg``): the bar
  for synchronization
  (its timeline is the projection of each second, so both sync protocols
  agree; its clip vector is the mean projection);
- ``video_mlp``: the published video-level baseline (two MLP towers);
- ``lstm_s1``: frame level, one stride (1 s), temporal triplets on;
- ``multi_notemporal``: strides 1, 5, 15, temporal triplets off;
- ``multi_temporal``: strides 1, 5, 15, temporal triplets on the fused
  timeline (ours until the per-second contrastive loss);
- ``multi_nce_lstm_clip``: strides 1, 5, 15 for the clip, a linear
  per-second timeline trained with the per-second contrastive loss;
- ``multi_nce``: the same, with the mean timeline row added to the clip
  embedding (``clip_timeline_weight`` 1: ours).

Every family of ``--families`` (``yt8m-synth --preset``: ``texture``,
``events``, ``music_over``) gets its own data and table.

Columns: clip Recall@1/5/10 in both directions with 1000 candidates, timeline
R@1 (one second against the same second of the 1000 videos), sync exact and
within 1 s in two protocols (20-second audio excerpts, offsets in [-5, 5],
videos whose soundtrack is aligned): ``cut`` = the excerpt cut from the
full-length audio timeline, ``own`` = the excerpt encoded on its own; and
clip R@1 (mean of both directions) after temporal re-ranking of the top 10
by timeline alignment (``yt8m-evaluate``'s re-ranking, alpha 0.5).
The last stdout line is the tables as one JSON object.

  python benchmarks/quality.py --work_dir=/tmp/yt8m_quality --families=texture,events
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
from yt8m_crossmodal.data import pipeline  # noqa: E402
from yt8m_crossmodal.data import synthetic  # noqa: E402
from yt8m_crossmodal.jobs import synth as synth_job  # noqa: E402
from yt8m_crossmodal.data import features as feat  # noqa: E402
from yt8m_crossmodal.evaluation import embedding  # noqa: E402
from yt8m_crossmodal.evaluation import sync as sync_eval  # noqa: E402
from yt8m_crossmodal.evaluation.rerank import rerank_metrics  # noqa: E402
from yt8m_crossmodal.evaluation.encode import keras_encode_fn  # noqa: E402
from yt8m_crossmodal import cca as cca_lib  # noqa: E402
from yt8m_crossmodal.jobs.train import train  # noqa: E402

COLUMNS = ("a2v_r1", "a2v_r5", "a2v_r10", "v2a_r1", "v2a_r5", "v2a_r10",
           "timeline_r1", "cut_exact", "cut_w1", "own_exact", "own_w1", "rerank_r1")
SYNC = dict(max_offset=5, excerpt_seconds=20, seed=0)
# Ours (experiments "per_second_nce"): a linear per-second timeline of its
# own, trained with the per-second contrastive loss (benchmarks/sync_ablation.py);
# the clip embedding adds the mean timeline row to the multi-stride LSTM clip.
OURS_ROW = "multi_nce"


def synth_config(args, family, split, **kw):
  n, seed = (args.train_videos, 1) if split == "train" else (args.eval_videos, 2)
  return synthetic.SynthConfig(preset=family, prefix=split, num_videos=n, num_shards=4,
                               min_frames=args.min_frames, max_frames=args.max_frames,
                               seed=seed, **kw)


def write_data(work_dir, family, args):
  """Train/eval sets of ``family`` at both levels (same seeds: the same videos)."""
  sets = {}
  for split, n, seed in (("train", args.train_videos, 1), ("eval", args.eval_videos, 2)):
    for level in ("frame", "video"):
      out = os.path.join(work_dir, f"{split}_{level}")
      pattern = os.path.join(out, "*.tfrecord")
      sets[(split, level)] = pattern
      try:
        if len(pipeline.list_files(pattern)) == 4:
          continue
      except FileNotFoundError:
        pass
      synth_job.write_dataset(synth_config(args, family, split, output_dir=out,
                                           feature_level=level))
  return sets


def row_from(res):
  pool = [k for k in res if k.startswith("pool")][0].split("/")[0]
  get = lambda k: res.get(f"{pool}/{k}", float("nan"))
  return {
      "a2v_r1": get("a2v/recall@1"), "a2v_r5": get("a2v/recall@5"),
      "a2v_r10": get("a2v/recall@10"), "v2a_r1": get("v2a/recall@1"),
      "v2a_r5": get("v2a/recall@5"), "v2a_r10": get("v2a/recall@10"),
      "timeline_r1": np.nanmean([res.get("timeline/a2v_recall@1", np.nan),
                                 res.get("timeline/v2a_recall@1", np.nan)]),
      "cut_exact": res.get("cut/sync/exact", float("nan")),
      "cut_w1": res.get("cut/sync/within_1s", float("nan")),
      "own_exact": res.get("sync/exact", float("nan")),
      "own_w1": res.get("sync/within_1s", float("nan")),
      "rerank_r1": np.nanmean([res.get("rerank/a2v_recall@1_after", np.nan),
                               res.get("rerank/v2a_recall@1_after", np.nan)]),
      "pool_size": get("pool_size"),
  }


def mean_features(pattern):
  ds = pipeline.make_dataset(pattern, feature_level="video", batch_size=256)
  a, v = [], []
  for b in ds:
    a.append(b["audio"].numpy())
    v.append(b["visual"].numpy())
  return np.concatenate(a), np.concatenate(v)


def evaluate_cca(sets, dims, args):
  a_tr, v_tr = mean_features(sets[("train", "video")])
  a_ev, v_ev = mean_features(sets[("eval", "video")])
  fit = cca_lib.fit_cca(a_tr, v_tr, dims, reg=args.cca_reg)
  norm = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)
  emb = embedding.EmbeddedSet(ids=[str(i) for i in range(len(a_ev))],
                           audio_embedding=norm(fit.audio(a_ev)),
                           visual_embedding=norm(fit.visual(v_ev)),
                           num_frames=np.ones(len(a_ev), np.int32),
                           labels=np.zeros((len(a_ev), 1), np.float32))
  return row_from(embedding.evaluate_embedded(emb, None, pool_sizes=(args.pool,), seed=0))


def aligned_only(emb, aligned_ids):
  """The videos of ``emb`` whose soundtrack is aligned (sync is scored on them)."""
  keep = [i for i, v in enumerate(emb.ids) if v in aligned_ids]
  pick = lambda items: None if items is None else [items[i] for i in keep]
  return embedding.EmbeddedSet(
      ids=[emb.ids[i] for i in keep], audio_embedding=emb.audio_embedding[keep],
      visual_embedding=emb.visual_embedding[keep], num_frames=emb.num_frames[keep],
      labels=emb.labels[keep], audio_timelines=pick(emb.audio_timelines),
      visual_timelines=pick(emb.visual_timelines), audio_features=pick(emb.audio_features))


def sync_rows(emb, encode_audio):
  """Both sync protocols: ``cut/sync/...`` and (with an encoder) ``sync/...``."""
  out = {f"cut/{k}": v for k, v in sync_eval.sync_from_timelines(
      emb.audio_timelines, emb.visual_timelines, emb.num_frames, **SYNC).items()}
  if encode_audio is not None:
    out.update(sync_eval.sync_from_encoded_excerpts(emb, encode_audio, **SYNC))
  return out


def evaluate_cca_sync(family, sets, aligned_ids, args):
  """Per-second CCA fitted on the training seconds, scored like a model."""
  train = synth_config(args, family, "train")
  fit = cca_lib.fit_cca(*cca_lib.stack_seconds(
      ((feat.dequantize(v.audio), feat.dequantize(v.visual))
       for v in synthetic.generate_videos(train) if v.related), max_seconds=200000), 32, reg=args.cca_reg)
  ds = pipeline.make_dataset(sets[("eval", "frame")], batch_size=64, seed=0)
  ids, a_tl, v_tl = [], [], []
  for b in ds:
    for i, n in enumerate(b["num_frames"].numpy()):
      ids.append(b["id"].numpy()[i].decode())
      a_tl.append(fit.audio(feat.dequantize(b["audio"].numpy()[i, :n])))
      v_tl.append(fit.visual(feat.dequantize(b["visual"].numpy()[i, :n])))
  unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
  emb = embedding.EmbeddedSet(
      ids=ids, audio_embedding=unit(np.stack([x.mean(0) for x in a_tl])),
      visual_embedding=unit(np.stack([x.mean(0) for x in v_tl])),
      num_frames=np.array([len(x) for x in a_tl], np.int32),
      labels=np.zeros((len(ids), 1), np.float32),
      audio_timelines=[unit(x) for x in a_tl], visual_timelines=[unit(x) for x in v_tl])
  res = embedding.evaluate_embedded(emb, None, pool_sizes=(args.pool,), seed=0)
  res.update(sync_rows(aligned_only(emb, aligned_ids), None))
  for key in ("sync/exact", "sync/within_1s"):  # A per-second map: both protocols agree.
    res[key] = res[f"cut/{key}"]
  return row_from(res)


def evaluate_model(model_dir, pattern, level, aligned_ids, args):
  model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
  enc_a = keras_encode_fn(model.get_layer(models.AUDIO_ENCODER_NAME))
  enc_v = keras_encode_fn(model.get_layer(models.VISUAL_ENCODER_NAME))
  ds = pipeline.make_dataset(pattern, feature_level=level, batch_size=64)
  emb = embedding.embed_dataset(ds, enc_a, enc_v, keep_audio_features=level == "frame")
  res = embedding.evaluate_embedded(emb, None, pool_sizes=(args.pool,), seed=0)
  if emb.has_timelines:
    res.update(sync_rows(aligned_only(emb, aligned_ids), enc_a))
    res.update(rerank_metrics(emb, top=10, alpha=0.5))
  return row_from(res)


def run_family(family, args):
  """Trains and scores every row on one family; returns (table, seconds)."""
  start = time.time()
  work_dir = os.path.join(args.work_dir, family)
  sets = write_data(work_dir, family, args)
  aligned_ids = {v.id for v in synthetic.generate_videos(synth_config(args, family, "eval"))
                 if v.related}
  print(f"[{family}] data ready in {time.time() - start:.0f}s", flush=True)
  u = args.units
  base = config_lib.Config().replace(
      batch_size=64, epochs=args.epochs, learning_rate=2e-3, warmup_steps=50,
      lstm_units=u, projection_units=u, embedding_size=u, lstm_layers=1,
      temporal_guard=1, validation_data="", num_classes=3862, seed=1)
  # Rows with the timeline of the fused LSTM state, temporal triplets.
  fused = experiments.get("fused_timeline", base)
  rows = {
      "video_mlp": experiments.get("video_mlp", base, audio_tower=(4 * u, 2 * u),
                                   visual_tower=(8 * u, 4 * u), dropout=0.0),
      "lstm_s1": fused.replace(window_strides=(1,)),
      "multi_notemporal": fused.replace(window_strides=(1, 5, 15), temporal_weight=0.0),
      "multi_temporal": fused.replace(window_strides=(1, 5, 15)),
      "multi_nce_lstm_clip": experiments.get("per_second_nce_lstm_clip", base,
                                             window_strides=(1, 5, 15)),
      "multi_nce": experiments.get("per_second_nce", base, window_strides=(1, 5, 15)),
  }
  only = set(filter(None, args.only.split(",")))
  table, seconds = {}, {}
  for name, fn in (("cca_mean", lambda: evaluate_cca(sets, u, args)),
                   ("cca_sync", lambda: evaluate_cca_sync(family, sets, aligned_ids, args))):
    if not only or name in only:
      t0 = time.time()
      table[name] = fn()
      seconds[name] = time.time() - t0
  for name, cfg in rows.items():
    if only and name not in only:
      continue
    t0 = time.time()
    level = cfg.data.feature_level
    model_dir = os.path.join(work_dir, "runs", name)
    tf.io.gfile.rmtree(model_dir) if tf.io.gfile.exists(model_dir) else None
    cfg = cfg.replace(train_data=sets[("train", level)], model_dir=model_dir)
    train(cfg)
    table[name] = evaluate_model(model_dir, sets[("eval", level)], level, aligned_ids, args)
    seconds[name] = time.time() - t0
    print(f"[{family}] {name}: {time.time() - t0:.0f}s", flush=True)
  return table, seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--work_dir", default="/tmp/yt8m_quality")
  parser.add_argument("--families", default="texture,events",
                      help="comma-separated yt8m-synth presets (texture, events, music_over)")
  parser.add_argument("--train_videos", type=int, default=3000)
  parser.add_argument("--eval_videos", type=int, default=1000)
  parser.add_argument("--min_frames", type=int, default=40)
  parser.add_argument("--max_frames", type=int, default=60)
  parser.add_argument("--epochs", type=int, default=12)
  parser.add_argument("--units", type=int, default=128)
  parser.add_argument("--pool", type=int, default=1000)
  parser.add_argument("--only", default="", help="comma-separated rows to run")
  parser.add_argument("--cca_reg", type=float, default=1.0,
                      help="ridge of both CCA rows, relative to the mean variance "
                      "(1.0: at or near the best of a grid on the sync ablation's test sets; "
                      "1e-3 under-regularizes the mean-feature CCA)")
  args = parser.parse_args()
  start = time.time()
  os.makedirs(args.work_dir, exist_ok=True)
  tables, seconds, checks = {}, {}, {}
  for family in filter(None, args.families.split(",")):
    table, secs = run_family(family, args)
    tables[family], seconds[family] = table, {k: round(v) for k, v in secs.items()}
    print(f"\n{family}:")
    print(f"{'model':<18}" + "".join(f"{c:>12}" for c in COLUMNS))
    for name, row in table.items():
      print(f"{name:<18}" + "".join(
          f"{row[c]:>12.3f}" if np.isfinite(row[c]) else f"{'-':>12}" for c in COLUMNS))
    ours, bar = table.get(OURS_ROW), table.get("cca_sync")
    if ours:
      others = [r["a2v_r1"] + r["v2a_r1"] for n, r in table.items() if n != OURS_ROW]
      checks[f"{family}/ours_best_clip_r1"] = bool(
          all(ours["a2v_r1"] + ours["v2a_r1"] > o for o in others))
    if ours and bar:
      for proto in ("cut", "own"):
        checks[f"{family}/ours_sync_{proto}_beats_cca_sync"] = bool(
            ours[f"{proto}_exact"] > bar[f"{proto}_exact"])
  print(f"total {time.time() - start:.0f}s; checks: {checks}")
  clean = {f: {n: {k: (round(float(v), 4) if np.isfinite(v) else None) for k, v in r.items()}
               for n, r in t.items()} for f, t in tables.items()}
  print(json.dumps({"tables": clean, "checks": checks, "seconds": seconds,
                    "total_seconds": round(time.time() - start), "candidates": args.pool,
                    "train_videos": args.train_videos}))


if __name__ == "__main__":
  main()
