"""Benchmark of timeline storage: re-ranking and localization vs bytes per second.

Standalone script::

    python benchmarks/timelines.py                     # trains a small model first
    python benchmarks/timelines.py --export_dir=saved_models/temporal \\
        --data='data/validate/*.tfrecord'              # your model and records

Without ``--export_dir``, a small model is trained and exported with the
command-line tools into ``--work_dir`` (kept, and reused by the next run):
``yt8m-synth --preset=<preset>`` (``--train_videos`` and ``--eval_videos`` of
40 to 60 s), ``yt8m-train`` with the demo's settings (64 units, E = 64,
strides 1/5/15, ``--epochs``) and ``yt8m-export``.

The evaluation videos are embedded once with float32 timelines
(``yt8m_crossmodal.jobs.embed.embed_corpus``); the same timelines are
then stored in each format of ``--formats`` (``float16``, ``int8``,
``int8/P`` = int8 pooled over P seconds) with ``write_catalogue``, read back
memory-mapped with ``load_catalogue``, and scored against float32 with the
search code itself:

* **re-rank R@1**: each video's full query timeline (float32, as
  ``yt8m-search`` computes it) re-ranks its top ``--rerank`` clip
  candidates (exact search) with ``rerank_by_timeline`` (alpha
  ``--alpha``); R@1 averaged over a->v and v->a;
* **localization**: a ``--clip_seconds`` audio excerpt of each long enough
  video, at a random start, encoded on its own through the export, is
  placed in its own video's visual timeline with ``localize``: the share
  found at the exact second, and within 1 s;
* **agreement with float32**: the share of queries whose re-ranked top-1,
  and of excerpts whose start, is the one float32 gives (sharper than the
  accuracies when they are near their ceiling);
* **bytes per video-second**: the timeline files' bytes over the valid
  seconds (both modalities; the dense formats also pay for the padding to
  ``max_frames``, 300 s, which these 40-60 s videos make large), and for
  YouTube-8M at E = 256: ``2 (E + 4) / P`` for int8, ``2 * 300 * E *
  itemsize / 230`` for the dense formats (videos of 230 s on average padded
  to 300), times 6.1 M videos x 230 s.

With ``--latency_videos``, each format also stores a random E = 256
catalogue of videos of 230 s and times ``rerank_by_timeline`` of
``--latency_top`` random candidates (the formats take turns; best of 5
rounds of the median of 10 queries).

The target: every int8 format within ``--target`` (0.005) of float32 on both
figures. The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# pylint: disable=wrong-import-position
from yt8m_crossmodal import retrieval  # noqa: E402
from yt8m_crossmodal.data import features as feat  # noqa: E402
from yt8m_crossmodal.retrieval import compact_timelines as compact  # noqa: E402
from yt8m_crossmodal.jobs import embed as embed_job  # noqa: E402
from yt8m_crossmodal.serving.loading import load_export  # noqa: E402

YT8M_VIDEOS = 6_100_000
YT8M_MEAN_SECONDS = 230


def _log(msg: str) -> None:
  print(msg, flush=True)


def _tool(name: str, *args: str) -> None:
  """Runs a command-line tool of the same environment (its output to a log)."""
  exe = os.path.join(os.path.dirname(sys.executable), name)
  proc = subprocess.run([exe, "--noprogress", *args], capture_output=True, text=True)
  if proc.returncode:
    raise SystemExit(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def _prepare(args) -> None:
  """Trains and exports the small model into --work_dir unless it is there."""
  work = args.work_dir
  export = os.path.join(work, "export")
  if os.path.isdir(export):
    _log(f"reusing {export}")
    return
  for prefix, n, seed in (("train", args.train_videos, 1), ("eval", args.eval_videos, 2)):
    if not os.path.isdir(os.path.join(work, prefix)):
      _log(f"yt8m-synth: {n} {args.preset} videos -> {work}/{prefix}")
      _tool("yt8m-synth", f"--output_dir={work}/{prefix}", f"--prefix={prefix}",
            f"--num_videos={n}", "--num_shards=2", "--min_frames=40", "--max_frames=60",
            f"--seed={seed}", f"--preset={args.preset}")
  t = time.time()
  _log(f"yt8m-train: {args.epochs} epochs (demo settings)")
  _tool("yt8m-train", f"--train_data={work}/train/*.tfrecord", f"--model_dir={work}/model",
        f"--epochs={args.epochs}", "--batch_size=64", "--learning_rate=2e-3",
        "--warmup_steps=30", "--lstm_layers=1", "--lstm_units=64", "--projection_units=64",
        "--embedding_size=64", "--window_strides=1,5,15", "--temporal_guard=1")
  _log(f"  trained in {time.time() - t:.0f}s")
  _tool("yt8m-export", f"--model_dir={work}/model", f"--export_dir={export}")


def _rerank_top1(queries: retrieval.Catalogue, cat: retrieval.Catalogue, top: int,
                 alpha: float) -> np.ndarray:
  """Top-1 after re-ranking, per query of a->v then v->a (queries: float32 timelines)."""
  first = []
  for query, target in (("audio", "visual"), ("visual", "audio")):
    scores, indices = retrieval.exact_search(queries.embeddings(query),
                                             cat.embeddings(target), top)
    timelines = queries.timelines(query)
    for i in range(cat.size):
      n = int(queries.num_frames[i])
      result = retrieval.rerank_by_timeline(np.asarray(timelines[i, :n]), n, indices[i], cat,
                                            scores[i], alpha, modality=target)
      first.append(result.indices[0])
  return np.array(first)


def _excerpts(exp, data: str, seconds: int, seed: int):
  """Each long enough video's audio excerpt, encoded on its own: (rows, starts, timelines)."""
  rng = np.random.default_rng(seed)
  encode = exp.encode_fn("audio")
  rows, starts, timelines = [], [], []
  row = 0
  for batch in exp.read_records(data, 64, file_order=True):
    audio = batch["audio"].numpy()
    num_frames = batch["num_frames"].numpy()
    keep = np.flatnonzero(num_frames >= seconds + 1)
    if keep.size:
      s = np.array([rng.integers(0, num_frames[j] - seconds + 1) for j in keep])
      clips = np.stack([audio[j, a:a + seconds] for j, a in zip(keep, s)])
      _, tl = encode(feat.to_float(clips), np.full(keep.size, seconds, np.int32))
      rows += (row + keep).tolist()
      starts += s.tolist()
      timelines.append(tl)
    row += len(num_frames)
  return np.array(rows), np.array(starts), np.concatenate(timelines)


