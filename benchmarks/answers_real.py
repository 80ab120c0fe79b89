"""Topic search and hubs on real YouTube-8M records, through the tools' own code.

Reads the genuine 2018 video-level records of ``--data_dir`` (the project's
``../shared/data``), sorted by file: the first ``--train_shards`` train the
default video-level model (``yt8m-train --feature_level=video``, no other flag)
and are exported; the next ``--validation_shards`` and ``--test_shards`` are
each embedded into an index folder (``yt8m-embed``: labels and hubness
stored). Then, on each catalogue, every video is a query:

- **Label share** (``--part=topics``): ``yt8m-search`` with every
  ``--target_modality`` (the other kind, the query's own kind, both kinds) and
  both query modalities; of the top 10 results other than the query's own
  video, the share that shares a label with the query, against chance (the
  share of pairs of distinct catalogue videos that share one).
- **Hubs** (``--part=hubs``): the top-1 answer of every query, audio -> visual
  and visual -> audio, ranked ``cosine - w * hubness`` (hubness: the mean
  cosine to the ``k`` nearest items of the query modality, a bank of at most
  10,000): the share of queries won by the 1 % most frequent winners and the
  most wins of one item, beside R@1 over the whole catalogue, for a grid of
  rankings: the k-NN mean hubness (``k``) and the soft maximum (temperature
  ``T``), each at several ``w``, with the top-10 label share of each. The
  ranking is chosen on the validation catalogue (the best R@1 among 256
  candidates, mean of both directions over ``--seeds`` pools) and then
  scored on the test catalogue beside the k-NN mean at ``k = 50, w = 0.5``
  (the ranking before).

  python benchmarks/answers_real.py --data_dir=../shared/data --work_dir=/tmp/yt8m_answers

The model and the indexes are kept in ``--work_dir`` and reused (``--fresh``
trains again). Human-readable lines go to stdout; the last line is JSON.
"""

import argparse
import collections
import json
import math
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import yt8m_crossmodal as ym  # noqa: E402
from yt8m_crossmodal import retrieval  # noqa: E402
from yt8m_crossmodal.data import pipeline  # noqa: E402
from yt8m_crossmodal.evaluation import metrics  # noqa: E402
from yt8m_crossmodal.jobs import search as search_job  # noqa: E402
from yt8m_crossmodal.retrieval import hubness  # noqa: E402

TARGETS = ("other", "same", "both")


def split(data_dir, train, validation, test):
  files = pipeline.list_files(os.path.join(data_dir, "yt8m-2018-video", "*.tfrecord"))
  if len(files) < train + validation + test:
    sys.exit(f"error: {len(files)} shards, need {train + validation + test}")
  return (files[:train], files[train:train + validation],
          files[train + validation:train + validation + test])


def model_and_indexes(args, files):
  """(export folder, {name: index folder}); trained and embedded once per work_dir."""
  train, validation, test = files
  work = args.work_dir
  export_dir = os.path.join(work, "export")
  if args.fresh or not os.path.isdir(export_dir):
    begin = time.time()
    model_dir = os.path.join(work, "model")
    cfg = ym.named_config("default", feature_level="video", train_data=",".join(train),
                          validation_data=",".join(validation), model_dir=model_dir)
    ym.train(cfg)
    ym.export(model_dir, export_dir)
    print(f"trained and exported in {time.time() - begin:.0f} s", flush=True)
  indexes = {}
  for name, shard_files in (("validation", validation), ("test", test)):
    path = os.path.join(work, f"index_{name}")
    if args.fresh or not os.path.isdir(path):
      ym.embed(ym.EmbedConfig(export_dir=export_dir, data=",".join(shard_files),
                              output=path, overwrite=True))
    indexes[name] = path
  return export_dir, indexes


def shares_label(cat, a, b):
  return bool(set(cat.labels_of(a)) & set(cat.labels_of(b)))


