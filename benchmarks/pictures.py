"""Benchmark of ``yt8m-pictures``: a long soundtrack against a large catalogue.

Builds (once, in ``--work_dir``) an index folder of ``--videos`` videos with
compact int8 timelines (``yt8m-embed --timeline_dtype=int8``, the format for
large catalogues; ``--pool`` seconds per stored row), each ``--min_seconds``
to ``--max_seconds`` long, E = ``--dim``. The timelines have the structure of
real ones: each video draws a topic among ``--topics`` and its seconds are a
slowly changing walk around it (neighbouring seconds have cosine about 0.8).
A soundtrack timeline of ``--hours`` hours is drawn the same way; for
``--planted`` of its segments, the segment's seconds (plus noise, cosine
about ``--planted_cosine``) are written into a random video at a random
start: those stretches are the right answers.

Then the storyboard is planned exactly as ``yt8m-pictures`` plans it
(:func:`yt8m_crossmodal.retrieval.storyboard.plan`: the window pass over the
whole catalogue, the exact stretches, the repeat gap), and the script reports:

- seconds per hour of soundtrack (wall clock, 2 cores), the window pass and
  the exact stretches apart;
- peak memory: the largest numpy/Python heap in use (``tracemalloc``) and the
  process's peak resident set (``VmHWM``, which also counts the pages of the
  memory-mapped index it has read: the page cache, given back under pressure);
- recall of the planted stretches: the share of planted segments whose
  top-``k`` suggestions hold the planted video at a start within 1 s.

Encoding the soundtrack through an export is not part of it: about 1.4 s per
hour of audio for the default model (12 calls of 300 s at 119 ms, see
``benchmarks/encode_latency.py``).

  python benchmarks/pictures.py --work_dir=/tmp/yt8m_pictures   # 100,000 videos, 1 h
  python benchmarks/pictures.py --videos=2000 --hours=0.25       # quick

The last stdout line is JSON.
"""

import argparse
import json
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from yt8m_crossmodal import retrieval  # noqa: E402
from yt8m_crossmodal.retrieval import storyboard, stretches, window_index  # noqa: E402


def _unit(x):
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def walk(rng, centres, seconds, dim, rho=0.9, spread=0.6):
  """[B, seconds, dim] unit vectors around ``centres`` [B, dim], AR(1) in time."""
  noise = rng.standard_normal((centres.shape[0], seconds, dim)).astype(np.float32)
  scale = np.float32(np.sqrt(1 - rho * rho))
  for t in range(1, seconds):
    noise[:, t] = rho * noise[:, t - 1] + scale * noise[:, t]
  return _unit(centres[:, None] + spread * noise / np.sqrt(dim)).astype(np.float32)


def vm_hwm_mb():
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def video_lengths(args):
  return np.random.default_rng(args.seed).integers(args.min_seconds, args.max_seconds + 1,
                                                   size=args.videos)