def _localize_all(cat: retrieval.Catalogue, rows, timelines) -> np.ndarray:
  """The start found for each excerpt in its own video's visual timeline."""
  return np.array([retrieval.localize(tl, cat.timelines("visual")[np.array([r])],
                                      cat.num_frames[np.array([r])], tl.shape[0])[0][0]
                    for r, tl in zip(rows, timelines)])


def _timeline_bytes(path: str, meta: Dict[str, Any]) -> int:
  names = ([compact.rows_file(m) for m in retrieval.MODALITIES] +
           [compact.scales_file(m) for m in retrieval.MODALITIES]
           if meta["timeline_dtype"] == compact.COMPACT_DTYPE else
           [f"{m}_timelines.npy" for m in retrieval.MODALITIES])
  return sum(os.path.getsize(os.path.join(path, n)) for n in names)


def _rerank_latencies(formats, folder: str, videos: int, top: int, seed: int,
                      rounds: int = 5, queries: int = 10) -> Dict[str, float]:
  """Milliseconds to re-rank ``top`` candidates per format, E = 256, 230 s videos.

  A random catalogue of ``videos`` videos is written in each format and read
  memory-mapped (once through first: page cache warm); then the formats take
  turns, ``rounds`` times, each timing ``queries`` queries (230 s timelines)
  that re-rank ``top`` random candidates. The figure is the best round's
  median.
  """
  rng = np.random.default_rng(seed)
  e, t = 256, YT8M_MEAN_SECONDS
  unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  emb = unit(rng.standard_normal((videos, e), dtype=np.float32))
  cats = {}
  for fmt in formats:
    dtype, _, pool = fmt.partition("/")
    path = os.path.join(folder, "latency_" + fmt.replace("/", "_pool"))
    with retrieval.CatalogueWriter(path, e, max_frames=300, timeline_dtype=dtype,
                                   timeline_pool=int(pool or 1), overwrite=True) as writer:
      for s in range(0, videos, 100):
        b = min(100, videos - s)
        tl = unit(rng.standard_normal((b, t, e), dtype=np.float32))
        writer.add([f"v{i}" for i in range(s, s + b)], emb[s:s + b], emb[s:s + b], tl, tl,
                   np.full(b, t))
    cats[fmt] = retrieval.load_catalogue(path)
    for s in range(0, videos, 100):
      retrieval.gather_rows(cats[fmt].timelines("visual"), np.arange(s, min(videos, s + 100)))
  query = unit(rng.standard_normal((t, e), dtype=np.float32))
  best = {fmt: float("inf") for fmt in formats}
  for _ in range(rounds):
    for fmt, cat in cats.items():
      times = []
      for _ in range(queries):
        cand = rng.choice(videos, top, replace=False)
        start = time.perf_counter()
        retrieval.rerank_by_timeline(query, t, cand, cat, np.zeros(top), 0.5, "visual")
        times.append(time.perf_counter() - start)
      best[fmt] = min(best[fmt], 1000 * float(np.median(times)))
  return best


