"""Null statistics of ``yt8m-sync``'s confidence on short excerpts, on cached timelines.

Two steps, so that trying a statistic is cheap numpy:

1. ``--dump=FILE.npz``: encodes a set once through the export (the full audio
   timeline, the ``--excerpt_seconds`` excerpt from ``--excerpt_start``
   encoded on its own, the visual timeline) with the truth file
   (``yt8m-synth``'s ``<prefix>_offsets.json``);
2. ``--timelines=FILE.npz``: scores each ``--variants`` statistic on
   ``--mode`` (``own``: the excerpt encoded on its own; ``cut``: cut from the
   full audio timeline; ``full``: the whole track less S seconds at each
   end; ``overlap``: the whole track where at least ``--min_overlap``
   seconds are shared, ``yt8m-sync --min_overlap``)
   and prints one JSON line per variant: ``auc`` (aligned vs unaligned),
   ``aligned_answered`` / ``unaligned_refused`` at 0.99, ``exact``,
   ``wrong_answered`` (unaligned answered or aligned answered at a wrong
   offset, of all videos) and ``unaligned_answered_at`` (the p-value promises
   at most 1 - c).

The offset is always :func:`yt8m_crossmodal.sync.estimator.synchronize`'s; the
variants change only the confidence (the null of
:func:`yt8m_crossmodal.sync.estimator.null_confidence`):

- ``base``: the estimator as it is (audio residuals of 3 s a side weighted
  by their length, picture residuals of 5 s a side unit length per second,
  the tail-implied spread);
- ``oneway``: the statistic before the pictures' residual was widened (3 s
  a side on both);
- ``flat``: the audio residuals as they are (not weighted);
- ``normal``: the null's standard deviation as its spread;
- ``raw``: the picture residuals as they are;
- ``cosa``: the audio residuals unit length per second;
- ``side5``: nearer-side residual of 5 s on both sides;
- ``vsideN`` (``asym12``: N = 12): the pictures' residual of N s (the
  audio's stays 3 s: only one side needs to be blind to scene changes for a
  soundtrack cut to the same scenes);
- ``twoway``: each side's residual seconds weighted by their length against
  the other side's unit rows, both ways, each term over its side's mean
  squared residual, summed (``twowayv``: the picture-led term with the
  ``vsideN`` residual too; ``cap``: picture weights capped at twice their
  median; ``zsum``: each term over its own spread across the lags);
- ``keff``: K (offsets searched) replaced by the k whose expected maximum of
  k normals is the mean null z at the lag the offset scorer picks among K
  neighbouring null lags (a correction for correlated offsets);
- joined by ``+``, several at once (``flat+normal``: the null before the
  audio weighting and the tail-implied spread).

With ``--synth_preset`` (``events`` / ``music_over``) and ``--synth_seed``
(and ``--unaligned_kind``) of the set, ``yt8m-synth``'s generator is re-run
with a recorder and the aligned excerpts are split by the number of *shared*
events they contain (``aligned_answered_by_events``, ``auc_by_events``):
without one, nothing in an excerpt tells it from a soundtrack with the same
scenes, which bounds AUC at ``1 - f0 / 2`` and answered at ``1 - f0``
(``f0``: the fraction of aligned excerpts without a shared event).

  python benchmarks/sync_excerpt_stats.py --dump=/tmp/ev.npz --export_dir=EXPORT \\
      --data='/tmp/conf/test*.tfrecord' --offsets_file=/tmp/conf/test_offsets.json
  python benchmarks/sync_excerpt_stats.py --timelines=/tmp/ev.npz --variants=base,raw \\
      --synth_preset=events --synth_seed=11
"""

import argparse
import json
import math
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from yt8m_crossmodal.sync import estimator, statistics  # noqa: E402

LEVELS = (0.9, 0.95, 0.99)


def dump(args):
  from yt8m_crossmodal.evaluation import calibration
  from yt8m_crossmodal.jobs.config import SyncConfig
  from yt8m_crossmodal.jobs.sync import Synchronizer, _encode
  syn = Synchronizer(SyncConfig(export_dir=args.export_dir, data=args.data,
                                max_offset=args.max_offset))
  truth = calibration.read_truth(args.offsets_file)
  start, length = args.excerpt_start, args.excerpt_seconds
  rows, batch = [], []

  def flush():
    audio = _encode(syn.encode_audio, [a for _, a, _ in batch])
    excerpt = _encode(syn.encode_audio, [a[start:start + length] for _, a, _ in batch])
    visual = _encode(syn.encode_visual, [v for _, _, v in batch])
    rows.extend(zip([i for i, _, _ in batch], audio, excerpt, visual))
    batch.clear()

  for video_id, a, v, error in syn._pairs():
    if not error:
      batch.append((video_id, a, v))
    if len(batch) >= 64:
      flush()
  if batch:
    flush()
  ids = [r[0] for r in rows]
  np.savez(args.dump, ids=np.array(ids), late=np.array([truth["late"].get(i, 0) for i in ids]),
           unaligned=np.array([i in truth["unaligned"] for i in ids]),
           audio=np.array([r[1] for r in rows], dtype=object),
           excerpt=np.array([r[2] for r in rows], dtype=object),
           visual=np.array([r[3] for r in rows], dtype=object),
           excerpt_start=start, max_offset=args.max_offset)
  print(json.dumps({"dump": args.dump, "videos": len(ids)}))


