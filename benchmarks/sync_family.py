"""An independent sample family for the sync benchmarks: data the package did not make.

Writes frame-level YouTube-8M records (2018 layout) and a truth file
(``<prefix>_offsets.json``: ``audio_late_seconds``, ``unrelated``, ``drift``, the
keys ``benchmarks/sync_confidence.py`` reads) from a generator of its own, which
shares no code, parameters or read-outs with ``yt8m-synth``
(:mod:`yt8m_crossmodal.data.synthetic`, :mod:`~yt8m_crossmodal.data.realistic`)
and differs from its families where synchronization is concerned:

- **events of other lengths and rates**: 1-8 s (yt8m-synth: 1-2 s), about
  0.05 a second (0.08-0.1), with an attack-decay envelope in the sound and
  a box in the pictures (a slam heard once, a door seen for seconds);
- **speech**: stretches of 5-15 s where both follow a fast shared rhythm
  (syllables, lips), the sound strongly, the pictures weakly;
- **repeated audio seconds**: a second's features copied from the one before
  (20% of seconds: a feature extractor at another frame rate), and a
  jingle of 3-6 s repeated 3-6 times in a third of the soundtracks;
- **shots** of lognormal length (median 7 s, at least ``--min_shot``, 4 s), a slow
  sinusoidal drift, sounds and sights of their own (off-screen sounds),
  heavy-tailed noise, non-linear read-outs;
- a soundtrack that does not belong to its pictures (``--unaligned_fraction``)
  is another recording (``--unaligned_kind=other``) or one cut to the same
  shots (``same_edit``: same shots and places; its own drift, events and
  speech; ``--shared_drift``: the pictures' drift too);
- lateness uniform in ``[-max_offset, max_offset]``; where the soundtrack
  reaches past the pictures it carries the same recording
  (``--outside=extend``) or another one (``foreign``);
- ``--drift_rate``: picture second t heard at ``late + (1 + r) t``, r =
  +-rate, the latent resampled (linear interpolation, not copied seconds).

  python benchmarks/sync_family.py --output_dir=/tmp/ind/train --prefix=train \\
      --num_videos=600 --seed=1
  python benchmarks/sync_family.py --output_dir=/tmp/ind/full --prefix=test \\
      --num_videos=300 --seed=101 --max_offset=5 --unaligned_fraction=0.35

``--foreign_outside=DIR`` rewrites another generator's set instead (its
``<prefix>*.tfrecord`` and ``<prefix>_offsets.json``, e.g. ``yt8m-synth
--max_offset=60``, whose soundtracks repeat their edge seconds past the
pictures) into ``--output_dir``: each aligned soundtrack's seconds that have no
picture are replaced by the same seconds of the next video's soundtrack (sound
from another recording outside the overlap).
"""

import argparse
import json
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

K = 24            # latent sources
SPEECH = slice(16, 24)  # the speech subspace of the latent
NUM_TOPICS = 60
NUM_KINDS = 16    # event kinds
AUDIO_DIM, VISUAL_DIM = 128, 1024


class World:
  """What every video of the family shares (fixed by ``world_seed``)."""

  def __init__(self, seed):
    rng = np.random.default_rng([seed, 31337])
    self.topics = rng.normal(size=(NUM_TOPICS, K))
    self.topics[:, SPEECH] = 0
    self.kinds = rng.normal(size=(NUM_KINDS, K)) * 1.3
    self.kinds[:, SPEECH] *= 0.3
    self.labels = rng.choice(3862, size=NUM_TOPICS, replace=False)
    decay_a = 1.0 / np.sqrt(1.0 + np.arange(AUDIO_DIM) / 20.0)
    decay_v = 1.0 / np.sqrt(1.0 + np.arange(VISUAL_DIM) / 60.0)
    self.audio_in = rng.normal(size=(K, 48)) / np.sqrt(K) * 1.4
    self.audio_out = rng.normal(size=(48, AUDIO_DIM)) / np.sqrt(48) * decay_a * 1.3
    self.visual_lin = rng.normal(size=(K, VISUAL_DIM)) / np.sqrt(K) * decay_v * 0.8
    self.visual_relu = rng.normal(size=(K, 96)) / np.sqrt(K)
    self.visual_out = rng.normal(size=(96, VISUAL_DIM)) / np.sqrt(96) * decay_v * 0.6
    self.decay_a, self.decay_v = decay_a, decay_v
    # Speech shows weakly in the pictures (lips), strongly in the sound.
    self.visual_lin[SPEECH] *= 0.5