def build(args, path, soundtrack, plants):
  """Writes the catalogue with the planted stretches; returns its meta."""
  rng = np.random.default_rng(args.seed + 3)
  topics = _unit(rng.standard_normal((args.topics, args.dim))).astype(np.float32)
  lengths = video_lengths(args)
  by_video = {}
  for seg, (video, start) in plants.items():
    by_video.setdefault(video, []).append((seg, start))
  writer = retrieval.CatalogueWriter(path, args.dim, max_frames=args.max_seconds,
                                     timeline_dtype="int8", timeline_pool=args.pool,
                                     overwrite=True)
  begin = time.time()
  batch = 200
  for s in range(0, args.videos, batch):
    size = min(batch, args.videos - s)
    tls = walk(rng, topics[rng.integers(args.topics, size=size)], args.max_seconds, args.dim)
    ids = []
    for j in range(size):
      i = s + j
      tls[j, lengths[i]:] = 0
      for seg, start in by_video.get(i, []):
        a = seg * args.hop
        clean = soundtrack[a:a + args.segment]
        noisy = _unit(clean + args.plant_noise * rng.standard_normal(clean.shape) /
                      np.sqrt(args.dim))
        tls[j, start:start + args.segment] = noisy
      ids.append(f"v{i:06d}")
    num = lengths[s:s + tls.shape[0]]
    clips = _unit(tls.sum(axis=1)).astype(np.float32)
    writer.add(ids, clips, clips, tls, tls, num)
    if (s // batch) % 50 == 0:
      print(f"  wrote {s + tls.shape[0]} videos ({time.time() - begin:.0f} s)", flush=True)
  return writer.close()


def timed_plan(args, cat, soundtrack, clips, spans, plants, seconds, windows=None):
  """Plans the storyboard as yt8m-pictures does; returns its figures."""
  load = os.getloadavg()[0]
  tracemalloc.start()
  begin = time.time()
  step1 = {}
  original = stretches.candidate_windows

  def timed_windows(*a, **kw):
    t0 = time.time()
    out = original(*a, **kw)
    step1["seconds"] = time.time() - t0
    return out

  stretches.candidate_windows = timed_windows
  try:
    picks = storyboard.plan(cat, soundtrack, clips, spans, args.k, args.repeat_gap,
                            args.window, args.candidates, windows=windows)
  finally:
    stretches.candidate_windows = original
  wall = time.time() - begin
  _, peak_heap = tracemalloc.get_traced_memory()
  tracemalloc.stop()
  hits = sum(any(p.item == video and abs(p.start - start) <= 1 for p in picks[seg])
             for seg, (video, start) in plants.items())
  uses = np.bincount([p.item for ps in picks for p in ps], minlength=cat.size)
  out = {"seconds": round(wall, 1), "seconds_per_hour": round(wall / (seconds / 3600), 1),
         "window_pass_seconds": round(step1.get("seconds", float("nan")), 1),
         "peak_heap_mb": round(peak_heap / 2**20, 1), "planted_found": hits,
         "distinct_videos": int((uses > 0).sum()), "most_uses": int(uses.max()),
         "load_average": round(load, 2)}
  how = "with the window index" if windows is not None else "exact window pass"
  print(f"{how}: {seconds / 3600:g} h of soundtrack ({len(spans)} segments) against "
        f"{cat.size} videos: {wall:.1f} s ({out['seconds_per_hour']} s per hour; window pass "
        f"{out['window_pass_seconds']} s); peak heap {out['peak_heap_mb']} MB; planted "
        f"stretches found in the top {args.k}: {hits} of {len(plants)}; "
        f"{out['distinct_videos']} videos used, the most in {out['most_uses']} segments; "
        f"load {load:.2f}", flush=True)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--work_dir", default="/tmp/yt8m_pictures")
  parser.add_argument("--videos", type=int, default=100000)
  parser.add_argument("--min_seconds", type=int, default=120)
  parser.add_argument("--max_seconds", type=int, default=300)
  parser.add_argument("--dim", type=int, default=256)
  parser.add_argument("--pool", type=int, default=1)
  parser.add_argument("--topics", type=int, default=1000)
  parser.add_argument("--hours", type=float, default=1.0)
  parser.add_argument("--segment", type=int, default=20)
  parser.add_argument("--hop", type=int, default=10)
  parser.add_argument("--k", type=int, default=3)
  parser.add_argument("--candidates", type=int, default=200)
  parser.add_argument("--window", type=int, default=5)
  parser.add_argument("--repeat_gap", type=int, default=300)
  parser.add_argument("--planted", type=int, default=60)
  parser.add_argument("--plant_noise", type=float, default=0.6)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--window_index", default="",
                      help="also plan with a faiss window index in this folder (built "
                      "and timed when absent)")
  parser.add_argument("--exact", type=int, default=1, help="0: skip the exact pass")
  args = parser.parse_args()
  rng = np.random.default_rng(args.seed + 1)
  seconds = int(round(args.hours * 3600))
  topics = _unit(rng.standard_normal((20, args.dim))).astype(np.float32)
  pieces = -(-seconds // 300)
  soundtrack = walk(rng, topics[np.arange(pieces) % 20], 300, args.dim).reshape(
      -1, args.dim)[:seconds]
  spans = stretches.segments(seconds, args.segment, args.hop)
  planted_segments = rng.choice(len(spans) - 1, size=min(args.planted, len(spans) - 1),
                                replace=False)
  plant_rng = np.random.default_rng(args.seed + 2)
  plants = {}
  for seg in planted_segments:
    video = int(plant_rng.integers(args.videos))
    plants[int(seg)] = (video, None)
  name = (f"cat2_{args.videos}_{args.min_seconds}-{args.max_seconds}s_E{args.dim}_P{args.pool}"
          f"_h{args.hours}_s{args.seed}")
  path = os.path.join(args.work_dir, name)
  # The start of each plant: drawn once the lengths are known (same seed as build()).
  lengths = video_lengths(args)
  plants = {seg: (video, int(plant_rng.integers(0, lengths[video] - args.segment + 1)))
            for seg, (video, _) in plants.items()}
  os.makedirs(args.work_dir, exist_ok=True)
  if not os.path.exists(os.path.join(path, "meta.json")):
    print(f"building {path} ...", flush=True)
    begin = time.time()
    build(args, path, soundtrack, plants)
    print(f"built in {time.time() - begin:.0f} s", flush=True)
  cat = retrieval.load_catalogue(path, verify="none")
  rows = int(cat.timelines("visual").rows.shape[0])
  size_gb = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e9
  print(f"catalogue: {cat.size} videos, {int(cat.num_frames.sum())} seconds, {rows} stored "
        f"rows per modality (pool {args.pool}), {size_gb:.2f} GB on disk", flush=True)
  clips = stretches.segment_queries(soundtrack, spans)  # Stand-in segment clips.
  result = {
      "videos": cat.size, "catalogue_seconds": int(cat.num_frames.sum()),
      "pool": args.pool, "dim": args.dim, "disk_gb": round(size_gb, 2),
      "soundtrack_seconds": seconds, "segments": len(spans), "segment": args.segment,
      "hop": args.hop, "window": args.window, "candidates": args.candidates,
      "planted": len(plants)}
  if args.exact:
    result["exact"] = timed_plan(args, cat, soundtrack, clips, spans, plants, seconds)
  if args.window_index:
    begin = time.time()
    built = not os.path.exists(os.path.join(args.window_index, window_index.INFO_FILE))
    windows = window_index.open_or_build(args.window_index, cat, "visual", args.window)
    result["window_index"] = {"built": built, "seconds": round(time.time() - begin, 1),
                              "windows": windows.info["windows"],
                              "faiss": windows.info["faiss"],
                              "mb": round(sum(os.path.getsize(os.path.join(args.window_index, f))
                                              for f in os.listdir(args.window_index)) / 2**20)}
    print(f"window index: {result['window_index']}", flush=True)
    result["with_window_index"] = timed_plan(args, cat, soundtrack, clips, spans, plants,
                                             seconds, windows)
  result["vm_hwm_mb"] = round(vm_hwm_mb(), 1)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