def chance(cat, pairs=200000, seed=0):
  """Share of pairs of distinct catalogue videos that share a label."""
  rng = np.random.default_rng(seed)
  a = rng.integers(0, cat.size, pairs)
  b = rng.integers(0, cat.size, pairs)
  keep = a != b
  labels = [set(cat.labels_of(i)) for i in range(cat.size)]
  return float(np.mean([bool(labels[i] & labels[j]) for i, j in zip(a[keep], b[keep])]))


def label_share(args, export_dir, index, shard_files):
  """{query modality: {target: share}} of the top 10 other videos sharing a label."""
  cat = retrieval.load_catalogue(index)
  row = {i: j for j, i in enumerate(cat.ids)}
  labels = [set(cat.labels_of(i)) for i in range(cat.size)]
  out = {}
  for query in ("audio", "visual"):
    out[query] = {}
    for target in TARGETS:
      modality = {"other": "other", "same": query, "both": "both"}[target]
      lines = search_job.search_queries(search_job.SearchConfig(
          index=index, export_dir=export_dir, query_data=",".join(shard_files),
          query_modality=query, target_modality=modality, k=args.top + 2,
          vocabulary="none"))
      hits = total = 0
      kinds = collections.Counter()
      for line in lines:
        q = row[line["query_id"]]
        others = [r for r in line["results"] if r["id"] != line["query_id"]][:args.top]
        hits += sum(bool(labels[q] & labels[row[r["id"]]]) for r in others)
        total += len(others)
        kinds.update(r["kind"] for r in others)
      out[query][target] = {"share": hits / max(total, 1), "results": total,
                            "kinds": dict(kinds)}
      print(f"  {query} queries -> {target:5s}: {hits / max(total, 1):.3f} of {total} "
            f"results share a label ({dict(kinds)})", flush=True)
  return out


def concentration(winners, n):
  """(share of queries won by the 1% most frequent winners, most wins of one item)."""
  counts = np.sort(np.bincount(winners, minlength=n))[::-1]
  top = max(1, math.ceil(0.01 * n))
  return float(counts[:top].sum() / len(winners)), int(counts[0])


def top10_label_share(cat, queries, candidates, bias):
  """Share of each query's top 10 (its own video left out) that shares a label with it."""
  n = cat.size
  labels = np.zeros((n, max(max(cat.labels_of(i) or [0]) for i in range(n)) + 1), np.float32)
  for i in range(n):
    labels[i, cat.labels_of(i)] = 1
  hits = 0
  for s in range(0, n, 512):
    scores = queries[s:s + 512] @ candidates.T + bias[None]
    rows = np.arange(scores.shape[0])
    scores[rows, s + rows] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    hits += int(((labels[s + rows][:, None] * labels[top]).sum(-1) > 0).sum())
  return hits / (10 * n)


def variants(args):
  """(name, kind, parameter, w): the rankings compared (the first: the baseline)."""
  out = [("knn k=50 w=0.5 (before)", "knn", 50, 0.5), ("plain cosine", "knn", 50, 0.0),
         ("knn k=10 w=0.75", "knn", 10, 0.75)]
  for t in (0.05, 0.07, 0.1):
    for w in (0.5, 0.75, 1.0):
      out.append((f"softmax T={t} w={w}", "softmax", t, w))
  return out