def main(argv=None) -> Dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--export_dir", default="", help="Frame-level export (default: "
                      "train one in --work_dir).")
  parser.add_argument("--data", default="", help="Evaluation records (default: "
                      "--work_dir's).")
  parser.add_argument("--work_dir", default="/tmp/yt8m_timeline_benchmark")
  parser.add_argument("--preset", default="events")
  parser.add_argument("--train_videos", type=int, default=1500)
  parser.add_argument("--eval_videos", type=int, default=500)
  parser.add_argument("--epochs", type=int, default=8)
  parser.add_argument("--formats", default="float16,int8,int8/2,int8/5")
  parser.add_argument("--rerank", type=int, default=10)
  parser.add_argument("--alpha", type=float, default=0.5)
  parser.add_argument("--clip_seconds", type=int, default=10)
  parser.add_argument("--target", type=float, default=0.005)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--latency_videos", type=int, default=2000,
                      help="Videos of the random E = 256 catalogue timed for re-ranking "
                      "(0: no timing).")
  parser.add_argument("--latency_top", type=int, default=50)
  args = parser.parse_args(argv)
  start = time.time()
  if not args.export_dir:
    _prepare(args)
    args.export_dir = os.path.join(args.work_dir, "export")
    args.data = args.data or os.path.join(args.work_dir, "eval", "*.tfrecord")
  out_dir = os.path.join(args.work_dir, "indexes")
  base_path = os.path.join(out_dir, "float32")
  base_meta = embed_job.embed_corpus(embed_job.EmbedConfig(
      export_dir=args.export_dir, data=args.data, output=base_path, timelines=True,
      timeline_dtype="float32", overwrite=True))
  base = retrieval.load_catalogue(base_path)
  exp = load_export(args.export_dir)
  rows, starts, clips = _excerpts(exp, args.data, args.clip_seconds, args.seed)
  seconds = int(base.num_frames.sum())
  e = base.embedding_size
  _log(f"{base.size} videos, {seconds} s, E={e}; {len(rows)} excerpts of "
       f"{args.clip_seconds} s (load {os.getloadavg()[0]:.1f})")
  results = {}
  for fmt in ["float32"] + [f for f in args.formats.split(",") if f]:
    dtype, _, pool = fmt.partition("/")
    pool = int(pool or 1)
    path = base_path
    if fmt != "float32":
      path = os.path.join(out_dir, fmt.replace("/", "_pool"))
      retrieval.write_catalogue(
          path, base.ids, base.audio_embeddings, base.visual_embeddings,
          base.audio_timelines, base.visual_timelines, base.num_frames,
          timeline_dtype=dtype, timeline_pool=pool, overwrite=True)
    cat = retrieval.load_catalogue(path)
    t = time.time()
    top1 = _rerank_top1(base, cat, args.rerank, args.alpha)
    found = _localize_all(cat, rows, clips)
    if fmt == "float32":
      base_top1, base_found = top1, found
    truth = np.concatenate([np.arange(base.size)] * 2)
    row = {"rerank_r1": float(np.mean(top1 == truth)),
           "rerank_top1_same_as_float32": float(np.mean(top1 == base_top1)),
           "localization_exact": float(np.mean(found == starts)),
           "localization_within_1s": float(np.mean(np.abs(found - starts) <= 1)),
           "localization_same_as_float32": float(np.mean(found == base_found)),
           "bytes_per_video_second": _timeline_bytes(path, cat.meta) / seconds,
           # YouTube-8M: dense formats pad every video to 300 s (mean 230 s).
           "bytes_per_video_second_e256": (
               2 * compact.bytes_per_second(256, pool) if dtype == "int8" else
               2 * 256 * np.dtype(dtype).itemsize * 300 / YT8M_MEAN_SECONDS),
           "score_s": time.time() - t}
    results[fmt] = row
  if args.latency_videos:
    latency = _rerank_latencies(list(results), out_dir, args.latency_videos,
                                args.latency_top, args.seed)
    for fmt, ms in latency.items():
      results[fmt][f"rerank_top{args.latency_top}_ms_e256"] = ms
  for fmt, row in results.items():
    row["rerank_r1_loss"] = results["float32"]["rerank_r1"] - row["rerank_r1"]
    row["localization_exact_loss"] = (results["float32"]["localization_exact"]
                                      - row["localization_exact"])
    row["within_target"] = bool(row["rerank_r1_loss"] <= args.target
                                and row["localization_exact_loss"] <= args.target)
    full = row["bytes_per_video_second_e256"] * YT8M_VIDEOS * YT8M_MEAN_SECONDS
    row["yt8m_bytes_e256"] = full
    _log(f"{fmt:8s} re-rank R@1 {row['rerank_r1']:.4f} (loss {row['rerank_r1_loss']:+.4f}) | "
         f"localization exact {row['localization_exact']:.4f} "
         f"(loss {row['localization_exact_loss']:+.4f}), within 1 s "
         f"{row['localization_within_1s']:.4f} | same as float32: top-1 "
         f"{row['rerank_top1_same_as_float32']:.4f}, start "
         f"{row['localization_same_as_float32']:.4f} | {row['bytes_per_video_second']:.0f} B per "
         f"video-second here (E={e}), {row['bytes_per_video_second_e256']:.0f} at E=256 | "
         f"YouTube-8M: {full / 1e12:.2f} TB | within {args.target}: {row['within_target']}"
         + (f" | re-rank {args.latency_top} x 230 s at E=256: "
            f"{row[f'rerank_top{args.latency_top}_ms_e256']:.1f} ms"
            if args.latency_videos else ""))
  figures = {"benchmark": "timelines", "videos": base.size, "seconds": seconds,
             "embedding_size": e, "excerpts": len(rows), "clip_seconds": args.clip_seconds,
             "rerank": args.rerank, "alpha": args.alpha, "embed_seconds": base_meta["seconds"],
             "elapsed_s": time.time() - start, "load_average_1min_end": os.getloadavg()[0],
             "yt8m_videos": YT8M_VIDEOS, "yt8m_mean_seconds": YT8M_MEAN_SECONDS,
             "results": results}
  print(json.dumps(figures, sort_keys=True), flush=True)
  return figures


if __name__ == "__main__":
  main()