def _shots(world, length, topics, rng, min_shot):
  """[length, K] places: piecewise constant shots of lognormal length (>= min_shot s)."""
  z = np.zeros((length, K))
  t = 0
  while t < length:
    dur = max(min_shot, int(round(rng.lognormal(np.log(7.0), 0.6))))
    place = 0.7 * world.topics[rng.choice(topics)] + 0.6 * rng.normal(size=K)
    place[SPEECH] = 0
    z[t:t + dur] = place
    t += dur
  return z


def _slow(length, rng):
  """[length, K] a smooth drift: three sinusoids of 20-120 s in random directions."""
  t = np.arange(length)[:, None]
  out = np.zeros((length, K))
  for _ in range(3):
    period, phase = rng.uniform(20, 120), rng.uniform(0, 2 * np.pi)
    out += 0.35 * np.sin(2 * np.pi * t / period + phase) * rng.normal(size=K)
  return out


def _events(world, length, rate, seconds, rng):
  """(audio [length, K], visual [length, K]) of shared events: decaying in the
  sound, a box in the pictures."""
  a, v = np.zeros((length, K)), np.zeros((length, K))
  lo, hi = seconds
  for _ in range(rng.poisson(rate * length)):
    at, dur = int(rng.integers(0, length)), int(rng.integers(lo, hi + 1))
    kind = world.kinds[rng.integers(NUM_KINDS)] * rng.uniform(0.7, 1.3)
    end = min(at + dur, length)
    envelope = np.exp(-np.arange(end - at) / 1.5)
    a[at:end] += envelope[:, None] * kind
    v[at:end] += kind
  return a, v


def _speech(length, rng):
  """[length, K] shared speech: 5-15 s stretches of a fast rhythm (speech subspace)."""
  out = np.zeros((length, K))
  for _ in range(rng.poisson(length / 60.0)):
    at, dur = int(rng.integers(0, length)), int(rng.integers(5, 16))
    end = min(at + dur, length)
    x = rng.normal(size=(end - at, K))
    for i in range(1, len(x)):
      x[i] = 0.3 * x[i - 1] + 0.95 * x[i]
    mask = np.zeros(K)
    mask[SPEECH] = 1.2
    out[at:end] += x * mask
  return out


def _solo(world, length, rng):
  """[length, K] events one modality has alone (off-screen sounds, silent sights)."""
  a, _ = _events(world, length, 0.03, (1, 4), rng)
  return a


def _latent(world, length, topics, rng, min_shot):
  """The parts of one recording: (shots, drift, audio events, visual events, speech)."""
  shots, slow = _shots(world, length, topics, rng, min_shot), _slow(length, rng)
  ev_a, ev_v = _events(world, length, rng.uniform(0.03, 0.07), (1, 8), rng)
  return shots, slow, ev_a, ev_v, _speech(length, rng)


def _audio_features(world, z, rng, repeat=0.2):
  """uint8 [T, 128]: softplus read-out, gain, style, t noise, repeated seconds, jingle."""
  h = np.logaddexp(0, z @ world.audio_in)
  x = h @ world.audio_out
  x = x - x.mean(0) * 0.5  # part of the read-out's mean is removed (a loudness norm)
  x = x * (1 + 0.2 * rng.normal()) + 0.4 * world.decay_a * rng.normal(size=AUDIO_DIM)
  x += 0.8 * world.decay_a * rng.standard_t(4, size=x.shape) / np.sqrt(2)
  if rng.random() < 1 / 3 and len(x) > 40:  # A jingle, repeated, in the sound only.
    size = int(rng.integers(3, 7))
    motif = 0.8 * world.decay_a * rng.normal(size=(size, AUDIO_DIM))
    at = int(rng.integers(0, len(x) - size))
    for r in range(int(rng.integers(3, 7))):
      s = at + r * size
      x[s:s + size] += motif[:max(0, min(size, len(x) - s))]
  q = _quantize(x)
  copy = np.nonzero(rng.random(len(q)) < repeat)[0]
  for i in copy[copy > 0]:
    q[i] = q[i - 1]
  return q


def _visual_features(world, z, rng):
  x = z @ world.visual_lin + np.maximum(z @ world.visual_relu, 0) @ world.visual_out
  x = x * (1 + 0.2 * rng.normal()) + 0.3 * world.decay_v * rng.normal(size=VISUAL_DIM)
  x += 0.6 * world.decay_v * rng.standard_t(4, size=x.shape) / np.sqrt(2)
  return _quantize(x)


def _quantize(x):
  """YouTube-8M's 8 bits over [-2, 2] (the inverse of q * 4/255 + 4/512 - 2)."""
  return np.clip(np.round((x + 2 - 4 / 512) * 255 / 4), 0, 255).astype(np.uint8)