def shared_events(preset, seed, kind, start, length, num_videos, min_frames, max_frames,
                  max_offset, fraction):
  """{id: shared events in audio seconds [start, start + length)} of a yt8m-synth set."""
  from yt8m_crossmodal.data import synthetic as syn
  record = []
  add, video = syn._add_events, syn._events_video

  def recording_add(world, z, rate, p, rng):
    state = rng.bit_generator.state
    add(world, z, rate, p, rng)
    replay = np.random.default_rng()
    replay.bit_generator.state = state
    events = []
    for _ in range(replay.poisson(rate * len(z))):  # the draws of _add_events, in order
      at = int(replay.integers(0, len(z)))
      replay.integers(0, 32)
      replay.normal(size=z.shape[1])
      events.append((at, int(replay.integers(p.event_seconds[0], p.event_seconds[1] + 1))))
    if record and isinstance(record[-1], list):
      record[-1].append(events)

  def recording_video(world, cfg, p, rng, index):
    record.append([])
    v = video(world, cfg, p, rng, index)
    record[-1] = (v.id, v.offset, record[-1][0])  # the first call: the shared events
    return v

  syn._add_events, syn._events_video = recording_add, recording_video
  try:
    cfg = syn.SynthConfig(output_dir="unused", prefix="test", preset=preset,
                          num_videos=num_videos, min_frames=min_frames, max_frames=max_frames,
                          seed=seed, max_offset=max_offset, unaligned_fraction=fraction,
                          unaligned_kind=kind)
    for _ in syn.generate_videos(cfg):
      pass
  finally:
    syn._add_events, syn._events_video = add, video
  # Audio second t carries latent second t + offset.
  return {vid: sum(1 for at, d in ev if at < start + length + off and at + d > start + off)
          for vid, off, ev in record}


def _expected_max(k):
  """E[max of k independent standard normals] (numerical integration)."""
  x = np.linspace(-8, 8, 4001)
  cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
  pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
  return float(np.trapezoid(x * k * pdf * cdf ** (k - 1), x))