def hub_grid(cat, args):
  """Per ranking: concentration of the top-1 answers and R@1, both directions."""
  audio = np.asarray(cat.embeddings("audio"), np.float32)
  visual = np.asarray(cat.embeddings("visual"), np.float32)
  rows = []
  for name, kind, param, w in variants(args):
    key = {"k": param} if kind == "knn" else {"temperature": param}
    hub_a, hub_v = hubness.hubness_pair(audio, visual, kind=kind, **key)
    row = {"ranking": name, "kind": kind, "param": param, "w": w}
    for direction, q, c, h in (("a2v", audio, visual, hub_v), ("v2a", visual, audio, hub_a)):
      _, top = retrieval.exact_search(q, c, 1, bias=-w * h)
      row[f"{direction}/top1_share_of_1pct"], row[f"{direction}/most_wins"] = concentration(
          top[:, 0], cat.size)
    for direction, q, c, h in (("a2v", audio, visual, hub_v), ("v2a", visual, audio, hub_a)):
      row[f"{direction}/label_share@10"] = top10_label_share(cat, q, c, -w * h)
    pooled = [metrics.cross_modal_retrieval(audio, visual, pool_size=256, seed=seed,
                                            hub_weight=w, hubness_values=(hub_a, hub_v))
              for seed in range(args.seeds)]
    whole = metrics.cross_modal_retrieval(audio, visual, pool_size=None, hub_weight=w,
                                          hubness_values=(hub_a, hub_v))
    for direction in ("a2v", "v2a"):
      row[f"{direction}/recall@1@256"] = float(np.mean([p[f"{direction}/recall@1"]
                                                        for p in pooled]))
      row[f"{direction}/recall@1@all"] = whole[f"{direction}/recall@1"]
    row["share"] = (row["a2v/top1_share_of_1pct"] + row["v2a/top1_share_of_1pct"]) / 2
    row["recall@1@256"] = (row["a2v/recall@1@256"] + row["v2a/recall@1@256"]) / 2
    rows.append(row)
  return rows


def print_grid(rows, title):
  print(title)
  print(f"  {'ranking':26s} 1% winners' share a2v/v2a (most wins)   R@1@256 a2v/v2a  "
        "R@1 all a2v/v2a  top-10 label share a2v/v2a")
  for r in rows:
    print(f"  {r['ranking']:26s} {r['a2v/top1_share_of_1pct']:.3f} / "
          f"{r['v2a/top1_share_of_1pct']:.3f} ({r['a2v/most_wins']:3d} / {r['v2a/most_wins']:3d})"
          f"       {r['a2v/recall@1@256']:.3f} / {r['v2a/recall@1@256']:.3f}    "
          f"{r['a2v/recall@1@all']:.3f} / {r['v2a/recall@1@all']:.3f}    "
          f"{r['a2v/label_share@10']:.3f} / {r['v2a/label_share@10']:.3f}", flush=True)


def choose(rows):
  """The corrected ranking with the best R@1 among 256 candidates (mean of the
  two directions)."""
  return max((r for r in rows if r["w"] > 0), key=lambda r: r["recall@1@256"])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=os.path.normpath(os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")))
  parser.add_argument("--work_dir", default="/tmp/yt8m_answers")
  parser.add_argument("--train_shards", type=int, default=60)
  parser.add_argument("--validation_shards", type=int, default=10)
  parser.add_argument("--test_shards", type=int, default=10)
  parser.add_argument("--part", default="topics,hubs")
  parser.add_argument("--top", type=int, default=10)
  parser.add_argument("--seeds", type=int, default=10, help="seeded pools of 256")
  parser.add_argument("--fresh", action="store_true")
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  files = split(args.data_dir, args.train_shards, args.validation_shards, args.test_shards)
  export_dir, indexes = model_and_indexes(args, files)
  result = {"train_videos": None, "export": export_dir}
  parts = args.part.split(",")
  if "topics" in parts:
    cat = retrieval.load_catalogue(indexes["test"])
    result["catalogue_videos"] = cat.size
    result["chance"] = chance(cat)
    print(f"label share of the top {args.top} on the test catalogue ({cat.size} videos; "
          f"chance {result['chance']:.3f}):", flush=True)
    result["label_share"] = label_share(args, export_dir, indexes["test"], files[2])
  if "hubs" in parts:
    val = hub_grid(retrieval.load_catalogue(indexes["validation"]), args)
    print_grid(val, "hubs, validation catalogue:")
    pick = choose(val)
    print(f"chosen on validation: {pick['ranking']}")
    test = hub_grid(retrieval.load_catalogue(indexes["test"]), args)
    print_grid(test, "hubs, test catalogue:")
    result["hubs"] = {"validation": val, "test": test, "chosen": pick["ranking"]}
  print(json.dumps(result))


if __name__ == "__main__":
  main()