def _read(parts, times):
  """Rows of the stacked ``parts`` [L, ...] at fractional ``times`` (linear), 0 outside."""
  length = len(parts)
  lo = np.floor(times).astype(int)
  frac = (times - lo)[:, None]
  ok = (lo >= 0) & (lo + 1 < length)
  out = np.zeros((len(times),) + parts.shape[1:])
  out[ok] = (1 - frac[ok]) * parts[lo[ok]] + frac[ok] * parts[lo[ok] + 1]
  exact = (lo == length - 1) & (frac[:, 0] == 0)
  out[exact] = parts[-1]
  return out, ok | exact


def make_video(world, args, index, rng):
  """One video: dict(id, labels, audio, visual, late, rate, unaligned)."""
  length = int(rng.integers(args.min_frames, args.max_frames + 1))
  topics = rng.choice(NUM_TOPICS, size=int(rng.integers(1, 3)), replace=False)
  s = args.max_offset
  late = int(rng.integers(-s, s + 1)) if s else 0
  unaligned = rng.random() < args.unaligned_fraction
  rate = 0.0
  if not unaligned and args.drift_rate and rng.random() < args.drift_fraction:
    rate = float(args.drift_rate * rng.choice([-1.0, 1.0]))
  # One recording covers the pictures and, with --outside=extend, the sound
  # beyond them: latent seconds [-pad, length + pad).
  pad = s + int(np.ceil(abs(rate) * length)) + 2
  span = length + 2 * pad
  shots, slow, ev_a, ev_v, speech = _latent(world, span, topics, rng, args.min_shot)
  base = shots + slow
  visual_z = (base + ev_v + speech)[pad:pad + length]
  visual_z = visual_z + _solo(world, length, rng)
  if unaligned:
    late, rate = 0, 0.0
    own = _latent(world, span, topics if args.unaligned_kind == "same_edit" else
                  rng.choice(NUM_TOPICS, size=len(topics), replace=False), rng, args.min_shot)
    if args.unaligned_kind == "same_edit":  # The shots; its own drift unless shared.
      own = (shots, slow if args.shared_drift else own[1]) + own[2:]
    audio_z = (own[0] + own[1] + own[2] + own[4])[pad:pad + length]
  else:
    # Audio second u carries latent time (u - late) / (1 + rate).
    times = (np.arange(length) - late) / (1.0 + rate) + pad
    audio_z, inside = _read(base + ev_a + speech, times)
    recorded = (times >= pad) & (times <= pad + length - 1)
    if args.outside == "foreign":
      other = _latent(world, length, rng.choice(NUM_TOPICS, size=1), rng, args.min_shot)
      other = other[0] + other[1] + other[2] + other[4]
      audio_z = np.where(recorded[:, None], audio_z, other)
    elif not inside.all():
      raise AssertionError("pad too small")
  audio_z = audio_z + _solo(world, length, rng)
  audio = _audio_features(world, audio_z, rng, args.repeat)
  visual = _visual_features(world, visual_z, rng)
  return {"id": f"ind{args.seed % 1000:03d}{index:05d}",
          "labels": sorted(int(world.labels[t]) for t in topics),
          "audio": audio, "visual": visual, "late": late, "rate": rate,
          "unaligned": bool(unaligned)}


def _example(video):
  import tensorflow as tf
  se = tf.train.SequenceExample()
  se.context.feature["id"].bytes_list.value.append(video["id"].encode())
  se.context.feature["labels"].int64_list.value.extend(video["labels"])
  for key, rows in (("rgb", video["visual"]), ("audio", video["audio"])):
    feature = se.feature_lists.feature_list[key]
    for row in rows:
      feature.feature.add().bytes_list.value.append(row.tobytes())
  return se.SerializeToString()


def _read_set(pattern):
  """[(id, labels, audio uint8 [T, 128], visual uint8 [T, 1024])] of frame records."""
  import tensorflow as tf
  out = []
  for path in sorted(tf.io.gfile.glob(pattern)):
    for raw in tf.data.TFRecordDataset(path):
      se = tf.train.SequenceExample.FromString(raw.numpy())
      ctx, lists = se.context.feature, se.feature_lists.feature_list
      rows = {k: np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8)
                           for f in lists[k].feature]) for k in ("rgb", "audio")}
      out.append((ctx["id"].bytes_list.value[0].decode(), list(ctx["labels"].int64_list.value),
                  rows["audio"], rows["rgb"]))
  return out