def _selection_count(z, selection, lag, count):
  """K_eff of the ``keff`` variant: the k whose E[max of k normals] is the mean
  null z at the lag the offset scorer would pick among ``count`` neighbours."""
  n = len(z)
  dist = np.abs((np.arange(n) - lag + n // 2) % n - n // 2)
  picked = []
  for j in range(n):
    idx = (j + np.arange(count)) % n
    if (dist[idx] > estimator.NULL_GUARD).all():
      picked.append(z[idx[np.argmax(selection[idx])]])
  if not picked:
    return count
  m, k = float(np.mean(picked)), 1
  while k < count and _expected_max(k) < m:
    k += 1
  return k


def variant_null(name):
  """A null_confidence with the residuals of variant ``name``."""
  parts = set(name.split("+"))
  side = 5 if "side5" in parts else estimator.RESIDUAL_SIDE
  vside = 12 if "asym12" in parts else side
  for part in parts:
    if part.startswith("vside"):
      vside = int(part[5:])

  def weighted(r):
    return r * np.linalg.norm(r, axis=-1, keepdims=True)

  def pw(r):  # the pictures' weights in the picture-led term of twoway
    if "cap" not in parts:
      return weighted(r)
    length = np.linalg.norm(r, axis=-1, keepdims=True)
    return r * np.minimum(length, 2.0 * np.median(length))

  def null_confidence(audio, visual, lag, count):
    a = estimator.nearer_side_residual(audio, side)
    v = estimator.nearer_side_residual(visual, vside)
    if "cosa" in parts:
      a = estimator.unit_rows(a)
    elif "flat" not in parts:
      a = weighted(a)
    if "raw" not in parts:
      v = estimator.unit_rows(v)
    scores = estimator.circular_scores(a, v)
    if "twoway" in parts or "twowayv" in parts:  # both ways, summed
      ra = estimator.nearer_side_residual(audio, side)
      rv = estimator.nearer_side_residual(visual, vside if "twowayv" in parts else side)
      back = estimator.circular_scores(estimator.unit_rows(ra), pw(rv))
      if "zsum" in parts:  # each direction over its own spread across the lags
        scores = scores / max(scores.std(), 1e-12) + back / max(back.std(), 1e-12)
      else:
        scores = (scores / max(np.mean(np.sum(ra * ra, -1)), 1e-12)
                  + back / max(np.mean(np.sum(rv * rv, -1)), 1e-12))
    n = len(scores)
    dist = np.abs((np.arange(n) - lag + n // 2) % n - n // 2)
    null = scores[dist > estimator.NULL_GUARD]
    if len(null) < estimator.MIN_NULL_LAGS:
      return 0.0, 1.0, 0
    spread = max(null.std(), 1e-12) if "normal" in parts else estimator.null_spread(null)
    z = (scores - null.mean()) / spread
    if "keff" in parts:
      selection = estimator.circular_scores(estimator.weighted_rows(estimator.center(audio)),
                                            estimator.unit_rows(estimator.center(visual)))
      count = _selection_count(z, selection, lag, max(int(count), 1))
    return (*estimator.max_of_null_probability(float(z[lag % n]), max(int(count), 1)),
            int(len(null)))

  return estimator.null_confidence if name == "base" else null_confidence


def score(args):
  d = np.load(args.timelines, allow_pickle=True)
  s, start = int(d["max_offset"]), int(d["excerpt_start"])
  aligned = ~d["unaligned"]
  events = None
  if args.synth_preset:
    counts = shared_events(args.synth_preset, args.synth_seed, args.unaligned_kind, start,
                           len(d["excerpt"][0]), args.synth_videos, args.synth_min_frames,
                           args.synth_max_frames, s, args.synth_unaligned_fraction)
    events = np.array([counts[i] for i in d["ids"]])
  original = estimator.null_confidence
  for name in args.variants.split(","):
    estimator.null_confidence = variant_null(name)
    try:
      conf, late = [], []
      for i in range(len(d["ids"])):
        a, v = d["audio"][i], d["visual"][i]
        if args.mode == "own":
          a, t0 = d["excerpt"][i], start
        elif args.mode == "cut":
          a, t0 = a[start:start + len(d["excerpt"][i])], start
        elif args.mode == "overlap":
          t0 = 0
        else:
          n = min(len(a), len(v)) - 2 * s
          a, t0 = a[s:s + n], s
        est = estimator.synchronize(a, v, t0, s, min_overlap=args.min_overlap
                                    if args.mode == "overlap" else 0)
        conf.append(est.confidence)
        late.append(est.late)
    finally:
      estimator.null_confidence = original
    conf, late = np.array(conf), np.array(late)
    answered = conf >= args.min_confidence
    out = {"variant": name, "mode": args.mode, "timelines": args.timelines,
           "auc": round(statistics.roc_auc(conf, aligned), 3),
           "aligned_answered": (round(float(answered[aligned].mean()), 3)
                                if aligned.any() else None),
           "unaligned_refused": (round(float((~answered[~aligned]).mean()), 3)
                                 if (~aligned).any() else None),
           "exact": round(float((late == d["late"])[aligned].mean()), 3) if aligned.any() else None,
           "wrong_answered": [int((answered & ~aligned).sum() + (answered & aligned
                                                               & (late != d["late"])).sum()),
                              int(len(aligned))],
           "unaligned_answered_at": {str(c): round(float((conf[~aligned] >= c).mean()), 3)
                                     for c in LEVELS}}
    if events is not None and args.mode != "full":
      f0 = float((events[aligned] == 0).mean())
      out["f0"] = round(f0, 3)
      out["auc_bound"], out["answered_bound"] = round(1 - f0 / 2, 3), round(1 - f0, 3)
      out["aligned_answered_by_events"], out["auc_by_events"] = {}, {}
      for k, sel in (("0", events == 0), ("1", events == 1), ("2", events == 2),
                     (">=3", events >= 3)):
        pick = aligned & sel
        out["aligned_answered_by_events"][k] = [round(float(answered[pick].mean()), 3),
                                                int(pick.sum())]
        m = pick | ~aligned
        out["auc_by_events"][k] = round(statistics.roc_auc(conf[m], aligned[m]), 3)
    print(json.dumps(out), flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dump", default="")
  parser.add_argument("--export_dir")
  parser.add_argument("--data")
  parser.add_argument("--offsets_file")
  parser.add_argument("--excerpt_start", type=int, default=20)
  parser.add_argument("--excerpt_seconds", type=int, default=20)
  parser.add_argument("--max_offset", type=int, default=5)
  parser.add_argument("--timelines", default="")
  parser.add_argument("--mode", default="own", choices=("own", "cut", "full", "overlap"))
  parser.add_argument("--min_overlap", type=int, default=30,
                      help="--mode=overlap: the whole audio track slid where this many "
                      "seconds are shared (yt8m-sync --min_overlap)")
  parser.add_argument("--variants", default="base")
  parser.add_argument("--min_confidence", type=float, default=estimator.MIN_CONFIDENCE)
  parser.add_argument("--synth_preset", default="")
  parser.add_argument("--synth_seed", type=int, default=0)
  parser.add_argument("--unaligned_kind", default="same_scenes")
  parser.add_argument("--synth_videos", type=int, default=300)
  parser.add_argument("--synth_min_frames", type=int, default=60)
  parser.add_argument("--synth_max_frames", type=int, default=120)
  parser.add_argument("--synth_unaligned_fraction", type=float, default=0.35)
  args = parser.parse_args()
  if args.dump:
    if not (args.export_dir and args.data and args.offsets_file):
      parser.error("--dump needs --export_dir, --data and --offsets_file")
    dump(args)
  elif args.timelines:
    score(args)
  else:
    parser.error("--dump or --timelines")


if __name__ == "__main__":
  main()