def foreign_outside(args):
  """Rewrites the set in ``args.foreign_outside`` (module docstring)."""
  import tensorflow as tf
  source = args.foreign_outside
  with open(os.path.join(source, f"{args.prefix}_offsets.json")) as f:
    truth = json.load(f)
  videos = _read_set(os.path.join(source, f"{args.prefix}*.tfrecord"))
  unrelated, late = set(truth.get("unrelated", [])), truth["audio_late_seconds"]
  os.makedirs(args.output_dir, exist_ok=True)
  paths = [os.path.join(args.output_dir, f"{args.prefix}{i:04d}.tfrecord")
           for i in range(min(args.num_shards, len(videos)))]
  writers = [tf.io.TFRecordWriter(p) for p in paths]
  changed = 0
  try:
    for i, (vid, labels, audio, visual) in enumerate(videos):
      audio = audio.copy()
      if vid not in unrelated and vid not in truth.get("drift", {}):
        # Audio second u shows picture u - late: no picture outside [0, T).
        u = np.arange(len(audio))
        outside = ((u - late[vid]) < 0) | ((u - late[vid]) >= len(visual))
        other = videos[(i + 1) % len(videos)][2]
        audio[outside] = other[np.minimum(u[outside], len(other) - 1)]
        changed += int(outside.any())
      writers[i % len(writers)].write(_example({"id": vid, "labels": labels, "audio": audio,
                                                "visual": visual}))
  finally:
    for w in writers:
      w.close()
  truth["foreign_outside_of"] = source
  with open(os.path.join(args.output_dir, f"{args.prefix}_offsets.json"), "w") as f:
    json.dump(truth, f)
  print(json.dumps({"files": paths, "videos": len(videos), "rewritten": changed}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output_dir", required=True)
  parser.add_argument("--foreign_outside", default="",
                      help="rewrite this folder's set (module docstring) instead of drawing one")
  parser.add_argument("--prefix", default="test")
  parser.add_argument("--num_videos", type=int, default=300)
  parser.add_argument("--num_shards", type=int, default=4)
  parser.add_argument("--min_frames", type=int, default=60)
  parser.add_argument("--max_frames", type=int, default=300)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--world_seed", type=int, default=5)
  parser.add_argument("--max_offset", type=int, default=0)
  parser.add_argument("--outside", default="extend", choices=("extend", "foreign"))
  parser.add_argument("--unaligned_fraction", type=float, default=0.0)
  parser.add_argument("--unaligned_kind", default="other", choices=("other", "same_edit"))
  parser.add_argument("--drift_rate", type=float, default=0.0)
  parser.add_argument("--drift_fraction", type=float, default=1.0)
  parser.add_argument("--min_shot", type=int, default=4,
                      help="shortest shot in seconds (3: a same_edit soundtrack's 3 s shots "
                      "look like 3 s events)")
  parser.add_argument("--shared_drift", action="store_true",
                      help="same_edit: the soundtrack shares the pictures' slow drift too")
  parser.add_argument("--repeat", type=float, default=0.2,
                      help="fraction of audio seconds copied from the one before")
  args = parser.parse_args()
  if args.foreign_outside:
    foreign_outside(args)
    return
  import tensorflow as tf
  os.makedirs(args.output_dir, exist_ok=True)
  world = World(args.world_seed)
  rng = np.random.default_rng([args.seed, 4242])
  paths = [os.path.join(args.output_dir, f"{args.prefix}{i:04d}.tfrecord")
           for i in range(min(args.num_shards, args.num_videos))]
  writers = [tf.io.TFRecordWriter(p) for p in paths]
  late, unrelated, drift = {}, [], {}
  try:
    for i in range(args.num_videos):
      video = make_video(world, args, i, rng)
      writers[i % len(writers)].write(_example(video))
      late[video["id"]] = video["late"]
      if video["unaligned"]:
        unrelated.append(video["id"])
      if video["rate"]:
        drift[video["id"]] = {"late_at_start": video["late"], "rate": video["rate"]}
  finally:
    for w in writers:
      w.close()
  truth = os.path.join(args.output_dir, f"{args.prefix}_offsets.json")
  with open(truth + ".tmp", "w") as f:
    json.dump({"generator": "benchmarks/sync_family.py", "args": vars(args),
               "audio_late_seconds": late, "unrelated": unrelated, "drift": drift}, f)
  os.replace(truth + ".tmp", truth)
  print(json.dumps({"files": paths, "videos": args.num_videos, "unaligned": len(unrelated),
                    "drifting": len(drift), "offsets_file": truth}))


if __name__ == "__main__":
  main()
